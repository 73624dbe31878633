/**
 * The integer matmul kernels of the wasm backend (asm/q8.ts) against the scalar mirror of ggml's
 * C in src/backend/wasm/q8-reference.ts: activation quantizers byte for byte, dot products (bit
 * for bit where the float steps are the same), the error against the exact f32 dot, and matmulQ8
 * against per-row dots. Ends with a timing table (printed, not asserted).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DType } from '../../src/io/tensor.js';
import { instantiate, kernelModule, resolveKernelBuild } from '../../src/backend/wasm/kernels.js';
import { Q8Format, dequantizeQ8, q8FormatFor, q8RowBytes, quantizeQ8, vecDotQ8 } from '../../src/backend/wasm/q8-reference.js';
import { blockBytes, blockSize, dequantizeRow, f16ToF32, f32ToF16, quantizeRow, rowBytes } from '../../src/quant/formats.js';
import { gaussian, rng } from '../quant/util.js';

interface Q8Kernels {
  quantizeQ8_0(x: number, dst: number, n: number): void;
  quantizeQ8_1(x: number, dst: number, n: number): void;
  quantizeQ8_K(x: number, dst: number, n: number): void;
  quantizeActivations(fmt: number, x: number, dst: number, T: number, n: number): void;
  q8RowBytes(fmt: number, n: number): number;
  q8ActivationBytes(fmt: number, T: number, n: number): number;
  q8FormatFor(t: number): number;
  vecDotQ8(t: number, w: number, xq: number, n: number): number;
  matmulQ8(t: number, w: number, rowBytes: number, xq: number, xqRowBytes: number, T: number, out: number, rows: number, r0: number, r1: number, n: number, scratch: number): void;
  matmul(t: number, w: number, rowBytes: number, x: number, T: number, cols: number, out: number, rows: number, r0: number, r1: number, scratch: number): void;
  repackQ4_0x4(w: number, rows: number, rowBytes: number, n: number): void;
  repackQ6_Kx4(w: number, rows: number, rowBytes: number, n: number): void;
  repackQ4_Kx4(w: number, rows: number, rowBytes: number, n: number): void;
  dequantRow(t: number, src: number, dst: number, n: number): void;
}

const CODE: Partial<Record<DType, number>> = { Q8_0: 3, Q4_0: 4, Q4_1: 5, Q5_0: 6, Q5_1: 7, Q4_K: 8, Q5_K: 9, Q6_K: 10 };
const TYPES: DType[] = ['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q4_K', 'Q5_K', 'Q6_K'];
const LEGACY = new Set<DType>(['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1']);
const FORMATS = [Q8Format.Q8_0, Q8Format.Q8_1, Q8Format.Q8_K];
const FMT_NAME = ['Q8_0', 'Q8_1', 'Q8_K'];

/**
 * The kernels on their own shared memory, with a bump allocator from 1 MiB up: the build the
 * backend would pick here (relaxed SIMD where the engine has it; LLAMA4_KERNELS chooses).
 */
const BUILD = resolveKernelBuild();
class Wasm {
  readonly memory = new WebAssembly.Memory({ initial: 1024, maximum: 1024, shared: true }); // 64 MiB
  readonly k = instantiate(kernelModule(BUILD), this.memory) as unknown as Q8Kernels;
  private top = 1 << 20;
  get u8(): Uint8Array { return new Uint8Array(this.memory.buffer); }
  get f32(): Float32Array { return new Float32Array(this.memory.buffer); }
  reset(): void { this.top = 1 << 20; }
  alloc(bytes: number): number {
    const a = (this.top + 15) & ~15;
    this.top = a + bytes;
    assert.ok(this.top <= this.memory.buffer.byteLength, 'test memory exhausted');
    return a;
  }
  putBytes(b: Uint8Array): number { const a = this.alloc(b.length); this.u8.set(b, a); return a; }
  putF32(x: Float32Array): number { const a = this.alloc(x.length * 4); this.f32.set(x, a >>> 2); return a; }
  bytes(addr: number, n: number): Uint8Array { return this.u8.slice(addr, addr + n); }
}

const wasm = new Wasm();

/** Activations with a zero block, a block holding one huge value, and ±ties of the Q8_0 grid. */
function activations(n: number, seed: number, special = true): Float32Array {
  const x = gaussian(n, 1, seed);
  if (!special) return x;
  if (n >= 64) x.fill(0, 32, 64); // a zero Q8_0 / Q8_1 block
  if (n >= 512) x.fill(0, 256, 512); // a zero Q8_K block
  x[n === 32 ? 25 : n === 64 ? 20 : 150] = 1e4; // one huge value (outside the zero blocks)
  if (n >= 128) {
    // A block whose scale is exactly 1 (amax 127): x·id lands on .5 ties, which roundf takes away
    // from zero and Q8_K's nearest_int takes to even.
    const b = 64;
    x[b] = 127;
    for (let j = 1; j < 32; j++) x[b + j] = (j % 2 ? 1 : -1) * (j + 0.5);
  }
  return x;
}

/** A Q8_K block whose first maximal element is negative and a later one of equal size positive. */
function signedMaxBlock(seed: number): Float32Array {
  const x = gaussian(256, 1, seed);
  x[10] = -6.5;
  x[200] = 6.5;
  return x;
}

