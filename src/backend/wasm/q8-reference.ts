/**
 * Scalar TypeScript versions of the integer matmul path in asm/q8.ts, written to mirror ggml's C
 * line by line: quantize_row_q8_0_ref / q8_1_ref / q8_K_ref and ggml_vec_dot_<type>_q8_<k>_generic,
 * with every float operation rounded to f32 (Math.fround) in the C evaluation order. Used only by
 * the tests, as the oracle for the SIMD kernels.
 */
import type { DType } from '../../io/tensor.js';
import { f16ToF32, f32ToF16 } from '../../quant/formats.js';

const fr = Math.fround;

/** Activation formats, numbered as in asm/q8.ts. */
export const Q8Format = { Q8_0: 0, Q8_1: 1, Q8_K: 2 } as const;
export type Q8Format = (typeof Q8Format)[keyof typeof Q8Format];

/** The activation format ggml pairs with a weight type (its vec_dot_type), or null. */
export function q8FormatFor(dtype: DType): Q8Format | null {
  switch (dtype) {
    case 'Q8_0': case 'Q4_0': case 'Q5_0': return Q8Format.Q8_0;
    case 'Q4_1': case 'Q5_1': return Q8Format.Q8_1;
    case 'Q4_K': case 'Q5_K': case 'Q6_K': return Q8Format.Q8_K;
    default: return null;
  }
}

/** Bytes of one quantized row of n floats. */
export function q8RowBytes(fmt: Q8Format, n: number): number {
  if (fmt === Q8Format.Q8_0) return (n / 32) * 34;
  if (fmt === Q8Format.Q8_1) return (n / 32) * 36;
  return (n / 256) * 292;
}

