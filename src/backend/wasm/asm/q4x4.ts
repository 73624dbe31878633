// Q4_0 rows repacked at load for the one-token integer dot (internal type Q4_0x4, the same size
// as Q4_0). Every four blocks (72 bytes) become
//   [d0 d1 d2 d3: f16 × 4][64 bytes of quants: chunk c (8 bytes) = bytes 2c, 2c+1 of blocks 0…3]
// so one widening load feeds one i32x4.dot_i16x8_s whose lane k sums block k: the four blocks'
// integer sums come out as one vector with no horizontal adds, and their scales are one 8-byte
// load. Blocks past the last whole group of four keep the Q4_0 layout.

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
      const a = i16x8.shuffle(q0, q1, 0, 8, 1, 9, 2, 10, 3, 11), b = i16x8.shuffle(q2, q3, 0, 8, 1, 9, 2, 10, 3, 11);
      const c = i16x8.shuffle(q0, q1, 4, 12, 5, 13, 6, 14, 7, 15), e = i16x8.shuffle(q2, q3, 4, 12, 5, 13, 6, 14, 7, 15);
      store<u16>(p, d0); store<u16>(p, d1, 2); store<u16>(p, d2, 4); store<u16>(p, d3, 6);
      v128.store(p, i32x4.shuffle(a, b, 0, 4, 1, 5), 8);
      v128.store(p, i32x4.shuffle(a, b, 2, 6, 3, 7), 24);
      v128.store(p, i32x4.shuffle(c, e, 0, 4, 1, 5), 40);
      v128.store(p, i32x4.shuffle(c, e, 2, 6, 3, 7), 56);
    }
  }
}

/** The 16 quant bytes of block k (0…3) of the group at p, in Q4_0 order. */
export function groupQuants(p: usize, k: i32): v128 {
  const o0 = v128.load(p, 8), o1 = v128.load(p, 24), o2 = v128.load(p, 40), o3 = v128.load(p, 56);
  let u: v128, v: v128;
  switch (k) {
    case 0: u = i16x8.shuffle(o0, o1, 0, 4, 8, 12, 0, 4, 8, 12); v = i16x8.shuffle(o2, o3, 0, 4, 8, 12, 0, 4, 8, 12); break;
    case 1: u = i16x8.shuffle(o0, o1, 1, 5, 9, 13, 1, 5, 9, 13); v = i16x8.shuffle(o2, o3, 1, 5, 9, 13, 1, 5, 9, 13); break;
    case 2: u = i16x8.shuffle(o0, o1, 2, 6, 10, 14, 2, 6, 10, 14); v = i16x8.shuffle(o2, o3, 2, 6, 10, 14, 2, 6, 10, 14); break;
    default: u = i16x8.shuffle(o0, o1, 3, 7, 11, 15, 3, 7, 11, 15); v = i16x8.shuffle(o2, o3, 3, 7, 11, 15, 3, 7, 11, 15);
  }
  return i64x2.shuffle(u, v, 0, 2);
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
