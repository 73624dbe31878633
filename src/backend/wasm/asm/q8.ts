// llama.cpp's CPU matmul fast path: the f32 activations are quantized to 8 bits once per matmul
// (ggml's block_q8_0 / block_q8_1 / block_q8_K, byte-identical to quantize_row_q8_*_ref), then
// every weight row is dotted with them in integers (ggml_vec_dot_<type>_q8_<k>), scaled by the
// block scales in f32 at the end of each block. src/backend/wasm/q8-reference.ts is the scalar
// version the tests compare against.
//
// Integer products use i16 lanes: weight quants are widened (v128.load8x8_u / _s, or unpacked as
// bytes with v128.and / i16x8 shifts and widened with i16x8.extend_*), activations with
// v128.load8x8_s, and i32x4.dot_i16x8_s sums pairs into i32 lanes; every integer sum is exact
// (|q_w·q_a| < 2^15, block sums < 2^31). No relaxed SIMD. For the legacy 32-element types the
// per-block float arithmetic follows ggml's generic C expression by expression (four blocks'
// integer sums are transposed into one vector, their terms added to sumf in block order), so
// those dots are bit-identical to it; for the K-quants the exact integer sum of a super-block is
// scaled once (ggml keeps eight float partial sums per row), which differs only in f32 rounding.

import { T_Q8_0, T_Q4_0, T_Q4_1, T_Q5_0, T_Q5_1, T_Q4_K, T_Q5_K, T_Q6_K } from './dequant';
import { f16, f16x4 } from './f16';

/** Activation formats: block_q8_0 (34 bytes / 32), block_q8_1 (36 / 32), block_q8_K (292 / 256). */
export const FMT_Q8_0: i32 = 0;
export const FMT_Q8_1: i32 = 1;
export const FMT_Q8_K: i32 = 2;

// ---------------------------------------------------------------------------------------------
// small helpers

/** f32 → IEEE half, round to nearest even (GGML_FP32_TO_FP16); ±inf on overflow, NaN stays NaN. */
@inline function toF16(x: f32): u32 {
  const w = reinterpret<u32>(x);
  const sign = (w >> 16) & 0x8000;
  const exp = <i32>((w >> 23) & 0xff);
  const man = w & 0x7fffff;
  if (exp == 0xff) return sign | (man != 0 ? 0x7e00 | (man >> 13) : 0x7c00);
  const e = exp - 112;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const sig = man | 0x800000;
    const shift = <u32>(14 - e);
    let h = sig >> shift;
    const rem = sig & ((<u32>1 << shift) - 1);
    const half = <u32>1 << (shift - 1);
    if (rem > half || (rem == half && (h & 1) != 0)) h++;
    return sign | h;
  }
  let h = (<u32>e << 10) | (man >> 13);
  const rem = man & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1) != 0)) h++;
  return sign | h;
}

@inline function hsumI(v: v128): i32 {
  const s = i32x4.add(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return i32x4.extract_lane(i32x4.add(s, i32x4.shuffle(s, s, 1, 0, 3, 2)), 0);
}

@inline function hmaxF(v: v128): f32 {
  const s = f32x4.max(v, f32x4.shuffle(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(f32x4.max(s, f32x4.shuffle(s, s, 1, 0, 3, 2)), 0);
}

/** roundf per lane (ties away from zero), exact: trunc, then ±1 where the fraction is ≥ 0.5. */
@inline function roundAwayI(v: v128): v128 {
  const t = f32x4.trunc(v);
  const big = f32x4.ge(f32x4.abs(f32x4.sub(v, t)), f32x4.splat(0.5));
  const one = v128.or(f32x4.splat(1.0), v128.and(v, i32x4.splat(0x80000000)));
  return i32x4.trunc_sat_f32x4_s(f32x4.add(t, v128.and(one, big)));
}

/** The f16 at p, p + s, p + 2s, p + 3s as f32x4. */
@inline function f16Gather(p: usize, s: usize): v128 {
  let v = v128.load16_lane(p, i32x4.splat(0), 0);
  v = v128.load16_lane(p + s, v, 2);
  v = v128.load16_lane(p + 2 * s, v, 4);
  return f16x4(v128.load16_lane(p + 3 * s, v, 6));
}

/** Lane sums of four i32x4 vectors: [Σp0, Σp1, Σp2, Σp3]. */
@inline function hsum4(p0: v128, p1: v128, p2: v128, p3: v128): v128 {
  const a = i32x4.add(i32x4.shuffle(p0, p1, 0, 4, 1, 5), i32x4.shuffle(p0, p1, 2, 6, 3, 7));
  const b = i32x4.add(i32x4.shuffle(p2, p3, 0, 4, 1, 5), i32x4.shuffle(p2, p3, 2, 6, 3, 7));
  return i32x4.add(i32x4.shuffle(a, b, 0, 1, 4, 5), i32x4.shuffle(a, b, 2, 3, 6, 7));
}

/** s + v[0] + v[1] + v[2] + v[3], added in that order (ggml's block order). */
@inline function addLanes(s: f32, v: v128): f32 {
  s += f32x4.extract_lane(v, 0);
  s += f32x4.extract_lane(v, 1);
  s += f32x4.extract_lane(v, 2);
  return s + f32x4.extract_lane(v, 3);
}

/** Σ over 32 elements: weights as four i16x8 (elements 0–7, 8–15, 16–23, 24–31), int8 activations at p. */
@inline function dot32(w0: v128, w1: v128, w2: v128, w3: v128, p: usize): v128 {
  let s = i32x4.dot_i16x8_s(w0, v128.load8x8_s(p));
  s = i32x4.add(s, i32x4.dot_i16x8_s(w1, v128.load8x8_s(p, 8)));
  s = i32x4.add(s, i32x4.dot_i16x8_s(w2, v128.load8x8_s(p, 16)));
  return i32x4.add(s, i32x4.dot_i16x8_s(w3, v128.load8x8_s(p, 24)));
}

/** Σ over 16 elements: two i16x8 weight vectors, int8 activations at p. */
@inline function dot16(w0: v128, w1: v128, p: usize): v128 {
  return i32x4.add(i32x4.dot_i16x8_s(w0, v128.load8x8_s(p)), i32x4.dot_i16x8_s(w1, v128.load8x8_s(p, 8)));
}

// ---------------------------------------------------------------------------------------------
// activation quantizers

/** ggml quantize_row_q8_0_ref: per 32 floats d = amax/127 (f16), q = roundf(x/d). */
export function quantizeQ8_0(x: usize, dst: usize, n: i32): void {
  quantizeQ8Legacy(x, dst, n, false);
}

/** ggml quantize_row_q8_1_ref: as Q8_0 plus s = d·Σq (f16) after d. */
export function quantizeQ8_1(x: usize, dst: usize, n: i32): void {
  quantizeQ8Legacy(x, dst, n, true);
}

@inline function quantizeQ8Legacy(x: usize, dst: usize, n: i32, withSum: bool): void {
  const nb = n >> 5;
  const bb: usize = withSum ? 36 : 34;
  const sign = f32x4.splat(-0.0);
  for (let b = 0; b < nb; b++) {
    const p = x + (<usize>b << 7), o = dst + <usize>b * bb;
    const v0 = v128.load(p), v1 = v128.load(p, 16), v2 = v128.load(p, 32), v3 = v128.load(p, 48);
    const v4 = v128.load(p, 64), v5 = v128.load(p, 80), v6 = v128.load(p, 96), v7 = v128.load(p, 112);
    let m = f32x4.max(v128.andnot(v0, sign), v128.andnot(v1, sign));
    m = f32x4.max(m, f32x4.max(v128.andnot(v2, sign), v128.andnot(v3, sign)));
    m = f32x4.max(m, f32x4.max(v128.andnot(v4, sign), v128.andnot(v5, sign)));
    m = f32x4.max(m, f32x4.max(v128.andnot(v6, sign), v128.andnot(v7, sign)));
    const amax = hmaxF(m);
    const d: f32 = amax / 127;
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    const idv = f32x4.splat(id);
    const q0 = roundAwayI(f32x4.mul(v0, idv)), q1 = roundAwayI(f32x4.mul(v1, idv));
    const q2 = roundAwayI(f32x4.mul(v2, idv)), q3 = roundAwayI(f32x4.mul(v3, idv));
    const q4 = roundAwayI(f32x4.mul(v4, idv)), q5 = roundAwayI(f32x4.mul(v5, idv));
    const q6 = roundAwayI(f32x4.mul(v6, idv)), q7 = roundAwayI(f32x4.mul(v7, idv));
    const qs = o + (withSum ? 4 : 2);
    v128.store(qs, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)));
    v128.store(qs, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q4, q5), i16x8.narrow_i32x4_s(q6, q7)), 16);
    store<u16>(o, <u16>toF16(d));
    if (withSum) {
      const s = hsumI(i32x4.add(i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3)), i32x4.add(i32x4.add(q4, q5), i32x4.add(q6, q7))));
      store<u16>(o + 2, <u16>toF16(<f32>s * d));
    }
  }
}