/** A weight row: gaussian values through ggml's quantizer, or raw random bytes with sane scales. */
function weightRow(dtype: DType, n: number, seed: number, raw: boolean): Uint8Array {
  if (!raw) {
    const out = new Uint8Array(rowBytes(dtype, n));
    quantizeRow(dtype, gaussian(n, 0.05, seed), 0, n, out, 0);
    return out;
  }
  const r = rng(seed);
  const out = Uint8Array.from({ length: rowBytes(dtype, n) }, () => Math.floor(r() * 256));
  const bb = blockBytes(dtype);
  const putF16 = (o: number, v: number) => { const h = f32ToF16(v); out[o] = h & 0xff; out[o + 1] = h >>> 8; };
  for (let o = 0; o < out.length; o += bb) {
    const scale = () => (r() - 0.5) * 0.02;
    if (dtype === 'Q6_K') putF16(o + 208, scale());
    else putF16(o, scale());
    if (dtype === 'Q4_1' || dtype === 'Q5_1' || dtype === 'Q4_K' || dtype === 'Q5_K') putF16(o + 2, scale());
  }
  return out;
}

function lengths(dtype: DType): number[] {
  return LEGACY.has(dtype) ? [32, 64, 256, 512, 2048] : [256, 512, 2048];
}

function wasmQuantize(fmt: number, x: Float32Array): Uint8Array {
  const n = x.length, rb = q8RowBytes(fmt as Q8Format, n);
  const xa = wasm.putF32(x), qa = wasm.alloc(rb);
  if (fmt === 0) wasm.k.quantizeQ8_0(xa, qa, n);
  else if (fmt === 1) wasm.k.quantizeQ8_1(xa, qa, n);
  else wasm.k.quantizeQ8_K(xa, qa, n);
  return wasm.bytes(qa, rb);
}

function wasmDot(dtype: DType, w: Uint8Array, xq: Uint8Array, n: number): number {
  const wa = wasm.putBytes(w), xa = wasm.putBytes(xq);
  return wasm.k.vecDotQ8(CODE[dtype]!, wa, xa, n);
}

function firstDiff(a: Uint8Array, b: Uint8Array): string {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `first difference at byte ${i}: ${a[i]} vs ${b[i]}`;
  return 'lengths differ';
}

describe(`wasm q8 (${BUILD} kernels): activation quantizers`, () => {
  it('match quantize_row_q8_0/q8_1/q8_K_ref byte for byte', () => {
    let checked = 0;
    for (const fmt of FORMATS) {
      const ns = fmt === Q8Format.Q8_K ? [256, 512, 2048] : [32, 64, 256, 512, 2048];
      for (const n of ns) {
        for (let seed = 1; seed <= 4; seed++) {
          wasm.reset();
          const x = activations(n, seed * 31 + n, seed !== 4);
          const ref = quantizeQ8(fmt, x, 0, n);
          const got = wasmQuantize(fmt, x);
          assert.ok(ref.length === got.length && ref.every((v, i) => v === got[i]), `${FMT_NAME[fmt]} n=${n} seed=${seed}: ${firstDiff(got, ref)}`);
          checked++;
        }
      }
    }
    // The sign of Q8_K's max: the first element of largest magnitude decides it.
    wasm.reset();
    const x = signedMaxBlock(7);
    const ref = quantizeQ8(Q8Format.Q8_K, x, 0, 256), got = wasmQuantize(Q8Format.Q8_K, x);
    assert.deepEqual(got, ref);
    assert.equal(new DataView(ref.buffer).getFloat32(0, true) > 0, true, 'd = 1/iscale = −max/127 is positive for a negative max');
    assert.ok(checked > 40);
  });

  it('round .5 ties as ggml does (roundf for Q8_0/Q8_1, to even for Q8_K)', () => {
    wasm.reset();
    const x = new Float32Array(256);
    x[0] = 127; x[1] = 2.5; x[2] = -2.5; x[3] = 3.5; x[4] = 0.5;
    const q0 = wasmQuantize(Q8Format.Q8_0, x);
    assert.deepEqual([...new Int8Array(q0.buffer, 2, 5)], [127, 3, -3, 4, 1]);
    const qk = wasmQuantize(Q8Format.Q8_K, x); // iscale = −1
    assert.deepEqual([...new Int8Array(qk.buffer, 4, 5)], [-127, -2, 2, -4, 0]);
  });

  it('quantizeActivations writes T rows q8RowBytes apart; q8RowBytes/q8FormatFor agree with the reference', () => {
    for (const fmt of FORMATS) {
      for (const n of [256, 2048]) {
        assert.equal(wasm.k.q8RowBytes(fmt, n), q8RowBytes(fmt, n));
        wasm.reset();
        const T = 3, rb = q8RowBytes(fmt, n);
        const x = new Float32Array(T * n);
        for (let t = 0; t < T; t++) x.set(activations(n, 100 + t), t * n);
        const xa = wasm.putF32(x), qa = wasm.alloc(wasm.k.q8ActivationBytes(fmt, T, n));
        wasm.k.quantizeActivations(fmt, xa, qa, T, n);
        for (let t = 0; t < T; t++) assert.deepEqual(wasm.bytes(qa + t * rb, rb), quantizeQ8(fmt, x, t * n, n), `${FMT_NAME[fmt]} row ${t}`);
      }
    }
    for (const dtype of TYPES) assert.equal(wasm.k.q8FormatFor(CODE[dtype]!), q8FormatFor(dtype), dtype);
    assert.equal(wasm.k.q8FormatFor(0), -1);
  });
});

