/**
 * Dequantization of ggml blocks to float32, bit-exact with ggml's dequantize_row_* functions.
 *
 * Exactness without emulating float32 arithmetic step by step: in every format the products
 * (fp16 scale × small integer scale × small integer quant) have at most 24 significant bits, so
 * they are exact in float32 and in float64 alike, and at most one rounding (the final `- min` or
 * `+ m`) remains. A single float64 operation followed by rounding to float32 (the store into a
 * Float32Array) is correctly rounded, so the result equals ggml's — with or without FMA.
 *
 * This is the reference backend's hot path: no allocation per call (beyond a cached view for
 * F32), plain byte loads, and the block scale decoded through a table.
 */
import { assert } from '../errors.js';
import type { DType } from '../io/tensor.js';
import { BF16_TO_F32, F16_TO_F32 } from './fp16.js';
import { blockSize, rowBytes } from './layout.js';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// F32 rows are copied through a Float32Array view of the source buffer. Weights are decoded row
// after row from the same buffer, so one cached view makes the common case allocation-free.
let cachedF32Buffer: ArrayBufferLike | null = null;
let cachedF32View: Float32Array = new Float32Array(0);

function dequantF32(src: Uint8Array, o: number, dst: Float32Array, d: number, n: number): void {
  const byteStart = src.byteOffset + o;
  if (LITTLE_ENDIAN && byteStart % 4 === 0) {
    if (src.buffer !== cachedF32Buffer) {
      cachedF32Buffer = src.buffer;
      cachedF32View = new Float32Array(src.buffer, 0, src.buffer.byteLength >>> 2);
    }
    const start = byteStart >>> 2;
    dst.set(cachedF32View.subarray(start, start + n), d);
    return;
  }
  // Unaligned (or big-endian host): rare, so a per-call DataView is acceptable.
  const view = new DataView(src.buffer, byteStart, n * 4);
  for (let i = 0; i < n; i++) dst[d + i] = view.getFloat32(i * 4, true);
}

function dequantF16(src: Uint8Array, o: number, dst: Float32Array, d: number, n: number): void {
  for (let i = 0; i < n; i++, o += 2) dst[d + i] = F16_TO_F32[src[o] | (src[o + 1] << 8)];
}

function dequantBf16(src: Uint8Array, o: number, dst: Float32Array, d: number, n: number): void {
  for (let i = 0; i < n; i++, o += 2) dst[d + i] = BF16_TO_F32[src[o] | (src[o + 1] << 8)];
}

/** Q8_0: fp16 d, then 32 int8 quants; x = q·d. */
function dequantQ8_0(src: Uint8Array, o: number, dst: Float32Array, d: number, nb: number): void {
  for (let b = 0; b < nb; b++, o += 34, d += 32) {
    const scale = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    const q = o + 2;
    for (let j = 0; j < 32; j++) dst[d + j] = ((src[q + j] << 24) >> 24) * scale;
  }
}

/** Q4_0: fp16 d, 16 bytes; element j in the low nibble of byte j, element j+16 in its high nibble. */
function dequantQ4_0(src: Uint8Array, o: number, dst: Float32Array, d: number, nb: number): void {
  for (let b = 0; b < nb; b++, o += 18, d += 32) {
    const scale = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    const q = o + 2;
    for (let j = 0; j < 16; j++) {
      const v = src[q + j];
      dst[d + j] = ((v & 0x0f) - 8) * scale;
      dst[d + j + 16] = ((v >>> 4) - 8) * scale;
    }
  }
}

/** Q4_1: fp16 d, fp16 m, 16 bytes of nibbles; x = q·d + m. */
function dequantQ4_1(src: Uint8Array, o: number, dst: Float32Array, d: number, nb: number): void {
  for (let b = 0; b < nb; b++, o += 20, d += 32) {
    const scale = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    const min = F16_TO_F32[src[o + 2] | (src[o + 3] << 8)];
    const q = o + 4;
    for (let j = 0; j < 16; j++) {
      const v = src[q + j];
      dst[d + j] = (v & 0x0f) * scale + min;
      dst[d + j + 16] = (v >>> 4) * scale + min;
    }
  }
}

