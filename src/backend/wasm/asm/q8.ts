// llama.cpp's CPU matmul fast path: the f32 activations are quantized to 8 bits once per matmul
// (ggml's block_q8_0 / block_q8_1 / block_q8_K, byte-identical to quantize_row_q8_*_ref), then
// every weight row is dotted with them in integers (ggml_vec_dot_<type>_q8_<k>), scaled by the
// block scales in f32 at the end of each block. src/backend/wasm/q8-reference.ts is the scalar
// version the tests compare against.
//
// Integer products use i16 lanes: weight quants are widened (v128.load8x8_u / _s, or unpacked as
// bytes with v128.and / i16x8 shifts and widened with i16x8.extend_*), activations with
// v128.load8x8_s, and i32x4.dot_i16x8_s sums pairs into i32 lanes; every integer sum is exact
// (i16 × i16 products are exact in i32, super-block sums < 2^31). No relaxed SIMD. For the legacy
// 32-element types the per-block float arithmetic follows ggml's generic C expression by
// expression (four blocks' integer sums are transposed into one vector, their terms added to sumf
// in block order), so those dots are bit-identical to it; for the K-quants the exact integer sum
// of a super-block is scaled once (ggml keeps eight float partial sums per row), which differs
// only in f32 rounding. matmulQ8 (the second half of this file) reorganizes the same arithmetic
// for throughput and stays bit-identical to vecDotQ8.

import { T_Q8_0, T_Q4_0, T_Q4_1, T_Q5_0, T_Q5_1, T_Q4_K, T_Q5_K, T_Q6_K } from './dequant';
import { f16 } from './f16';
import { RS_R, matmulQ4_0R, packGroupQ8_0R } from './relaxed';
import { loadSums, storeSums, transpose4, transpose4s } from './lanes';
import { T_Q4_0X4, T_Q6_KX4, T_Q4_KX4, GROUP_BYTES, blockQuants, blockScaleAddr, kStream, q6a, q6b, q6c, q6d } from './repack';

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

// Vector constants in memory: V8 rebuilds a v128.const with three instructions at every use, even
// inside loops; a load from here is one.
const CONSTS = memory.data<u32>([
  0x000f000f, 0x000f000f, 0x000f000f, 0x000f000f, // 0: i16 15
  0x7fff, 0x7fff, 0x7fff, 0x7fff, // 16: f16 magnitude bits
  0x77800000, 0x77800000, 0x77800000, 0x77800000, // 32: 2^112 as f32
  0x7bff, 0x7bff, 0x7bff, 0x7bff, // 48: largest finite f16 magnitude
  0x7f800000, 0x7f800000, 0x7f800000, 0x7f800000, // 64: f32 exponent bits
  0x0f0f0f0f, 0x0f0f0f0f, 0x0f0f0f0f, 0x0f0f0f0f, // 80: i8 15
], 16);
@inline function low4(): v128 { return v128.load(CONSTS); }

/**
 * Four f16 (u16 in the low half of each i32 lane) → f32x4 by exponent rebiasing through a
 * multiply: (h & 0x7fff) << 13 read as f32 is the value · 2^-112, so one f32 multiply by 2^112
 * gives it — exact for every finite pattern (a subnormal block scale, which is rare, only costs
 * the CPU's slow path for a denormal operand; f16.ts avoids that for f16 weights, where
 * subnormals are common); inf and NaN are patched after.
 */
@inline function f16x4Mul(v: v128): v128 {
  const a = v128.and(v, v128.load(CONSTS, 16));
  const f = f32x4.mul(i32x4.shl(a, 13), v128.load(CONSTS, 32));
  // Exponent 31 (inf, NaN) lands on 2^16: set the f32 exponent to all ones there.
  const special = v128.and(i32x4.gt_s(a, v128.load(CONSTS, 48)), v128.load(CONSTS, 64));
  return v128.or(v128.or(f, special), i32x4.shl(v128.xor(v, a), 16));
}

/** The f16 at p, p + s, p + 2s, p + 3s as f32x4. */
@inline function f16Gather(p: usize, s: usize): v128 {
  let v = v128.load16_lane(p, i32x4.splat(0), 0);
  v = v128.load16_lane(p + s, v, 2);
  v = v128.load16_lane(p + 2 * s, v, 4);
  return f16x4Mul(v128.load16_lane(p + 3 * s, v, 6));
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
    case T_Q8_0: case T_Q4_0: case T_Q5_0: case T_Q4_0X4: return FMT_Q8_0;
    case T_Q6_KX4: case T_Q4_KX4: return FMT_Q8_K;
    case T_Q4_1: case T_Q5_1: return FMT_Q8_1;
    case T_Q4_K: case T_Q5_K: case T_Q6_K: return FMT_Q8_K;
  }
  return -1;
}

/**
 * Quantizes T rows of n floats (x, n·4 bytes apart) into dst, q8RowBytes(fmt, n) apart, then
 * writes the copy matmulQ8 reads after them (see packActivations): dst must hold
 * q8ActivationBytes(fmt, T, n) bytes.
 */
export function quantizeActivations(fmt: i32, x: usize, dst: usize, T: i32, n: i32): void {
  const xs = <usize>n << 2, ds = <usize>q8RowBytes(fmt, n);
  for (let t = 0; t < T; t++) {
    const src = x + <usize>t * xs, out = dst + <usize>t * ds;
    if (fmt == FMT_Q8_0) quantizeQ8_0(src, out, n);
    else if (fmt == FMT_Q8_1) quantizeQ8_1(src, out, n);
    else quantizeQ8_K(src, out, n);
  }
  packActivations(fmt, dst, ds, T, n);
}

// ---------------------------------------------------------------------------------------------
// legacy weight blocks (32 elements). sumX(wb, xq): one block times one activation block as an
// i32x4 of partial sums.

const LOW4 = i16x8.splat(0x0f);
const M0F = i8x16.splat(0x0f);
const EIGHT = i16x8.splat(8);


@inline function sumQ8_0(wb: usize, xq: usize): v128 {
  return dot32(v128.load8x8_s(wb, 2), v128.load8x8_s(wb, 10), v128.load8x8_s(wb, 18), v128.load8x8_s(wb, 26), xq);
}

@inline function sumQ4_0(wb: usize, xq: usize): v128 {
  const a = v128.load8x8_u(wb, 2), c = v128.load8x8_u(wb, 10);
  return dot32(i16x8.sub(v128.and(a, LOW4), EIGHT), i16x8.sub(v128.and(c, LOW4), EIGHT),
    i16x8.sub(i16x8.shr_u(a, 4), EIGHT), i16x8.sub(i16x8.shr_u(c, 4), EIGHT), xq);
}

@inline function sumQ4_1(wb: usize, xq: usize): v128 {
  const a = v128.load8x8_u(wb, 4), c = v128.load8x8_u(wb, 12);
  return dot32(v128.and(a, LOW4), v128.and(c, LOW4), i16x8.shr_u(a, 4), i16x8.shr_u(c, 4), xq);
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

@inline function sumQ5_1(wb: usize, xq: usize): v128 {
  const qh = v128.load32_zero(wb, 4), q = v128.load(wb, 8);
  const b4 = i8x16.splat(0x10);
  const lo = v128.or(v128.and(q, M0F), v128.andnot(b4, q5ClearLo(qh))); // nib | 16 where the bit is set
  const hi = v128.or(v128.and(i16x8.shr_u(q, 4), M0F), v128.andnot(b4, q5ClearHi(qh)));
  return dot32(i16x8.extend_low_i8x16_u(lo), i16x8.extend_high_i8x16_u(lo), i16x8.extend_low_i8x16_u(hi), i16x8.extend_high_i8x16_u(hi), xq);
}

// A block's contribution to sumf, four lanes at a time, in the exact expression order of
// ggml_vec_dot_*_generic (s: integer sums; dw, mw: weight d, m; dx, sx: activation d, s).
@inline function termQ8_0(s: v128, dw: v128, dx: v128): v128 { return f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.mul(dw, dx)); }
@inline function termQ4_0(s: v128, dw: v128, dx: v128): v128 { return f32x4.mul(f32x4.mul(f32x4.convert_i32x4_s(s), dw), dx); }
@inline function termQx_1(s: v128, dw: v128, dx: v128, mw: v128, sx: v128): v128 {
  return f32x4.add(f32x4.mul(f32x4.mul(dw, dx), f32x4.convert_i32x4_s(s)), f32x4.mul(mw, sx));
}

/** One legacy block's term for the float sum (ggml's expression for type t). */
@inline function legacyTerm(t: i32, a: v128, dw: v128, dx: v128, mw: v128, sx: v128): v128 {
  if (t == T_Q4_0) return termQ4_0(a, dw, dx);
  if (t == T_Q4_1 || t == T_Q5_1) return termQx_1(a, dw, dx, mw, sx);
  return termQ8_0(a, dw, dx); // Q8_0; Q5_0's (dw·dx)·s is the same product
}

@inline function h1(p: usize): v128 { return f32x4.splat(f16(load<u16>(p))); }

// ---------------------------------------------------------------------------------------------
// legacy dots, one token: four blocks per step (integer sums transposed into one vector, the
// scales converted four at a time), blocks still added to sumf one by one in ggml's order.

/** Bytes of one weight block of legacy type t. */
@inline function legacyBytes(t: i32): usize {
  return t == T_Q8_0 ? 34 : t == T_Q4_0 ? 18 : t == T_Q4_1 ? 20 : t == T_Q5_0 ? 22 : 24;
}

/** sumX (above) of legacy type t. */
@inline function legacySum(t: i32, wb: usize, xq: usize): v128 {
  switch (t) {
    case T_Q8_0: return sumQ8_0(wb, xq);
    case T_Q4_0: return sumQ4_0(wb, xq);
    case T_Q4_1: return sumQ4_1(wb, xq);
    case T_Q5_0: return sumQ5_0(wb, xq);
    default: return sumQ5_1(wb, xq);
  }
}

/** The dot of legacy type t (a constant at every call, so each call inlines to one type's code). */
@inline function dotLegacy(t: i32, w: usize, x: usize, n: i32): f32 {
  const bw = legacyBytes(t), mq = t == T_Q4_1 || t == T_Q5_1;
  const bx: usize = mq ? 36 : 34, qo: usize = mq ? 4 : 2; // activation block bytes, offset of its quants
  let sumf: f32 = 0, b = 0, wb = w, xb = x;
  const nb = n >> 5;
  for (; b + 4 <= nb; b += 4, wb += bw << 2, xb += bx << 2) {
    const s = hsum4(legacySum(t, wb, xb + qo), legacySum(t, wb + bw, xb + bx + qo),
      legacySum(t, wb + 2 * bw, xb + 2 * bx + qo), legacySum(t, wb + 3 * bw, xb + 3 * bx + qo));
    const dw = f16Gather(wb, bw), dx = f16Gather(xb, bx);
    sumf = addLanes(sumf, legacyTerm(t, s, dw, dx, mq ? f16Gather(wb + 2, bw) : dw, mq ? f16Gather(xb + 2, bx) : dx));
  }
  for (; b < nb; b++, wb += bw, xb += bx) {
    const dw = h1(wb), dx = h1(xb);
    sumf += f32x4.extract_lane(legacyTerm(t, i32x4.splat(hsumI(legacySum(t, wb, xb + qo))), dw, dx, mq ? h1(wb + 2) : dw, mq ? h1(xb + 2) : dx), 0);
  }
  return sumf;
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



/** Σ over 16 elements: unsigned bytes q (i8x16) times int8 activations at p. */
@inline function dotU8(q: v128, p: usize): v128 {
  return i32x4.add(
    i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(q), v128.load8x8_s(p)),
    i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(q), v128.load8x8_s(p, 8)));
}


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
// entry points

