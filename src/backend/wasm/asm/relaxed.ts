// Relaxed-SIMD kernels (compiled into kernels-relaxed.wasm only; kernels.ts picks that build where
// the engine compiles it and gets its self-test right). Their one new instruction is
// i32x4.relaxed_dot_i8x16_i7x16_add_s(a, b, c): 16 products of a signed byte of a and a byte of b
// below 128, summed four by four into c's lanes — one AVX-VNNI vpdpbusd on x86, sixteen
// multiply-adds in one instruction where the baseline kernels need two instructions for eight.
// Every operand b is a weight quant in [0, 63], so the result is exact and the same on every
// engine; the sums are the integers the baseline kernels compute, so results stay bit for bit
// theirs. This file holds the Q4_0 prefill GEMM and the self-test; the one-token row dots
// (rowDotQ4_0x4R, rowDotQ4_Kx4R, the relaxed branch of rowDotQ6_Kx4) sit in q8.ts beside the
// kernels they mirror.
import { blockQuants, blockScaleAddr, T_Q4_0X4 } from './repack';
import { f16 } from './f16';
import { loadSums, storeSums, transpose4 } from './lanes';

const LOW4B = i8x16.splat(0x0f);
/** Record of one block of four unpacked rows: [row 0: 32 × u8][row 1][row 2][row 3][d × 4: f32]. */
export const WREC_R: usize = 144;
/** Record of one block of a four-token group: [8 × (4 bytes of each token)][d × 4: f32][8·Σq × 4: i32]. */
export const RS_R: usize = 160;

/**
 * The relaxed copy of four tokens' Q8_0 blocks (token rows x0…x3, 34-byte blocks; a missing
 * token is passed as null = 0 and reads as zeros) for block b at rec: vector v holds elements
 * 4v…4v+3 of each token (lanes = tokens), then the four d, then 8·Σq per token.
 */
export function packGroupQ8_0R(x0: usize, x1: usize, x2: usize, x3: usize, o: usize, rec: usize): void {
  const z = i32x4.splat(0);
  const a0 = v128.load(x0 + o, 2), b0 = v128.load(x0 + o, 18);
  const a1 = x1 ? v128.load(x1 + o, 2) : z, b1 = x1 ? v128.load(x1 + o, 18) : z;
  const a2 = x2 ? v128.load(x2 + o, 2) : z, b2 = x2 ? v128.load(x2 + o, 18) : z;
  const a3 = x3 ? v128.load(x3 + o, 2) : z, b3 = x3 ? v128.load(x3 + o, 18) : z;
  transpose4(a0, a1, a2, a3, rec);
  transpose4(b0, b1, b2, b3, rec + 64);
  store<f32>(rec, f16(load<u16>(x0 + o)), 128);
  store<f32>(rec, x1 ? f16(load<u16>(x1 + o)) : 0, 132);
  store<f32>(rec, x2 ? f16(load<u16>(x2 + o)) : 0, 136);
  store<f32>(rec, x3 ? f16(load<u16>(x3 + o)) : 0, 140);
  v128.store(rec, i32x4.shl(i32x4.add(sum4(a0, a1, a2, a3), sum4(b0, b1, b2, b3)), 3), 144);
}

/** Lane k: the sum of the 16 signed bytes of the k-th argument (one token's or block's quants). */
@inline function sum4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const h0 = i32x4.extadd_pairwise_i16x8_s(i16x8.extadd_pairwise_i8x16_s(a0));
  const h1 = i32x4.extadd_pairwise_i16x8_s(i16x8.extadd_pairwise_i8x16_s(a1));
  const h2 = i32x4.extadd_pairwise_i16x8_s(i16x8.extadd_pairwise_i8x16_s(a2));
  const h3 = i32x4.extadd_pairwise_i16x8_s(i16x8.extadd_pairwise_i8x16_s(a3));
  // lane sums of h0…h3 as one vector
  const t0 = i32x4.add(i32x4.shuffle(h0, h1, 0, 2, 4, 6), i32x4.shuffle(h0, h1, 1, 3, 5, 7));
  const t1 = i32x4.add(i32x4.shuffle(h2, h3, 0, 2, 4, 6), i32x4.shuffle(h2, h3, 1, 3, 5, 7));
  return i32x4.add(i32x4.shuffle(t0, t1, 0, 2, 4, 6), i32x4.shuffle(t0, t1, 1, 3, 5, 7));
}