/** Q5_0: fp16 d, u32 qh (bit j = 5th bit of element j), 16 bytes of nibbles; x = (q - 16)·d. */
function dequantQ5_0(src: Uint8Array, o: number, dst: Float32Array, d: number, nb: number): void {
  for (let b = 0; b < nb; b++, o += 22, d += 32) {
    const scale = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    const qh = src[o + 2] | (src[o + 3] << 8) | (src[o + 4] << 16) | (src[o + 5] << 24);
    const q = o + 6;
    for (let j = 0; j < 16; j++) {
      const v = src[q + j];
      const h0 = ((qh >>> j) << 4) & 0x10;
      const h1 = (qh >>> (j + 12)) & 0x10;
      dst[d + j] = (((v & 0x0f) | h0) - 16) * scale;
      dst[d + j + 16] = (((v >>> 4) | h1) - 16) * scale;
    }
  }
}

/** Q5_1: fp16 d, fp16 m, u32 qh, 16 bytes of nibbles; x = q·d + m. */
function dequantQ5_1(src: Uint8Array, o: number, dst: Float32Array, d: number, nb: number): void {
  for (let b = 0; b < nb; b++, o += 24, d += 32) {
    const scale = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    const min = F16_TO_F32[src[o + 2] | (src[o + 3] << 8)];
    const qh = src[o + 4] | (src[o + 5] << 8) | (src[o + 6] << 16) | (src[o + 7] << 24);
    const q = o + 8;
    for (let j = 0; j < 16; j++) {
      const v = src[q + j];
      const h0 = ((qh >>> j) << 4) & 0x10;
      const h1 = (qh >>> (j + 12)) & 0x10;
      dst[d + j] = ((v & 0x0f) | h0) * scale + min;
      dst[d + j + 16] = ((v >>> 4) | h1) * scale + min;
    }
  }
}

/**
 * Q4_K / Q5_K share the 12-byte scale block: eight 6-bit (scale, min) pairs. Pairs 0–3 sit in
 * the low 6 bits of bytes 0–3 / 4–7; pairs 4–7 keep their low 4 bits in the nibbles of bytes
 * 8–11 and their top 2 bits in the spare top bits of bytes 0–3 / 4–7 (ggml's get_scale_min_k4).
 */
function kScale(src: Uint8Array, s: number, j: number): number {
  return j < 4 ? src[s + j] & 63 : (src[s + j + 4] & 0x0f) | ((src[s + j - 4] >>> 6) << 4);
}
function kMin(src: Uint8Array, s: number, j: number): number {
  return j < 4 ? src[s + j + 4] & 63 : (src[s + j + 4] >>> 4) | ((src[s + j] >>> 6) << 4);
}

/**
 * Q4_K super-block (144 bytes): fp16 d, fp16 dmin, 12 scale bytes, 128 bytes of nibbles.
 * Each 64-element chunk uses 32 bytes: low nibbles are sub-block 2c, high nibbles 2c+1;
 * x = d·scale·q − dmin·min.
 */
function dequantQ4_K(src: Uint8Array, o: number, dst: Float32Array, d: number, nb: number): void {
  for (let b = 0; b < nb; b++, o += 144) {
    const dAll = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    const mAll = F16_TO_F32[src[o + 2] | (src[o + 3] << 8)];
    const s = o + 4;
    let q = o + 16;
    for (let c = 0; c < 4; c++, q += 32, d += 64) {
      const d1 = dAll * kScale(src, s, 2 * c);
      const m1 = mAll * kMin(src, s, 2 * c);
      const d2 = dAll * kScale(src, s, 2 * c + 1);
      const m2 = mAll * kMin(src, s, 2 * c + 1);
      for (let l = 0; l < 32; l++) {
        const v = src[q + l];
        dst[d + l] = d1 * (v & 0x0f) - m1;
        dst[d + l + 32] = d2 * (v >>> 4) - m2;
      }
    }
  }
}

/**
 * Q5_K super-block (176 bytes): like Q4_K plus 32 qh bytes between the scales and the nibbles;
 * in 64-element chunk c, bit 2c of qh[l] is the 5th bit of element l, bit 2c+1 that of l+32.
 */
function dequantQ5_K(src: Uint8Array, o: number, dst: Float32Array, d: number, nb: number): void {
  for (let b = 0; b < nb; b++, o += 176) {
    const dAll = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    const mAll = F16_TO_F32[src[o + 2] | (src[o + 3] << 8)];
    const s = o + 4;
    const qh = o + 16;
    let q = o + 48;
    for (let c = 0; c < 4; c++, q += 32, d += 64) {
      const d1 = dAll * kScale(src, s, 2 * c);
      const m1 = mAll * kMin(src, s, 2 * c);
      const d2 = dAll * kScale(src, s, 2 * c + 1);
      const m2 = mAll * kMin(src, s, 2 * c + 1);
      const shift = 2 * c;
      for (let l = 0; l < 32; l++) {
        const v = src[q + l];
        const h = src[qh + l] >>> shift;
        dst[d + l] = d1 * ((v & 0x0f) | ((h & 1) << 4)) - m1;
        dst[d + l + 32] = d2 * ((v >>> 4) | ((h & 2) << 3)) - m2;
      }
    }
  }
}