/**
 * ggml quantize_row_q8_K_ref: per 256 floats, max = the first element of largest magnitude (its
 * sign kept), iscale = −127/max, q = min(127, nearest_int(iscale·x)) (round half to even),
 * d = 1/iscale (f32), bsums = Σ of each 16 quants (i16). An all-zero block gets d = 0, zero quants
 * and zero bsums (ggml leaves that block's bsums unwritten; they are multiplied by d = 0).
 */
export function quantizeQ8_K(x: usize, dst: usize, n: i32): void {
  const nb = n >> 8;
  const sign = f32x4.splat(-0.0);
  const top = i32x4.splat(127);
  for (let b = 0; b < nb; b++) {
    const p = x + (<usize>b << 10), o = dst + <usize>b * 292;
    let m = f32x4.splat(0);
    for (let i = 0; i < 256; i += 8) {
      const off = <usize>i << 2;
      m = f32x4.max(m, f32x4.max(v128.andnot(v128.load(p + off), sign), v128.andnot(v128.load(p + off, 16), sign)));
    }
    const amax = hmaxF(m);
    if (amax == 0) {
      store<f32>(o, 0);
      memory.fill(o + 4, 0, 288);
      continue;
    }
    let max: f32 = amax;
    const av = f32x4.splat(amax);
    for (let i = 0; i < 256; i += 4) {
      const v = v128.load(p + (<usize>i << 2));
      const hit = f32x4.eq(v128.andnot(v, sign), av);
      if (v128.any_true(hit)) {
        max = load<f32>(p + (<usize>(i + ctz(i32x4.bitmask(hit))) << 2));
        break;
      }
    }
    const iscale: f32 = <f32>-127 / max;
    const isv = f32x4.splat(iscale);
    for (let g = 0; g < 16; g++) {
      const src = p + (<usize>g << 6);
      const q0 = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(isv, v128.load(src)))), top);
      const q1 = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(isv, v128.load(src, 16)))), top);
      const q2 = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(isv, v128.load(src, 32)))), top);
      const q3 = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(isv, v128.load(src, 48)))), top);
      v128.store(o + 4 + (<usize>g << 4), i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)));
      store<i16>(o + 260 + (<usize>g << 1), <i16>hsumI(i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3))));
    }
    store<f32>(o, <f32>1 / iscale);
  }
}

/** Bytes of one quantized activation row of n floats in format fmt (0 = Q8_0, 1 = Q8_1, 2 = Q8_K). */
export function q8RowBytes(fmt: i32, n: i32): i32 {
  if (fmt == FMT_Q8_0) return (n >> 5) * 34;
  if (fmt == FMT_Q8_1) return (n >> 5) * 36;
  if (fmt == FMT_Q8_K) return (n >> 8) * 292;
  return 0;
}

/** The activation format ggml pairs with weight type t; −1 where there is no integer path. */
export function q8FormatFor(t: i32): i32 {
  switch (t) {
    case T_Q8_0: case T_Q4_0: case T_Q5_0: return FMT_Q8_0;
    case T_Q4_1: case T_Q5_1: return FMT_Q8_1;
    case T_Q4_K: case T_Q5_K: case T_Q6_K: return FMT_Q8_K;
  }
  return -1;
}

/** Quantizes T rows of n floats (x, n·4 bytes apart) into dst, q8RowBytes(fmt, n) apart. */
export function quantizeActivations(fmt: i32, x: usize, dst: usize, T: i32, n: i32): void {
  const xs = <usize>n << 2, ds = <usize>q8RowBytes(fmt, n);
  for (let t = 0; t < T; t++) {
    const src = x + <usize>t * xs, out = dst + <usize>t * ds;
    if (fmt == FMT_Q8_0) quantizeQ8_0(src, out, n);
    else if (fmt == FMT_Q8_1) quantizeQ8_1(src, out, n);
    else quantizeQ8_K(src, out, n);
  }
}

// ---------------------------------------------------------------------------------------------
// legacy weight blocks (32 elements). sumX(wb, xq): one block times one activation block as an
// i32x4 of partial sums; sum4X(wb, xq, xs): the block unpacked once and dotted with four
// activation blocks xq, xq + xs, … → [Σ token 0, Σ token 1, Σ token 2, Σ token 3].