/** C roundf: to nearest, ties away from zero. */
function roundf(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/** ggml nearest_int: adds 1.5·2^23 in f32 and reads the mantissa, i.e. round half to even. */
function nearestInt(x: number): number {
  return fr(x + 12582912) - 12582912;
}

function u16(b: Uint8Array, o: number): number { return b[o] | (b[o + 1] << 8); }
function u32(b: Uint8Array, o: number): number { return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0; }
function i8(b: Uint8Array, o: number): number { return (b[o] << 24) >> 24; }
function putU16(b: Uint8Array, o: number, v: number): void { b[o] = v & 0xff; b[o + 1] = (v >>> 8) & 0xff; }
function h(b: Uint8Array, o: number): number { return f16ToF32(u16(b, o)); }

/** quantize_row_q8_0_ref (withSum false) / quantize_row_q8_1_ref (withSum true). */
function quantizeLegacy(x: ArrayLike<number>, xOff: number, n: number, dst: Uint8Array, dOff: number, withSum: boolean): void {
  const bb = withSum ? 36 : 34;
  for (let i = 0; i < n / 32; i++) {
    const p = xOff + i * 32, o = dOff + i * bb, qs = o + (withSum ? 4 : 2);
    let amax = 0;
    for (let j = 0; j < 32; j++) {
      const a = Math.abs(x[p + j]);
      amax = amax > a ? amax : a;
    }
    const d = fr(amax / 127);
    const id = d ? fr(1 / d) : 0;
    putU16(dst, o, f32ToF16(d));
    let sum = 0;
    for (let j = 0; j < 32; j++) {
      const q = roundf(fr(x[p + j] * id));
      dst[qs + j] = q & 0xff;
      sum += q;
    }
    if (withSum) putU16(dst, o + 2, f32ToF16(fr(sum * d)));
  }
}

export function quantizeQ8_0(x: ArrayLike<number>, xOff: number, n: number, dst: Uint8Array, dOff: number): void {
  quantizeLegacy(x, xOff, n, dst, dOff, false);
}

export function quantizeQ8_1(x: ArrayLike<number>, xOff: number, n: number, dst: Uint8Array, dOff: number): void {
  quantizeLegacy(x, xOff, n, dst, dOff, true);
}

/**
 * quantize_row_q8_K_ref. An all-zero block also gets zero bsums (ggml leaves them unwritten;
 * they are only ever multiplied by that block's d = 0).
 */
export function quantizeQ8_K(x: ArrayLike<number>, xOff: number, n: number, dst: Uint8Array, dOff: number): void {
  const view = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  for (let i = 0; i < n / 256; i++) {
    const p = xOff + i * 256, o = dOff + i * 292;
    let max = 0, amax = 0;
    for (let j = 0; j < 256; j++) {
      const ax = Math.abs(x[p + j]);
      if (ax > amax) { amax = ax; max = x[p + j]; }
    }
    if (!amax) {
      dst.fill(0, o, o + 292);
      continue;
    }
    const iscale = fr(-127 / max);
    for (let j = 0; j < 256; j++) {
      const v = nearestInt(fr(iscale * x[p + j]));
      dst[o + 4 + j] = Math.min(127, v) & 0xff;
    }
    for (let j = 0; j < 16; j++) {
      let sum = 0;
      for (let k = 0; k < 16; k++) sum += i8(dst, o + 4 + j * 16 + k);
      view.setInt16(o + 260 + 2 * j, sum, true);
    }
    view.setFloat32(o, fr(1 / iscale), true);
  }
}

/** Quantizes one row of n floats into a new buffer. */
export function quantizeQ8(fmt: Q8Format, x: ArrayLike<number>, xOff: number, n: number): Uint8Array {
  const out = new Uint8Array(q8RowBytes(fmt, n));
  if (fmt === Q8Format.Q8_0) quantizeQ8_0(x, xOff, n, out, 0);
  else if (fmt === Q8Format.Q8_1) quantizeQ8_1(x, xOff, n, out, 0);
  else quantizeQ8_K(x, xOff, n, out, 0);
  return out;
}

// ---------------------------------------------------------------------------------------------
// dot products: weight row w (at wo) of n elements · quantized activations y (at yo)

function dotQ8_0(w: Uint8Array, wo: number, y: Uint8Array, yo: number, n: number): number {
  let sumf = 0;
  for (let ib = 0; ib < n / 32; ib++) {
    const x = wo + ib * 34, b = yo + ib * 34;
    let sumi = 0;
    for (let j = 0; j < 32; j++) sumi += i8(w, x + 2 + j) * i8(y, b + 2 + j);
    sumf = fr(sumf + fr(sumi * fr(h(w, x) * h(y, b))));
  }
  return sumf;
}

function dotQ4_0(w: Uint8Array, wo: number, y: Uint8Array, yo: number, n: number): number {
  let sumf = 0;
  for (let ib = 0; ib < n / 32; ib++) {
    const x = wo + ib * 18, b = yo + ib * 34;
    let sumi0 = 0, sumi1 = 0;
    for (let j = 0; j < 16; j++) {
      const v0 = (w[x + 2 + j] & 0x0f) - 8;
      const v1 = (w[x + 2 + j] >> 4) - 8;
      sumi0 += v0 * i8(y, b + 2 + j);
      sumi1 += v1 * i8(y, b + 2 + j + 16);
    }
    const sumi = sumi0 + sumi1;
    sumf = fr(sumf + fr(fr(sumi * h(w, x)) * h(y, b)));
  }
  return sumf;
}

function dotQ4_1(w: Uint8Array, wo: number, y: Uint8Array, yo: number, n: number): number {
  let sumf = 0;
  for (let ib = 0; ib < n / 32; ib++) {
    const x = wo + ib * 20, b = yo + ib * 36;
    let sumi0 = 0, sumi1 = 0;
    for (let j = 0; j < 16; j++) {
      const v0 = w[x + 4 + j] & 0x0f;
      const v1 = w[x + 4 + j] >> 4;
      sumi0 += v0 * i8(y, b + 4 + j);
      sumi1 += v1 * i8(y, b + 4 + j + 16);
    }
    const sumi = sumi0 + sumi1;
    sumf = fr(sumf + fr(fr(fr(h(w, x) * h(y, b)) * sumi) + fr(h(w, x + 2) * h(y, b + 2))));
  }
  return sumf;
}

function dotQ5_0(w: Uint8Array, wo: number, y: Uint8Array, yo: number, n: number): number {
  let sumf = 0;
  for (let ib = 0; ib < n / 32; ib++) {
    const x = wo + ib * 22, b = yo + ib * 34;
    const qh = u32(w, x + 2);
    let sumi0 = 0, sumi1 = 0;
    for (let j = 0; j < 16; j++) {
      const xh0 = ((qh & (1 << j)) >>> j) << 4;
      const xh1 = (qh & ((1 << (j + 16)) >>> 0)) >>> (j + 12);
      const x0 = ((w[x + 6 + j] & 0x0f) | xh0) - 16;
      const x1 = ((w[x + 6 + j] >> 4) | xh1) - 16;
      sumi0 += x0 * i8(y, b + 2 + j);
      sumi1 += x1 * i8(y, b + 2 + j + 16);
    }
    const sumi = sumi0 + sumi1;
    sumf = fr(sumf + fr(fr(h(w, x) * h(y, b)) * sumi));
  }
  return sumf;
}

function dotQ5_1(w: Uint8Array, wo: number, y: Uint8Array, yo: number, n: number): number {
  let sumf = 0;
  for (let ib = 0; ib < n / 32; ib++) {
    const x = wo + ib * 24, b = yo + ib * 36;
    const qh = u32(w, x + 4);
    let sumi0 = 0, sumi1 = 0;
    for (let j = 0; j < 16; j++) {
      const xh0 = ((qh >>> j) << 4) & 0x10;
      const xh1 = (qh >>> (j + 12)) & 0x10;
      const x0 = (w[x + 8 + j] & 0x0f) | xh0;
      const x1 = (w[x + 8 + j] >> 4) | xh1;
      sumi0 += x0 * i8(y, b + 4 + j);
      sumi1 += x1 * i8(y, b + 4 + j + 16);
    }
    const sumi = sumi0 + sumi1;
    sumf = fr(sumf + fr(fr(fr(h(w, x) * h(y, b)) * sumi) + fr(h(w, x + 2) * h(y, b + 2))));
  }
  return sumf;
}

/** The 8 scales and 8 mins of a Q4_K / Q5_K block (ggml's utmp / kmask unpacking). */
function scalesMinsK(w: Uint8Array, s: number): [number[], number[]] {
  const kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
  const utmp = [u32(w, s), u32(w, s + 4), u32(w, s + 8), 0];
  utmp[3] = (((utmp[2] >>> 4) & kmask2) | (((utmp[1] >>> 6) & kmask3) << 4)) >>> 0;
  const uaux = (utmp[1] & kmask1) >>> 0;
  utmp[1] = ((utmp[2] & kmask2) | (((utmp[0] >>> 6) & kmask3) << 4)) >>> 0;
  utmp[2] = uaux;
  utmp[0] = (utmp[0] & kmask1) >>> 0;
  const byte = (k: number) => (utmp[k >> 2] >>> ((k & 3) * 8)) & 0xff;
  return [[0, 1, 2, 3, 4, 5, 6, 7].map(byte), [8, 9, 10, 11, 12, 13, 14, 15].map(byte)];
}

function bsum(y: Uint8Array, b: number, j: number): number {
  return ((y[b + 260 + 2 * j] | (y[b + 261 + 2 * j] << 8)) << 16) >> 16;
}
function f32At(y: Uint8Array, o: number): number {
  return new DataView(y.buffer, y.byteOffset + o, 4).getFloat32(0, true);
}

/** ggml_vec_dot_q4_K_q8_K_generic / q5_K (with the fifth bits from qh). */
function dotQ45K(five: boolean, w: Uint8Array, wo: number, y: Uint8Array, yo: number, n: number): number {
  const bb = five ? 176 : 144;
  const sums = new Array<number>(8).fill(0);
  const aux8 = new Int8Array(256);
  let sumf = 0;
  for (let i = 0; i < n / 256; i++) {
    const x = wo + i * bb, b = yo + i * 292;
    const q4 = x + (five ? 48 : 16), hm = x + 16;
    let a = 0, m = 1;
    for (let j = 0; j < 4; j++) {
      for (let l = 0; l < 32; l++) aux8[a + l] = (w[q4 + 32 * j + l] & 0xf) + (five && (w[hm + l] & m) ? 16 : 0);
      a += 32; m <<= 1;
      for (let l = 0; l < 32; l++) aux8[a + l] = (w[q4 + 32 * j + l] >> 4) + (five && (w[hm + l] & m) ? 16 : 0);
      a += 32; m <<= 1;
    }
    const [scales, mins] = scalesMinsK(w, x + 4);
    let sumi = 0;
    for (let j = 0; j < 16; j++) sumi += bsum(y, b, j) * mins[j >> 1];
    const aux32 = new Array<number>(8).fill(0);
    let q8 = b + 4;
    a = 0;
    for (let j = 0; j < 8; j++) {
      const scale = scales[j];
      for (let g = 0; g < 4; g++) {
        for (let l = 0; l < 8; l++) aux32[l] += scale * (i8(y, q8 + l) * aux8[a + l]);
        q8 += 8; a += 8;
      }
    }
    const yd = f32At(y, b);
    const d = fr(h(w, x) * yd);
    for (let l = 0; l < 8; l++) sums[l] = fr(sums[l] + fr(d * aux32[l]));
    const dmin = fr(h(w, x + 2) * yd);
    sumf = fr(sumf - fr(dmin * sumi));
  }
  for (let l = 0; l < 8; l++) sumf = fr(sumf + sums[l]);
  return sumf;
}

function dotQ6_K(w: Uint8Array, wo: number, y: Uint8Array, yo: number, n: number): number {
  const sums = new Array<number>(8).fill(0);
  const aux8 = new Int8Array(256);
  let sumf = 0;
  for (let i = 0; i < n / 256; i++) {
    const x = wo + i * 210, b = yo + i * 292;
    let q4 = x, qh = x + 128, a = 0;
    for (let j = 0; j < 256; j += 128) {
      for (let l = 0; l < 32; l++) {
        aux8[a + l] = ((w[q4 + l] & 0xf) | (((w[qh + l] >> 0) & 3) << 4)) - 32;
        aux8[a + l + 32] = ((w[q4 + l + 32] & 0xf) | (((w[qh + l] >> 2) & 3) << 4)) - 32;
        aux8[a + l + 64] = ((w[q4 + l] >> 4) | (((w[qh + l] >> 4) & 3) << 4)) - 32;
        aux8[a + l + 96] = ((w[q4 + l + 32] >> 4) | (((w[qh + l] >> 6) & 3) << 4)) - 32;
      }
      a += 128; q4 += 64; qh += 32;
    }
    const aux32 = new Array<number>(8).fill(0);
    let q8 = b + 4;
    a = 0;
    for (let j = 0; j < 16; j++) {
      const scale = i8(w, x + 192 + j);
      for (let g = 0; g < 2; g++) {
        for (let l = 0; l < 8; l++) aux32[l] += scale * (i8(y, q8 + l) * aux8[a + l]);
        q8 += 8; a += 8;
      }
    }
    const d = fr(h(w, x + 208) * f32At(y, b));
    for (let l = 0; l < 8; l++) sums[l] = fr(sums[l] + fr(d * aux32[l]));
  }
  for (let l = 0; l < 8; l++) sumf = fr(sumf + sums[l]);
  return sumf;
}

/**
 * ggml_vec_dot_<dtype>_q8_<k>_generic: one weight row (n elements of `dtype` at w[wo..]) times
 * activations quantized with q8FormatFor(dtype) (at y[yo..]).
 */
export function vecDotQ8(dtype: DType, w: Uint8Array, wo: number, y: Uint8Array, yo: number, n: number): number {
  switch (dtype) {
    case 'Q8_0': return dotQ8_0(w, wo, y, yo, n);
    case 'Q4_0': return dotQ4_0(w, wo, y, yo, n);
    case 'Q4_1': return dotQ4_1(w, wo, y, yo, n);
    case 'Q5_0': return dotQ5_0(w, wo, y, yo, n);
    case 'Q5_1': return dotQ5_1(w, wo, y, yo, n);
    case 'Q4_K': return dotQ45K(false, w, wo, y, yo, n);
    case 'Q5_K': return dotQ45K(true, w, wo, y, yo, n);
    case 'Q6_K': return dotQ6_K(w, wo, y, yo, n);
    default: throw new Error(`no integer dot product for ${dtype}`);
  }
}

/** The activations a quantized row stands for: x̂ = d·q per element (exact, in f64). */
export function dequantizeQ8(fmt: Q8Format, y: Uint8Array, yo: number, n: number): Float64Array {
  const out = new Float64Array(n);
  if (fmt === Q8Format.Q8_K) {
    for (let i = 0; i < n / 256; i++) {
      const d = f32At(y, yo + i * 292);
      for (let j = 0; j < 256; j++) out[i * 256 + j] = d * i8(y, yo + i * 292 + 4 + j);
    }
  } else {
    const bb = fmt === Q8Format.Q8_0 ? 34 : 36, qs = fmt === Q8Format.Q8_0 ? 2 : 4;
    for (let i = 0; i < n / 32; i++) {
      const d = h(y, yo + i * bb);
      for (let j = 0; j < 32; j++) out[i * 32 + j] = d * i8(y, yo + i * bb + qs + j);
    }
  }
  return out;
}