/**
 * Q6_K super-block (210 bytes): 128 bytes ql (low 4 bits), 64 bytes qh (high 2 bits), 16 int8
 * scales, fp16 d at the end. Each 128-element half uses 64 ql bytes and 32 qh bytes: element
 * l, l+32, l+64, l+96 take the low/low/high/high nibble of ql[l], ql[l+32], ql[l], ql[l+32] and
 * bits 0–1, 2–3, 4–5, 6–7 of qh[l]; x = d·scale·(q − 32), one scale per 16 elements.
 */
function dequantQ6_K(src: Uint8Array, o: number, dst: Float32Array, d: number, nb: number): void {
  for (let b = 0; b < nb; b++, o += 210) {
    const dAll = F16_TO_F32[src[o + 208] | (src[o + 209] << 8)];
    let ql = o;
    let qh = o + 128;
    let sc = o + 192;
    for (let half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, d += 128) {
      for (let l = 0; l < 32; l++) {
        const is = l >>> 4;
        const lo = src[ql + l];
        const hi = src[ql + l + 32];
        const h = src[qh + l];
        const q1 = ((lo & 0x0f) | ((h & 0x03) << 4)) - 32;
        const q2 = ((hi & 0x0f) | ((h & 0x0c) << 2)) - 32;
        const q3 = ((lo >>> 4) | (h & 0x30)) - 32;
        const q4 = ((hi >>> 4) | ((h & 0xc0) >>> 2)) - 32;
        dst[d + l] = dAll * ((src[sc + is] << 24) >> 24) * q1;
        dst[d + l + 32] = dAll * ((src[sc + is + 2] << 24) >> 24) * q2;
        dst[d + l + 64] = dAll * ((src[sc + is + 4] << 24) >> 24) * q3;
        dst[d + l + 96] = dAll * ((src[sc + is + 6] << 24) >> 24) * q4;
      }
    }
  }
}

/**
 * Decodes `n` elements of type `dtype` stored in `src` from byte `srcByteOffset` (a block
 * boundary) into `dst[dstOffset .. dstOffset + n)`. Bit-exact with ggml's dequantize_row_*.
 * @throws Llama4Error when `n` is not a multiple of the type's block size.
 */
export function dequantizeRow(
  dtype: DType,
  src: Uint8Array,
  srcByteOffset: number,
  dst: Float32Array,
  dstOffset: number,
  n: number,
): void {
  const bytes = rowBytes(dtype, n);
  assert(srcByteOffset >= 0 && srcByteOffset + bytes <= src.length, `dequantizeRow: ${dtype} source range out of bounds`);
  assert(dstOffset >= 0 && dstOffset + n <= dst.length, 'dequantizeRow: destination range out of bounds');
  const nb = n / blockSize(dtype);
  switch (dtype) {
    case 'F32': return dequantF32(src, srcByteOffset, dst, dstOffset, n);
    case 'F16': return dequantF16(src, srcByteOffset, dst, dstOffset, n);
    case 'BF16': return dequantBf16(src, srcByteOffset, dst, dstOffset, n);
    case 'Q8_0': return dequantQ8_0(src, srcByteOffset, dst, dstOffset, nb);
    case 'Q4_0': return dequantQ4_0(src, srcByteOffset, dst, dstOffset, nb);
    case 'Q4_1': return dequantQ4_1(src, srcByteOffset, dst, dstOffset, nb);
    case 'Q5_0': return dequantQ5_0(src, srcByteOffset, dst, dstOffset, nb);
    case 'Q5_1': return dequantQ5_1(src, srcByteOffset, dst, dstOffset, nb);
    case 'Q4_K': return dequantQ4_K(src, srcByteOffset, dst, dstOffset, nb);
    case 'Q5_K': return dequantQ5_K(src, srcByteOffset, dst, dstOffset, nb);
    case 'Q6_K': return dequantQ6_K(src, srcByteOffset, dst, dstOffset, nb);
  }
}
