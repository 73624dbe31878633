// Weight layouts repacked at load for the one-token integer dots (same bytes per row as stored):
//
// Q4_0x4: every four Q4_0 blocks (72 bytes) become
//   [d0 d1 d2 d3: f16 × 4][64 bytes of quants: chunk c (8 bytes) = bytes 2c, 2c+1 of blocks 0…3]
// so one widening load feeds one i32x4.dot_i16x8_s whose lane k sums block k: the four blocks'
// integer sums come out as one vector with no horizontal adds, and their scales are one 8-byte
// load. Blocks past the last whole group of four keep the Q4_0 layout.
//
// Q6_Kx4: in each Q6_K super-block the four 16-byte streams of low bits (ql) read by the four
// passes over the block, the four of the other ql half, and the four of high bits (qh) are each
// interleaved the same way (interleave4), so a dot's lane k sums a sub-block of stream k and the
// sixteen sub-block sums of a super-block come out in four vectors. Scales and d stay in place.
//
// Relaxed-SIMD builds interleave all three by four bytes instead of two (see below).
//
// Q4_Kx4: the four 32-byte quant streams of a Q4_K super-block interleaved likewise (two halves),
// so dot lanes are the four even sub-blocks (low nibbles) or the four odd ones (high nibbles).
import { transpose4 } from './lanes';

export const T_Q4_0X4: i32 = 11;

/** Bytes of a group of four blocks. */
export const GROUP_BYTES: usize = 72;

/** Repacks `rows` Q4_0 rows of n elements (rowBytes apart) in place. */
export function repackQ4_0x4(w: usize, rows: i32, rowBytes: usize, n: i32): void {
  const groups = n >> 7;
  for (let r = 0; r < rows; r++) {
    const row = w + <usize>r * rowBytes;
    for (let g = 0; g < groups; g++) {
      const p = row + <usize>g * GROUP_BYTES;
      const d0 = load<u16>(p), d1 = load<u16>(p, 18), d2 = load<u16>(p, 36), d3 = load<u16>(p, 54);
      const q0 = v128.load(p, 2), q1 = v128.load(p, 20), q2 = v128.load(p, 38), q3 = v128.load(p, 56);
      // i16 lane h of q_k holds bytes 2h, 2h + 1 of block k: interleave the four blocks' lanes.
      store<u16>(p, d0); store<u16>(p, d1, 2); store<u16>(p, d2, 4); store<u16>(p, d3, 6);
      if (ASC_FEATURE_RELAXED_SIMD) transpose4(q0, q1, q2, q3, p + 8);
      else interleave4(q0, q1, q2, q3, p + 8);
    }
  }
}

/** The 16 quant bytes of block k (0…3) of the group at p, in Q4_0 order. */
export function groupQuants(p: usize, k: i32): v128 {
  return ASC_FEATURE_RELAXED_SIMD ? detranspose4(p + 8, k) : deinterleave4(p + 8, k);
}

/**
 * Stream k (0…3) of 64 interleaved bytes of a Q6_Kx4 super-block (ql, ql + 64 or qh) or a
 * Q4_Kx4 one (either half of the quants) at p.
 */
export function kStream(p: usize, k: i32): v128 {
  return ASC_FEATURE_RELAXED_SIMD ? detranspose4(p, k) : deinterleave4(p, k);
}

// Relaxed builds lay Q4_0x4, Q6_Kx4 and Q4_Kx4 quants out by four bytes, not two (vector i =
// bytes 4i…4i+3 of streams 0…3), the unit of one lane of a relaxed i8 dot.

/** Stream k (0…3) of the 64 bytes at p (the inverse of transpose4). */
function detranspose4(p: usize, k: i32): v128 {
  const o0 = v128.load(p), o1 = v128.load(p, 16), o2 = v128.load(p, 32), o3 = v128.load(p, 48);
  switch (k) {
    case 0: return i64x2.shuffle(i32x4.shuffle(o0, o1, 0, 4, 0, 4), i32x4.shuffle(o2, o3, 0, 4, 0, 4), 0, 2);
    case 1: return i64x2.shuffle(i32x4.shuffle(o0, o1, 1, 5, 1, 5), i32x4.shuffle(o2, o3, 1, 5, 1, 5), 0, 2);
    case 2: return i64x2.shuffle(i32x4.shuffle(o0, o1, 2, 6, 2, 6), i32x4.shuffle(o2, o3, 2, 6, 2, 6), 0, 2);
    default: return i64x2.shuffle(i32x4.shuffle(o0, o1, 3, 7, 3, 7), i32x4.shuffle(o2, o3, 3, 7, 3, 7), 0, 2);
  }
}

/**
 * Interleaves four 16-byte streams into 64 bytes at dst: i16 lane h of stream k goes to lane k of
 * vector h >> 1, in its first half for even h, its second for odd h.
 */
@inline function interleave4(q0: v128, q1: v128, q2: v128, q3: v128, dst: usize): void {
  const a = i16x8.shuffle(q0, q1, 0, 8, 1, 9, 2, 10, 3, 11), b = i16x8.shuffle(q2, q3, 0, 8, 1, 9, 2, 10, 3, 11);
  const c = i16x8.shuffle(q0, q1, 4, 12, 5, 13, 6, 14, 7, 15), e = i16x8.shuffle(q2, q3, 4, 12, 5, 13, 6, 14, 7, 15);
  v128.store(dst, i32x4.shuffle(a, b, 0, 4, 1, 5));
  v128.store(dst, i32x4.shuffle(a, b, 2, 6, 3, 7), 16);
  v128.store(dst, i32x4.shuffle(c, e, 0, 4, 1, 5), 32);
  v128.store(dst, i32x4.shuffle(c, e, 2, 6, 3, 7), 48);
}