const LOW4 = i16x8.splat(0x0f);
const M0F = i8x16.splat(0x0f);
const EIGHT = i16x8.splat(8);

@inline function dot32x4(w0: v128, w1: v128, w2: v128, w3: v128, xq: usize, xs: usize): v128 {
  return hsum4(dot32(w0, w1, w2, w3, xq), dot32(w0, w1, w2, w3, xq + xs), dot32(w0, w1, w2, w3, xq + 2 * xs), dot32(w0, w1, w2, w3, xq + 3 * xs));
}

@inline function sumQ8_0(wb: usize, xq: usize): v128 {
  return dot32(v128.load8x8_s(wb, 2), v128.load8x8_s(wb, 10), v128.load8x8_s(wb, 18), v128.load8x8_s(wb, 26), xq);
}
@inline function sum4Q8_0(wb: usize, xq: usize, xs: usize): v128 {
  return dot32x4(v128.load8x8_s(wb, 2), v128.load8x8_s(wb, 10), v128.load8x8_s(wb, 18), v128.load8x8_s(wb, 26), xq, xs);
}

@inline function sumQ4_0(wb: usize, xq: usize): v128 {
  const a = v128.load8x8_u(wb, 2), c = v128.load8x8_u(wb, 10);
  return dot32(i16x8.sub(v128.and(a, LOW4), EIGHT), i16x8.sub(v128.and(c, LOW4), EIGHT),
    i16x8.sub(i16x8.shr_u(a, 4), EIGHT), i16x8.sub(i16x8.shr_u(c, 4), EIGHT), xq);
}
@inline function sum4Q4_0(wb: usize, xq: usize, xs: usize): v128 {
  const a = v128.load8x8_u(wb, 2), c = v128.load8x8_u(wb, 10);
  return dot32x4(i16x8.sub(v128.and(a, LOW4), EIGHT), i16x8.sub(v128.and(c, LOW4), EIGHT),
    i16x8.sub(i16x8.shr_u(a, 4), EIGHT), i16x8.sub(i16x8.shr_u(c, 4), EIGHT), xq, xs);
}

@inline function sumQ4_1(wb: usize, xq: usize): v128 {
  const a = v128.load8x8_u(wb, 4), c = v128.load8x8_u(wb, 12);
  return dot32(v128.and(a, LOW4), v128.and(c, LOW4), i16x8.shr_u(a, 4), i16x8.shr_u(c, 4), xq);
}
@inline function sum4Q4_1(wb: usize, xq: usize, xs: usize): v128 {
  const a = v128.load8x8_u(wb, 4), c = v128.load8x8_u(wb, 12);
  return dot32x4(v128.and(a, LOW4), v128.and(c, LOW4), i16x8.shr_u(a, 4), i16x8.shr_u(c, 4), xq, xs);
}

const BITS8 = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);

/** qh bits 0–15 (lo) or 16–31 (hi) spread to 16 bytes: 0xFF where the bit is clear, 0 where set. */
@inline function q5ClearLo(qh: v128): v128 {
  return i8x16.eq(v128.and(i8x16.shuffle(qh, qh, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1), BITS8), i8x16.splat(0));
}
@inline function q5ClearHi(qh: v128): v128 {
  return i8x16.eq(v128.and(i8x16.shuffle(qh, qh, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3), BITS8), i8x16.splat(0));
}

@inline function sumQ5_0(wb: usize, xq: usize): v128 {
  const qh = v128.load32_zero(wb, 2), q = v128.load(wb, 6);
  const f0 = i8x16.splat(-16);
  const lo = v128.or(v128.and(q, M0F), v128.and(q5ClearLo(qh), f0)); // nib | 0xF0 = nib − 16
  const hi = v128.or(v128.and(i16x8.shr_u(q, 4), M0F), v128.and(q5ClearHi(qh), f0));
  return dot32(i16x8.extend_low_i8x16_s(lo), i16x8.extend_high_i8x16_s(lo), i16x8.extend_low_i8x16_s(hi), i16x8.extend_high_i8x16_s(hi), xq);
}
@inline function sum4Q5_0(wb: usize, xq: usize, xs: usize): v128 {
  const qh = v128.load32_zero(wb, 2), q = v128.load(wb, 6);
  const f0 = i8x16.splat(-16);
  const lo = v128.or(v128.and(q, M0F), v128.and(q5ClearLo(qh), f0));
  const hi = v128.or(v128.and(i16x8.shr_u(q, 4), M0F), v128.and(q5ClearHi(qh), f0));
  return dot32x4(i16x8.extend_low_i8x16_s(lo), i16x8.extend_high_i8x16_s(lo), i16x8.extend_low_i8x16_s(hi), i16x8.extend_high_i8x16_s(hi), xq, xs);
}

@inline function sumQ5_1(wb: usize, xq: usize): v128 {
  const qh = v128.load32_zero(wb, 4), q = v128.load(wb, 8);
  const b4 = i8x16.splat(0x10);
  const lo = v128.or(v128.and(q, M0F), v128.andnot(b4, q5ClearLo(qh))); // nib | 16 where the bit is set
  const hi = v128.or(v128.and(i16x8.shr_u(q, 4), M0F), v128.andnot(b4, q5ClearHi(qh)));
  return dot32(i16x8.extend_low_i8x16_u(lo), i16x8.extend_high_i8x16_u(lo), i16x8.extend_low_i8x16_u(hi), i16x8.extend_high_i8x16_u(hi), xq);
}
@inline function sum4Q5_1(wb: usize, xq: usize, xs: usize): v128 {
  const qh = v128.load32_zero(wb, 4), q = v128.load(wb, 8);
  const b4 = i8x16.splat(0x10);
  const lo = v128.or(v128.and(q, M0F), v128.andnot(b4, q5ClearLo(qh)));
  const hi = v128.or(v128.and(i16x8.shr_u(q, 4), M0F), v128.andnot(b4, q5ClearHi(qh)));
  return dot32x4(i16x8.extend_low_i8x16_u(lo), i16x8.extend_high_i8x16_u(lo), i16x8.extend_low_i8x16_u(hi), i16x8.extend_high_i8x16_u(hi), xq, xs);
}

