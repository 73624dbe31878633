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

/** The four lane sums of a, b, c, d as one vector. */
@inline function hsum4f(a: v128, b: v128, c: v128, d: v128): v128 {
  const t0 = f32x4.add(i32x4.shuffle(a, b, 0, 4, 1, 5), i32x4.shuffle(a, b, 2, 6, 3, 7));
  const t1 = f32x4.add(i32x4.shuffle(c, d, 0, 4, 1, 5), i32x4.shuffle(c, d, 2, 6, 3, 7));
  return f32x4.add(i32x4.shuffle(t0, t1, 0, 1, 4, 5), i32x4.shuffle(t0, t1, 2, 3, 6, 7));
}

/** Keys per block of the value pass: their value rows stay in L1 while each head of the group sums them. */
const VALUE_BLOCK = 64;

/**
 * Causal attention for the (token, KV head) pairs p in [p0, p1), p = t·Hkv + g: the H / Hkv query
 * heads that share KV head g run together, so each key and value row is read from memory once
 * for all of them (not once per head; at long contexts attention is bound by those reads).
 * q/out are [T, H, d], k/v are [rows, Hkv, d] (d a multiple of 4); token t sees cache rows
 * [keyStart[t], keyEnd[t]) (i32 arrays). `scores` is this thread's scratch of at least
 * (H / Hkv)·(max(keyEnd − keyStart) + 1) floats. Scores are taken four keys at a time (one q load
 * serves four keys, one transposing sum for four); the weighted sums of values go block by block
 * of keys, eight output vectors at a time in registers.
 */