describe(`wasm q8 (${BUILD} kernels): dot products`, () => {
  it('equal the ggml generic dot (legacy types bit for bit, K-quants to 1e-5)', () => {
    let worstK = 0;
    for (const dtype of TYPES) {
      const fmt = q8FormatFor(dtype)!;
      for (const n of lengths(dtype)) {
        for (let seed = 1; seed <= 4; seed++) {
          wasm.reset();
          const w = weightRow(dtype, n, seed * 7 + n, seed % 2 === 0);
          const xq = quantizeQ8(fmt, activations(n, seed * 13 + n, seed !== 3), 0, n);
          const ref = vecDotQ8(dtype, w, 0, xq, 0, n);
          const got = wasmDot(dtype, w, xq, n);
          if (LEGACY.has(dtype)) {
            assert.equal(got, ref, `${dtype} n=${n} seed=${seed}`);
          } else {
            // ggml keeps 8 float partial sums per row; the kernel scales each super-block's exact
            // integer sum once. Compare against the size of the terms, not of their sum.
            const mag = dotMagnitude(dtype, w, fmt, xq, n);
            const err = Math.abs(got - ref);
            worstK = Math.max(worstK, err / Math.max(Math.abs(ref), mag));
            assert.ok(err <= 1e-5 * Math.max(Math.abs(ref), mag), `${dtype} n=${n} seed=${seed}: ${got} vs ${ref}`);
          }
        }
      }
    }
    console.log(`  K-quant dots: worst |wasm − ggml generic| / max(|dot|, Σ|w·x|) = ${worstK.toExponential(2)}`);
  });

  it('K-quant integer sums are exact: equal bit for bit when every float step is exact', () => {
    // Power-of-two scales and small activations keep every partial sum an exactly representable
    // float, so any difference would be in the integer parts.
    for (const dtype of ['Q4_K', 'Q5_K', 'Q6_K'] as DType[]) {
      for (const n of [256, 512, 1024]) {
        for (let seed = 1; seed <= 3; seed++) {
          wasm.reset();
          const r = rng(seed * 1000 + n);
          const w = Uint8Array.from({ length: rowBytes(dtype, n) }, () => Math.floor(r() * 256));
          const bb = blockBytes(dtype);
          for (let o = 0; o < w.length; o += bb) {
            if (dtype === 'Q6_K') { w[o + 208] = 0x00; w[o + 209] = 0x38; } // d = 0.5
            else { w[o] = 0x00; w[o + 1] = 0x3c; w[o + 2] = 0x00; w[o + 3] = 0x34; } // d = 1, dmin = 0.25
          }
          const xq = new Uint8Array(q8RowBytes(Q8Format.Q8_K, n));
          const view = new DataView(xq.buffer);
          for (let b = 0; b < n / 256; b++) {
            const o = b * 292;
            view.setFloat32(o, b % 2 ? 0.125 : 2, true);
            for (let g = 0; g < 16; g++) {
              let s = 0;
              for (let j = 0; j < 16; j++) { const q = Math.floor(r() * 7) - 3; xq[o + 4 + 16 * g + j] = q & 0xff; s += q; }
              view.setInt16(o + 260 + 2 * g, s, true);
            }
          }
          assert.equal(wasmDot(dtype, w, xq, n), vecDotQ8(dtype, w, 0, xq, 0, n), `${dtype} n=${n} seed=${seed}`);
        }
      }
    }
  });

  it('decode every kind of f16 scale exactly: subnormal, zero, negative, inf (and subnormal activation scales)', () => {
    // The kernels convert f16 without f32 denormal arithmetic; these patterns take the slow lanes.
    const patterns = [0x0001, 0x03ff, 0x8200, 0x0000, 0x8000, 0x0400, 0x3c00, 0xbc00, 0x7bff, 0x7c00, 0xfc00];
    for (const dtype of TYPES) {
      const fmt = q8FormatFor(dtype)!;
      for (const n of LEGACY.has(dtype) ? [32, 256] : [256, 512]) {
        for (let seed = 1; seed <= 6; seed++) {
          wasm.reset();
          const r = rng(seed * 31 + n);
          const w = weightRow(dtype, n, seed + n, true);
          const bb = blockBytes(dtype);
          const pick = () => patterns[Math.floor(r() * patterns.length)];
          for (let o = 0; o < w.length; o += bb) {
            const at = dtype === 'Q6_K' ? [o + 208] : dtype === 'Q4_1' || dtype === 'Q5_1' || dtype === 'Q4_K' || dtype === 'Q5_K' ? [o, o + 2] : [o];
            for (const p of at) if (seed > 1 || r() < 0.7) { const h = pick(); w[p] = h & 0xff; w[p + 1] = h >>> 8; }
          }
          const x = activations(n, seed, false).map((v, i) => v * (i % 64 < 32 ? 1e-4 : 1)); // tiny blocks: subnormal f16 d
          const xq = quantizeQ8(fmt, x, 0, n);
          if (dtype === 'Q8_0') {
            // the Q8_0 weight format is the Q8_0 activation format: quantize the tiny activations as weights too
            w.set(quantizeQ8(Q8Format.Q8_0, x.map((v) => v * 0.5), 0, n));
          }
          const ref = vecDotQ8(dtype, w, 0, xq, 0, n);
          const got = wasmDot(dtype, w, xq, n);
          if (LEGACY.has(dtype)) assert.equal(got, ref, `${dtype} n=${n} seed=${seed}`);
          // An inf scale: ggml's eight float partial sums may meet inf·0 (NaN) where one scaled integer sum gives ±inf.
          else if (!Number.isFinite(ref)) assert.ok(!Number.isFinite(got), `${dtype} n=${n} seed=${seed}: ${got} vs ${ref}`);
          else assert.ok(Math.abs(got - ref) <= 1e-5 * Math.max(Math.abs(ref), dotMagnitude(dtype, w, fmt, xq, n)), `${dtype} n=${n} seed=${seed}: ${got} vs ${ref}`);
        }
      }
    }
    // Tiny activations do give subnormal f16 scales (the case this test is about).
    const q = quantizeQ8(Q8Format.Q8_0, activations(32, 3, false).map((v) => v * 1e-4), 0, 32);
    assert.ok((q[1] & 0x7c) === 0 && (q[0] | q[1]) !== 0, 'expected a subnormal f16 d');
  });

  it('approximate the exact f32 dot within the activation rounding', () => {
    const worst: string[] = [];
    for (const dtype of TYPES) {
      const fmt = q8FormatFor(dtype)!;
      let worstRel = 0;
      for (const n of lengths(dtype)) {
        for (let seed = 1; seed <= 4; seed++) {
          wasm.reset();
          const special = seed > 2;
          const w = weightRow(dtype, n, seed * 5 + n, seed % 2 === 0);
          const x = activations(n, seed * 17 + n, special);
          const xq = quantizeQ8(fmt, x, 0, n);
          const got = wasmDot(dtype, w, xq, n);
          const wf = new Float32Array(n);
          dequantizeRow(dtype, w, 0, wf, 0, n);
          const xh = dequantizeQ8(fmt, xq, 0, n);
          let exact = 0, bound = 0, mag = 0;
          for (let i = 0; i < n; i++) {
            exact += wf[i] * x[i];
            bound += Math.abs(wf[i]) * Math.abs(xh[i] - x[i]);
            mag += Math.abs(wf[i] * x[i]);
          }
          // Q4_1/Q5_1 take the mins' term from s = f16(d·Σq), rounded separately from d.
          if (fmt === Q8Format.Q8_1) {
            for (let b = 0; b < n / 32; b++) {
              const d = f16ToF32(xq[b * 36] | (xq[b * 36 + 1] << 8)), s = f16ToF32(xq[b * 36 + 2] | (xq[b * 36 + 3] << 8));
              let sq = 0;
              for (let j = 0; j < 32; j++) sq += (xq[b * 36 + 4 + j] << 24) >> 24;
              const m = f16ToF32(w[b * blockBytes(dtype) + 2] | (w[b * blockBytes(dtype) + 3] << 8));
              bound += Math.abs(m) * Math.abs(s - d * sq);
            }
          }
          const err = Math.abs(got - exact);
          assert.ok(err <= bound * 1.0001 + 2e-6 * mag + 1e-30, `${dtype} n=${n} seed=${seed}: |${got} − ${exact}| = ${err} > bound ${bound}`);
          if (!special) {
            // Plain gaussian activations: the integer path is within 1% of Σ|w·x|.
            worstRel = Math.max(worstRel, err / mag);
            assert.ok(err <= 1e-2 * mag, `${dtype} n=${n} seed=${seed}: relative error ${err / mag}`);
          }
        }
      }
      worst.push(`${dtype} ${worstRel.toExponential(1)}`);
    }
    console.log(`  worst |q8 dot − f32 dot| / Σ|w·x| (gaussian activations): ${worst.join(', ')}`);
  });
});