/** Stream k (0…3) of the 64 interleaved bytes at p (the inverse of interleave4). */
function deinterleave4(p: usize, k: i32): v128 {
  const o0 = v128.load(p), o1 = v128.load(p, 16), o2 = v128.load(p, 32), o3 = v128.load(p, 48);
  let u: v128, v: v128;
  switch (k) {
    case 0: u = i16x8.shuffle(o0, o1, 0, 4, 8, 12, 0, 4, 8, 12); v = i16x8.shuffle(o2, o3, 0, 4, 8, 12, 0, 4, 8, 12); break;
    case 1: u = i16x8.shuffle(o0, o1, 1, 5, 9, 13, 1, 5, 9, 13); v = i16x8.shuffle(o2, o3, 1, 5, 9, 13, 1, 5, 9, 13); break;
    case 2: u = i16x8.shuffle(o0, o1, 2, 6, 10, 14, 2, 6, 10, 14); v = i16x8.shuffle(o2, o3, 2, 6, 10, 14, 2, 6, 10, 14); break;
    default: u = i16x8.shuffle(o0, o1, 3, 7, 11, 15, 3, 7, 11, 15); v = i16x8.shuffle(o2, o3, 3, 7, 11, 15, 3, 7, 11, 15);
  }
  return i64x2.shuffle(u, v, 0, 2);
}

export const T_Q6_KX4: i32 = 12;
export const T_Q4_KX4: i32 = 13;

/**
 * Repacks `rows` Q4_K rows of n elements in place (Q4_Kx4): a super-block's 128 quant bytes are
 * four 32-byte streams j (low nibbles: sub-block 2j, high: 2j + 1); their first halves are
 * interleaved into bytes 16…80, their second halves into 80…144. Scales and d, dmin stay.
 */
export function repackQ4_Kx4(w: usize, rows: i32, rowBytes: usize, n: i32): void {
  const blocks = n >> 8;
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < blocks; i++) {
      const p = w + <usize>r * rowBytes + <usize>i * 144;
      const a0 = v128.load(p, 16), a1 = v128.load(p, 48), a2 = v128.load(p, 80), a3 = v128.load(p, 112);
      const b0 = v128.load(p, 32), b1 = v128.load(p, 64), b2 = v128.load(p, 96), b3 = v128.load(p, 128);
      if (ASC_FEATURE_RELAXED_SIMD) {
        transpose4(a0, a1, a2, a3, p + 16);
        transpose4(b0, b1, b2, b3, p + 80);
      } else {
        interleave4(a0, a1, a2, a3, p + 16);
        interleave4(b0, b1, b2, b3, p + 80);
      }
    }
  }
}

/**
 * Repacks `rows` Q6_K rows of n elements in place. Stream k of a super-block is pass k of the
 * Q6_K dot: half h = k >> 1, columns c = 16·(k & 1): ql at 64h + c and 64h + 32 + c, qh at 128 + 32h + c.
 */
export function repackQ6_Kx4(w: usize, rows: i32, rowBytes: usize, n: i32): void {
  const blocks = n >> 8;
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < blocks; i++) {
      const p = w + <usize>r * rowBytes + <usize>i * 210;
      const a0 = v128.load(p), a1 = v128.load(p, 16), a2 = v128.load(p, 64), a3 = v128.load(p, 80);
      const b0 = v128.load(p, 32), b1 = v128.load(p, 48), b2 = v128.load(p, 96), b3 = v128.load(p, 112);
      const h0 = v128.load(p, 128), h1 = v128.load(p, 144), h2 = v128.load(p, 160), h3 = v128.load(p, 176);
      if (ASC_FEATURE_RELAXED_SIMD) {
        transpose4(a0, a1, a2, a3, p);
        transpose4(b0, b1, b2, b3, p + 64);
        transpose4(h0, h1, h2, h3, p + 128);
      } else {
        interleave4(a0, a1, a2, a3, p);
        interleave4(b0, b1, b2, b3, p + 64);
        interleave4(h0, h1, h2, h3, p + 128);
      }
    }
  }
}

/** Where block b of a Q4_0x4 row starts being described: its scale's address and its quants. */
@inline export function blockScaleAddr(row: usize, b: i32, n: i32): usize {
  const g = b >> 2;
  return g < (n >> 7) ? row + <usize>g * GROUP_BYTES + (<usize>(b & 3) << 1) : row + <usize>b * 18;
}
@inline export function blockQuants(row: usize, b: i32, n: i32): v128 {
  const g = b >> 2;
  return g < (n >> 7) ? groupQuants(row + <usize>g * GROUP_BYTES, b & 3) : v128.load(row + <usize>b * 18, 2);
}

const M0F = i8x16.splat(0x0f);
const M30 = i8x16.splat(0x30);

// Q6_K 6-bit quants of one 16-byte group of ql / ql + 32 / qh, as bytes in [0, 63] (i16 shifts
// move bits across bytes; the masks drop them). Byte-wise, so they read Q6_Kx4 streams as well.
@inline export function q6a(ql: v128, qh: v128): v128 { return v128.or(v128.and(ql, M0F), v128.and(i16x8.shl(qh, 4), M30)); }
@inline export function q6b(ql: v128, qh: v128): v128 { return v128.or(v128.and(ql, M0F), v128.and(i16x8.shl(qh, 2), M30)); }
@inline export function q6c(ql: v128, qh: v128): v128 { return v128.or(v128.and(i16x8.shr_u(ql, 4), M0F), v128.and(qh, M30)); }
@inline export function q6d(ql: v128, qh: v128): v128 { return v128.or(v128.and(i16x8.shr_u(ql, 4), M0F), v128.and(i16x8.shr_u(qh, 2), M30)); }
