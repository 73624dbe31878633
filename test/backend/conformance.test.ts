/**
 * Every op of every backend against the reference backend, on random shapes with ragged edges
 * (odd row counts, token counts around the 4-token tiles, key ranges of every length), for
 * every weight type. One suite, run against each implementation (like llama.cpp's
 * test-backend-ops).
 */
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { matmuls, type Backend } from '../../src/backend/backend.js';
import { RefBackend } from '../../src/backend/ref/ref-backend.js';
import { WasmBackend } from '../../src/backend/wasm/wasm-backend.js';
import { ALL_DTYPES, blockSize, quantizeMatrix } from '../../src/quant/formats.js';
import type { DType } from '../../src/io/tensor.js';

let seed = 7;
function rand(): number { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 * 2 - 1; }
function randArray(n: number, scale = 1): Float32Array { return Float32Array.from({ length: n }, () => rand() * scale); }

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let scale = 1e-6, d = 0;
  for (let i = 0; i < a.length; i++) { scale = Math.max(scale, Math.abs(b[i])); d = Math.max(d, Math.abs(a[i] - b[i])); }
  return d / scale;
}

const ref = new RefBackend();
const candidates: { name: string; make: () => Promise<Backend & { dispose?: () => Promise<void> }> }[] = [
  { name: 'wasm, 1 thread', make: () => WasmBackend.create({ threads: 1, precision: 'exact' }) },
  { name: 'wasm, 2 threads', make: () => WasmBackend.create({ threads: 2, precision: 'exact' }) },
  { name: 'wasm, 3 threads', make: () => WasmBackend.create({ threads: 3, precision: 'exact' }) },
];