/** Σ |w_i · x̂_i| over the row (the size of the terms a dot adds up). */
function dotMagnitude(dtype: DType, w: Uint8Array, fmt: Q8Format, xq: Uint8Array, n: number): number {
  const wf = new Float32Array(n);
  dequantizeRow(dtype, w, 0, wf, 0, n);
  const xh = dequantizeQ8(fmt, xq, 0, n);
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.abs(wf[i] * xh[i]);
  return s;
}

describe(`wasm q8 (${BUILD} kernels): matmulQ8`, () => {
  it('equals vecDotQ8 per row for T = 1, 3, 4, 7 on a row range not starting at 0', () => {
    for (const dtype of TYPES) {
      const fmt = q8FormatFor(dtype)!;
      const t = CODE[dtype]!;
      for (const n of LEGACY.has(dtype) ? [64, 512] : [256, 512]) {
        const rows = 9, rb = rowBytes(dtype, n), xrb = q8RowBytes(fmt, n);
        for (const T of [1, 3, 4, 7]) {
          wasm.reset();
          const w = new Uint8Array(rows * rb);
          for (let r = 0; r < rows; r++) w.set(weightRow(dtype, n, 50 + r, r % 2 === 1), r * rb);
          const x = new Float32Array(T * n);
          for (let k = 0; k < T; k++) x.set(activations(n, 70 + k, k % 2 === 0), k * n);
          const wa = wasm.putBytes(w), xa = wasm.putF32(x), qa = wasm.alloc(wasm.k.q8ActivationBytes(fmt, T, n)), oa = wasm.alloc(T * rows * 4);
          const scratch = wasm.alloc(Math.max(4 * n, 65536));
          wasm.k.quantizeActivations(fmt, xa, qa, T, n);
          wasm.f32.fill(NaN, oa >>> 2, (oa >>> 2) + T * rows);
          const r0 = 2, r1 = 7;
          wasm.k.matmulQ8(t, wa, rb, qa, xrb, T, oa, rows, r0, r1, n, scratch);
          const out = wasm.f32.slice(oa >>> 2, (oa >>> 2) + T * rows);
          for (let k = 0; k < T; k++) {
            for (let r = 0; r < rows; r++) {
              const v = out[k * rows + r];
              if (r < r0 || r >= r1) { assert.ok(Number.isNaN(v), `${dtype} T=${T}: row ${r} outside the range was written`); continue; }
              const single = wasm.k.vecDotQ8(t, wa + r * rb, qa + k * xrb, n);
              const where = `${dtype} n=${n} T=${T} token ${k} row ${r}`;
              if (reordered(dtype, T)) { expectClose(v, single, dotMagnitude(dtype, w.subarray(r * rb), fmt, wasm.bytes(qa + k * xrb, xrb), n), where); continue; }
              assert.equal(v, single, where);
              const ref = vecDotQ8(dtype, w, r * rb, wasm.bytes(qa + k * xrb, xrb), 0, n);
              if (LEGACY.has(dtype)) assert.equal(v, ref, `${where} vs reference`);
            }
          }
        }
      }
    }
  });
});