export function attention(q: usize, k: usize, v: usize, out: usize, H: i32, Hkv: i32, d: i32, keyStart: usize, keyEnd: usize, scale: f32, p0: i32, p1: i32, scores: usize): void {
  const group = H / Hkv;
  const kvStride = <usize>(Hkv * d) << 2;
  const dBytes = <usize>d << 2;
  const sv = f32x4.splat(scale);
  for (let p = p0; p < p1; p++) {
    const t = p / Hkv, g = p % Hkv;
    const s0 = load<i32>(keyStart + (<usize>t << 2)), s1 = load<i32>(keyEnd + (<usize>t << 2));
    const n = s1 - s0;
    const kb = k + <usize>g * dBytes + <usize>s0 * kvStride, vb = v + <usize>g * dBytes + <usize>s0 * kvStride;
    const q0 = q + (<usize>t * <usize>H + <usize>(g * group)) * dBytes, o0 = out + (q0 - q);
    const rowBytes = <usize>n << 2; // one head's scores
    const inv = scores + <usize>group * rowBytes; // 1 / Σ e per head
    // Scores: each block of four key rows serves every head of the group.
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const k0 = kb + <usize>j * kvStride, k1 = k0 + kvStride, k2 = k1 + kvStride, k3 = k2 + kvStride;
      for (let h = 0; h < group; h++) {
        const qp = q0 + <usize>h * dBytes;
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
        for (let i: usize = 0; i < dBytes; i += 16) {
          const qv = v128.load(qp + i);
          a0 = f32x4.add(a0, f32x4.mul(qv, v128.load(k0 + i)));
          a1 = f32x4.add(a1, f32x4.mul(qv, v128.load(k1 + i)));
          a2 = f32x4.add(a2, f32x4.mul(qv, v128.load(k2 + i)));
          a3 = f32x4.add(a3, f32x4.mul(qv, v128.load(k3 + i)));
        }
        v128.store(scores + <usize>h * rowBytes + (<usize>j << 2), f32x4.mul(hsum4f(a0, a1, a2, a3), sv));
      }
    }
    for (; j < n; j++) {
      for (let h = 0; h < group; h++) store<f32>(scores + <usize>h * rowBytes + (<usize>j << 2), dot(q0 + <usize>h * dBytes, kb + <usize>j * kvStride, d) * scale);
    }
    // Softmax per head, in place; 1 / Σ kept for the end.
    for (let h = 0; h < group; h++) {
      const sc = scores + <usize>h * rowBytes;
      let mx: f32 = -Infinity;
      for (let s = 0; s < n; s++) mx = max(mx, load<f32>(sc + (<usize>s << 2)));
      let sum: f32 = 0;
      for (let s = 0; s < n; s++) {
        const e = Mathf.exp(load<f32>(sc + (<usize>s << 2)) - mx);
        store<f32>(sc + (<usize>s << 2), e);
        sum += e;
      }
      store<f32>(inv + (<usize>h << 2), 1 / sum);
    }
    // Values: per block of keys, every head adds its weighted rows (the block stays in cache);
    // the running sums wait in out between blocks.
    for (let b = 0; b < n; b += VALUE_BLOCK) {
      const e = min(n, b + VALUE_BLOCK);
      for (let h = 0; h < group; h++) {
        const sc = scores + <usize>h * rowBytes, op = o0 + <usize>h * dBytes;
        let c: usize = 0;
        for (; c + 128 <= dBytes; c += 128) {
          const o = op + c;
          const first = b == 0;
          let r0 = first ? f32x4.splat(0) : v128.load(o), r1 = first ? f32x4.splat(0) : v128.load(o, 16);
          let r2 = first ? f32x4.splat(0) : v128.load(o, 32), r3 = first ? f32x4.splat(0) : v128.load(o, 48);
          let r4 = first ? f32x4.splat(0) : v128.load(o, 64), r5 = first ? f32x4.splat(0) : v128.load(o, 80);
          let r6 = first ? f32x4.splat(0) : v128.load(o, 96), r7 = first ? f32x4.splat(0) : v128.load(o, 112);
          let vp = vb + <usize>b * kvStride + c;
          for (let s = b; s < e; s++, vp += kvStride) {
            const w = v128.load32_splat(sc + (<usize>s << 2));
            r0 = f32x4.add(r0, f32x4.mul(w, v128.load(vp)));
            r1 = f32x4.add(r1, f32x4.mul(w, v128.load(vp, 16)));
            r2 = f32x4.add(r2, f32x4.mul(w, v128.load(vp, 32)));
            r3 = f32x4.add(r3, f32x4.mul(w, v128.load(vp, 48)));
            r4 = f32x4.add(r4, f32x4.mul(w, v128.load(vp, 64)));
            r5 = f32x4.add(r5, f32x4.mul(w, v128.load(vp, 80)));
            r6 = f32x4.add(r6, f32x4.mul(w, v128.load(vp, 96)));
            r7 = f32x4.add(r7, f32x4.mul(w, v128.load(vp, 112)));
          }
          v128.store(o, r0); v128.store(o, r1, 16); v128.store(o, r2, 32); v128.store(o, r3, 48);
          v128.store(o, r4, 64); v128.store(o, r5, 80); v128.store(o, r6, 96); v128.store(o, r7, 112);
        }
        for (; c < dBytes; c += 16) {
          let r = b == 0 ? f32x4.splat(0) : v128.load(op + c);
          let vp = vb + <usize>b * kvStride + c;
          for (let s = b; s < e; s++, vp += kvStride) r = f32x4.add(r, f32x4.mul(v128.load32_splat(sc + (<usize>s << 2)), v128.load(vp)));
          v128.store(op + c, r);
        }
      }
    }
    for (let h = 0; h < group; h++) {
      const op = o0 + <usize>h * dBytes, iv = v128.load32_splat(inv + (<usize>h << 2));
      for (let i: usize = 0; i < dBytes; i += 16) v128.store(op + i, f32x4.mul(v128.load(op + i), iv));
    }
  }
}

// Integer fast path (llama.cpp's): activations quantized to Q8_0 / Q8_1 / Q8_K, integer dots.
export { quantizeQ8_0, quantizeQ8_1, quantizeQ8_K, quantizeActivations, q8RowBytes, q8ActivationBytes, q8FormatFor, vecDotQ8, matmulQ8 } from './q8';
export { siluMul, rmsNorm } from './elementwise';
export { repackQ4_0x4, repackQ6_Kx4, repackQ4_Kx4 } from './repack';
export { relaxedSelfTest } from './relaxed';