// A block's contribution to sumf, four lanes at a time, in the exact expression order of
// ggml_vec_dot_*_generic (s: integer sums; dw, mw: weight d, m; dx, sx: activation d, s).
@inline function termQ8_0(s: v128, dw: v128, dx: v128): v128 { return f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.mul(dw, dx)); }
@inline function termQ4_0(s: v128, dw: v128, dx: v128): v128 { return f32x4.mul(f32x4.mul(f32x4.convert_i32x4_s(s), dw), dx); }
@inline function termQ5_0(s: v128, dw: v128, dx: v128): v128 { return f32x4.mul(f32x4.mul(dw, dx), f32x4.convert_i32x4_s(s)); }
@inline function termQx_1(s: v128, dw: v128, dx: v128, mw: v128, sx: v128): v128 {
  return f32x4.add(f32x4.mul(f32x4.mul(dw, dx), f32x4.convert_i32x4_s(s)), f32x4.mul(mw, sx));
}

@inline function h1(p: usize): v128 { return f32x4.splat(f16(load<u16>(p))); }

// ---------------------------------------------------------------------------------------------
// legacy dots, one token: four blocks per step (integer sums transposed into one vector, the
// scales converted four at a time), blocks still added to sumf one by one in ggml's order.

function dotQ8_0(w: usize, x: usize, n: i32): f32 {
  let sumf: f32 = 0, b = 0, wb = w, xb = x;
  const nb = n >> 5;
  for (; b + 4 <= nb; b += 4, wb += 136, xb += 136) {
    const s = hsum4(sumQ8_0(wb, xb + 2), sumQ8_0(wb + 34, xb + 36), sumQ8_0(wb + 68, xb + 70), sumQ8_0(wb + 102, xb + 104));
    sumf = addLanes(sumf, termQ8_0(s, f16Gather(wb, 34), f16Gather(xb, 34)));
  }
  for (; b < nb; b++, wb += 34, xb += 34) {
    sumf += f32x4.extract_lane(termQ8_0(i32x4.splat(hsumI(sumQ8_0(wb, xb + 2))), h1(wb), h1(xb)), 0);
  }
  return sumf;
}

function dotQ4_0(w: usize, x: usize, n: i32): f32 {
  let sumf: f32 = 0, b = 0, wb = w, xb = x;
  const nb = n >> 5;
  for (; b + 4 <= nb; b += 4, wb += 72, xb += 136) {
    const s = hsum4(sumQ4_0(wb, xb + 2), sumQ4_0(wb + 18, xb + 36), sumQ4_0(wb + 36, xb + 70), sumQ4_0(wb + 54, xb + 104));
    sumf = addLanes(sumf, termQ4_0(s, f16Gather(wb, 18), f16Gather(xb, 34)));
  }
  for (; b < nb; b++, wb += 18, xb += 34) {
    sumf += f32x4.extract_lane(termQ4_0(i32x4.splat(hsumI(sumQ4_0(wb, xb + 2))), h1(wb), h1(xb)), 0);
  }
  return sumf;
}

function dotQ4_1(w: usize, x: usize, n: i32): f32 {
  let sumf: f32 = 0, b = 0, wb = w, xb = x;
  const nb = n >> 5;
  for (; b + 4 <= nb; b += 4, wb += 80, xb += 144) {
    const s = hsum4(sumQ4_1(wb, xb + 4), sumQ4_1(wb + 20, xb + 40), sumQ4_1(wb + 40, xb + 76), sumQ4_1(wb + 60, xb + 112));
    sumf = addLanes(sumf, termQx_1(s, f16Gather(wb, 20), f16Gather(xb, 36), f16Gather(wb + 2, 20), f16Gather(xb + 2, 36)));
  }
  for (; b < nb; b++, wb += 20, xb += 36) {
    sumf += f32x4.extract_lane(termQx_1(i32x4.splat(hsumI(sumQ4_1(wb, xb + 4))), h1(wb), h1(xb), h1(wb + 2), h1(xb + 2)), 0);
  }
  return sumf;
}

function dotQ5_0(w: usize, x: usize, n: i32): f32 {
  let sumf: f32 = 0, b = 0, wb = w, xb = x;
  const nb = n >> 5;
  for (; b + 4 <= nb; b += 4, wb += 88, xb += 136) {
    const s = hsum4(sumQ5_0(wb, xb + 2), sumQ5_0(wb + 22, xb + 36), sumQ5_0(wb + 44, xb + 70), sumQ5_0(wb + 66, xb + 104));
    sumf = addLanes(sumf, termQ5_0(s, f16Gather(wb, 22), f16Gather(xb, 34)));
  }
  for (; b < nb; b++, wb += 22, xb += 34) {
    sumf += f32x4.extract_lane(termQ5_0(i32x4.splat(hsumI(sumQ5_0(wb, xb + 2))), h1(wb), h1(xb)), 0);
  }
  return sumf;
}

function dotQ5_1(w: usize, x: usize, n: i32): f32 {
  let sumf: f32 = 0, b = 0, wb = w, xb = x;
  const nb = n >> 5;
  for (; b + 4 <= nb; b += 4, wb += 96, xb += 144) {
    const s = hsum4(sumQ5_1(wb, xb + 4), sumQ5_1(wb + 24, xb + 40), sumQ5_1(wb + 48, xb + 76), sumQ5_1(wb + 72, xb + 112));
    sumf = addLanes(sumf, termQx_1(s, f16Gather(wb, 24), f16Gather(xb, 36), f16Gather(wb + 2, 24), f16Gather(xb + 2, 36)));
  }
  for (; b < nb; b++, wb += 24, xb += 36) {
    sumf += f32x4.extract_lane(termQx_1(i32x4.splat(hsumI(sumQ5_1(wb, xb + 4))), h1(wb), h1(xb), h1(wb + 2), h1(xb + 2)), 0);
  }
  return sumf;
}

// ---------------------------------------------------------------------------------------------
// legacy dots, four tokens (x, x + xs, x + 2xs, x + 3xs) sharing each unpacked weight block; the
// four tokens' sums of a block are one vector. Same float steps per token as the one-token dots.

@inline function store4(o: usize, os: usize, s0: f32, s1: f32, s2: f32, s3: f32): void {
  store<f32>(o, s0);
  store<f32>(o + os, s1);
  store<f32>(o + 2 * os, s2);
  store<f32>(o + 3 * os, s3);
}

function dot4Q8_0(w: usize, x: usize, xs: usize, n: i32, o: usize, os: usize): void {
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
  for (let b = 0, nb = n >> 5, wb = w, xb = x; b < nb; b++, wb += 34, xb += 34) {
    const t = termQ8_0(sum4Q8_0(wb, xb + 2, xs), h1(wb), f16Gather(xb, xs));
    s0 += f32x4.extract_lane(t, 0); s1 += f32x4.extract_lane(t, 1); s2 += f32x4.extract_lane(t, 2); s3 += f32x4.extract_lane(t, 3);
  }
  store4(o, os, s0, s1, s2, s3);
}