/** A weight row whose block scales are drawn from every kind of f16 (subnormal, zero, ±inf, NaN-free). */
function specialScaleRow(dtype: DType, n: number, seed: number): Uint8Array {
  const patterns = [0x0001, 0x03ff, 0x8200, 0x0000, 0x8000, 0x0400, 0x3c00, 0xbc00, 0x7bff, 0x7c00, 0xfc00, 0x2e66];
  const r = rng(seed);
  const w = weightRow(dtype, n, seed, true);
  const bb = blockBytes(dtype);
  for (let o = 0; o < w.length; o += bb) {
    const at = dtype === 'Q6_K' ? [o + 208] : dtype === 'Q4_1' || dtype === 'Q5_1' || dtype === 'Q4_K' || dtype === 'Q5_K' ? [o, o + 2] : [o];
    for (const p of at) if (r() < 0.3) { const h = patterns[Math.floor(r() * patterns.length)]; w[p] = h & 0xff; w[p + 1] = h >>> 8; }
  }
  return w;
}

/**
 * The one-token Q8_0 kernel adds four blocks' float terms as one vector (ggml adds them one at a
 * time), so it equals vecDotQ8 up to f32 rounding of a reordered sum (so does Q4_0x4's, tested
 * below); every other path is bit-identical to it.
 */
function reordered(dtype: DType, T: number): boolean {
  return T < 4 && dtype === 'Q8_0';
}

/** v equals ref up to the rounding of a reordered f32 sum of terms of total size mag; non-finite values exactly. */
function expectClose(v: number, ref: number, mag: number, where: string): void {
  if (!Number.isFinite(ref) || !Number.isFinite(mag)) {
    assert.ok(Object.is(v, ref) || (Number.isNaN(v) && Number.isNaN(ref)) || (Number.isFinite(ref) && Math.abs(v - ref) <= 1e-5 * Math.abs(ref)), `${where}: ${v} vs ${ref}`);
    return;
  }
  assert.ok(Math.abs(v - ref) <= 1e-5 * mag, `${where}: ${v} vs ${ref} (|Δ| ${Math.abs(v - ref)}, scale ${mag})`);
}

/**
 * Runs matmulQ8 on rows [r0, r1) of `rows` weight rows and T tokens and checks every output
 * against vecDotQ8 (bit for bit where the float steps are the same, see reordered()) (and the ggml reference for the legacy types), that nothing
 * outside [r0, r1) × T was written, and that the activation buffer and the scratch were not
 * overrun (canaries after both).
 */
function checkMatmul(dtype: DType, n: number, rows: number, T: number, r0: number, r1: number, seed: number, special = false): void {
  wasm.reset();
  const fmt = q8FormatFor(dtype)!;
  const t = CODE[dtype]!;
  const rb = rowBytes(dtype, n), xrb = q8RowBytes(fmt, n);
  const w = new Uint8Array(rows * rb);
  for (let r = 0; r < rows; r++) w.set(special && r % 3 === 1 ? specialScaleRow(dtype, n, seed + r) : weightRow(dtype, n, seed + r, r % 2 === 1), r * rb);
  const x = new Float32Array(T * n);
  for (let k = 0; k < T; k++) x.set(activations(n, seed + 100 + k, k % 2 === 0), k * n);
  const CANARY = 0xa5;
  const qBytes = wasm.k.q8ActivationBytes(fmt, T, n), sBytes = Math.max(4 * n, 65536);
  const wa = wasm.putBytes(w), xa = wasm.putF32(x);
  const qa = wasm.alloc(qBytes + 64), sa = wasm.alloc(sBytes + 64), oa = wasm.alloc((T + 1) * rows * 4);
  wasm.u8.fill(CANARY, qa + qBytes, qa + qBytes + 64);
  wasm.u8.fill(CANARY, sa + sBytes, sa + sBytes + 64);
  wasm.f32.fill(NaN, oa >>> 2, (oa >>> 2) + (T + 1) * rows);
  wasm.k.quantizeActivations(fmt, xa, qa, T, n);
  assert.ok(wasm.bytes(qa + qBytes, 64).every((b) => b === CANARY), `${dtype} n=${n} T=${T}: quantizeActivations wrote past q8ActivationBytes`);
  wasm.k.matmulQ8(t, wa, rb, qa, xrb, T, oa, rows, r0, r1, n, sa);
  assert.ok(wasm.bytes(sa + sBytes, 64).every((b) => b === CANARY), `${dtype} n=${n} T=${T}: matmulQ8 wrote past its scratch`);
  const out = wasm.f32.slice(oa >>> 2, (oa >>> 2) + (T + 1) * rows);
  const where = `${dtype} n=${n} rows=${rows} [${r0}, ${r1}) T=${T}`;
  for (let k = 0; k <= T; k++) {
    for (let r = 0; r < rows; r++) {
      const v = out[k * rows + r];
      if (k === T || r < r0 || r >= r1) { assert.ok(Number.isNaN(v), `${where}: token ${k} row ${r} outside the range was written`); continue; }
      const single = wasm.k.vecDotQ8(t, wa + r * rb, qa + k * xrb, n);
      if (reordered(dtype, T)) { expectClose(v, single, dotMagnitude(dtype, w.subarray(r * rb), fmt, wasm.bytes(qa + k * xrb, xrb), n), `${where}: token ${k} row ${r}`); continue; }
      assert.equal(v, single, `${where}: token ${k} row ${r}`);
      if (LEGACY.has(dtype)) assert.equal(v, vecDotQ8(dtype, w, r * rb, wasm.bytes(qa + k * xrb, xrb), 0, n), `${where}: token ${k} row ${r} vs reference`);
    }
  }
}