/**
 * One weight row of type t (n elements) times one activation row quantized with
 * q8FormatFor(t). Returns 0 for a type without an integer path.
 */
export function vecDotQ8(t: i32, w: usize, xq: usize, n: i32): f32 {
  switch (t) {
    case T_Q8_0: return dotLegacy(T_Q8_0, w, xq, n);
    case T_Q4_0: return dotLegacy(T_Q4_0, w, xq, n);
    case T_Q4_1: return dotLegacy(T_Q4_1, w, xq, n);
    case T_Q5_0: return dotLegacy(T_Q5_0, w, xq, n);
    case T_Q5_1: return dotLegacy(T_Q5_1, w, xq, n);
    case T_Q4_K: return dotQ4_K(w, xq, n);
    case T_Q5_K: return dotQ5_K(w, xq, n);
    case T_Q6_K: return dotQ6_K(w, xq, n);
  }
  return 0;
}


// =============================================================================================
// matmulQ8: the quantized activations repacked once per matmul (packActivations, called by
// quantizeActivations), then one of two kernels.
//
// * Few tokens (T < GROUP_MIN: decode): each weight row is streamed once from memory and dotted
//   with every token's activations, which were widened to i16 beforehand (plain loads instead of
//   widening loads, block scales already f32). Four consecutive blocks of one row are summed into
//   the lanes of one vector, so that each row stays one sequential stream (measured: the hardware
//   prefetcher keeps up with one stream per row much better than with four rows side by side).
//   Q8_0, Q4_0, Q4_K and Q6_K have such row kernels; the other types use vecDotQ8 per row.
//
// * More tokens (prefill, batches): "tokens in lanes". Activations are packed in groups of four
//   tokens: for each pair of elements (2p, 2p + 1) one i16x8 holding that pair for each of the
//   four tokens. A weight row is unpacked once per matmul into scratch as i16 (K-quant sub-block
//   scales folded in), and i32x4.dot_i16x8_s(splat(weight pair), activation pairs) then adds
//   w[2p]·x[2p] + w[2p+1]·x[2p+1] for four tokens at once — no horizontal sums, and the block's
//   float step is done for four tokens in one vector. Four rows × two groups (8 tokens) per pass:
//   six loads and eight dot products per pair of elements. This runs at about 80% of the
//   machine's i32x4.dot_i16x8_s peak (2 per cycle), the bound without relaxed SIMD's i8 dots.
//
// Both keep every dot's float arithmetic exactly that of vecDotQ8 (each lane is one row × token
// and adds its blocks' terms in block order), so the results are bit-identical to it.
//
// Note on V8: it schedules all loads of a basic block first, so loop bodies are kept to about a
// dozen vector loads (more would be spilled to the stack and reloaded).

/** From this many tokens on matmulQ8 uses the four-tokens-per-vector kernels. */
const GROUP_MIN: i32 = 4;

/** Start of the packed copy: after the T quantized rows, 64-byte aligned. */
@inline function packBase(xq: usize, xqRowBytes: usize, T: i32): usize {
  return (xq + <usize>T * xqRowBytes + 63) & ~(<usize>63);
}

// Per-token layout (T < GROUP_MIN):
//   Q8_0 / Q8_1: [i16 × n][f32 d × nb][f32 s × nb][i32 Σq × nb]   (nb = n / 32)
//                [i16 × 16 per block: 16·a_j − a_{j+16}, j < 16 (for nibble weights)]
//                Q8_0 only: [per four blocks (X4_GROUP bytes), for Q4_0x4 weights: chunk c = 0…7 at
//                32c: i16x8 of 16·a_j − a_{j+16} at j = 2c, 2c + 1 of blocks 0…3, then at 32c + 16
//                a_{16+2c}, a_{17+2c} of blocks 0…3; at 256 the four d (f32), at 272 the four Σq]
//   Q8_K:        [i16 × n][f32 d × ns][i16 bsums × 16 × ns]          (ns = n / 256)
//                [i16 × n: each super-block's activations in the order rowDotQ6_Kx4 reads them]
//                [i16 × n: the same in the order rowDotQ4_Kx4 reads them]
// Relaxed builds add int8 copies for their i8 dots: Q8_0, per four blocks a relaxed group record
// with blocks for tokens (RS_R bytes, packGroupQ8_0R); Q8_K, [i8 × n in packQ6x4R's order]
// [i8 × n in packQ4Kx4R's order].
@inline function tokenRecBytes(fmt: i32, n: i32): usize {
  if (fmt == FMT_Q8_K) return <usize>n * 6 + <usize>(n >> 8) * 36 + (ASC_FEATURE_RELAXED_SIMD ? <usize>n << 1 : 0);
  return (<usize>n << 1) + <usize>(n >> 5) * 12 + <usize>n + (fmt == FMT_Q8_0 ? <usize>(n >> 7) * X4_GROUP : 0) +
    (relaxedQ8_0(fmt) ? <usize>(n >> 7) * RS_R : 0);
}

/** Where a token record's relaxed copy starts (relaxed builds, Q8_0): per four blocks, the layout of a relaxed group record. */
@inline function tokenRelaxed(rec: usize, n: i32): usize {
  return rec + (<usize>n << 1) + <usize>(n >> 5) * 12 + <usize>n + <usize>(n >> 7) * X4_GROUP;
}

// Four-token groups (T ≥ GROUP_MIN): G = ⌈T/4⌉ groups; the record of group g and block b is at
// (b·G + g)·RS, so the groups of one block are adjacent. Tokens past T are zeros (their lanes are
// computed but never stored).
//   Q8_0 / Q8_1 (RS = 288): 256 B of pairs (16 × i16x8: pair p = [t0 x2p x2p+1, t1 …, t2 …, t3 …]),
//                           f32x4 d, f32x4 s (Q8_1; zeros for Q8_0)
//   Q8_K (RS = 2128):       2048 B of pairs, f32x4 d, 4 × i16x8 of 32-element sums
//                           S_j = bsums[2j] + bsums[2j+1] as pairs [t0 S2q S2q+1, t1 …, t2 …, t3 …]
// Relaxed builds, Q8_0: after those, the relaxed group records (RS_R, packGroupQ8_0R) at
// relaxedBase + (b·G + g)·RS_R, read by the relaxed Q4_0 GEMM.
const RS_LEGACY: usize = 288;
const X4_GROUP: usize = 288;
const RS_K: usize = 2128;
@inline function groupRecBytes(fmt: i32): usize {
  return fmt == FMT_Q8_K ? RS_K : RS_LEGACY;
}

/** Bytes quantizeActivations writes for T tokens of n elements: the rows, then the packed copy. */
export function q8ActivationBytes(fmt: i32, T: i32, n: i32): i32 {
  const rows = T * q8RowBytes(fmt, n) + 64;
  if (T < GROUP_MIN) return rows + T * <i32>tokenRecBytes(fmt, n);
  const blocks = fmt == FMT_Q8_K ? n >> 8 : n >> 5;
  const groups = rows + ((T + 3) >> 2) * blocks * <i32>groupRecBytes(fmt);
  return relaxedQ8_0(fmt) ? groups + ((T + 3) >> 2) * blocks * <i32>RS_R : groups;
}

/** Whether this build's Q8_0 activations also get the relaxed kernels' group records. */
@inline function relaxedQ8_0(fmt: i32): bool {
  return ASC_FEATURE_RELAXED_SIMD && fmt == FMT_Q8_0;
}

/** Start of the relaxed group records (T ≥ GROUP_MIN, after the others). */
@inline function relaxedBase(xq: usize, xqRowBytes: usize, T: i32, n: i32): usize {
  return packBase(xq, xqRowBytes, T) + <usize>((T + 3) >> 2) * <usize>(n >> 5) * RS_LEGACY;
}

/** 16 int8 → two i16x8 stored at d, d + 16. */
@inline function widen16(q: v128, d: usize): void {
  v128.store(d, i16x8.extend_low_i8x16_s(q));
  v128.store(d, i16x8.extend_high_i8x16_s(q), 16);
}

/** The i16 widening of 8 int8 of token row `src` at byte offset o, or zeros for a padding token. */
@inline function tok8(src: usize, valid: bool, o: usize): v128 {
  return valid ? v128.load8x8_s(src + o) : i32x4.splat(0);
}

/**
 * Writes the copy of T quantized activation rows (xq, xqRowBytes apart, format fmt) that
 * matmulQ8 reads, at packBase(xq, xqRowBytes, T). Called by quantizeActivations.
 */