function dot4Q4_0(w: usize, x: usize, xs: usize, n: i32, o: usize, os: usize): void {
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
  for (let b = 0, nb = n >> 5, wb = w, xb = x; b < nb; b++, wb += 18, xb += 34) {
    const t = termQ4_0(sum4Q4_0(wb, xb + 2, xs), h1(wb), f16Gather(xb, xs));
    s0 += f32x4.extract_lane(t, 0); s1 += f32x4.extract_lane(t, 1); s2 += f32x4.extract_lane(t, 2); s3 += f32x4.extract_lane(t, 3);
  }
  store4(o, os, s0, s1, s2, s3);
}

function dot4Q4_1(w: usize, x: usize, xs: usize, n: i32, o: usize, os: usize): void {
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
  for (let b = 0, nb = n >> 5, wb = w, xb = x; b < nb; b++, wb += 20, xb += 36) {
    const t = termQx_1(sum4Q4_1(wb, xb + 4, xs), h1(wb), f16Gather(xb, xs), h1(wb + 2), f16Gather(xb + 2, xs));
    s0 += f32x4.extract_lane(t, 0); s1 += f32x4.extract_lane(t, 1); s2 += f32x4.extract_lane(t, 2); s3 += f32x4.extract_lane(t, 3);
  }
  store4(o, os, s0, s1, s2, s3);
}

function dot4Q5_0(w: usize, x: usize, xs: usize, n: i32, o: usize, os: usize): void {
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
  for (let b = 0, nb = n >> 5, wb = w, xb = x; b < nb; b++, wb += 22, xb += 34) {
    const t = termQ5_0(sum4Q5_0(wb, xb + 2, xs), h1(wb), f16Gather(xb, xs));
    s0 += f32x4.extract_lane(t, 0); s1 += f32x4.extract_lane(t, 1); s2 += f32x4.extract_lane(t, 2); s3 += f32x4.extract_lane(t, 3);
  }
  store4(o, os, s0, s1, s2, s3);
}

function dot4Q5_1(w: usize, x: usize, xs: usize, n: i32, o: usize, os: usize): void {
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
  for (let b = 0, nb = n >> 5, wb = w, xb = x; b < nb; b++, wb += 24, xb += 36) {
    const t = termQx_1(sum4Q5_1(wb, xb + 4, xs), h1(wb), f16Gather(xb, xs), h1(wb + 2), f16Gather(xb + 2, xs));
    s0 += f32x4.extract_lane(t, 0); s1 += f32x4.extract_lane(t, 1); s2 += f32x4.extract_lane(t, 2); s3 += f32x4.extract_lane(t, 3);
  }
  store4(o, os, s0, s1, s2, s3);
}

// ---------------------------------------------------------------------------------------------
// K-quants × Q8_K. Per super-block the integer sum Σ scale·q·a is exact in i32; then
// sumf += (d·y.d)·isum − (dmin·y.d)·Σ bsums·mins.

// Q4_K / Q5_K 6-bit scales and mins, unpacked as ggml does (utmp[0..1] = 8 scales, utmp[2..3] = 8 mins).
@inline function kScalesLo(u0: u32): u32 { return u0 & 0x3f3f3f3f; }
@inline function kScalesHi(u0: u32, u2: u32): u32 { return (u2 & 0x0f0f0f0f) | (((u0 >> 6) & 0x03030303) << 4); }
@inline function kMinsLo(u1: u32): u32 { return u1 & 0x3f3f3f3f; }
@inline function kMinsHi(u1: u32, u2: u32): u32 { return ((u2 >> 4) & 0x0f0f0f0f) | (((u1 >> 6) & 0x03030303) << 4); }

/** Σ_j bsums[j] · mins[j/2] for one Q8_K block at xb (mins: 8 bytes in two u32). */
@inline function minsDot(xb: usize, mlo: u32, mhi: u32): i32 {
  const pairs = i16x8.narrow_i32x4_s(
    i32x4.extadd_pairwise_i16x8_s(v128.load(xb, 260)),
    i32x4.extadd_pairwise_i16x8_s(v128.load(xb, 276)));
  const mins = i16x8.extend_low_i8x16_u(i32x4.replace_lane(i32x4.splat(<i32>mlo), 1, <i32>mhi));
  return hsumI(i32x4.dot_i16x8_s(pairs, mins));
}

@inline function byteOf(lo: u32, hi: u32, k: i32): i32 {
  return <i32>(((k < 4 ? lo : hi) >> (<u32>(k & 3) << 3)) & 0xff);
}

function dotQ4_K(w: usize, x: usize, n: i32): f32 {
  let sumf: f32 = 0;
  for (let i = 0, nb = n >> 8; i < nb; i++) {
    const wb = w + <usize>i * 144, xb = x + <usize>i * 292;
    const yd = load<f32>(xb);
    const u0 = load<u32>(wb, 4), u1 = load<u32>(wb, 8), u2 = load<u32>(wb, 12);
    const sl = kScalesLo(u0), sh = kScalesHi(u0, u2);
    let acc = i32x4.splat(0);
    for (let j = 0; j < 4; j++) {
      const q = wb + 16 + (<usize>j << 5), a = xb + 4 + (<usize>j << 6);
      const q0 = v128.load8x8_u(q), q1 = v128.load8x8_u(q, 8), q2 = v128.load8x8_u(q, 16), q3 = v128.load8x8_u(q, 24);
      const lo = dot32(v128.and(q0, LOW4), v128.and(q1, LOW4), v128.and(q2, LOW4), v128.and(q3, LOW4), a);
      const hi = dot32(i16x8.shr_u(q0, 4), i16x8.shr_u(q1, 4), i16x8.shr_u(q2, 4), i16x8.shr_u(q3, 4), a + 32);
      acc = i32x4.add(acc, i32x4.add(
        i32x4.mul(lo, i32x4.splat(byteOf(sl, sh, 2 * j))),
        i32x4.mul(hi, i32x4.splat(byteOf(sl, sh, 2 * j + 1)))));
    }
    const summ = minsDot(xb, kMinsLo(u1), kMinsHi(u1, u2));
    sumf += (f16(load<u16>(wb)) * yd) * <f32>hsumI(acc);
    sumf -= (f16(load<u16>(wb, 2)) * yd) * <f32>summ;
  }
  return sumf;
}

/**
 * Bit k of every byte of qh moved to bit 4 (16 or 0 per byte): i16 shifts on byte vectors, the
 * mask drops what crosses into the neighbouring byte.
 */
@inline function q5kBit(qh: v128, k: i32): v128 {
  return v128.and(k < 4 ? i16x8.shl(qh, 4 - k) : i16x8.shr_u(qh, k - 4), i8x16.splat(0x10));
}