describe(`wasm q8 (${BUILD} kernels): matmulQ8 shapes`, () => {
  it('T = 1…9 (token by token and four-token groups, odd group counts, padding lanes) on ragged row ranges', () => {
    for (const dtype of TYPES) {
      const n = LEGACY.has(dtype) ? 96 : 512;
      for (let T = 1; T <= 9; T++) {
        checkMatmul(dtype, n, 7, T, 1, 6, 10 * T); // odd start, odd count: a lone last row
        checkMatmul(dtype, n, 4, T, 0, 4, 20 * T + 1);
      }
    }
  });

  it('one row, and the whole matrix, for T = 1, 4, 13', () => {
    for (const dtype of TYPES) {
      const n = LEGACY.has(dtype) ? 32 : 256;
      for (const T of [1, 4, 13]) {
        checkMatmul(dtype, n, 5, T, 3, 4, 7 + T);
        checkMatmul(dtype, n, 5, T, 0, 5, 11 + T);
      }
    }
  });

  it('rows longer than the scratch holds (unpacked in chunks) stay bit-identical, and the scratch is not overrun', () => {
    // 4·n = 64 KiB of scratch holds fewer blocks than a row has: the float sums continue across chunks.
    for (const dtype of ['Q8_0', 'Q4_0', 'Q5_1', 'Q4_K', 'Q6_K'] as DType[]) {
      for (const T of [1, 5, 8]) checkMatmul(dtype, 16384, 3, T, 0, 3, 3 * T);
    }
  });

  it('every kind of f16 scale (subnormal, zero, ±inf) gives the same bits as vecDotQ8', () => {
    for (const dtype of TYPES) {
      const n = LEGACY.has(dtype) ? 256 : 512;
      for (const T of [1, 2, 5, 8]) checkMatmul(dtype, n, 6, T, 0, 6, 40 + T, true);
    }
  });

  it('q8ActivationBytes covers the rows and the packed copy for every T', () => {
    for (const fmt of FORMATS) {
      for (const n of fmt === Q8Format.Q8_K ? [256, 2048] : [32, 2048]) {
        for (let T = 1; T <= 12; T++) assert.ok(wasm.k.q8ActivationBytes(fmt, T, n) >= T * q8RowBytes(fmt, n) + T * 2 * n, `fmt ${fmt} n=${n} T=${T}`);
      }
    }
  });
});

describe(`wasm q8 (${BUILD} kernels): timing (printed, not asserted)`, () => {
  it('GB/s of weight bytes, 2048 rows × 8192 columns, T = 1, one thread: integer path vs dequantize-to-f32', () => {
    const rows = 2048, n = 8192, reps = 5;
    const lines: string[] = [];
    const x = gaussian(n, 1, 99);
    for (const dtype of TYPES) {
      wasm.reset();
      const t = CODE[dtype]!, fmt = q8FormatFor(dtype)!;
      const rb = rowBytes(dtype, n), xrb = q8RowBytes(fmt, n);
      const distinct = Array.from({ length: 16 }, (_, r) => weightRow(dtype, n, 900 + r, false));
      const wa = wasm.alloc(rows * rb);
      for (let r = 0; r < rows; r++) wasm.u8.set(distinct[r % 16], wa + r * rb); // 16 distinct rows, cycled
      const xa = wasm.putF32(x), qa = wasm.alloc(wasm.k.q8ActivationBytes(fmt, 1, n)), oa = wasm.alloc(rows * 4), ob = wasm.alloc(rows * 4), scratch = wasm.alloc(Math.max(n * 4, 65536));
      let bestF32 = Infinity, bestQ8 = Infinity;
      for (let i = 0; i < reps; i++) {
        let t0 = performance.now();
        wasm.k.matmul(t, wa, rb, xa, 1, n, oa, rows, 0, rows, scratch);
        bestF32 = Math.min(bestF32, performance.now() - t0);
        t0 = performance.now();
        wasm.k.quantizeActivations(fmt, xa, qa, 1, n);
        wasm.k.matmulQ8(t, wa, rb, qa, xrb, 1, ob, rows, 0, rows, n, scratch);
        bestQ8 = Math.min(bestQ8, performance.now() - t0);
      }
      // Sanity: both paths compute the same product up to the activation rounding.
      const a = wasm.f32.slice(oa >>> 2, (oa >>> 2) + rows), b = wasm.f32.slice(ob >>> 2, (ob >>> 2) + rows);
      let num = 0, den = 0;
      for (let r = 0; r < rows; r++) { num += (a[r] - b[r]) ** 2; den += a[r] ** 2; }
      const bytes = rows * rb;
      const gbs = (ms: number) => (bytes / (ms / 1000) / 1e9).toFixed(2);
      lines.push(`  ${dtype.padEnd(5)} ${(bytes / 2 ** 20).toFixed(1).padStart(6)} MiB   f32 ${gbs(bestF32).padStart(6)} GB/s (${bestF32.toFixed(2).padStart(6)} ms)   q8 ${gbs(bestQ8).padStart(6)} GB/s (${bestQ8.toFixed(2).padStart(6)} ms)   ×${(bestF32 / bestQ8).toFixed(2)}   rms rel diff ${Math.sqrt(num / den).toExponential(1)}`);
      assert.ok(Number.isFinite(num / den));
    }
    console.log(`  weight bytes / time, best of ${reps}:\n${lines.join('\n')}`);
  });

  it('GMAC/s of matmulQ8, 512 rows × 4096 columns, one thread, T = 1 / 4 / 64 (token by token / four-token groups)', () => {
    const rows = 512, n = 4096, reps = 3;
    const lines: string[] = [];
    for (const dtype of TYPES) {
      wasm.reset();
      const t = CODE[dtype]!, fmt = q8FormatFor(dtype)!;
      const rb = rowBytes(dtype, n), xrb = q8RowBytes(fmt, n);
      const distinct = Array.from({ length: 8 }, (_, r) => weightRow(dtype, n, 700 + r, false));
      const wa = wasm.alloc(rows * rb);
      for (let r = 0; r < rows; r++) wasm.u8.set(distinct[r % 8], wa + r * rb);
      const cells: string[] = [];
      for (const T of [1, 4, 64]) {
        const x = new Float32Array(T * n);
        for (let k = 0; k < T; k++) x.set(gaussian(n, 1, 80 + k), k * n);
        const xa = wasm.putF32(x), qa = wasm.alloc(wasm.k.q8ActivationBytes(fmt, T, n)), oa = wasm.alloc(T * rows * 4), sa = wasm.alloc(Math.max(4 * n, 65536));
        wasm.k.quantizeActivations(fmt, xa, qa, T, n);
        let best = Infinity;
        for (let i = 0; i < reps; i++) {
          const t0 = performance.now();
          wasm.k.matmulQ8(t, wa, rb, qa, xrb, T, oa, rows, 0, rows, n, sa);
          best = Math.min(best, performance.now() - t0);
        }
        cells.push(`T=${T} ${(rows * n * T / best / 1e6).toFixed(1).padStart(5)}`);
      }
      lines.push(`  ${dtype.padEnd(5)} ${cells.join('   ')}`);
    }
    console.log(`  GMAC/s, best of ${reps} (activations already quantized):\n${lines.join('\n')}`);
  });
});

