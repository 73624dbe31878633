// WebAssembly SIMD kernels of the wasm backend. Every pointer is a byte address in the one
// shared memory; each call works on a slice [r0, r1) so that worker threads can split it.
import { dequantRow, T_F32 } from './dequant';
export { dequantRow, blockBytes, blockElems } from './dequant';

@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/** Σ a[i]·b[i] over n floats (two accumulators, scalar tail). */
@inline function dot(a: usize, b: usize, n: i32): f32 {
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const o = <usize>i << 2;
    acc0 = f32x4.add(acc0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
    acc1 = f32x4.add(acc1, f32x4.mul(v128.load(a + o + 16), v128.load(b + o + 16)));
  }
  let s = hsum(f32x4.add(acc0, acc1));
  for (; i < n; i++) s += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  return s;
}

/**
 * out[t, r] = Σ_c x[t, c] · W[r, c] for rows r in [r0, r1) and all T tokens. W rows are stored
 * in type `t` (rowBytes apart) and decoded once into `scratch`, then reused for every token;
 * four tokens at a time share each load of the decoded row.
 */
export function matmul(t: i32, w: usize, rowBytes: usize, x: usize, T: i32, cols: i32, out: usize, rows: i32, r0: i32, r1: i32, scratch: usize): void {
  const xStride = <usize>cols << 2;
  const oStride = <usize>rows << 2;
  const vecEnd = cols & ~3;
  for (let r = r0; r < r1; r++) {
    let row = w + <usize>r * rowBytes;
    if (t != T_F32) { dequantRow(t, row, scratch, cols); row = scratch; }
    const o = out + (<usize>r << 2);
    let tok = 0;
    for (; tok + 4 <= T; tok += 4) {
      const x0 = x + <usize>tok * xStride, x1 = x0 + xStride, x2 = x1 + xStride, x3 = x2 + xStride;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let c = 0; c < vecEnd; c += 4) {
        const off = <usize>c << 2;
        const wv = v128.load(row + off);
        a0 = f32x4.add(a0, f32x4.mul(wv, v128.load(x0 + off)));
        a1 = f32x4.add(a1, f32x4.mul(wv, v128.load(x1 + off)));
        a2 = f32x4.add(a2, f32x4.mul(wv, v128.load(x2 + off)));
        a3 = f32x4.add(a3, f32x4.mul(wv, v128.load(x3 + off)));
      }
      let s0 = hsum(a0), s1 = hsum(a1), s2 = hsum(a2), s3 = hsum(a3);
      for (let c = vecEnd; c < cols; c++) {
        const wc = load<f32>(row + (<usize>c << 2)), off = <usize>c << 2;
        s0 += wc * load<f32>(x0 + off); s1 += wc * load<f32>(x1 + off);
        s2 += wc * load<f32>(x2 + off); s3 += wc * load<f32>(x3 + off);
      }
      store<f32>(o + <usize>tok * oStride, s0);
      store<f32>(o + <usize>(tok + 1) * oStride, s1);
      store<f32>(o + <usize>(tok + 2) * oStride, s2);
      store<f32>(o + <usize>(tok + 3) * oStride, s3);
    }
    for (; tok < T; tok++) store<f32>(o + <usize>tok * oStride, dot(row, x + <usize>tok * xStride, cols));
  }
}

/**
 * Causal attention for the (token, head) pairs p in [p0, p1), p = t·H + h. q/out are
 * [T, H, d], k/v are [rows, Hkv, d]; token t sees cache rows [keyStart[t], keyEnd[t]) (i32
 * arrays). `scores` is this thread's scratch of at least max(keyEnd − keyStart) floats.
 */
export function attention(q: usize, k: usize, v: usize, out: usize, H: i32, Hkv: i32, d: i32, keyStart: usize, keyEnd: usize, scale: f32, p0: i32, p1: i32, scores: usize): void {
  const group = H / Hkv;
  const kvStride = <usize>(Hkv * d) << 2;
  const dBytes = <usize>d << 2;
  for (let p = p0; p < p1; p++) {
    const t = p / H, h = p % H, kvh = h / group;
    const qp = q + <usize>p * dBytes;
    const s0 = load<i32>(keyStart + (<usize>t << 2)), s1 = load<i32>(keyEnd + (<usize>t << 2));
    const kb = k + <usize>kvh * dBytes, vb = v + <usize>kvh * dBytes;
    let max: f32 = -Infinity;
    for (let s = s0; s < s1; s++) {
      const sc = dot(qp, kb + <usize>s * kvStride, d) * scale;
      store<f32>(scores + (<usize>(s - s0) << 2), sc);
      if (sc > max) max = sc;
    }
    let sum: f32 = 0;
    for (let s = s0; s < s1; s++) {
      const e = Mathf.exp(load<f32>(scores + (<usize>(s - s0) << 2)) - max);
      store<f32>(scores + (<usize>(s - s0) << 2), e);
      sum += e;
    }
    const op = out + <usize>p * dBytes;
    memory.fill(op, 0, dBytes);
    for (let s = s0; s < s1; s++) {
      const wv = f32x4.splat(load<f32>(scores + (<usize>(s - s0) << 2)));
      const vp = vb + <usize>s * kvStride;
      for (let i = 0; i < d; i += 4) {
        const off = <usize>i << 2;
        v128.store(op + off, f32x4.add(v128.load(op + off), f32x4.mul(wv, v128.load(vp + off))));
      }
    }
    const inv = f32x4.splat(1 / sum);
    for (let i = 0; i < d; i += 4) {
      const off = <usize>i << 2;
      v128.store(op + off, f32x4.mul(v128.load(op + off), inv));
    }
  }
}

// Integer fast path (llama.cpp's): activations quantized to Q8_0 / Q8_1 / Q8_K, integer dots.
export { quantizeQ8_0, quantizeQ8_1, quantizeQ8_K, quantizeActivations, q8RowBytes, q8ActivationBytes, q8FormatFor, vecDotQ8, matmulQ8 } from './q8';
export { siluMul, rmsNorm } from './elementwise';
export { repackQ4_0x4, repackQ6_Kx4, repackQ4_Kx4 } from './repack';
export { relaxedSelfTest } from './relaxed';