/** 16 Q5_K quants as bytes in [0, 31]: nibble bytes q with their qh bytes; sub-block k (low nibbles) or k + 1 (high). */
@inline function q5kLo(q: v128, qh: v128, k: i32): v128 { return v128.or(v128.and(q, M0F), q5kBit(qh, k)); }
@inline function q5kHi(q: v128, qh: v128, k: i32): v128 { return v128.or(v128.and(i16x8.shr_u(q, 4), M0F), q5kBit(qh, k + 1)); }

/** Σ over 32 elements: unsigned bytes u0 (elements 0–15), u1 (16–31) times int8 activations at p. */
@inline function dotU8x32(u0: v128, u1: v128, p: usize): v128 {
  return dot32(i16x8.extend_low_i8x16_u(u0), i16x8.extend_high_i8x16_u(u0), i16x8.extend_low_i8x16_u(u1), i16x8.extend_high_i8x16_u(u1), p);
}

function dotQ5_K(w: usize, x: usize, n: i32): f32 {
  let sumf: f32 = 0;
  for (let i = 0, nb = n >> 8; i < nb; i++) {
    const wb = w + <usize>i * 176, xb = x + <usize>i * 292;
    const yd = load<f32>(xb);
    const u0 = load<u32>(wb, 4), u1 = load<u32>(wb, 8), u2 = load<u32>(wb, 12);
    const sl = kScalesLo(u0), sh = kScalesHi(u0, u2);
    // qh[l] bit k is the fifth bit of element 32k + l
    const h0 = v128.load(wb, 16), h1 = v128.load(wb, 32);
    let acc = i32x4.splat(0);
    for (let j = 0; j < 4; j++) {
      const q = wb + 48 + (<usize>j << 5), a = xb + 4 + (<usize>j << 6);
      const k = 2 * j;
      const q0 = v128.load(q), q1 = v128.load(q, 16);
      const lo = dotU8x32(q5kLo(q0, h0, k), q5kLo(q1, h1, k), a);
      const hi = dotU8x32(q5kHi(q0, h0, k), q5kHi(q1, h1, k), a + 32);
      acc = i32x4.add(acc, i32x4.add(
        i32x4.mul(lo, i32x4.splat(byteOf(sl, sh, k))),
        i32x4.mul(hi, i32x4.splat(byteOf(sl, sh, k + 1)))));
    }
    const summ = minsDot(xb, kMinsLo(u1), kMinsHi(u1, u2));
    sumf += (f16(load<u16>(wb)) * yd) * <f32>hsumI(acc);
    sumf -= (f16(load<u16>(wb, 2)) * yd) * <f32>summ;
  }
  return sumf;
}

/** Σ_g scale[g] · bsums[g] of a Q6_K block (scales i8 at sc) and a Q8_K block at xb. */
@inline function q6Bias(sc: usize, xb: usize): i32 {
  const s = v128.load(sc);
  return hsumI(i32x4.add(
    i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(s), v128.load(xb, 260)),
    i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(s), v128.load(xb, 276))));
}


const M30 = i8x16.splat(0x30);

/** Σ over 16 elements: unsigned bytes q (i8x16) times int8 activations at p. */
@inline function dotU8(q: v128, p: usize): v128 {
  return i32x4.add(
    i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(q), v128.load8x8_s(p)),
    i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(q), v128.load8x8_s(p, 8)));
}

// Q6_K 6-bit quants of one 16-byte group of ql / ql + 32 / qh, as bytes in [0, 63] (i16 shifts
// move bits across bytes; the masks drop them).
@inline function q6a(ql: v128, qh: v128): v128 { return v128.or(v128.and(ql, M0F), v128.and(i16x8.shl(qh, 4), M30)); }
@inline function q6b(ql: v128, qh: v128): v128 { return v128.or(v128.and(ql, M0F), v128.and(i16x8.shl(qh, 2), M30)); }
@inline function q6c(ql: v128, qh: v128): v128 { return v128.or(v128.and(i16x8.shr_u(ql, 4), M0F), v128.and(qh, M30)); }
@inline function q6d(ql: v128, qh: v128): v128 { return v128.or(v128.and(i16x8.shr_u(ql, 4), M0F), v128.and(i16x8.shr_u(qh, 2), M30)); }

// Q6_K: quants q ∈ [0, 63] are used unshifted; Σ (q − 32)·a·sc = Σ q·a·sc − 32·Σ sc·bsums.
function dotQ6_K(w: usize, x: usize, n: i32): f32 {
  let sumf: f32 = 0;
  for (let i = 0, nb = n >> 8; i < nb; i++) {
    const wb = w + <usize>i * 210, xb = x + <usize>i * 292;
    let acc = i32x4.splat(0);
    for (let h = 0; h < 2; h++) {
      const ql = wb + (<usize>h << 6), qh = wb + 128 + (<usize>h << 5), sc = wb + 192 + (<usize>h << 3);
      const a = xb + 4 + (<usize>h << 7);
      for (let g = 0; g < 2; g++) {
        const c = <usize>g << 4; // l in [16g, 16g + 16)
        const A = v128.load(ql + c), B = v128.load(ql + c, 32), H = v128.load(qh + c);
        acc = i32x4.add(acc, i32x4.mul(dotU8(q6a(A, H), a + c), i32x4.splat(<i32>load<i8>(sc + g))));
        acc = i32x4.add(acc, i32x4.mul(dotU8(q6b(B, H), a + c + 32), i32x4.splat(<i32>load<i8>(sc + g, 2))));
        acc = i32x4.add(acc, i32x4.mul(dotU8(q6c(A, H), a + c + 64), i32x4.splat(<i32>load<i8>(sc + g, 4))));
        acc = i32x4.add(acc, i32x4.mul(dotU8(q6d(B, H), a + c + 96), i32x4.splat(<i32>load<i8>(sc + g, 6))));
      }
    }
    const isum = hsumI(acc) - 32 * q6Bias(wb + 192, xb);
    sumf += (f16(load<u16>(wb, 208)) * load<f32>(xb)) * <f32>isum;
  }
  return sumf;
}

// ---------------------------------------------------------------------------------------------
// K-quants, four tokens sharing each unpacked chunk of the weight row.