/**
 * `rows` random rows of `dtype` (every other one with special scales when asked) placed twice in
 * the test memory: as stored (`plain`) and repacked in place by `repack` (`packed`).
 */
function storedAndRepacked(dtype: DType, repack: 'repackQ4_0x4' | 'repackQ6_Kx4' | 'repackQ4_Kx4', n: number, rows: number, seed: number, special: boolean): { w: Uint8Array; plain: number; packed: number; rb: number } {
  const rb = rowBytes(dtype, n);
  const w = new Uint8Array(rows * rb);
  for (let r = 0; r < rows; r++) w.set(special && r % 2 === 1 ? specialScaleRow(dtype, n, seed + r) : weightRow(dtype, n, seed + r, r % 3 === 2), r * rb);
  const plain = wasm.putBytes(w), packed = wasm.putBytes(w);
  wasm.k[repack](packed, rows, rb, n);
  return { w, plain, packed, rb };
}

describe(`wasm q8 (${BUILD} kernels): Q4_0 repacked four blocks at a time (Q4_0x4, type 11)`, () => {
  const Q4_0X4 = 11;
  /** Rows of random Q4_0 (some with special scales) placed twice: as stored and repacked. */
  const rowsBoth = (n: number, rows: number, seed: number, special: boolean) => storedAndRepacked('Q4_0', 'repackQ4_0x4', n, rows, seed, special);


  it('keeps the row size, moves every byte, and dequantizes to exactly the Q4_0 values (whole groups and tails)', () => {
    for (const n of [32, 128, 224, 2048 + 96]) {
      wasm.reset();
      const rows = 3, { plain, packed, rb } = rowsBoth(n, rows, 5 + n, false);
      if (n >= 128) assert.notDeepEqual(wasm.bytes(packed, rb), wasm.bytes(plain, rb), `n=${n}: repacked`);
      else assert.deepEqual(wasm.bytes(packed, rb), wasm.bytes(plain, rb), `n=${n}: nothing to repack`);
      assert.deepEqual([...wasm.bytes(packed, rows * rb)].sort(), [...wasm.bytes(plain, rows * rb)].sort(), `n=${n}: same bytes`);
      const a = wasm.alloc(4 * n), b = wasm.alloc(4 * n);
      for (let r = 0; r < rows; r++) {
        wasm.k.dequantRow(4, plain + r * rb, a, n);
        wasm.k.dequantRow(Q4_0X4, packed + r * rb, b, n);
        assert.deepEqual(wasm.f32.slice(b >>> 2, (b >>> 2) + n), wasm.f32.slice(a >>> 2, (a >>> 2) + n), `n=${n} row ${r}`);
      }
    }
  });

  it('matmulQ8 equals vecDotQ8 of the Q4_0 rows (one token: up to reordering; groups: bit for bit) for T = 1…9', () => {
    for (const n of [128, 224, 2048 + 96]) {
      for (const T of [1, 2, 3, 4, 5, 9]) {
        for (const special of [false, true]) {
          wasm.reset();
          const rows = 7, r0 = 1, r1 = 6;
          const { w, plain, packed, rb } = rowsBoth(n, rows, 31 * T + n, special);
          const x = new Float32Array(T * n);
          for (let k = 0; k < T; k++) x.set(activations(n, 200 + k, k % 2 === 0), k * n);
          const xa = wasm.putF32(x), qBytes = wasm.k.q8ActivationBytes(0, T, n), qa = wasm.alloc(qBytes + 64);
          const sa = wasm.alloc(Math.max(4 * n, 65536)), oa = wasm.alloc(T * rows * 4);
          wasm.u8.fill(0xa5, qa + qBytes, qa + qBytes + 64);
          wasm.k.quantizeActivations(wasm.k.q8FormatFor(Q4_0X4), xa, qa, T, n);
          assert.ok(wasm.bytes(qa + qBytes, 64).every((v) => v === 0xa5), 'activations stay inside q8ActivationBytes');
          wasm.f32.fill(NaN, oa >>> 2, (oa >>> 2) + T * rows);
          wasm.k.matmulQ8(Q4_0X4, packed, rb, qa, q8RowBytes(Q8Format.Q8_0, n), T, oa, rows, r0, r1, n, sa);
          const xrb = q8RowBytes(Q8Format.Q8_0, n);
          for (let k = 0; k < T; k++) {
            for (let r = 0; r < rows; r++) {
              const v = wasm.f32[(oa >>> 2) + k * rows + r];
              const where = `n=${n} T=${T} special=${special} token ${k} row ${r}`;
              if (r < r0 || r >= r1) { assert.ok(Number.isNaN(v), `${where}: outside the range was written`); continue; }
              const want = wasm.k.vecDotQ8(4, plain + r * rb, qa + k * xrb, n);
              if (T < 4) expectClose(v, want, dotMagnitude('Q4_0', w.subarray(r * rb), Q8Format.Q8_0, wasm.bytes(qa + k * xrb, xrb), n), where);
              else assert.ok(Object.is(v, want) || (Number.isNaN(v) && Number.isNaN(want)), `${where}: ${v} vs ${want}`);
            }
          }
        }
      }
    }
  });
});