/** Unpacks blocks [b0, b1) of one Q4_0 / Q4_0x4 row into records at dst, slot 0…3: quants in [0, 15] in element order. */
export function widenQ4_0R(t: i32, row: usize, b0: i32, b1: i32, dst: usize, slot: usize, n: i32): void {
  for (let b = b0; b < b1; b++) {
    const rec = dst + <usize>(b - b0) * WREC_R, d = rec + (slot << 5);
    const x4 = t == T_Q4_0X4;
    const q = x4 ? blockQuants(row, b, n) : v128.load(row + <usize>b * 18, 2);
    store<f32>(rec + (slot << 2), f16(load<u16>(x4 ? blockScaleAddr(row, b, n) : row + <usize>b * 18)), 128);
    v128.store(d, v128.and(q, LOW4B));
    v128.store(d, v128.and(i16x8.shr_u(q, 4), LOW4B), 16);
  }
}

/** ggml's Q4_0 block term, (isum·d_w)·d_x, for four tokens; isum = Σ q·a − 8·Σa. */
@inline function term(f: v128, acc: v128, s8: v128, dw: v128, dx: v128): v128 {
  return f32x4.add(f, f32x4.mul(f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(acc, s8)), dw), dx));
}

// A pass of its own rather than a branch in q8.ts's groupPass: folded into groupPass it measured
// 5–8 % slower (same inner loop in V8's code; the larger function placed differently).
/**
 * Blocks [c0, c1) of four unpacked rows (records at ws) against one or two token groups (records
 * at xa and xa + RS_R), block records bs bytes apart: the float sums (lanes = tokens) start from
 * out when c0 > 0 and are stored back there.
 */
@inline function passQ4_0R(dual: bool, ws: usize, xa: usize, bs: usize, c0: i32, c1: i32, o: usize, os: usize, nr: i32, nv0: i32, nv1: i32): void {
  const o1 = o + (os << 2);
  let f00 = loadSums(c0, o, os, nr, nv0), f10 = loadSums(c0, o + 4, os, nr - 1, nv0);
  let f20 = loadSums(c0, o + 8, os, nr - 2, nv0), f30 = loadSums(c0, o + 12, os, nr - 3, nv0);
  let f01 = f32x4.splat(0), f11 = f32x4.splat(0), f21 = f32x4.splat(0), f31 = f32x4.splat(0);
  if (dual) {
    f01 = loadSums(c0, o1, os, nr, nv1); f11 = loadSums(c0, o1 + 4, os, nr - 1, nv1);
    f21 = loadSums(c0, o1 + 8, os, nr - 2, nv1); f31 = loadSums(c0, o1 + 12, os, nr - 3, nv1);
  }
  let wp = ws, pa = xa;
  for (let b = c0; b < c1; b++) {
    let a00 = i32x4.splat(0), a10 = i32x4.splat(0), a20 = i32x4.splat(0), a30 = i32x4.splat(0);
    let a01 = i32x4.splat(0), a11 = i32x4.splat(0), a21 = i32x4.splat(0), a31 = i32x4.splat(0);
    // four elements per step: four weight splats, one or two activation vectors
    const end = wp + 32;
    do {
      const v0 = v128.load(pa), v1 = dual ? v128.load(pa, RS_R) : v0;
      let s = v128.load32_splat(wp);
      a00 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v0, s, a00); if (dual) a01 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v1, s, a01);
      s = v128.load32_splat(wp, 32);
      a10 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v0, s, a10); if (dual) a11 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v1, s, a11);
      s = v128.load32_splat(wp, 64);
      a20 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v0, s, a20); if (dual) a21 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v1, s, a21);
      s = v128.load32_splat(wp, 96);
      a30 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v0, s, a30); if (dual) a31 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v1, s, a31);
      wp += 4; pa += 16;
    } while (wp < end);
    // wp is at the record + 32 (its scales at + 128), pa at the first group's d
    const dw0 = v128.load32_splat(wp, 96), dw1 = v128.load32_splat(wp, 100), dw2 = v128.load32_splat(wp, 104), dw3 = v128.load32_splat(wp, 108);
    const dx0 = v128.load(pa), s0 = v128.load(pa, 16);
    f00 = term(f00, a00, s0, dw0, dx0); f10 = term(f10, a10, s0, dw1, dx0);
    f20 = term(f20, a20, s0, dw2, dx0); f30 = term(f30, a30, s0, dw3, dx0);
    if (dual) {
      const dx1 = v128.load(pa, RS_R), s1 = v128.load(pa, RS_R + 16);
      f01 = term(f01, a01, s1, dw0, dx1); f11 = term(f11, a11, s1, dw1, dx1);
      f21 = term(f21, a21, s1, dw2, dx1); f31 = term(f31, a31, s1, dw3, dx1);
    }
    wp += WREC_R - 32; pa += bs - 128;
  }
  storeSums(o, os, f00, nr, nv0); storeSums(o + 4, os, f10, nr - 1, nv0);
  storeSums(o + 8, os, f20, nr - 2, nv0); storeSums(o + 12, os, f30, nr - 3, nv0);
  if (dual) {
    storeSums(o1, os, f01, nr, nv1); storeSums(o1 + 4, os, f11, nr - 1, nv1);
    storeSums(o1 + 8, os, f21, nr - 2, nv1); storeSums(o1 + 12, os, f31, nr - 3, nv1);
  }
}
function passTwoR(ws: usize, xa: usize, bs: usize, c0: i32, c1: i32, o: usize, os: usize, nr: i32, nv0: i32, nv1: i32): void {
  passQ4_0R(true, ws, xa, bs, c0, c1, o, os, nr, nv0, nv1);
}
function passOneR(ws: usize, xa: usize, bs: usize, c0: i32, c1: i32, o: usize, os: usize, nr: i32, nv0: i32): void {
  passQ4_0R(false, ws, xa, bs, c0, c1, o, os, nr, nv0, 0);
}