export function packActivations(fmt: i32, xq: usize, xqRowBytes: usize, T: i32, n: i32): void {
  const base = packBase(xq, xqRowBytes, T);
  if (T < GROUP_MIN) {
    const rec = tokenRecBytes(fmt, n);
    for (let t = 0; t < T; t++) packToken(fmt, xq + <usize>t * xqRowBytes, base + <usize>t * rec, n);
    return;
  }
  const G = (T + 3) >> 2;
  if (relaxedQ8_0(fmt)) {
    const xr = relaxedBase(xq, xqRowBytes, T, n);
    for (let g = 0; g < G; g++) {
      const t0 = g << 2;
      const x0 = xq + <usize>t0 * xqRowBytes;
      const x1 = t0 + 1 < T ? x0 + xqRowBytes : 0, x2 = t0 + 2 < T ? x0 + 2 * xqRowBytes : 0, x3 = t0 + 3 < T ? x0 + 3 * xqRowBytes : 0;
      for (let b = 0; b < (n >> 5); b++) packGroupQ8_0R(x0, x1, x2, x3, <usize>b * 34, xr + (<usize>b * <usize>G + <usize>g) * RS_R);
    }
  }
  const RS = groupRecBytes(fmt);
  const kq = fmt == FMT_Q8_K;
  const blocks = kq ? n >> 8 : n >> 5;
  const bb: usize = kq ? 292 : fmt == FMT_Q8_1 ? 36 : 34; // activation block bytes
  const qo: usize = kq ? 4 : fmt == FMT_Q8_1 ? 4 : 2; // offset of the quants in a block
  const per: i32 = kq ? 32 : 4; // 8-element runs per block
  for (let g = 0; g < G; g++) {
    const t0 = g << 2;
    const v1 = t0 + 1 < T, v2 = t0 + 2 < T, v3 = t0 + 3 < T;
    const x0 = xq + <usize>t0 * xqRowBytes, x1 = v1 ? x0 + xqRowBytes : x0;
    const x2 = v2 ? x1 + xqRowBytes : x0, x3 = v3 ? x2 + xqRowBytes : x0;
    for (let b = 0; b < blocks; b++) {
      const rec = base + (<usize>b * <usize>G + <usize>g) * RS;
      const o = <usize>b * bb;
      for (let k = 0; k < per; k++) {
        const e = o + qo + (<usize>k << 3);
        transpose4(v128.load8x8_s(x0 + e), tok8(x1, v1, e), tok8(x2, v2, e), tok8(x3, v3, e), rec + (<usize>k << 4 << 2));
      }
      const pd = rec + (<usize>per << 6);
      if (kq) {
        store<f32>(pd, load<f32>(x0 + o));
        store<f32>(pd, v1 ? load<f32>(x1 + o) : 0, 4);
        store<f32>(pd, v2 ? load<f32>(x2 + o) : 0, 8);
        store<f32>(pd, v3 ? load<f32>(x3 + o) : 0, 12);
        transpose4(kSums(x0 + o), v1 ? kSums(x1 + o) : i32x4.splat(0), v2 ? kSums(x2 + o) : i32x4.splat(0), v3 ? kSums(x3 + o) : i32x4.splat(0), pd + 16);
      } else {
        store<f32>(pd, f16(load<u16>(x0 + o)));
        store<f32>(pd, v1 ? f16(load<u16>(x1 + o)) : 0, 4);
        store<f32>(pd, v2 ? f16(load<u16>(x2 + o)) : 0, 8);
        store<f32>(pd, v3 ? f16(load<u16>(x3 + o)) : 0, 12);
        if (fmt == FMT_Q8_1) {
          store<f32>(pd, f16(load<u16>(x0 + o, 2)), 16);
          store<f32>(pd, v1 ? f16(load<u16>(x1 + o, 2)) : 0, 20);
          store<f32>(pd, v2 ? f16(load<u16>(x2 + o, 2)) : 0, 24);
          store<f32>(pd, v3 ? f16(load<u16>(x3 + o, 2)) : 0, 28);
        } else {
          v128.store(pd, i32x4.splat(0), 16);
        }
      }
    }
  }
}

/** The eight 32-element sums of a Q8_K block (bsums added in pairs) as i16x8. */
@inline function kSums(xb: usize): v128 {
  return i16x8.narrow_i32x4_s(i32x4.extadd_pairwise_i16x8_s(v128.load(xb, 260)), i32x4.extadd_pairwise_i16x8_s(v128.load(xb, 276)));
}

function packToken(fmt: i32, src: usize, rec: usize, n: i32): void {
  if (fmt == FMT_Q8_K) {
    const ns = n >> 8;
    const pd = rec + (<usize>n << 1), pb = pd + (<usize>ns << 2);
    for (let s = 0; s < ns; s++) {
      const xb = src + <usize>s * 292, d = rec + (<usize>s << 9);
      for (let k = 0; k < 16; k++) widen16(v128.load(xb + 4 + (<usize>k << 4)), d + (<usize>k << 5));
      store<f32>(pd + (<usize>s << 2), load<f32>(xb));
      v128.store(pb + (<usize>s << 5), v128.load(xb, 260));
      v128.store(pb + (<usize>s << 5), v128.load(xb, 276), 16);
      packQ6x4(d, pb + (<usize>ns << 5) + (<usize>s << 9));
      packQ4Kx4(d, pb + (<usize>ns << 5) + (<usize>n << 1) + (<usize>s << 9));
      if (ASC_FEATURE_RELAXED_SIMD) {
        packQ6x4R(xb + 4, pb + (<usize>ns << 5) + (<usize>n << 2) + (<usize>s << 8));
        packQ4Kx4R(xb + 4, pb + (<usize>ns << 5) + <usize>n * 5 + (<usize>s << 8));
      }
    }
    return;
  }
  const nb = n >> 5;
  const bb: usize = fmt == FMT_Q8_1 ? 36 : 34, qo: usize = fmt == FMT_Q8_1 ? 4 : 2;
  const pd = rec + (<usize>n << 1), ps = pd + (<usize>nb << 2), pq = ps + (<usize>nb << 2);
  for (let b = 0; b < nb; b++) {
    const xb = src + <usize>b * bb, d = rec + (<usize>b << 6);
    const q0 = v128.load(xb + qo), q1 = v128.load(xb + qo, 16);
    widen16(q0, d);
    widen16(q1, d + 32);
    store<f32>(pd + (<usize>b << 2), f16(load<u16>(xb)));
    store<f32>(ps + (<usize>b << 2), fmt == FMT_Q8_1 ? f16(load<u16>(xb, 2)) : 0);
    // For nibble weights (byte j = element j | element j+16 << 4): 16·a_j − a_{j+16}, see rowDotQ4_0x4.
    const c = pq + (<usize>nb << 2) + (<usize>b << 5);
    v128.store(c, i16x8.sub(i16x8.shl(i16x8.extend_low_i8x16_s(q0), 4), i16x8.extend_low_i8x16_s(q1)));
    v128.store(c, i16x8.sub(i16x8.shl(i16x8.extend_high_i8x16_s(q0), 4), i16x8.extend_high_i8x16_s(q1)), 16);
    const s16 = i16x8.add(i16x8.extadd_pairwise_i8x16_s(q0), i16x8.extadd_pairwise_i8x16_s(q1));
    store<i32>(pq + (<usize>b << 2), hsumI(i32x4.extadd_pairwise_i16x8_s(s16)));
  }
  if (fmt != FMT_Q8_0) return;
  if (relaxedQ8_0(fmt)) {
    // The four blocks of a group in the lanes (a group record with blocks for tokens).
    const xr = tokenRelaxed(rec, n);
    for (let g = 0; g < (n >> 7); g++) {
      const xb = src + <usize>g * 136;
      packGroupQ8_0R(xb, xb + 34, xb + 68, xb + 102, 0, xr + <usize>g * RS_R);
    }
  }
  const cp = pq + (<usize>nb << 2), x4 = cp + <usize>n;
  for (let g = 0; g < (n >> 7); g++) {
    const o = x4 + <usize>g * X4_GROUP, c = cp + (<usize>g << 7), a = rec + (<usize>g << 8);
    // i32 lane m of a block's vectors is its element pair m: transposing four blocks' vectors
    // puts pair m of blocks 0…3 into one vector.
    transpose4s(v128.load(c), v128.load(c, 32), v128.load(c, 64), v128.load(c, 96), o, 32);
    transpose4s(v128.load(c, 16), v128.load(c, 48), v128.load(c, 80), v128.load(c, 112), o + 128, 32);
    transpose4s(v128.load(a, 32), v128.load(a, 96), v128.load(a, 160), v128.load(a, 224), o + 16, 32);
    transpose4s(v128.load(a, 48), v128.load(a, 112), v128.load(a, 176), v128.load(a, 240), o + 144, 32);
    v128.store(o, v128.load(pd + (<usize>g << 4)), 256);
    v128.store(o, v128.load(pq + (<usize>g << 4)), 272);
  }
}

// ---------------------------------------------------------------------------------------------
// few tokens: one weight row against one packed token row (layout of packToken)

function rowDotQ8_0(w: usize, rec: usize, n: i32): f32 {
  const nb = n >> 5;
  let sumf: f32 = 0, b = 0;
  let acc = f32x4.splat(0);
  let p = w + 2, xp = rec, dp = rec + (<usize>n << 1);
  for (; b + 4 <= nb; b += 4) {
    let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
    for (let k = 0; k < 4; k++) {
      a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load8x8_s(p), v128.load(xp)));
      a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load8x8_s(p, 34), v128.load(xp, 64)));
      a2 = i32x4.add(a2, i32x4.dot_i16x8_s(v128.load8x8_s(p, 68), v128.load(xp, 128)));
      a3 = i32x4.add(a3, i32x4.dot_i16x8_s(v128.load8x8_s(p, 102), v128.load(xp, 192)));
      p += 8; xp += 16;
    }
    acc = f32x4.add(acc, termQ8_0(hsum4(a0, a1, a2, a3), f16Gather(p - 34, 34), v128.load(dp)));
    p += 104; xp += 192; dp += 16;
  }
  for (; b < nb; b++, p += 34, xp += 64, dp += 4) {
    const s = i32x4.add(
      i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(p), v128.load(xp)), i32x4.dot_i16x8_s(v128.load8x8_s(p, 8), v128.load(xp, 16))),
      i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(p, 16), v128.load(xp, 32)), i32x4.dot_i16x8_s(v128.load8x8_s(p, 24), v128.load(xp, 48))));
    sumf += f32x4.extract_lane(termQ8_0(i32x4.splat(hsumI(s)), h1(p - 2), v128.load32_splat(dp)), 0);
  }
  return addLanes(sumf, acc);
}

// Q4_0x4 (see repack.ts): lane k of every dot is block k of the group, so a group's four integer
// sums need no horizontal adds and its four scales are one load. With byte b = lo + 16·hi,
// Σ lo·a_lo + hi·a_hi = (Σ lo·(16·a_lo − a_hi) + Σ b·a_hi) / 16 exactly, so the high nibble never
// needs its own shift; the block's (q − 8) offset is −8·Σa. The groups' terms are added as one
// vector (lanes = blocks), not block by block as ggml does. Rows shorter than a group are Q4_0
// as stored and take only the per-block loop.
function rowDotQ4_0x4(w: usize, rec: usize, n: i32): f32 {
  const nb = n >> 5, groups = n >> 7;
  const dp = rec + (<usize>n << 1), qp = dp + (<usize>nb << 3), cp = qp + (<usize>nb << 2);
  let x = cp + <usize>n, p = w;
  let acc = f32x4.splat(0);
  for (let g = 0; g < groups; g++) {
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0);
    const end = x + 256;
    do {
      const m = LOW4;
      const q0 = v128.load8x8_u(p, 8), q1 = v128.load8x8_u(p, 16);
      s0 = i32x4.add(s0, i32x4.add(i32x4.dot_i16x8_s(v128.and(q0, m), v128.load(x)), i32x4.dot_i16x8_s(q0, v128.load(x, 16))));
      s1 = i32x4.add(s1, i32x4.add(i32x4.dot_i16x8_s(v128.and(q1, m), v128.load(x, 32)), i32x4.dot_i16x8_s(q1, v128.load(x, 48))));
      p += 16; x += 64;
    } while (x < end);
    p -= 64;
    const s = i32x4.sub(i32x4.shr_s(i32x4.add(s0, s1), 4), i32x4.shl(v128.load(x, 16), 3));
    const h = i32x4.extend_low_i16x8_u(v128.load64_zero(p));
    acc = f32x4.add(acc, termQ4_0(s, f16x4Mul(h), v128.load(x)));
    p += GROUP_BYTES; x += 32;
  }
  return addLanes(groups << 2 == nb ? 0 : q4_0x4Tail(w, rec, n), acc);
}