function dot4Q4_K(w: usize, x: usize, xs: usize, n: i32, o: usize, os: usize): void {
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
  for (let i = 0, nb = n >> 8; i < nb; i++) {
    const wb = w + <usize>i * 144, x0 = x + <usize>i * 292, x1 = x0 + xs, x2 = x1 + xs, x3 = x2 + xs;
    const u0 = load<u32>(wb, 4), u1 = load<u32>(wb, 8), u2 = load<u32>(wb, 12);
    const sl = kScalesLo(u0), sh = kScalesHi(u0, u2);
    let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
    for (let j = 0; j < 4; j++) {
      const q = wb + 16 + (<usize>j << 5), off: usize = 4 + (<usize>j << 6);
      const q0 = v128.load8x8_u(q), q1 = v128.load8x8_u(q, 8), q2 = v128.load8x8_u(q, 16), q3 = v128.load8x8_u(q, 24);
      const l0 = v128.and(q0, LOW4), l1 = v128.and(q1, LOW4), l2 = v128.and(q2, LOW4), l3 = v128.and(q3, LOW4);
      const h0 = i16x8.shr_u(q0, 4), h1 = i16x8.shr_u(q1, 4), h2 = i16x8.shr_u(q2, 4), h3 = i16x8.shr_u(q3, 4);
      const scl = i32x4.splat(byteOf(sl, sh, 2 * j)), sch = i32x4.splat(byteOf(sl, sh, 2 * j + 1));
      a0 = i32x4.add(a0, i32x4.add(i32x4.mul(dot32(l0, l1, l2, l3, x0 + off), scl), i32x4.mul(dot32(h0, h1, h2, h3, x0 + off + 32), sch)));
      a1 = i32x4.add(a1, i32x4.add(i32x4.mul(dot32(l0, l1, l2, l3, x1 + off), scl), i32x4.mul(dot32(h0, h1, h2, h3, x1 + off + 32), sch)));
      a2 = i32x4.add(a2, i32x4.add(i32x4.mul(dot32(l0, l1, l2, l3, x2 + off), scl), i32x4.mul(dot32(h0, h1, h2, h3, x2 + off + 32), sch)));
      a3 = i32x4.add(a3, i32x4.add(i32x4.mul(dot32(l0, l1, l2, l3, x3 + off), scl), i32x4.mul(dot32(h0, h1, h2, h3, x3 + off + 32), sch)));
    }
    const d = f16(load<u16>(wb)), dmin = f16(load<u16>(wb, 2));
    const ml = kMinsLo(u1), mh = kMinsHi(u1, u2);
    s0 += (d * load<f32>(x0)) * <f32>hsumI(a0); s0 -= (dmin * load<f32>(x0)) * <f32>minsDot(x0, ml, mh);
    s1 += (d * load<f32>(x1)) * <f32>hsumI(a1); s1 -= (dmin * load<f32>(x1)) * <f32>minsDot(x1, ml, mh);
    s2 += (d * load<f32>(x2)) * <f32>hsumI(a2); s2 -= (dmin * load<f32>(x2)) * <f32>minsDot(x2, ml, mh);
    s3 += (d * load<f32>(x3)) * <f32>hsumI(a3); s3 -= (dmin * load<f32>(x3)) * <f32>minsDot(x3, ml, mh);
  }
  store4(o, os, s0, s1, s2, s3);
}

function dot4Q5_K(w: usize, x: usize, xs: usize, n: i32, o: usize, os: usize): void {
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
  for (let i = 0, nb = n >> 8; i < nb; i++) {
    const wb = w + <usize>i * 176, x0 = x + <usize>i * 292, x1 = x0 + xs, x2 = x1 + xs, x3 = x2 + xs;
    const u0 = load<u32>(wb, 4), u1 = load<u32>(wb, 8), u2 = load<u32>(wb, 12);
    const sl = kScalesLo(u0), sh = kScalesHi(u0, u2);
    let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
    for (let j = 0; j < 4; j++) {
      const q = wb + 48 + (<usize>j << 5), off: usize = 4 + (<usize>j << 6);
      const k0 = 2 * j, k1 = 2 * j + 1;
      const c0 = v128.load(q), c1 = v128.load(q, 16), g0 = v128.load(wb, 16), g1 = v128.load(wb, 32);
      const e0 = q5kLo(c0, g0, k0), e1 = q5kLo(c1, g1, k0), f0 = q5kHi(c0, g0, k0), f1 = q5kHi(c1, g1, k0);
      const l0 = i16x8.extend_low_i8x16_u(e0), l1 = i16x8.extend_high_i8x16_u(e0), l2 = i16x8.extend_low_i8x16_u(e1), l3 = i16x8.extend_high_i8x16_u(e1);
      const h0 = i16x8.extend_low_i8x16_u(f0), h1 = i16x8.extend_high_i8x16_u(f0), h2 = i16x8.extend_low_i8x16_u(f1), h3 = i16x8.extend_high_i8x16_u(f1);
      const scl = i32x4.splat(byteOf(sl, sh, k0)), sch = i32x4.splat(byteOf(sl, sh, k1));
      a0 = i32x4.add(a0, i32x4.add(i32x4.mul(dot32(l0, l1, l2, l3, x0 + off), scl), i32x4.mul(dot32(h0, h1, h2, h3, x0 + off + 32), sch)));
      a1 = i32x4.add(a1, i32x4.add(i32x4.mul(dot32(l0, l1, l2, l3, x1 + off), scl), i32x4.mul(dot32(h0, h1, h2, h3, x1 + off + 32), sch)));
      a2 = i32x4.add(a2, i32x4.add(i32x4.mul(dot32(l0, l1, l2, l3, x2 + off), scl), i32x4.mul(dot32(h0, h1, h2, h3, x2 + off + 32), sch)));
      a3 = i32x4.add(a3, i32x4.add(i32x4.mul(dot32(l0, l1, l2, l3, x3 + off), scl), i32x4.mul(dot32(h0, h1, h2, h3, x3 + off + 32), sch)));
    }
    const d = f16(load<u16>(wb)), dmin = f16(load<u16>(wb, 2));
    const ml = kMinsLo(u1), mh = kMinsHi(u1, u2);
    s0 += (d * load<f32>(x0)) * <f32>hsumI(a0); s0 -= (dmin * load<f32>(x0)) * <f32>minsDot(x0, ml, mh);
    s1 += (d * load<f32>(x1)) * <f32>hsumI(a1); s1 -= (dmin * load<f32>(x1)) * <f32>minsDot(x1, ml, mh);
    s2 += (d * load<f32>(x2)) * <f32>hsumI(a2); s2 -= (dmin * load<f32>(x2)) * <f32>minsDot(x2, ml, mh);
    s3 += (d * load<f32>(x3)) * <f32>hsumI(a3); s3 -= (dmin * load<f32>(x3)) * <f32>minsDot(x3, ml, mh);
  }
  store4(o, os, s0, s1, s2, s3);
}

@inline function q6Group(p1: v128, p2: v128, p3: v128, p4: v128, s1: v128, s2: v128, s3: v128, s4: v128): v128 {
  return i32x4.add(i32x4.add(i32x4.mul(p1, s1), i32x4.mul(p2, s2)), i32x4.add(i32x4.mul(p3, s3), i32x4.mul(p4, s4)));
}