for (const c of candidates) {
  describe(`backend conformance: ${c.name} vs ref`, () => {
    let be: Backend & { dispose?: () => Promise<void> };
    before(async () => { be = await c.make(); });
    after(async () => { await be.dispose?.(); });

    for (const dtype of ALL_DTYPES as readonly DType[]) {
      it(`matmul ${dtype}: ragged rows and token counts`, () => {
        const bs = blockSize(dtype);
        const cols = bs === 1 ? 36 : bs === 32 ? 96 : 512;
        for (const rows of [1, 7, 33]) {
          const w = quantizeMatrix(dtype, randArray(rows * cols, 0.5), rows, cols);
          const data = { name: 'w', dtype, rows, cols, bytes: w };
          const mRef = ref.matrix(data), mBe = be.matrix(data);
          for (const T of [1, 3, 4, 5, 9]) {
            const x = randArray(T * cols);
            const want = new Float32Array(T * rows), got = new Float32Array(T * rows);
            ref.matmul(x, T, mRef, want);
            be.matmul(x, T, mBe, got);
            const d = maxRelDiff(got, want);
            assert.ok(d < 1e-5, `${dtype} rows ${rows} T ${T}: relative diff ${d}`);
          }
        }
      });
    }

    it('matrixStack: each stacked matrix is its own slice', () => {
      const E = 3, rows = 5, cols = 64;
      const w = quantizeMatrix('Q8_0', randArray(E * rows * cols), E * rows, cols);
      const stackRef = ref.matrixStack({ name: 'e', dtype: 'Q8_0', rows, cols, bytes: w }, E);
      const stackBe = be.matrixStack({ name: 'e', dtype: 'Q8_0', rows, cols, bytes: w }, E);
      const x = randArray(2 * cols);
      for (let e = 0; e < E; e++) {
        const want = new Float32Array(2 * rows), got = new Float32Array(2 * rows);
        ref.matmul(x, 2, stackRef[e], want);
        be.matmul(x, 2, stackBe[e], got);
        assert.ok(maxRelDiff(got, want) < 1e-5);
      }
      // Different experts really differ.
      const a = new Float32Array(2 * rows), b = new Float32Array(2 * rows);
      be.matmul(x, 2, stackBe[0], a); be.matmul(x, 2, stackBe[1], b);
      assert.ok(maxRelDiff(a, b) > 1e-2);
    });

    it('matrix from a reader (streamed load) equals the in-memory one', () => {
      const rows = 9, cols = 64;
      const w = quantizeMatrix('Q4_0', randArray(rows * cols), rows, cols);
      const fromReader = be.matrix({ name: 'r', dtype: 'Q4_0', rows, cols, readInto: (dst) => dst.set(w) });
      const fromBytes = be.matrix({ name: 'b', dtype: 'Q4_0', rows, cols, bytes: w });
      const x = randArray(cols), a = new Float32Array(rows), b = new Float32Array(rows);
      be.matmul(x, 1, fromReader, a); be.matmul(x, 1, fromBytes, b);
      assert.deepEqual(a, b);
    });

    it('embedRows for every weight type', () => {
      for (const dtype of ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_K', 'Q6_K'] as DType[]) {
        const rows = 11, cols = blockSize(dtype) === 256 ? 256 : 64;
        const w = quantizeMatrix(dtype, randArray(rows * cols), rows, cols);
        const data = { name: 'e', dtype, rows, cols, bytes: w };
        const ids = [0, 10, 3, 3];
        const want = new Float32Array(ids.length * cols), got = new Float32Array(ids.length * cols);
        ref.embedRows(ref.matrix(data), ids, want);
        be.embedRows(be.matrix(data), ids, got);
        assert.deepEqual(got, want);
      }
    });

    it('attention: GQA, ragged key ranges, chunk-style starts', () => {
      for (const [H, Hkv, d] of [[4, 2, 16], [8, 8, 64], [6, 2, 8], [4, 1, 6], [4, 2, 36], [2, 1, 128], [8, 1, 16], [10, 2, 64]]) {
        const rows = 37, T = 5;
        const q = randArray(T * H * d), k = randArray(rows * Hkv * d), v = randArray(rows * Hkv * d);
        const keyStart = Int32Array.from([0, 0, 5, 20, 36]);
        const keyEnd = Int32Array.from([1, 33, 34, 36, 37]);
        const args = { q, k, v, nTokens: T, nHeads: H, nKvHeads: Hkv, headDim: d, keyStart, keyEnd, scale: 1 / Math.sqrt(d) };
        const want = new Float32Array(T * H * d), got = new Float32Array(T * H * d);
        ref.attention({ ...args, out: want });
        be.attention({ ...args, out: got });
        assert.ok(maxRelDiff(got, want) < 1e-5, `H ${H} Hkv ${Hkv} d ${d}`);
      }
    });

    it('attention over hundreds and thousands of keys (split across threads, values summed block by block)', () => {
      const H = 8, Hkv = 2, d = 64, rows = 1600, T = 6; // groups of 4 heads; the value pass goes in blocks of 64 keys
      const q = randArray(T * H * d), k = randArray(rows * Hkv * d), v = randArray(rows * Hkv * d);
      const keyStart = Int32Array.from([0, 0, 100, 512, 599, 3]), keyEnd = Int32Array.from([1, 300, 596, 599, 600, 1600]);
      const args = { q, k, v, nTokens: T, nHeads: H, nKvHeads: Hkv, headDim: d, keyStart, keyEnd, scale: 1 / Math.sqrt(d) };
      const want = new Float32Array(T * H * d), got = new Float32Array(T * H * d);
      ref.attention({ ...args, out: want });
      be.attention({ ...args, out: got });
      assert.ok(maxRelDiff(got, want) < 1e-5);
    });

    it('attention over a KV cache allocated by the backend (read in place)', () => {
      const H = 4, Hkv = 2, d = 16, rows = 20, T = 2;
      const floats = be.floats ?? { alloc: (n: number) => new Float32Array(n), free: () => {} };
      const k = floats.alloc(rows * Hkv * d), v = floats.alloc(rows * Hkv * d);
      k.set(randArray(rows * Hkv * d)); v.set(randArray(rows * Hkv * d));
      const q = randArray(T * H * d);
      const args = { q, k, v, nTokens: T, nHeads: H, nKvHeads: Hkv, headDim: d, keyStart: Int32Array.from([0, 3]), keyEnd: Int32Array.from([19, 20]), scale: 0.25 };
      const want = new Float32Array(T * H * d), got = new Float32Array(T * H * d);
      ref.attention({ ...args, k: Float32Array.from(k), v: Float32Array.from(v), out: want });
      be.attention({ ...args, out: got });
      assert.ok(maxRelDiff(got, want) < 1e-5);
      floats.free(k); floats.free(v);
      // A freed block is reused for the next allocation of the same size.
      const again = floats.alloc(rows * Hkv * d);
      if (be.floats) assert.equal(again.byteOffset, v.byteOffset);
      floats.free(again);
    });

    it('rmsNorm, rope, siluMul', () => {
      const dim = 40, rows = 3;
      const x = randArray(rows * dim, 3), w = randArray(dim);
      for (const weight of [w, null]) {
        const a = new Float32Array(rows * dim), b = new Float32Array(rows * dim);
        ref.rmsNorm(x, rows, dim, weight, 1e-5, a); be.rmsNorm(x, rows, dim, weight, 1e-5, b);
        assert.ok(maxRelDiff(b, a) < 1e-6);
      }
      const freqs = Float64Array.from({ length: 8 }, (_, j) => Math.pow(10000, -j / 8));
      const r1 = randArray(2 * 3 * 16), r2 = Float32Array.from(r1);
      ref.rope(r1, 2, 3, 16, Int32Array.from([5, 9000]), freqs); be.rope(r2, 2, 3, 16, Int32Array.from([5, 9000]), freqs);
      assert.ok(maxRelDiff(r2, r1) < 1e-6);
      const g1 = randArray(50, 4), g2 = Float32Array.from(g1), u = randArray(50);
      ref.siluMul(g1, u, 50); be.siluMul(g2, u, 50);
      assert.ok(maxRelDiff(g2, g1) < 1e-6);
    });

    it('siluMul element by element over the whole float range, short and long (threaded) vectors', () => {
      // Every gate value from −100 to 100 on a fine grid plus the edges of exp's range; each
      // element checked on its own scale (not the vector's), so a bad exp anywhere shows.
      const special = [0, -0, 1e-30, -1e-30, 1e-8, -1e-8, 87, -87, 88.5, -88.5, 89, -89, 100, -100, 1e4, -1e4];
      for (const n of [7, 4099, (1 << 16) + 13]) {
        const g = Float32Array.from({ length: n }, (_, i) => (i < special.length ? special[i] : -100 + (200 * i) / n));
        const up = Float32Array.from({ length: n }, (_, i) => 0.5 + (i % 7) / 3);
        const a = Float32Array.from(g), b = Float32Array.from(g);
        ref.siluMul(a, up, n); be.siluMul(b, up, n);
        for (let i = 0; i < n; i++) {
          // Past gate ≈ −88.7, e^−gate overflows f32 (the reference works in f64): silu < 1e-36 there.
          const tol = 4e-7 * Math.abs(a[i]) + 1e-35;
          assert.ok(Math.abs(a[i] - b[i]) <= tol, `n=${n} gate ${g[i]}: ${b[i]} vs ${a[i]}`);
        }
      }
    });

    it('rmsNorm on ragged widths, in place and into another array, with and without weight', () => {
      for (const dim of [1, 37, 2048]) {
        const rows = 5, x = randArray(rows * dim, 30), w = randArray(dim);
        for (const weight of [w, null]) {
          const a = new Float32Array(rows * dim), b = Float32Array.from(x);
          ref.rmsNorm(x, rows, dim, weight, 1e-5, a); be.rmsNorm(b, rows, dim, weight, 1e-5, b);
          assert.ok(maxRelDiff(b, a) < 1e-6, `dim ${dim}`);
        }
      }
    });
  });
}