/** rowDotQ4_0x4's blocks past the last whole group (stored as Q4_0), added one by one from 0. */
function q4_0x4Tail(w: usize, rec: usize, n: i32): f32 {
  const nb = n >> 5, groups = n >> 7;
  const dp = rec + (<usize>n << 1), qp = dp + (<usize>nb << 3), cp = qp + (<usize>nb << 2);
  let sumf: f32 = 0;
  let q = w + <usize>(groups << 2) * 18 + 2, xp = rec + (<usize>(groups << 2) << 6) + 32, c = cp + (<usize>(groups << 2) << 5);
  let d = dp + (<usize>(groups << 2) << 2), sq = qp + (<usize>(groups << 2) << 2);
  for (let b = groups << 2; b < nb; b++, q += 18, xp += 64, c += 32, d += 4, sq += 4) {
    const q0 = v128.load8x8_u(q), q1 = v128.load8x8_u(q, 8);
    const s = i32x4.add(
      i32x4.add(i32x4.dot_i16x8_s(v128.and(q0, LOW4), v128.load(c)), i32x4.dot_i16x8_s(v128.and(q1, LOW4), v128.load(c, 16))),
      i32x4.add(i32x4.dot_i16x8_s(q0, v128.load(xp)), i32x4.dot_i16x8_s(q1, v128.load(xp, 16))));
    sumf += f32x4.extract_lane(termQ4_0(i32x4.splat((hsumI(s) >> 4) - (load<i32>(sq) << 3)), h1(q - 2), v128.load32_splat(d)), 0);
  }
  return sumf;
}

/** 16 bytes of a Q4_0x4 group's quants (at p + 8) against their relaxed activations (at x, x + 64). */
@inline function q4x4R(p: usize, x: usize, m: v128): v128 {
  const v = v128.load(p, 8);
  return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 64), v128.and(i16x8.shr_u(v, 4), m),
    i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x), v128.and(v, m), i32x4.splat(0)));
}

/**
 * rowDotQ4_0x4 with relaxed dots (relaxed builds, whose Q4_0x4 lays four bytes of each block
 * side by side): i32 lane k of a 16-byte load holds four bytes of block k, whose low and high
 * nibbles meet the group's activations as laid out by packGroupQ8_0R (lanes = blocks). Same
 * integer sums and float steps as rowDotQ4_0x4, so the same result bit for bit.
 */
function rowDotQ4_0x4R(w: usize, rec: usize, n: i32, xr: usize): f32 {
  const groups = n >> 7;
  let p = w, x = xr;
  let acc = f32x4.splat(0);
  for (let g = 0; g < groups; g++) {
    const m = v128.load(CONSTS, 80);
    // Four independent sums: one chain of dependent dots would wait on each dot's latency.
    const s = i32x4.sub(i32x4.add(i32x4.add(q4x4R(p, x, m), q4x4R(p + 16, x + 16, m)), i32x4.add(q4x4R(p + 32, x + 32, m), q4x4R(p + 48, x + 48, m))), v128.load(x, 144));
    const h = i32x4.extend_low_i16x8_u(v128.load64_zero(p));
    acc = f32x4.add(acc, termQ4_0(s, f16x4Mul(h), v128.load(x, 128)));
    p += GROUP_BYTES; x += RS_R;
  }
  return addLanes(groups << 2 == n >> 5 ? 0 : q4_0x4Tail(w, rec, n), acc);
}

/** A Q4_K super-block's eight 6-bit scales as i16x8 (u0, u2: its scale words 0 and 2). */
@inline function q4kScales(u0: u32, u2: u32): v128 {
  return i16x8.extend_low_i8x16_u(i32x4.replace_lane(i32x4.splat(<i32>kScalesLo(u0)), 1, <i32>kScalesHi(u0, u2)));
}

/**
 * sumf plus one Q4_K super-block at wb: (d·y.d)·isum − (dmin·y.d)·Σ mins·S, ggml's order (isum:
 * its scaled integer sum; bs: the activation block's bsums; yd: its d).
 */
@inline function q4kAdd(sumf: f32, wb: usize, isum: i32, u1: u32, u2: u32, bs: usize, yd: f32): f32 {
  const pairs = i16x8.narrow_i32x4_s(i32x4.extadd_pairwise_i16x8_s(v128.load(bs)), i32x4.extadd_pairwise_i16x8_s(v128.load(bs, 16)));
  const mins = i16x8.extend_low_i8x16_u(i32x4.replace_lane(i32x4.splat(<i32>kMinsLo(u1)), 1, <i32>kMinsHi(u1, u2)));
  const summ = hsumI(i32x4.dot_i16x8_s(pairs, mins));
  sumf += (f16(load<u16>(wb)) * yd) * <f32>isum;
  return sumf - (f16(load<u16>(wb, 2)) * yd) * <f32>summ;
}

// The 8 sub-block sums of a super-block go through tmp (8 × i32x4) and are scaled all at once.
function rowDotQ4_K(w: usize, rec: usize, n: i32, tmp: usize): f32 {
  const ns = n >> 8;
  const pd = rec + (<usize>n << 1), pb = pd + (<usize>ns << 2);
  let sumf: f32 = 0;
  for (let i = 0; i < ns; i++) {
    const wb = w + <usize>i * 144;
    let q = wb + 16, a = rec + (<usize>i << 9), o = tmp;
    for (let j = 0; j < 4; j++) {
      const m = low4();
      const q0 = v128.load8x8_u(q), q1 = v128.load8x8_u(q, 8), q2 = v128.load8x8_u(q, 16), q3 = v128.load8x8_u(q, 24);
      v128.store(o, i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(v128.and(q0, m), v128.load(a)), i32x4.dot_i16x8_s(v128.and(q1, m), v128.load(a, 16))),
        i32x4.add(i32x4.dot_i16x8_s(v128.and(q2, m), v128.load(a, 32)), i32x4.dot_i16x8_s(v128.and(q3, m), v128.load(a, 48)))));
      v128.store(o, i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(i16x8.shr_u(q0, 4), v128.load(a, 64)), i32x4.dot_i16x8_s(i16x8.shr_u(q1, 4), v128.load(a, 80))),
        i32x4.add(i32x4.dot_i16x8_s(i16x8.shr_u(q2, 4), v128.load(a, 96)), i32x4.dot_i16x8_s(i16x8.shr_u(q3, 4), v128.load(a, 112)))), 16);
      q += 32; a += 128; o += 32;
    }
    const u0 = load<u32>(wb, 4), u1 = load<u32>(wb, 8), u2 = load<u32>(wb, 12);
    const sc = q4kScales(u0, u2);
    const s03 = hsum4(v128.load(tmp), v128.load(tmp, 16), v128.load(tmp, 32), v128.load(tmp, 48));
    const s47 = hsum4(v128.load(tmp, 64), v128.load(tmp, 80), v128.load(tmp, 96), v128.load(tmp, 112));
    const isum = hsumI(i32x4.add(i32x4.mul(s03, i32x4.extend_low_i16x8_u(sc)), i32x4.mul(s47, i32x4.extend_high_i16x8_u(sc))));
    sumf = q4kAdd(sumf, wb, isum, u1, u2, pb + (<usize>i << 5), load<f32>(pd + (<usize>i << 2)));
  }
  return sumf;
}

/**
 * One super-block's 256 i16 activations (at a) in rowDotQ6_Kx4's order, at o: for pass r (0…3),
 * quant group t (0…3: q6a…q6d) and half (0, 1), the vector whose lane k holds element pair
 * 2r + half of sub-block 8·(k >> 1) + 2t + (k & 1) — the sub-block stream k's group t covers.
 */
@inline function packQ6x4(a: usize, o: usize): void {
  for (let t = 0; t < 4; t++) {
    const s0 = a + (<usize>(2 * t) << 5), s1 = s0 + 32, s2 = s0 + 256, s3 = s0 + 288; // sub-blocks 2t, 2t+1, 8+2t, 9+2t
    // pairs 0…3 (r = 0, 1) and 4…7 (r = 2, 3) of the four sub-blocks, transposed
    const base = o + (<usize>t << 5);
    transpose4at(v128.load(s0), v128.load(s1), v128.load(s2), v128.load(s3), base, base + 16, base + 128, base + 144);
    transpose4at(v128.load(s0, 16), v128.load(s1, 16), v128.load(s2, 16), v128.load(s3, 16), base + 256, base + 272, base + 384, base + 400);
  }
}

/**
 * One super-block's 256 i16 activations (at a) in rowDotQ4_Kx4's order, at o: for chunk c (0…15)
 * the vector whose lane k holds element pair c of sub-block 2k (at 32c), then of sub-block 2k + 1.
 */
@inline function packQ4Kx4(a: usize, o: usize): void {
  for (let q = 0; q < 4; q++) {
    const v = a + (<usize>q << 4);
    transpose4s(v128.load(v), v128.load(v, 128), v128.load(v, 256), v128.load(v, 384), o + (<usize>q << 7), 32);
    transpose4s(v128.load(v, 64), v128.load(v, 192), v128.load(v, 320), v128.load(v, 448), o + (<usize>q << 7) + 16, 32);
  }
}