function dot4Q6_K(w: usize, x: usize, xs: usize, n: i32, o: usize, os: usize): void {
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
  for (let i = 0, nb = n >> 8; i < nb; i++) {
    const wb = w + <usize>i * 210, x0 = x + <usize>i * 292, x1 = x0 + xs, x2 = x1 + xs, x3 = x2 + xs;
    let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
    for (let h = 0; h < 2; h++) {
      const ql = wb + (<usize>h << 6), qh = wb + 128 + (<usize>h << 5), sc = wb + 192 + (<usize>h << 3);
      const ah: usize = 4 + (<usize>h << 7);
      for (let g = 0; g < 2; g++) {
        const c = <usize>g << 4;
        const A = v128.load(ql + c), B = v128.load(ql + c, 32), H = v128.load(qh + c);
        const v1 = q6a(A, H), v2 = q6b(B, H), v3 = q6c(A, H), v4 = q6d(B, H);
        const q10 = i16x8.extend_low_i8x16_u(v1), q11 = i16x8.extend_high_i8x16_u(v1);
        const q20 = i16x8.extend_low_i8x16_u(v2), q21 = i16x8.extend_high_i8x16_u(v2);
        const q30 = i16x8.extend_low_i8x16_u(v3), q31 = i16x8.extend_high_i8x16_u(v3);
        const q40 = i16x8.extend_low_i8x16_u(v4), q41 = i16x8.extend_high_i8x16_u(v4);
        const c1 = i32x4.splat(<i32>load<i8>(sc + g)), c2 = i32x4.splat(<i32>load<i8>(sc + g, 2));
        const c3 = i32x4.splat(<i32>load<i8>(sc + g, 4)), c4 = i32x4.splat(<i32>load<i8>(sc + g, 6));
        const off = ah + c;
        a0 = i32x4.add(a0, q6Group(dot16(q10, q11, x0 + off), dot16(q20, q21, x0 + off + 32), dot16(q30, q31, x0 + off + 64), dot16(q40, q41, x0 + off + 96), c1, c2, c3, c4));
        a1 = i32x4.add(a1, q6Group(dot16(q10, q11, x1 + off), dot16(q20, q21, x1 + off + 32), dot16(q30, q31, x1 + off + 64), dot16(q40, q41, x1 + off + 96), c1, c2, c3, c4));
        a2 = i32x4.add(a2, q6Group(dot16(q10, q11, x2 + off), dot16(q20, q21, x2 + off + 32), dot16(q30, q31, x2 + off + 64), dot16(q40, q41, x2 + off + 96), c1, c2, c3, c4));
        a3 = i32x4.add(a3, q6Group(dot16(q10, q11, x3 + off), dot16(q20, q21, x3 + off + 32), dot16(q30, q31, x3 + off + 64), dot16(q40, q41, x3 + off + 96), c1, c2, c3, c4));
      }
    }
    const d = f16(load<u16>(wb, 208)), sc = wb + 192;
    s0 += (d * load<f32>(x0)) * <f32>(hsumI(a0) - 32 * q6Bias(sc, x0));
    s1 += (d * load<f32>(x1)) * <f32>(hsumI(a1) - 32 * q6Bias(sc, x1));
    s2 += (d * load<f32>(x2)) * <f32>(hsumI(a2) - 32 * q6Bias(sc, x2));
    s3 += (d * load<f32>(x3)) * <f32>(hsumI(a3) - 32 * q6Bias(sc, x3));
  }
  store4(o, os, s0, s1, s2, s3);
}

// ---------------------------------------------------------------------------------------------
// entry points

/**
 * One weight row of type t (n elements) times one activation row quantized with
 * q8FormatFor(t). Returns 0 for a type without an integer path.
 */
export function vecDotQ8(t: i32, w: usize, xq: usize, n: i32): f32 {
  switch (t) {
    case T_Q8_0: return dotQ8_0(w, xq, n);
    case T_Q4_0: return dotQ4_0(w, xq, n);
    case T_Q4_1: return dotQ4_1(w, xq, n);
    case T_Q5_0: return dotQ5_0(w, xq, n);
    case T_Q5_1: return dotQ5_1(w, xq, n);
    case T_Q4_K: return dotQ4_K(w, xq, n);
    case T_Q5_K: return dotQ5_K(w, xq, n);
    case T_Q6_K: return dotQ6_K(w, xq, n);
  }
  return 0;
}

/** Four tokens (xq, xq + xs, …) against one row, results to o, o + os, o + 2os, o + 3os. */
function vecDotQ8x4(t: i32, w: usize, xq: usize, xs: usize, n: i32, o: usize, os: usize): void {
  switch (t) {
    case T_Q8_0: dot4Q8_0(w, xq, xs, n, o, os); return;
    case T_Q4_0: dot4Q4_0(w, xq, xs, n, o, os); return;
    case T_Q4_1: dot4Q4_1(w, xq, xs, n, o, os); return;
    case T_Q5_0: dot4Q5_0(w, xq, xs, n, o, os); return;
    case T_Q5_1: dot4Q5_1(w, xq, xs, n, o, os); return;
    case T_Q4_K: dot4Q4_K(w, xq, xs, n, o, os); return;
    case T_Q5_K: dot4Q5_K(w, xq, xs, n, o, os); return;
    case T_Q6_K: dot4Q6_K(w, xq, xs, n, o, os); return;
  }
  store4(o, os, 0, 0, 0, 0);
}

/**
 * out[tok·rows + r] = vecDotQ8(t, row r, token tok) for rows r in [r0, r1) and all T tokens.
 * Weight rows are rowBytes apart, quantized activation rows xqRowBytes apart. Each row is
 * visited once: four tokens at a time share every unpacked weight block, the rest go one by one.
 */
export function matmulQ8(t: i32, w: usize, rowBytes: usize, xq: usize, xqRowBytes: usize, T: i32, out: usize, rows: i32, r0: i32, r1: i32, n: i32): void {
  const os = <usize>rows << 2;
  for (let r = r0; r < r1; r++) {
    const row = w + <usize>r * rowBytes, o = out + (<usize>r << 2);
    let tok = 0;
    for (; tok + 4 <= T; tok += 4) vecDotQ8x4(t, row, xq + <usize>tok * xqRowBytes, xqRowBytes, n, o + <usize>tok * os, os);
    for (; tok < T; tok++) store<f32>(o + <usize>tok * os, vecDotQ8(t, row, xq + <usize>tok * xqRowBytes, n));
  }
}
