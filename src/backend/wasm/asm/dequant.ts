// Block dequantizers: one ggml block (or super-block) → f32, written to `dst`.
// Layouts follow ggml (little-endian); see src/quant/ for the TypeScript versions they are
// tested against. Type codes match src/backend/wasm/dtype-codes.ts.

import { f16, f16x4 } from './f16';

export const T_F32: i32 = 0;
export const T_F16: i32 = 1;
export const T_BF16: i32 = 2;
export const T_Q8_0: i32 = 3;
export const T_Q4_0: i32 = 4;
export const T_Q4_1: i32 = 5;
export const T_Q5_0: i32 = 6;
export const T_Q5_1: i32 = 7;
export const T_Q4_K: i32 = 8;
export const T_Q5_K: i32 = 9;
export const T_Q6_K: i32 = 10;
import { T_Q4_0X4, T_Q6_KX4, T_Q4_KX4, blockQuants, blockScaleAddr, kStream, q6a, q6b, q6c, q6d } from './repack';

/** 8 f16 values (i16x8 lanes) → two f32x4 halves written to dst and dst+16. */
@inline function f16x8(src: usize, dst: usize): void {
  const h = v128.load(src);
  const lo = i32x4.extend_low_i16x8_u(h);
  const hi = i32x4.extend_high_i16x8_u(h);
  v128.store(dst, f16x4(lo));
  v128.store(dst + 16, f16x4(hi));
}
/** Elements per block of each type. */
export function blockElems(t: i32): i32 {
  if (t <= T_BF16) return 1;
  if ((t >= T_Q4_K && t <= T_Q6_K) || t == T_Q6_KX4 || t == T_Q4_KX4) return 256;
  return 32;
}
/** Bytes per block of each type. */
export function blockBytes(t: i32): i32 {
  switch (t) {
    case T_F32: return 4;
    case T_F16: return 2;
    case T_BF16: return 2;
    case T_Q8_0: return 34;
    case T_Q4_0: case T_Q4_0X4: return 18;
    case T_Q4_1: return 20;
    case T_Q5_0: return 22;
    case T_Q5_1: return 24;
    case T_Q4_K: case T_Q4_KX4: return 144;
    case T_Q5_K: return 176;
    case T_Q6_K: case T_Q6_KX4: return 210;
  }
  return 0;
}

// Widen 16 signed bytes to four f32x4 vectors, scale by d, store 16 floats.
@inline function storeI8x16(q: v128, d: v128, dst: usize): void {
  const lo = i16x8.extend_low_i8x16_s(q), hi = i16x8.extend_high_i8x16_s(q);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)), d));
  v128.store(dst + 16, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)), d));
  v128.store(dst + 32, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)), d));
  v128.store(dst + 48, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)), d));
}
// Same with an added offset m: q·d + m.
@inline function storeI8x16Affine(q: v128, d: v128, m: v128, dst: usize): void {
  const lo = i16x8.extend_low_i8x16_s(q), hi = i16x8.extend_high_i8x16_s(q);
  v128.store(dst, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)), d), m));
  v128.store(dst + 16, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)), d), m));
  v128.store(dst + 32, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)), d), m));
  v128.store(dst + 48, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)), d), m));
}

/** 16 quants in [0, 63] (bytes of q) as (q − 32)·scale, 16 floats at dst (as the Q6_K loop computes them). */
@inline function storeQ6(q: v128, scale: f32, dst: usize): void {
  storeI8x16(i8x16.sub(q, i8x16.splat(32)), f32x4.splat(scale), dst);
}

/** 16 quants in [0, 15] (bytes of q) as d·q − m, 16 floats at dst (as the Q4_K loop computes them). */
@inline function storeU4(q: v128, d: f32, m: f32, dst: usize): void {
  storeI8x16Affine(q, f32x4.splat(d), f32x4.splat(-m), dst);
}