describe('backend conformance: matmulMany (several matrices on one input) equals one matmul each, bit for bit', () => {
  const sets: DType[][] = [
    ['Q4_0', 'Q4_0', 'Q4_0'], // q/k/v of a Q4_0 model
    ['Q4_K', 'Q4_K', 'Q6_K'], // Q4_K_M: v in Q6_K, one activation format (Q8_K)
    ['Q8_0', 'Q4_0'], // one format (Q8_0), two kernels
    ['Q8_0', 'Q4_K'], // two formats: one matmul each
    ['F16', 'F32'], // no integer path
    ['Q5_1', 'Q4_1', 'Q5_0', 'Q4_0'], // four matrices, two formats
  ];
  for (const precision of ['fast', 'exact'] as const) {
    for (const threads of [1, 2]) {
      it(`wasm, ${precision}, ${threads} thread${threads > 1 ? 's' : ''}`, async () => {
        const be = await WasmBackend.create({ threads, precision });
        try {
          for (const types of sets) {
            const cols = types.some((t) => blockSize(t) === 256) ? 512 : 96;
            const ms = types.map((dtype, i) => {
              const rows = [7, 33, 5, 12][i];
              return be.matrix({ name: `w${i}`, dtype, rows, cols, bytes: quantizeMatrix(dtype, randArray(rows * cols, 0.5), rows, cols) });
            });
            for (const T of [1, 3, 4, 9]) {
              const x = randArray(T * cols);
              const want = ms.map((m) => { const o = new Float32Array(T * m.rows); be.matmul(x, T, m, o); return o; });
              const got = ms.map((m) => new Float32Array(T * m.rows).fill(NaN));
              be.matmulMany(x, T, ms, got);
              got.forEach((g, i) => assert.ok(g.every((v, j) => Object.is(v, want[i][j])), `${types.join('+')} T ${T}: matrix ${i} (${types[i]}) differs`));
              const viaHelper = ms.map((m) => new Float32Array(T * m.rows));
              matmuls(be, x, T, ms, viaHelper);
              viaHelper.forEach((g, i) => assert.ok(g.every((v, j) => Object.is(v, want[i][j])), `matmuls(): ${types.join('+')} T ${T}: matrix ${i}`));
            }
          }
        } finally {
          await be.dispose();
        }
      });
    }
  }

  it('matmuls() on a backend without matmulMany runs one matmul per matrix', () => {
    const cols = 64, ms = [9, 4].map((rows, i) => ref.matrix({ name: `r${i}`, dtype: 'Q8_0', rows, cols, bytes: quantizeMatrix('Q8_0', randArray(rows * cols), rows, cols) }));
    const x = randArray(2 * cols);
    const want = ms.map((m) => { const o = new Float32Array(2 * m.rows); ref.matmul(x, 2, m, o); return o; });
    const got = ms.map((m) => new Float32Array(2 * m.rows));
    assert.equal((ref as Backend).matmulMany, undefined);
    matmuls(ref, x, 2, ms, got);
    assert.deepEqual(got, want);
  });
});