/** transpose4 with each result at its own address. */
@inline function transpose4at(a: v128, b: v128, c: v128, d: v128, o0: usize, o1: usize, o2: usize, o3: usize): void {
  const t0 = i32x4.shuffle(a, b, 0, 4, 1, 5), t1 = i32x4.shuffle(a, b, 2, 6, 3, 7);
  const t2 = i32x4.shuffle(c, d, 0, 4, 1, 5), t3 = i32x4.shuffle(c, d, 2, 6, 3, 7);
  v128.store(o0, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
  v128.store(o1, i32x4.shuffle(t0, t2, 2, 3, 6, 7));
  v128.store(o2, i32x4.shuffle(t1, t3, 0, 1, 4, 5));
  v128.store(o3, i32x4.shuffle(t1, t3, 2, 3, 6, 7));
}

// Q4_Kx4 (see repack.ts): the same integer sums as rowDotQ4_K, with dot lanes = the four even
// sub-blocks (low nibbles) and the four odd ones (high nibbles): no round trip through tmp.
function rowDotQ4_Kx4(w: usize, rec: usize, n: i32): f32 {
  const ns = n >> 8;
  const pd = rec + (<usize>n << 1), pb = pd + (<usize>ns << 2);
  let xa = pb + (<usize>ns << 5) + (<usize>n << 1);
  let sumf: f32 = 0;
  for (let i = 0; i < ns; i++) {
    const wb = w + <usize>i * 144;
    let lo = i32x4.splat(0), hi = i32x4.splat(0);
    let q = wb + 16;
    const end = wb + 144;
    do {
      const m = LOW4;
      const v = v128.load8x8_u(q), u = v128.load8x8_u(q, 8);
      lo = i32x4.add(lo, i32x4.add(i32x4.dot_i16x8_s(v128.and(v, m), v128.load(xa)), i32x4.dot_i16x8_s(v128.and(u, m), v128.load(xa, 32))));
      hi = i32x4.add(hi, i32x4.add(i32x4.dot_i16x8_s(i16x8.shr_u(v, 4), v128.load(xa, 16)), i32x4.dot_i16x8_s(i16x8.shr_u(u, 4), v128.load(xa, 48))));
      q += 16; xa += 64;
    } while (q < end);
    sumf = q4kTerm(sumf, wb, lo, hi, pb + (<usize>i << 5), load<f32>(pd + (<usize>i << 2)));
  }
  return sumf;
}

// Q6_Kx4 (see repack.ts): the same integer sums as rowDotQ6_K, but a dot's lane k belongs to a
// sub-block of stream k, so the sixteen sub-block sums build up in four vectors (acc_t: lanes =
// sub-blocks 2t, 2t+1, 8+2t, 9+2t) and are scaled with four multiplies — no round trip through tmp.
//
// Relaxed builds (whose Q6_Kx4 interleaves the streams four bytes at a time) take four quants of
// stream k per lane with one relaxed i8 dot against their int8 activations (packQ6x4R): the same
// sums, so the same result bit for bit.
function rowDotQ6_Kx4(w: usize, rec: usize, n: i32): f32 {
  const ns = n >> 8;
  const pd = rec + (<usize>n << 1), pb = pd + (<usize>ns << 2);
  let xa = pb + (<usize>ns << 5) + (ASC_FEATURE_RELAXED_SIMD ? <usize>n << 2 : 0);
  let sumf: f32 = 0;
  for (let i = 0; i < ns; i++) {
    const wb = w + <usize>i * 210;
    let a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0), a4 = i32x4.splat(0);
    let q = wb;
    const end = wb + 64;
    do {
      const A = v128.load(q), B = v128.load(q, 64), H = v128.load(q, 128);
      const v1 = q6a(A, H), v2 = q6b(B, H), v3 = q6c(A, H), v4 = q6d(B, H);
      if (ASC_FEATURE_RELAXED_SIMD) {
        a1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xa), v1, a1);
        a2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xa, 16), v2, a2);
        a3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xa, 32), v3, a3);
        a4 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xa, 48), v4, a4);
        q += 16; xa += 64;
        continue;
      }
      a1 = i32x4.add(a1, i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(v1), v128.load(xa)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(v1), v128.load(xa, 16))));
      a2 = i32x4.add(a2, i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(v2), v128.load(xa, 32)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(v2), v128.load(xa, 48))));
      a3 = i32x4.add(a3, i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(v3), v128.load(xa, 64)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(v3), v128.load(xa, 80))));
      a4 = i32x4.add(a4, i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(v4), v128.load(xa, 96)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(v4), v128.load(xa, 112))));
      q += 16; xa += 128;
    } while (q < end);
    sumf += q6Scale(wb, a1, a2, a3, a4, pb + (<usize>i << 5), load<f32>(pd + (<usize>i << 2)));
  }
  return sumf;
}

/**
 * One super-block's 256 int8 activations (at a) in the order relaxed builds' rowDotQ6_Kx4 reads
 * them, at o: for step i (0…3) and quant group t (0…3: q6a…q6d) the vector whose lane k holds
 * elements 4i…4i+3 of the 16 that stream k's group t covers (128·(k >> 1) + 32t + 16·(k & 1) on).
 */
@inline function packQ6x4R(a: usize, o: usize): void {
  for (let t = 0; t < 4; t++) {
    const s = a + (<usize>t << 5);
    const v0 = v128.load(s), v1 = v128.load(s, 16), v2 = v128.load(s, 128), v3 = v128.load(s, 144);
    const t0 = i32x4.shuffle(v0, v1, 0, 4, 1, 5), t1 = i32x4.shuffle(v0, v1, 2, 6, 3, 7);
    const t2 = i32x4.shuffle(v2, v3, 0, 4, 1, 5), t3 = i32x4.shuffle(v2, v3, 2, 6, 3, 7);
    const b = o + (<usize>t << 4);
    v128.store(b, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
    v128.store(b, i32x4.shuffle(t0, t2, 2, 3, 6, 7), 64);
    v128.store(b, i32x4.shuffle(t1, t3, 0, 1, 4, 5), 128);
    v128.store(b, i32x4.shuffle(t1, t3, 2, 3, 6, 7), 192);
  }
}

/**
 * One super-block's 256 int8 activations (at a) in rowDotQ4_Kx4R's order, at o: for step i (0…7)
 * the vector whose lane k holds elements 4i…4i+3 of sub-block 2k (at 32i), then of 2k + 1.
 */
@inline function packQ4Kx4R(a: usize, o: usize): void {
  for (let h = 0; h < 2; h++) {
    const e = a + (<usize>h << 4), b = o + (<usize>h << 7);
    transpose4s(v128.load(e), v128.load(e, 64), v128.load(e, 128), v128.load(e, 192), b, 32);
    transpose4s(v128.load(e, 32), v128.load(e, 96), v128.load(e, 160), v128.load(e, 224), b + 16, 32);
  }
}

/**
 * rowDotQ4_Kx4 with relaxed dots (relaxed builds, whose Q4_Kx4 interleaves the streams four bytes
 * at a time): lane k of a dot takes four bytes of stream k — low nibbles of sub-block 2k, high of
 * 2k + 1 — against their int8 activations (packQ4Kx4R), so the sums build up as in rowDotQ4_Kx4
 * and give its result bit for bit.
 */
function rowDotQ4_Kx4R(w: usize, rec: usize, n: i32): f32 {
  const ns = n >> 8;
  const pd = rec + (<usize>n << 1), pb = pd + (<usize>ns << 2);
  let xa = pb + (<usize>ns << 5) + <usize>n * 5;
  let sumf: f32 = 0;
  for (let i = 0; i < ns; i++) {
    const wb = w + <usize>i * 144;
    let lo = i32x4.splat(0), hi = i32x4.splat(0), lo2 = i32x4.splat(0), hi2 = i32x4.splat(0);
    let q = wb + 16;
    const end = wb + 144;
    do {
      const m = v128.load(CONSTS, 80);
      const v = v128.load(q), u = v128.load(q, 16);
      lo = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xa), v128.and(v, m), lo);
      hi = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xa, 16), v128.and(i16x8.shr_u(v, 4), m), hi);
      lo2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xa, 32), v128.and(u, m), lo2);
      hi2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xa, 48), v128.and(i16x8.shr_u(u, 4), m), hi2);
      q += 32; xa += 64;
    } while (q < end);
    sumf = q4kTerm(sumf, wb, i32x4.add(lo, lo2), i32x4.add(hi, hi2), pb + (<usize>i << 5), load<f32>(pd + (<usize>i << 2)));
  }
  return sumf;
}

/**
 * sumf plus a Q4_K super-block's term from its sub-block sums (lo: lanes = sub-blocks 0, 2, 4, 6;
 * hi: 1, 3, 5, 7): the sums scaled by the 6-bit scales, then q4kAdd (bs: bsums, yd: y.d).
 */
@inline function q4kTerm(sumf: f32, wb: usize, lo: v128, hi: v128, bs: usize, yd: f32): f32 {
  const u0 = load<u32>(wb, 4), u1 = load<u32>(wb, 8), u2 = load<u32>(wb, 12);
  const sc = q4kScales(u0, u2);
  const even = i32x4.extend_low_i16x8_u(i16x8.shuffle(sc, sc, 0, 2, 4, 6, 0, 2, 4, 6));
  const odd = i32x4.extend_low_i16x8_u(i16x8.shuffle(sc, sc, 1, 3, 5, 7, 1, 3, 5, 7));
  const isum = hsumI(i32x4.add(i32x4.mul(lo, even), i32x4.mul(hi, odd)));
  return q4kAdd(sumf, wb, isum, u1, u2, bs, yd);
}

/**
 * A Q6_K super-block's (at wb) term from its sub-block sums (acc_t: lanes = sub-blocks 2t, 2t+1,
 * 8+2t, 9+2t of unshifted quants): (d·y.d)·(Σ sc·sum − 32·Σ sc·bsums) (bs: the bsums; yd: y.d).
 */
@inline function q6Scale(wb: usize, a1: v128, a2: v128, a3: v128, a4: v128, bs: usize, yd: f32): f32 {
  const sc = v128.load(wb, 192), s0 = i16x8.extend_low_i8x16_s(sc), s1 = i16x8.extend_high_i8x16_s(sc);
  const e0 = i32x4.extend_low_i16x8_s(s0), e1 = i32x4.extend_high_i16x8_s(s0), e2 = i32x4.extend_low_i16x8_s(s1), e3 = i32x4.extend_high_i16x8_s(s1);
  let acc = i32x4.mul(a1, i32x4.shuffle(e0, e2, 0, 1, 4, 5));
  acc = i32x4.add(acc, i32x4.mul(a2, i32x4.shuffle(e0, e2, 2, 3, 6, 7)));
  acc = i32x4.add(acc, i32x4.mul(a3, i32x4.shuffle(e1, e3, 0, 1, 4, 5)));
  acc = i32x4.add(acc, i32x4.mul(a4, i32x4.shuffle(e1, e3, 2, 3, 6, 7)));
  acc = i32x4.sub(acc, i32x4.shl(i32x4.add(i32x4.dot_i16x8_s(s0, v128.load(bs)), i32x4.dot_i16x8_s(s1, v128.load(bs, 16))), 5));
  return (f16(load<u16>(wb, 208)) * yd) * <f32>hsumI(acc);
}

// The 16 sums of 16 elements go through tmp (16 × i32x4) and are scaled all at once.
function rowDotQ6_K(w: usize, rec: usize, n: i32, tmp: usize): f32 {
  const ns = n >> 8;
  const pd = rec + (<usize>n << 1), pb = pd + (<usize>ns << 2);
  let sumf: f32 = 0;
  for (let i = 0; i < ns; i++) {
    const wb = w + <usize>i * 210, xb = rec + (<usize>i << 9);
    for (let k = 0; k < 4; k++) {
      const h = k >> 1, c = <usize>(k & 1) << 4; // half h, elements l in [c, c + 16)
      const ql = wb + (<usize>h << 6) + c, qh = wb + 128 + (<usize>h << 5) + c;
      const a = xb + (<usize>h << 8) + (c << 1), o = tmp + (<usize>h << 7) + (<usize>(k & 1) << 4);
      const A = v128.load(ql), B = v128.load(ql, 32), H = v128.load(qh);
      const v1 = q6a(A, H), v2 = q6b(B, H), v3 = q6c(A, H), v4 = q6d(B, H);
      // sub-block of 16 elements j = 8h + 2·part + (k & 1): stored at tmp + 16j
      v128.store(o, i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(v1), v128.load(a)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(v1), v128.load(a, 16))));
      v128.store(o, i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(v2), v128.load(a, 64)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(v2), v128.load(a, 80))), 32);
      v128.store(o, i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(v3), v128.load(a, 128)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(v3), v128.load(a, 144))), 64);
      v128.store(o, i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(v4), v128.load(a, 192)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(v4), v128.load(a, 208))), 96);
    }
    const sc = v128.load(wb, 192), s0 = i16x8.extend_low_i8x16_s(sc), s1 = i16x8.extend_high_i8x16_s(sc);
    let acc = i32x4.mul(hsum4(v128.load(tmp), v128.load(tmp, 16), v128.load(tmp, 32), v128.load(tmp, 48)), i32x4.extend_low_i16x8_s(s0));
    acc = i32x4.add(acc, i32x4.mul(hsum4(v128.load(tmp, 64), v128.load(tmp, 80), v128.load(tmp, 96), v128.load(tmp, 112)), i32x4.extend_high_i16x8_s(s0)));
    acc = i32x4.add(acc, i32x4.mul(hsum4(v128.load(tmp, 128), v128.load(tmp, 144), v128.load(tmp, 160), v128.load(tmp, 176)), i32x4.extend_low_i16x8_s(s1)));
    acc = i32x4.add(acc, i32x4.mul(hsum4(v128.load(tmp, 192), v128.load(tmp, 208), v128.load(tmp, 224), v128.load(tmp, 240)), i32x4.extend_high_i16x8_s(s1)));
    const bs = pb + (<usize>i << 5);
    acc = i32x4.sub(acc, i32x4.shl(i32x4.add(i32x4.dot_i16x8_s(s0, v128.load(bs)), i32x4.dot_i16x8_s(s1, v128.load(bs, 16))), 5));
    sumf += (f16(load<u16>(wb, 208)) * load<f32>(pd + (<usize>i << 2))) * <f32>hsumI(acc);
  }
  return sumf;
}

