/**
 * Quantizers for the float types and the 32-element block types (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1),
 * following ggml's quantize_row_*_ref step by step in float32 so the bytes match what
 * llama-quantize (without an importance matrix) and convert_hf_to_gguf.py write.
 */
import { f32ToBf16, f32ToF16 } from './fp16.js';
import { FLT_MAX, fr, roundf, truncToInt32 } from './f32-math.js';

const scratchF32 = new Float32Array(1);
const scratchU8 = new Uint8Array(scratchF32.buffer);

function putU16(dst: Uint8Array, o: number, v: number): void {
  dst[o] = v & 0xff;
  dst[o + 1] = (v >>> 8) & 0xff;
}

function putF16(dst: Uint8Array, o: number, x: number): void {
  putU16(dst, o, f32ToF16(x));
}

/** float32, little-endian (the scratch view is host order; every supported host is LE). */
export function quantizeF32(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number): void {
  for (let i = 0; i < n; i++, o += 4) {
    scratchF32[0] = x[xo + i];
    dst[o] = scratchU8[0];
    dst[o + 1] = scratchU8[1];
    dst[o + 2] = scratchU8[2];
    dst[o + 3] = scratchU8[3];
  }
}

export function quantizeF16(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number): void {
  for (let i = 0; i < n; i++, o += 2) putU16(dst, o, f32ToF16(x[xo + i]));
}

export function quantizeBf16(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number): void {
  for (let i = 0; i < n; i++, o += 2) putU16(dst, o, f32ToBf16(x[xo + i]));
}

/** Q8_0: d = amax/127, q = roundf(x/d). */
export function quantizeQ8_0(x: Float32Array, xo: number, nb: number, dst: Uint8Array, o: number): void {
  for (let b = 0; b < nb; b++, xo += 32, o += 34) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[xo + j]));
    const d = fr(amax / 127);
    const id = d !== 0 ? fr(1 / d) : 0;
    putF16(dst, o, d);
    for (let j = 0; j < 32; j++) dst[o + 2 + j] = truncToInt32(roundf(fr(x[xo + j] * id))) & 0xff;
  }
}

/** The signed value of largest magnitude in a block (the first one on ties), as ggml picks it. */
function signedAbsMax(x: Float32Array, xo: number): number {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < 32; j++) {
    const v = x[xo + j];
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  return max;
}

/** Q4_0: d = max/−8 so the extreme value maps to quant 0 exactly; q = x/d + 8. */
export function quantizeQ4_0(x: Float32Array, xo: number, nb: number, dst: Uint8Array, o: number): void {
  for (let b = 0; b < nb; b++, xo += 32, o += 18) {
    const d = fr(signedAbsMax(x, xo) / -8);
    const id = d !== 0 ? fr(1 / d) : 0;
    putF16(dst, o, d);
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, (truncToInt32(fr(fr(x[xo + j] * id) + 8.5)) << 24) >> 24) & 0xff;
      const q1 = Math.min(15, (truncToInt32(fr(fr(x[xo + j + 16] * id) + 8.5)) << 24) >> 24) & 0xff;
      dst[o + 2 + j] = (q0 | (q1 << 4)) & 0xff;
    }
  }
}

/** Q4_1: d = (max − min)/15, m = min; q = (x − min)/d. */
export function quantizeQ4_1(x: Float32Array, xo: number, nb: number, dst: Uint8Array, o: number): void {
  for (let b = 0; b < nb; b++, xo += 32, o += 20) {
    let min = FLT_MAX;
    let max = -FLT_MAX;
    for (let j = 0; j < 32; j++) {
      const v = x[xo + j];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = fr(fr(max - min) / 15);
    const id = d !== 0 ? fr(1 / d) : 0;
    putF16(dst, o, d);
    putF16(dst, o + 2, min);
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, (truncToInt32(fr(fr(fr(x[xo + j] - min) * id) + 0.5)) << 24) >> 24) & 0xff;
      const q1 = Math.min(15, (truncToInt32(fr(fr(fr(x[xo + j + 16] - min) * id) + 0.5)) << 24) >> 24) & 0xff;
      dst[o + 4 + j] = (q0 | (q1 << 4)) & 0xff;
    }
  }
}

function putQ5(dst: Uint8Array, qs: number, qhAt: number, q: Uint8Array): void {
  let qh = 0;
  for (let j = 0; j < 16; j++) {
    const q0 = q[j];
    const q1 = q[j + 16];
    dst[qs + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
    qh |= ((q0 & 0x10) >>> 4) << j;
    qh |= ((q1 & 0x10) >>> 4) << (j + 16);
  }
  dst[qhAt] = qh & 0xff;
  dst[qhAt + 1] = (qh >>> 8) & 0xff;
  dst[qhAt + 2] = (qh >>> 16) & 0xff;
  dst[qhAt + 3] = (qh >>> 24) & 0xff;
}

const q5 = new Uint8Array(32);

/** Q5_0: d = max/−16; q = x/d + 16, its 5th bits gathered into the u32 qh. */
export function quantizeQ5_0(x: Float32Array, xo: number, nb: number, dst: Uint8Array, o: number): void {
  for (let b = 0; b < nb; b++, xo += 32, o += 22) {
    const d = fr(signedAbsMax(x, xo) / -16);
    const id = d !== 0 ? fr(1 / d) : 0;
    putF16(dst, o, d);
    for (let j = 0; j < 32; j++) {
      q5[j] = Math.min(31, (truncToInt32(fr(fr(x[xo + j] * id) + 16.5)) << 24) >> 24) & 0xff;
    }
    putQ5(dst, o + 6, o + 2, q5);
  }
}

/** Q5_1: d = (max − min)/31, m = min; q = (x − min)/d (no clamp, as in ggml). */
export function quantizeQ5_1(x: Float32Array, xo: number, nb: number, dst: Uint8Array, o: number): void {
  for (let b = 0; b < nb; b++, xo += 32, o += 24) {
    let min = FLT_MAX;
    let max = -FLT_MAX;
    for (let j = 0; j < 32; j++) {
      const v = x[xo + j];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = fr(fr(max - min) / 31);
    const id = d !== 0 ? fr(1 / d) : 0;
    putF16(dst, o, d);
    putF16(dst, o + 2, min);
    for (let j = 0; j < 32; j++) q5[j] = truncToInt32(fr(fr(fr(x[xo + j] - min) * id) + 0.5)) & 0xff;
    putQ5(dst, o + 8, o + 4, q5);
  }
}