/** Dequantizes n elements (whole blocks) of type t from src into f32 at dst. */
export function dequantRow(t: i32, src: usize, dst: usize, n: i32): void {
  switch (t) {
    case T_F32: memory.copy(dst, src, <usize>n << 2); return;
    case T_F16: {
      let i = 0;
      for (; i + 8 <= n; i += 8) f16x8(src + (<usize>i << 1), dst + (<usize>i << 2));
      for (; i < n; i++) store<f32>(dst + (<usize>i << 2), f16(load<u16>(src + (<usize>i << 1))));
      return;
    }
    case T_BF16: {
      let i = 0;
      for (; i + 8 <= n; i += 8) {
        const h = v128.load(src + (<usize>i << 1));
        v128.store(dst + (<usize>i << 2), v128.shl<i32>(i32x4.extend_low_i16x8_u(h), 16));
        v128.store(dst + (<usize>i << 2) + 16, v128.shl<i32>(i32x4.extend_high_i16x8_u(h), 16));
      }
      for (; i < n; i++) store<u32>(dst + (<usize>i << 2), (<u32>load<u16>(src + (<usize>i << 1))) << 16);
      return;
    }
    case T_Q8_0: {
      for (let b = 0; b < n / 32; b++) {
        const p = src + <usize>b * 34, o = dst + <usize>b * 128;
        const d = f32x4.splat(f16(load<u16>(p)));
        storeI8x16(v128.load(p + 2), d, o);
        storeI8x16(v128.load(p + 18), d, o + 64);
      }
      return;
    }
    case T_Q4_0: case T_Q4_0X4: {
      const lowMask = i8x16.splat(0x0f), eight = i8x16.splat(8), x4 = t == T_Q4_0X4;
      for (let b = 0; b < n / 32; b++) {
        const p = src + <usize>b * 18, o = dst + <usize>b * 128;
        const d = f32x4.splat(f16(load<u16>(x4 ? blockScaleAddr(src, b, n) : p)));
        const q = x4 ? blockQuants(src, b, n) : v128.load(p + 2);
        storeI8x16(i8x16.sub(v128.and(q, lowMask), eight), d, o);
        storeI8x16(i8x16.sub(i8x16.shr_u(q, 4), eight), d, o + 64);
      }
      return;
    }
    case T_Q4_1: {
      const lowMask = i8x16.splat(0x0f);
      for (let b = 0; b < n / 32; b++) {
        const p = src + <usize>b * 20, o = dst + <usize>b * 128;
        const d = f32x4.splat(f16(load<u16>(p))), m = f32x4.splat(f16(load<u16>(p + 2)));
        const q = v128.load(p + 4);
        storeI8x16Affine(v128.and(q, lowMask), d, m, o);
        storeI8x16Affine(i8x16.shr_u(q, 4), d, m, o + 64);
      }
      return;
    }
    case T_Q5_0:
    case T_Q5_1: {
      const affine = t == T_Q5_1;
      const bb: usize = affine ? 24 : 22;
      for (let b = 0; b < n / 32; b++) {
        const p = src + <usize>b * bb, o = dst + <usize>b * 128;
        const d = f16(load<u16>(p));
        const m: f32 = affine ? f16(load<u16>(p + 2)) : 0;
        const qhp = p + (affine ? 4 : 2);
        const qh = load<u32>(qhp);
        const qs = qhp + 4;
        for (let j = 0; j < 16; j++) {
          const byte = <u32>load<u8>(qs + j);
          const h0 = ((qh >> <u32>j) << 4) & 0x10;
          const h1 = (qh >> (<u32>j + 12)) & 0x10;
          const x0 = <i32>((byte & 0x0f) | h0) - (affine ? 0 : 16);
          const x1 = <i32>((byte >> 4) | h1) - (affine ? 0 : 16);
          store<f32>(o + (<usize>j << 2), <f32>x0 * d + m);
          store<f32>(o + (<usize>(j + 16) << 2), <f32>x1 * d + m);
        }
      }
      return;
    }
    case T_Q4_K: case T_Q4_KX4: {
      const lowMask = i8x16.splat(0x0f), x4 = t == T_Q4_KX4;
      for (let b = 0; b < n / 256; b++) {
        const p = src + <usize>b * 144;
        const d = f16(load<u16>(p)), dmin = f16(load<u16>(p + 2));
        const sc = p + 4;
        let o = dst + <usize>b * 1024;
        for (let j = 0; j < 4; j++) {
          const q = p + 16 + (<usize>j << 5);
          const c0 = x4 ? kStream(p + 16, j) : v128.load(q), c1 = x4 ? kStream(p + 80, j) : v128.load(q, 16);
          const d1 = d * <f32>scaleK4(sc, 2 * j), m1 = dmin * <f32>minK4(sc, 2 * j);
          const d2 = d * <f32>scaleK4(sc, 2 * j + 1), m2 = dmin * <f32>minK4(sc, 2 * j + 1);
          storeU4(v128.and(c0, lowMask), d1, m1, o);
          storeU4(v128.and(c1, lowMask), d1, m1, o + 64);
          storeU4(i8x16.shr_u(c0, 4), d2, m2, o + 128);
          storeU4(i8x16.shr_u(c1, 4), d2, m2, o + 192);
          o += 256;
        }
      }
      return;
    }
    case T_Q5_K: {
      for (let b = 0; b < n / 256; b++) {
        const p = src + <usize>b * 176;
        const d = f16(load<u16>(p)), dmin = f16(load<u16>(p + 2));
        const sc = p + 4, qh = p + 16;
        let ql = p + 48;
        let o = dst + <usize>b * 1024;
        let u1: u32 = 1, u2: u32 = 2;
        for (let is = 0; is < 8; is += 2) {
          const d1 = d * <f32>scaleK4(sc, is), m1 = dmin * <f32>minK4(sc, is);
          const d2 = d * <f32>scaleK4(sc, is + 1), m2 = dmin * <f32>minK4(sc, is + 1);
          for (let l = 0; l < 32; l++) {
            const byte = <u32>load<u8>(ql + l), h = <u32>load<u8>(qh + l);
            store<f32>(o + (<usize>l << 2), d1 * <f32>((byte & 0xf) + ((h & u1) != 0 ? 16 : 0)) - m1);
            store<f32>(o + 128 + (<usize>l << 2), d2 * <f32>((byte >> 4) + ((h & u2) != 0 ? 16 : 0)) - m2);
          }
          ql += 32; o += 256; u1 <<= 2; u2 <<= 2;
        }
      }
      return;
    }
    case T_Q6_K: case T_Q6_KX4: {
      const x4 = t == T_Q6_KX4;
      for (let b = 0; b < n / 256; b++) {
        const p = src + <usize>b * 210, o = dst + <usize>b * 1024;
        const d = f16(load<u16>(p + 208));
        for (let k = 0; k < 4; k++) {
          // pass k: half k >> 1, 16 columns from 16·(k & 1) (repack.ts)
          const ql = p + (<usize>(k >> 1) << 6) + (<usize>(k & 1) << 4), qh = p + 128 + (<usize>(k >> 1) << 5) + (<usize>(k & 1) << 4);
          const A = x4 ? kStream(p, k) : v128.load(ql), B = x4 ? kStream(p + 64, k) : v128.load(ql, 32), H = x4 ? kStream(p + 128, k) : v128.load(qh);
          const sb = ((k >> 1) << 3) + (k & 1); // sub-block of group 0; groups 1…3 are 2, 4, 6 further
          storeQ6(q6a(A, H), d * <f32>load<i8>(p + 192 + sb), o + (<usize>sb << 6));
          storeQ6(q6b(B, H), d * <f32>load<i8>(p + 194 + sb), o + (<usize>(sb + 2) << 6));
          storeQ6(q6c(A, H), d * <f32>load<i8>(p + 196 + sb), o + (<usize>(sb + 4) << 6));
          storeQ6(q6d(B, H), d * <f32>load<i8>(p + 198 + sb), o + (<usize>(sb + 6) << 6));
        }
      }
      return;
    }
  }
}

// K-quant 6-bit scale / min of sub-block j (ggml get_scale_min_k4).
@inline function scaleK4(q: usize, j: i32): u32 {
  return j < 4 ? <u32>load<u8>(q + j) & 63 : ((<u32>load<u8>(q + j + 4) & 0xf) | ((<u32>load<u8>(q + j - 4) >> 6) << 4));
}
@inline function minK4(q: usize, j: i32): u32 {
  return j < 4 ? <u32>load<u8>(q + j + 4) & 63 : ((<u32>load<u8>(q + j + 4) >> 4) | ((<u32>load<u8>(q + j) >> 6) << 4));
}