/** Rows [r0, r1) × T (< GROUP_MIN) tokens, one row at a time; types without a row kernel use vecDotQ8. */
function matmulFew(t: i32, w: usize, rowBytes: usize, xq: usize, xqRowBytes: usize, T: i32, out: usize, rows: i32, r0: i32, r1: i32, n: i32, scratch: usize): void {
  const fmt = q8FormatFor(t);
  const base = packBase(xq, xqRowBytes, T), rs = tokenRecBytes(fmt, n), os = <usize>rows << 2;
  for (let r = r0; r < r1; r++) {
    const row = w + <usize>r * rowBytes, o = out + (<usize>r << 2);
    for (let tok = 0; tok < T; tok++) {
      const rec = base + <usize>tok * rs;
      let v: f32;
      switch (t) {
        case T_Q8_0: v = rowDotQ8_0(row, rec, n); break;
        case T_Q4_0X4: v = ASC_FEATURE_RELAXED_SIMD ? rowDotQ4_0x4R(row, rec, n, tokenRelaxed(rec, n)) : rowDotQ4_0x4(row, rec, n); break;
        case T_Q4_K: v = rowDotQ4_K(row, rec, n, scratch); break;
        case T_Q6_K: v = rowDotQ6_K(row, rec, n, scratch); break;
        case T_Q6_KX4: v = rowDotQ6_Kx4(row, rec, n); break;
        case T_Q4_KX4: v = ASC_FEATURE_RELAXED_SIMD ? rowDotQ4_Kx4R(row, rec, n) : rowDotQ4_Kx4(row, rec, n); break;
        default: v = vecDotQ8(t, row, xq + <usize>tok * xqRowBytes, n);
      }
      store<f32>(o + <usize>tok * os, v);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// many tokens: four weight rows unpacked to i16 into scratch, one record per block:
//   legacy (288 B per 32 elements): [row 0: 32 × i16][row 1][row 2][row 3][d × 4: f32][m × 4: f32]
//   K (2144 B per 256):             [row 0: 256 × i16][row 1][row 2][row 3][d × 4][dmin × 4]
//                                   [mins: 8 × i16 × 4 rows]

const WREC_LEGACY: usize = 288;
const WREC_K: usize = 2144;

/** Unpacks blocks [b0, b1) of one legacy row into records at dst, slot 0…3. */
function widenLegacy(t: i32, row: usize, b0: i32, b1: i32, dst: usize, slot: usize, n: i32): void {
  const bb = legacyBytes(t == T_Q4_0X4 ? T_Q4_0 : t);
  for (let b = b0; b < b1; b++) {
    const wb = row + <usize>b * bb, rec = dst + <usize>(b - b0) * WREC_LEGACY, d = rec + (slot << 6);
    store<f32>(rec + (slot << 2), f16(load<u16>(t == T_Q4_0X4 ? blockScaleAddr(row, b, n) : wb)), 256);
    switch (t) {
      case T_Q8_0: {
        widen16(v128.load(wb, 2), d);
        widen16(v128.load(wb, 18), d + 32);
        break;
      }
      case T_Q4_0X4: {
        const q = blockQuants(row, b, n);
        const a = i16x8.extend_low_i8x16_u(q), c = i16x8.extend_high_i8x16_u(q);
        v128.store(d, i16x8.sub(v128.and(a, LOW4), EIGHT));
        v128.store(d, i16x8.sub(v128.and(c, LOW4), EIGHT), 16);
        v128.store(d, i16x8.sub(i16x8.shr_u(a, 4), EIGHT), 32);
        v128.store(d, i16x8.sub(i16x8.shr_u(c, 4), EIGHT), 48);
        break;
      }
      case T_Q4_0: {
        const a = v128.load8x8_u(wb, 2), c = v128.load8x8_u(wb, 10);
        v128.store(d, i16x8.sub(v128.and(a, LOW4), EIGHT));
        v128.store(d, i16x8.sub(v128.and(c, LOW4), EIGHT), 16);
        v128.store(d, i16x8.sub(i16x8.shr_u(a, 4), EIGHT), 32);
        v128.store(d, i16x8.sub(i16x8.shr_u(c, 4), EIGHT), 48);
        break;
      }
      case T_Q4_1: {
        const a = v128.load8x8_u(wb, 4), c = v128.load8x8_u(wb, 12);
        v128.store(d, v128.and(a, LOW4));
        v128.store(d, v128.and(c, LOW4), 16);
        v128.store(d, i16x8.shr_u(a, 4), 32);
        v128.store(d, i16x8.shr_u(c, 4), 48);
        store<f32>(rec + (slot << 2), f16(load<u16>(wb, 2)), 272);
        break;
      }
      case T_Q5_0: {
        const qh = v128.load32_zero(wb, 2), q = v128.load(wb, 6);
        const f0 = i8x16.splat(-16);
        widen16(v128.or(v128.and(q, M0F), v128.and(q5ClearLo(qh), f0)), d);
        widen16(v128.or(v128.and(i16x8.shr_u(q, 4), M0F), v128.and(q5ClearHi(qh), f0)), d + 32);
        break;
      }
      default: { // Q5_1
        const qh = v128.load32_zero(wb, 4), q = v128.load(wb, 8);
        const b4 = i8x16.splat(0x10);
        const lo = v128.or(v128.and(q, M0F), v128.andnot(b4, q5ClearLo(qh)));
        const hi = v128.or(v128.and(i16x8.shr_u(q, 4), M0F), v128.andnot(b4, q5ClearHi(qh)));
        v128.store(d, i16x8.extend_low_i8x16_u(lo));
        v128.store(d, i16x8.extend_high_i8x16_u(lo), 16);
        v128.store(d, i16x8.extend_low_i8x16_u(hi), 32);
        v128.store(d, i16x8.extend_high_i8x16_u(hi), 48);
        store<f32>(rec + (slot << 2), f16(load<u16>(wb, 2)), 272);
      }
    }
  }
}

/** 16 unsigned bytes (values < 64) times scale sc → two i16x8 at d, d + 16. */
@inline function widenScaledU(v: v128, sc: i32, d: usize): void {
  const s = i16x8.splat(<i16>sc);
  v128.store(d, i16x8.mul(i16x8.extend_low_i8x16_u(v), s));
  v128.store(d, i16x8.mul(i16x8.extend_high_i8x16_u(v), s), 16);
}

/** Unpacks super-blocks [s0, s1) of one K-quant row into records at dst, slot 0…3. */
function widenK(t: i32, row: usize, s0: i32, s1: i32, dst: usize, slot: usize): void {
  for (let i = s0; i < s1; i++) {
    const rec = dst + <usize>(i - s0) * WREC_K, d = rec + (slot << 9);
    if (t == T_Q6_K || t == T_Q6_KX4) {
      const wb = row + <usize>i * 210;
      const m32 = i16x8.splat(32);
      const x4 = t == T_Q6_KX4;
      for (let k = 0; k < 4; k++) {
        const h = k >> 1, c = <usize>(k & 1) << 4;
        const ql = wb + (<usize>h << 6) + c, qh = wb + 128 + (<usize>h << 5) + c, sc = wb + 192 + (<usize>h << 3) + <usize>(k & 1);
        const A = x4 ? kStream(wb, k) : v128.load(ql), B = x4 ? kStream(wb + 64, k) : v128.load(ql, 32), H = x4 ? kStream(wb + 128, k) : v128.load(qh);
        const o = d + (<usize>h << 8) + (c << 1);
        const v1 = q6a(A, H), v2 = q6b(B, H), v3 = q6c(A, H), v4 = q6d(B, H);
        let s = i16x8.splat(<i16>load<i8>(sc));
        v128.store(o, i16x8.mul(i16x8.sub(i16x8.extend_low_i8x16_u(v1), m32), s));
        v128.store(o, i16x8.mul(i16x8.sub(i16x8.extend_high_i8x16_u(v1), m32), s), 16);
        s = i16x8.splat(<i16>load<i8>(sc, 2));
        v128.store(o, i16x8.mul(i16x8.sub(i16x8.extend_low_i8x16_u(v2), m32), s), 64);
        v128.store(o, i16x8.mul(i16x8.sub(i16x8.extend_high_i8x16_u(v2), m32), s), 80);
        s = i16x8.splat(<i16>load<i8>(sc, 4));
        v128.store(o, i16x8.mul(i16x8.sub(i16x8.extend_low_i8x16_u(v3), m32), s), 128);
        v128.store(o, i16x8.mul(i16x8.sub(i16x8.extend_high_i8x16_u(v3), m32), s), 144);
        s = i16x8.splat(<i16>load<i8>(sc, 6));
        v128.store(o, i16x8.mul(i16x8.sub(i16x8.extend_low_i8x16_u(v4), m32), s), 192);
        v128.store(o, i16x8.mul(i16x8.sub(i16x8.extend_high_i8x16_u(v4), m32), s), 208);
      }
      store<f32>(rec + (slot << 2), f16(load<u16>(wb, 208)), 2048);
      store<f32>(rec + (slot << 2), 0, 2064);
      v128.store(rec + (slot << 4), i32x4.splat(0), 2080);
      continue;
    }
    const q4 = t == T_Q4_K || t == T_Q4_KX4, x4 = t == T_Q4_KX4;
    const wb = row + <usize>i * (q4 ? 144 : 176);
    const u0 = load<u32>(wb, 4), u1 = load<u32>(wb, 8), u2 = load<u32>(wb, 12);
    const sl = kScalesLo(u0), sh = kScalesHi(u0, u2);
    const h0 = v128.load(wb, 16), h1 = v128.load(wb, 32); // Q5_K high bits
    for (let j = 0; j < 4; j++) {
      const k0 = 2 * j, k1 = 2 * j + 1;
      const q = wb + (q4 ? 16 : 48) + (<usize>j << 5), o = d + (<usize>j << 7);
      const c0 = x4 ? kStream(wb + 16, j) : v128.load(q), c1 = x4 ? kStream(wb + 80, j) : v128.load(q, 16);
      const sc0 = byteOf(sl, sh, k0), sc1 = byteOf(sl, sh, k1);
      if (q4) {
        widenScaledU(v128.and(c0, M0F), sc0, o);
        widenScaledU(v128.and(c1, M0F), sc0, o + 32);
        widenScaledU(v128.and(i16x8.shr_u(c0, 4), M0F), sc1, o + 64);
        widenScaledU(v128.and(i16x8.shr_u(c1, 4), M0F), sc1, o + 96);
      } else {
        widenScaledU(q5kLo(c0, h0, k0), sc0, o);
        widenScaledU(q5kLo(c1, h1, k0), sc0, o + 32);
        widenScaledU(q5kHi(c0, h0, k0), sc1, o + 64);
        widenScaledU(q5kHi(c1, h1, k0), sc1, o + 96);
      }
    }
    store<f32>(rec + (slot << 2), f16(load<u16>(wb)), 2048);
    store<f32>(rec + (slot << 2), f16(load<u16>(wb, 2)), 2064);
    v128.store(rec + (slot << 4), i16x8.extend_low_i8x16_u(i32x4.replace_lane(i32x4.splat(<i32>kMinsLo(u1)), 1, <i32>kMinsHi(u1, u2))), 2080);
  }
}


/** A K-quant super-block's contribution: + (d·y.d)·isum − (dmin·y.d)·Σ mins·S (ggml's order). */
@inline function kTerm(f: v128, mins: bool, a: v128, d: v128, dmin: v128, dx: v128, m: usize, s: usize): v128 {
  f = f32x4.add(f, f32x4.mul(f32x4.mul(d, dx), f32x4.convert_i32x4_s(a)));
  if (mins) f = f32x4.sub(f, f32x4.mul(f32x4.mul(dmin, dx), f32x4.convert_i32x4_s(minsTL(m, s))));
  return f;
}

/** Σ_j mins[j]·S_j for four tokens: mins (8 × i16) at m, the group's S pairs at s. */
@inline function minsTL(m: usize, s: usize): v128 {
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(v128.load32_splat(m), v128.load(s)), i32x4.dot_i16x8_s(v128.load32_splat(m, 4), v128.load(s, 16))),
    i32x4.add(i32x4.dot_i16x8_s(v128.load32_splat(m, 8), v128.load(s, 32)), i32x4.dot_i16x8_s(v128.load32_splat(m, 12), v128.load(s, 48))));
}

/**
 * Blocks [c0, c1) of four unpacked rows (records at ws; rows past nr are duplicates and not
 * stored) against one or two token groups (records at xa and xa + RS; dual = false: one group),
 * block records bs bytes apart; adds to the float sums, which start from out when c0 > 0.
 * o: out address of (row 0, token 0 of the group); os: bytes per token in out.
 */
@inline function groupPass(t: i32, dual: bool, ws: usize, xa: usize, bs: usize, c0: i32, c1: i32,
  o: usize, os: usize, nr: i32, nv0: i32, nv1: i32): void {
  const kq = t >= T_Q4_K;
  const o1 = o + (os << 2);
  let f00 = loadSums(c0, o, os, nr, nv0), f10 = loadSums(c0, o + 4, os, nr - 1, nv0);
  let f20 = loadSums(c0, o + 8, os, nr - 2, nv0), f30 = loadSums(c0, o + 12, os, nr - 3, nv0);
  let f01 = f32x4.splat(0), f11 = f32x4.splat(0), f21 = f32x4.splat(0), f31 = f32x4.splat(0);
  if (dual) {
    f01 = loadSums(c0, o1, os, nr, nv1); f11 = loadSums(c0, o1 + 4, os, nr - 1, nv1);
    f21 = loadSums(c0, o1 + 8, os, nr - 2, nv1); f31 = loadSums(c0, o1 + 12, os, nr - 3, nv1);
  }
  let wp = ws, pa = xa;
  const mq = t == T_Q4_1 || t == T_Q5_1;
  for (let b = c0; b < c1; b++) {
    let a00 = i32x4.splat(0), a10 = i32x4.splat(0), a20 = i32x4.splat(0), a30 = i32x4.splat(0);
    let a01 = i32x4.splat(0), a11 = i32x4.splat(0), a21 = i32x4.splat(0), a31 = i32x4.splat(0);
    // one pair of elements per iteration: four weight splats, one or two activation vectors
    const end = wp + (kq ? 512 : 64);
    if (kq) {
      do {
        const v0 = v128.load(pa), v1 = dual ? v128.load(pa, 2128) : v0;
        let s = v128.load32_splat(wp);
        a00 = i32x4.add(a00, i32x4.dot_i16x8_s(s, v0)); if (dual) a01 = i32x4.add(a01, i32x4.dot_i16x8_s(s, v1));
        s = v128.load32_splat(wp, 512);
        a10 = i32x4.add(a10, i32x4.dot_i16x8_s(s, v0)); if (dual) a11 = i32x4.add(a11, i32x4.dot_i16x8_s(s, v1));
        s = v128.load32_splat(wp, 1024);
        a20 = i32x4.add(a20, i32x4.dot_i16x8_s(s, v0)); if (dual) a21 = i32x4.add(a21, i32x4.dot_i16x8_s(s, v1));
        s = v128.load32_splat(wp, 1536);
        a30 = i32x4.add(a30, i32x4.dot_i16x8_s(s, v0)); if (dual) a31 = i32x4.add(a31, i32x4.dot_i16x8_s(s, v1));
        wp += 4; pa += 16;
      } while (wp < end);
    } else {
      do {
        const v0 = v128.load(pa), v1 = dual ? v128.load(pa, 288) : v0;
        let s = v128.load32_splat(wp);
        a00 = i32x4.add(a00, i32x4.dot_i16x8_s(s, v0)); if (dual) a01 = i32x4.add(a01, i32x4.dot_i16x8_s(s, v1));
        s = v128.load32_splat(wp, 64);
        a10 = i32x4.add(a10, i32x4.dot_i16x8_s(s, v0)); if (dual) a11 = i32x4.add(a11, i32x4.dot_i16x8_s(s, v1));
        s = v128.load32_splat(wp, 128);
        a20 = i32x4.add(a20, i32x4.dot_i16x8_s(s, v0)); if (dual) a21 = i32x4.add(a21, i32x4.dot_i16x8_s(s, v1));
        s = v128.load32_splat(wp, 192);
        a30 = i32x4.add(a30, i32x4.dot_i16x8_s(s, v0)); if (dual) a31 = i32x4.add(a31, i32x4.dot_i16x8_s(s, v1));
        wp += 4; pa += 16;
      } while (wp < end);
    }
    if (kq) {
      // wp is at the record + 512 (its scales at + 1536), pa at the first group's d
      const mins = t != T_Q6_K;
      const dx0 = v128.load(pa);
      f00 = kTerm(f00, mins, a00, v128.load32_splat(wp, 1536), v128.load32_splat(wp, 1552), dx0, wp + 1568, pa + 16);
      f10 = kTerm(f10, mins, a10, v128.load32_splat(wp, 1540), v128.load32_splat(wp, 1556), dx0, wp + 1584, pa + 16);
      f20 = kTerm(f20, mins, a20, v128.load32_splat(wp, 1544), v128.load32_splat(wp, 1560), dx0, wp + 1600, pa + 16);
      f30 = kTerm(f30, mins, a30, v128.load32_splat(wp, 1548), v128.load32_splat(wp, 1564), dx0, wp + 1616, pa + 16);
      if (dual) {
        const dx1 = v128.load(pa, 2128);
        f01 = kTerm(f01, mins, a01, v128.load32_splat(wp, 1536), v128.load32_splat(wp, 1552), dx1, wp + 1568, pa + 2144);
        f11 = kTerm(f11, mins, a11, v128.load32_splat(wp, 1540), v128.load32_splat(wp, 1556), dx1, wp + 1584, pa + 2144);
        f21 = kTerm(f21, mins, a21, v128.load32_splat(wp, 1544), v128.load32_splat(wp, 1560), dx1, wp + 1600, pa + 2144);
        f31 = kTerm(f31, mins, a31, v128.load32_splat(wp, 1548), v128.load32_splat(wp, 1564), dx1, wp + 1616, pa + 2144);
      }
      wp += WREC_K - 512; pa += bs - 2048;
    } else {
      // wp is at the record + 64 (its scales at + 192), pa at the first group's d
      const dx0 = v128.load(pa), sx0 = mq ? v128.load(pa, 16) : dx0;
      const dw0 = v128.load32_splat(wp, 192), dw1 = v128.load32_splat(wp, 196), dw2 = v128.load32_splat(wp, 200), dw3 = v128.load32_splat(wp, 204);
      const mw0 = mq ? v128.load32_splat(wp, 208) : dw0, mw1 = mq ? v128.load32_splat(wp, 212) : dw1;
      const mw2 = mq ? v128.load32_splat(wp, 216) : dw2, mw3 = mq ? v128.load32_splat(wp, 220) : dw3;
      f00 = f32x4.add(f00, legacyTerm(t, a00, dw0, dx0, mw0, sx0));
      f10 = f32x4.add(f10, legacyTerm(t, a10, dw1, dx0, mw1, sx0));
      f20 = f32x4.add(f20, legacyTerm(t, a20, dw2, dx0, mw2, sx0));
      f30 = f32x4.add(f30, legacyTerm(t, a30, dw3, dx0, mw3, sx0));
      if (dual) {
        const dx1 = v128.load(pa, 288), sx1 = mq ? v128.load(pa, 304) : dx1;
        f01 = f32x4.add(f01, legacyTerm(t, a01, dw0, dx1, mw0, sx1));
        f11 = f32x4.add(f11, legacyTerm(t, a11, dw1, dx1, mw1, sx1));
        f21 = f32x4.add(f21, legacyTerm(t, a21, dw2, dx1, mw2, sx1));
        f31 = f32x4.add(f31, legacyTerm(t, a31, dw3, dx1, mw3, sx1));
      }
      wp += WREC_LEGACY - 64; pa += bs - 256;
    }
  }
  storeSums(o, os, f00, nr, nv0); storeSums(o + 4, os, f10, nr - 1, nv0);
  storeSums(o + 8, os, f20, nr - 2, nv0); storeSums(o + 12, os, f30, nr - 3, nv0);
  if (dual) {
    storeSums(o1, os, f01, nr, nv1); storeSums(o1 + 4, os, f11, nr - 1, nv1);
    storeSums(o1 + 8, os, f21, nr - 2, nv1); storeSums(o1 + 12, os, f31, nr - 3, nv1);
  }
}

// groupPass specialized by hand (binaryen would otherwise merge the two calls into one body that
// tests `dual` at run time, inside the inner loop).
function passTwo(t: i32, ws: usize, xa: usize, bs: usize, c0: i32, c1: i32, o: usize, os: usize, nr: i32, nv0: i32, nv1: i32): void {
  switch (t) {
    case T_Q8_0: groupPass(T_Q8_0, true, ws, xa, bs, c0, c1, o, os, nr, nv0, nv1); return;
    case T_Q4_0: groupPass(T_Q4_0, true, ws, xa, bs, c0, c1, o, os, nr, nv0, nv1); return;
    case T_Q4_1: groupPass(T_Q4_1, true, ws, xa, bs, c0, c1, o, os, nr, nv0, nv1); return;
    case T_Q5_0: groupPass(T_Q5_0, true, ws, xa, bs, c0, c1, o, os, nr, nv0, nv1); return;
    case T_Q5_1: groupPass(T_Q5_1, true, ws, xa, bs, c0, c1, o, os, nr, nv0, nv1); return;
    case T_Q4_K: groupPass(T_Q4_K, true, ws, xa, bs, c0, c1, o, os, nr, nv0, nv1); return;
    case T_Q5_K: groupPass(T_Q5_K, true, ws, xa, bs, c0, c1, o, os, nr, nv0, nv1); return;
    default: groupPass(T_Q6_K, true, ws, xa, bs, c0, c1, o, os, nr, nv0, nv1);
  }
}
function passOne(t: i32, ws: usize, xa: usize, bs: usize, c0: i32, c1: i32, o: usize, os: usize, nr: i32, nv0: i32): void {
  switch (t) {
    case T_Q8_0: groupPass(T_Q8_0, false, ws, xa, bs, c0, c1, o, os, nr, nv0, 0); return;
    case T_Q4_0: groupPass(T_Q4_0, false, ws, xa, bs, c0, c1, o, os, nr, nv0, 0); return;
    case T_Q4_1: groupPass(T_Q4_1, false, ws, xa, bs, c0, c1, o, os, nr, nv0, 0); return;
    case T_Q5_0: groupPass(T_Q5_0, false, ws, xa, bs, c0, c1, o, os, nr, nv0, 0); return;
    case T_Q5_1: groupPass(T_Q5_1, false, ws, xa, bs, c0, c1, o, os, nr, nv0, 0); return;
    case T_Q4_K: groupPass(T_Q4_K, false, ws, xa, bs, c0, c1, o, os, nr, nv0, 0); return;
    case T_Q5_K: groupPass(T_Q5_K, false, ws, xa, bs, c0, c1, o, os, nr, nv0, 0); return;
    default: groupPass(T_Q6_K, false, ws, xa, bs, c0, c1, o, os, nr, nv0, 0);
  }
}

/**
 * Rows [r0, r1) × T (≥ GROUP_MIN) tokens for weight type t. Four rows at a time are unpacked into
 * scratch, a chunk of blocks at a time (the chunk fits in max(4n, 64 KiB) bytes; the float sums
 * of a chunk go through out), then run against every pair of token groups.
 */
@inline function matmulGroups(t: i32, w: usize, rowBytes: usize, xq: usize, xqRowBytes: usize, T: i32, out: usize, rows: i32, r0: i32, r1: i32, n: i32, scratch: usize): void {
  const kq = (t >= T_Q4_K && t <= T_Q6_K) || t == T_Q6_KX4 || t == T_Q4_KX4;
  // Repacked types widen to their type's records.
  const tp = t == T_Q4_0X4 ? T_Q4_0 : t == T_Q6_KX4 ? T_Q6_K : t == T_Q4_KX4 ? T_Q4_K : t;
  const fmt = q8FormatFor(t);
  const xp = packBase(xq, xqRowBytes, T);
  const blocks = kq ? n >> 8 : n >> 5;
  const RS = groupRecBytes(fmt), WR = kq ? WREC_K : WREC_LEGACY;
  const G = (T + 3) >> 2, os = <usize>rows << 2;
  const bs = <usize>G * RS;
  const budget = max<usize>(<usize>n << 2, 65536);
  const chunk = min<i32>(blocks, <i32>(budget / WR));
  for (let r = r0; r < r1; r += 4) {
    const nr = min(4, r1 - r);
    const row0 = w + <usize>r * rowBytes;
    for (let c0 = 0; c0 < blocks; c0 += chunk) {
      const c1 = min(blocks, c0 + chunk);
      for (let i = 0; i < 4; i++) {
        const row = row0 + <usize>min(i, nr - 1) * rowBytes; // missing rows: the last one again
        if (kq) widenK(t, row, c0, c1, scratch, <usize>i);
        else widenLegacy(t, row, c0, c1, scratch, <usize>i, n);
      }
      for (let g = 0; g < G; g += 2) {
        const xa = xp + (<usize>c0 * <usize>G + <usize>g) * RS;
        const o = out + <usize>(g << 2) * os + (<usize>r << 2);
        const nv0 = min(4, T - (g << 2)), nv1 = min(4, T - (g << 2) - 4);
        if (g + 1 < G) passTwo(tp, scratch, xa, bs, c0, c1, o, os, nr, nv0, nv1);
        else passOne(tp, scratch, xa, bs, c0, c1, o, os, nr, nv0);
      }
    }
  }
}

// One specialization per weight type (t constant inside each).
function groupsQ8_0(w: usize, rb: usize, xq: usize, xrb: usize, T: i32, out: usize, rows: i32, r0: i32, r1: i32, n: i32, s: usize): void { matmulGroups(T_Q8_0, w, rb, xq, xrb, T, out, rows, r0, r1, n, s); }
function groupsQ4_Kx4(w: usize, rb: usize, xq: usize, xrb: usize, T: i32, out: usize, rows: i32, r0: i32, r1: i32, n: i32, s: usize): void { matmulGroups(T_Q4_KX4, w, rb, xq, xrb, T, out, rows, r0, r1, n, s); }
function groupsQ6_Kx4(w: usize, rb: usize, xq: usize, xrb: usize, T: i32, out: usize, rows: i32, r0: i32, r1: i32, n: i32, s: usize): void { matmulGroups(T_Q6_KX4, w, rb, xq, xrb, T, out, rows, r0, r1, n, s); }
function groupsQ4_0x4(w: usize, rb: usize, xq: usize, xrb: usize, T: i32, out: usize, rows: i32, r0: i32, r1: i32, n: i32, s: usize): void { matmulGroups(T_Q4_0X4, w, rb, xq, xrb, T, out, rows, r0, r1, n, s); }
function groupsQ4_0(w: usize, rb: usize, xq: usize, xrb: usize, T: i32, out: usize, rows: i32, r0: i32, r1: i32, n: i32, s: usize): void { matmulGroups(T_Q4_0, w, rb, xq, xrb, T, out, rows, r0, r1, n, s); }
function groupsQ4_1(w: usize, rb: usize, xq: usize, xrb: usize, T: i32, out: usize, rows: i32, r0: i32, r1: i32, n: i32, s: usize): void { matmulGroups(T_Q4_1, w, rb, xq, xrb, T, out, rows, r0, r1, n, s); }
function groupsQ5_0(w: usize, rb: usize, xq: usize, xrb: usize, T: i32, out: usize, rows: i32, r0: i32, r1: i32, n: i32, s: usize): void { matmulGroups(T_Q5_0, w, rb, xq, xrb, T, out, rows, r0, r1, n, s); }
function groupsQ5_1(w: usize, rb: usize, xq: usize, xrb: usize, T: i32, out: usize, rows: i32, r0: i32, r1: i32, n: i32, s: usize): void { matmulGroups(T_Q5_1, w, rb, xq, xrb, T, out, rows, r0, r1, n, s); }
function groupsQ4_K(w: usize, rb: usize, xq: usize, xrb: usize, T: i32, out: usize, rows: i32, r0: i32, r1: i32, n: i32, s: usize): void { matmulGroups(T_Q4_K, w, rb, xq, xrb, T, out, rows, r0, r1, n, s); }
function groupsQ5_K(w: usize, rb: usize, xq: usize, xrb: usize, T: i32, out: usize, rows: i32, r0: i32, r1: i32, n: i32, s: usize): void { matmulGroups(T_Q5_K, w, rb, xq, xrb, T, out, rows, r0, r1, n, s); }
function groupsQ6_K(w: usize, rb: usize, xq: usize, xrb: usize, T: i32, out: usize, rows: i32, r0: i32, r1: i32, n: i32, s: usize): void { matmulGroups(T_Q6_K, w, rb, xq, xrb, T, out, rows, r0, r1, n, s); }

/**
 * out[tok·rows + r] = vecDotQ8(t, row r, token tok) for rows r in [r0, r1) and all T tokens,
 * bit for bit. Weight rows are rowBytes apart; xq holds the T quantized activation rows
 * (xqRowBytes apart) followed by their packed copy, as quantizeActivations writes them.
 * scratch: this thread's scratch, at least max(4·n, 65536) bytes.
 */
export function matmulQ8(t: i32, w: usize, rowBytes: usize, xq: usize, xqRowBytes: usize, T: i32, out: usize, rows: i32, r0: i32, r1: i32, n: i32, scratch: usize): void {
  if (T < GROUP_MIN) { matmulFew(t, w, rowBytes, xq, xqRowBytes, T, out, rows, r0, r1, n, scratch); return; }
  if (ASC_FEATURE_RELAXED_SIMD && (t == T_Q4_0X4 || t == T_Q4_0)) {
    matmulQ4_0R(t, w, rowBytes, relaxedBase(xq, xqRowBytes, T, n), T, out, rows, r0, r1, n, scratch);
    return;
  }
  switch (t) {
    case T_Q8_0: groupsQ8_0(w, rowBytes, xq, xqRowBytes, T, out, rows, r0, r1, n, scratch); return;
    case T_Q4_0: groupsQ4_0(w, rowBytes, xq, xqRowBytes, T, out, rows, r0, r1, n, scratch); return;
    case T_Q4_0X4: groupsQ4_0x4(w, rowBytes, xq, xqRowBytes, T, out, rows, r0, r1, n, scratch); return;
    case T_Q6_KX4: groupsQ6_Kx4(w, rowBytes, xq, xqRowBytes, T, out, rows, r0, r1, n, scratch); return;
    case T_Q4_KX4: groupsQ4_Kx4(w, rowBytes, xq, xqRowBytes, T, out, rows, r0, r1, n, scratch); return;
    case T_Q4_1: groupsQ4_1(w, rowBytes, xq, xqRowBytes, T, out, rows, r0, r1, n, scratch); return;
    case T_Q5_0: groupsQ5_0(w, rowBytes, xq, xqRowBytes, T, out, rows, r0, r1, n, scratch); return;
    case T_Q5_1: groupsQ5_1(w, rowBytes, xq, xqRowBytes, T, out, rows, r0, r1, n, scratch); return;
    case T_Q4_K: groupsQ4_K(w, rowBytes, xq, xqRowBytes, T, out, rows, r0, r1, n, scratch); return;
    case T_Q5_K: groupsQ5_K(w, rowBytes, xq, xqRowBytes, T, out, rows, r0, r1, n, scratch); return;
    case T_Q6_K: groupsQ6_K(w, rowBytes, xq, xqRowBytes, T, out, rows, r0, r1, n, scratch); return;
  }
}