/**
 * Rows [r0, r1) × T tokens of a Q4_0 / Q4_0x4 matrix against the relaxed group records at xr
 * (G = ⌈T/4⌉ groups, record of block b and group g at (b·G + g)·RS_R): four rows at a time are
 * unpacked into scratch, a chunk of blocks at a time, then run against every pair of groups.
 */
export function matmulQ4_0R(t: i32, w: usize, rowBytes: usize, xr: usize, T: i32, out: usize, rows: i32, r0: i32, r1: i32, n: i32, scratch: usize): void {
  const blocks = n >> 5;
  const G = (T + 3) >> 2, os = <usize>rows << 2;
  const bs = <usize>G * RS_R;
  const budget = max<usize>(<usize>n << 2, 65536);
  const chunk = min<i32>(blocks, <i32>(budget / WREC_R));
  for (let r = r0; r < r1; r += 4) {
    const nr = min(4, r1 - r);
    const row0 = w + <usize>r * rowBytes;
    for (let c0 = 0; c0 < blocks; c0 += chunk) {
      const c1 = min(blocks, c0 + chunk);
      for (let i = 0; i < 4; i++) widenQ4_0R(t, row0 + <usize>min(i, nr - 1) * rowBytes, c0, c1, scratch, <usize>i, n);
      for (let g = 0; g < G; g += 2) {
        const xa = xr + (<usize>c0 * <usize>G + <usize>g) * RS_R;
        const o = out + <usize>(g << 2) * os + (<usize>r << 2);
        const nv0 = min(4, T - (g << 2)), nv1 = min(4, T - (g << 2) - 4);
        if (g + 1 < G) passTwoR(scratch, xa, bs, c0, c1, o, os, nr, nv0, nv1);
        else passOneR(scratch, xa, bs, c0, c1, o, os, nr, nv0);
      }
    }
  }
}

// Self-test operands (a: signed bytes, b: bytes below 128), then room for the result.
const PROBE = memory.data<i8>([-128, -1, 127, 5, 64, -64, 3, -3, 100, -100, 1, 0, -7, 7, 42, -42,
  15, 0, 9, 1, 15, 15, 2, 14, 0, 3, 8, 11, 15, 6, 4, 13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 16);

/**
 * 1 when this build's relaxed dot gives the exact sums its kernels rely on (always 1 without
 * relaxed SIMD): some engines have computed it wrongly, in their baseline compiler at least.
 */
export function relaxedSelfTest(): i32 {
  if (!ASC_FEATURE_RELAXED_SIMD) return 1;
  v128.store(PROBE, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(PROBE), v128.load(PROBE, 16), i32x4.splat(1000)), 32);
  for (let k = 0; k < 4; k++) {
    let want: i32 = 1000;
    for (let j = 0; j < 4; j++) want += <i32>load<i8>(PROBE + 4 * k + j) * <i32>load<u8>(PROBE + 16 + 4 * k + j);
    if (load<i32>(PROBE + 32 + 4 * k) != want) return 0;
  }
  return 1;
}