for (const [dtype, packedCode, plainCode, repack] of [['Q6_K', 12, 10, 'repackQ6_Kx4'], ['Q4_K', 13, 8, 'repackQ4_Kx4']] as const) describe(`wasm q8 (${BUILD} kernels): ${dtype} with its quant streams interleaved (type ${packedCode})`, () => {
  const Q6_KX4 = packedCode;
  const rowsBoth = (n: number, rows: number, seed: number, special: boolean) => storedAndRepacked(dtype, repack, n, rows, seed, special);


  it(`keeps every byte and dequantizes to exactly the ${dtype} values`, () => {
    for (const n of [256, 2048 + 256]) {
      wasm.reset();
      const rows = 3, { plain, packed, rb } = rowsBoth(n, rows, 9 + n, false);
      assert.notDeepEqual(wasm.bytes(packed, rb), wasm.bytes(plain, rb), 'repacked');
      assert.deepEqual([...wasm.bytes(packed, rows * rb)].sort(), [...wasm.bytes(plain, rows * rb)].sort(), 'same bytes');
      const a = wasm.alloc(4 * n), b = wasm.alloc(4 * n);
      for (let r = 0; r < rows; r++) {
        wasm.k.dequantRow(plainCode, plain + r * rb, a, n);
        wasm.k.dequantRow(Q6_KX4, packed + r * rb, b, n);
        assert.deepEqual(wasm.f32.slice(b >>> 2, (b >>> 2) + n), wasm.f32.slice(a >>> 2, (a >>> 2) + n), `n=${n} row ${r}`);
      }
    }
  });

  it(`matmulQ8 equals vecDotQ8 of the ${dtype} rows bit for bit, T = 1…9, special scales included`, () => {
    for (const n of [256, 2048 + 256]) {
      for (const T of [1, 2, 3, 4, 5, 9]) {
        for (const special of [false, true]) {
          wasm.reset();
          const rows = 7, r0 = 1, r1 = 6;
          const { plain, packed, rb } = rowsBoth(n, rows, 17 * T + n, special);
          const x = new Float32Array(T * n);
          for (let k = 0; k < T; k++) x.set(activations(n, 300 + k, k % 2 === 0), k * n);
          const fmt = wasm.k.q8FormatFor(Q6_KX4), xrb = q8RowBytes(Q8Format.Q8_K, n);
          assert.equal(fmt, Q8Format.Q8_K);
          const xa = wasm.putF32(x), qBytes = wasm.k.q8ActivationBytes(fmt, T, n), qa = wasm.alloc(qBytes + 64);
          const sa = wasm.alloc(Math.max(4 * n, 65536)), oa = wasm.alloc(T * rows * 4);
          wasm.u8.fill(0xa5, qa + qBytes, qa + qBytes + 64);
          wasm.k.quantizeActivations(fmt, xa, qa, T, n);
          assert.ok(wasm.bytes(qa + qBytes, 64).every((v) => v === 0xa5), 'activations stay inside q8ActivationBytes');
          wasm.f32.fill(NaN, oa >>> 2, (oa >>> 2) + T * rows);
          wasm.k.matmulQ8(Q6_KX4, packed, rb, qa, xrb, T, oa, rows, r0, r1, n, sa);
          for (let k = 0; k < T; k++) {
            for (let r = 0; r < rows; r++) {
              const v = wasm.f32[(oa >>> 2) + k * rows + r];
              const where = `n=${n} T=${T} special=${special} token ${k} row ${r}`;
              if (r < r0 || r >= r1) { assert.ok(Number.isNaN(v), `${where}: outside the range was written`); continue; }
              const want = wasm.k.vecDotQ8(plainCode, plain + r * rb, qa + k * xrb, n);
              assert.ok(Object.is(v, want) || (Number.isNaN(v) && Number.isNaN(want)), `${where}: ${v} vs ${want}`);
            }
          }
        }
      }
    }
  });
});
