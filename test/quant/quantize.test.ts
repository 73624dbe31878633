import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Llama4Error } from '../../src/errors.js';
import type { DType } from '../../src/io/tensor.js';
import {
  ALL_DTYPES, blockSize, dequantizeAll, dequantizeRow, f16ToF32, quantizeMatrix, quantizeRow, rowBytes,
} from '../../src/quant/formats.js';
import { gaussian, rng } from './util.js';

function roundTrip(dtype: DType, x: Float32Array, cols: number): Float32Array {
  return dequantizeAll(dtype, quantizeMatrix(dtype, x, x.length / cols, cols), cols);
}

function relRmse(x: Float32Array, y: Float32Array): number {
  let se = 0;
  let sx = 0;
  for (let i = 0; i < x.length; i++) {
    se += (x[i] - y[i]) ** 2;
    sx += x[i] ** 2;
  }
  return Math.sqrt(se / sx);
}

/** Largest |x − y| / max|x| over groups of `group` elements (a per-block error bound). */
function worstBlockError(x: Float32Array, y: Float32Array, group: number): number {
  let worst = 0;
  for (let b = 0; b < x.length; b += group) {
    let amax = 0;
    let err = 0;
    for (let i = b; i < b + group; i++) {
      amax = Math.max(amax, Math.abs(x[i]));
      err = Math.max(err, Math.abs(x[i] - y[i]));
    }
    if (amax > 0) worst = Math.max(worst, err / amax);
  }
  return worst;
}

// Bounds per type: the worst error inside a block relative to the block's largest magnitude
// (from the quantizer's step size: d/2 for rounding, a full step where ggml clamps, plus fp16
// rounding of the scales), and a relative RMS error on Gaussian weights with ~2× headroom
// over what ggml's own quantizers achieve.
const BOUNDS: Record<DType, { block: number; rms: number }> = {
  F32: { block: 0, rms: 0 },
  F16: { block: 2 ** -11, rms: 5e-4 },
  BF16: { block: 2 ** -8, rms: 4e-3 },
  Q8_0: { block: 0.5 / 127 + 2 ** -11, rms: 0.011 },
  Q4_0: { block: 1 / 8 + 2 ** -9, rms: 0.17 },
  Q4_1: { block: (0.5 * 2) / 15 + 2 ** -8, rms: 0.16 },
  Q5_0: { block: 1 / 16 + 2 ** -9, rms: 0.085 },
  Q5_1: { block: (0.5 * 2) / 31 + 2 ** -8, rms: 0.076 },
  Q4_K: { block: 0.12, rms: 0.14 },
  Q5_K: { block: 0.06, rms: 0.072 },
  Q6_K: { block: 0.03, rms: 0.036 },
};

describe('quantize → dequantize round trips', () => {
  for (const dtype of ALL_DTYPES) {
    it(`${dtype} stays within its error bounds on Gaussian data`, () => {
      const cols = 512;
      const x = gaussian(cols * 24, 0.05, 11);
      // A few outliers, as real weights have.
      for (let i = 0; i < x.length; i += 997) x[i] *= 8;
      const y = roundTrip(dtype, x, cols);
      const group = Math.max(32, blockSize(dtype));
      assert.ok(worstBlockError(x, y, group) <= BOUNDS[dtype].block, `${dtype} block error ${worstBlockError(x, y, group)}`);
      assert.ok(relRmse(x, y) <= BOUNDS[dtype].rms, `${dtype} relative RMSE ${relRmse(x, y)}`);
    });
  }

  it('F32 is exact', () => {
    const x = gaussian(64, 1, 3);
    assert.deepEqual(roundTrip('F32', x, 64), x);
  });

  it('all-zero and constant blocks decode to exactly that (no NaN from a zero scale)', () => {
    for (const dtype of ALL_DTYPES) {
      const n = blockSize(dtype) === 1 ? 32 : blockSize(dtype);
      // ±0 both count: Q4_0/Q5_0 store d = 0/−8 = −0, exactly as ggml does.
      assert.ok(roundTrip(dtype, new Float32Array(n), n).every((v) => v === 0), dtype);
      const c = new Float32Array(n).fill(0.5);
      const y = roundTrip(dtype, c, n);
      assert.ok(y.every((v) => Math.abs(v - 0.5) <= 0.5 * BOUNDS[dtype].block + 1e-6), `${dtype}: ${y[0]}`);
    }
  });

  it('Q4_0/Q5_0 map the signed extreme of a block exactly to the end quant', () => {
    const x = new Float32Array(32);
    x[3] = -4; // d = max/-8 = 0.5 (Q4_0) or max/-16 = 0.25 (Q5_0), both exact in fp16
    x[10] = 1;
    for (const dtype of ['Q4_0', 'Q5_0'] as const) {
      const y = roundTrip(dtype, x, 32);
      assert.equal(y[3], -4, dtype);
      assert.equal(y[0], 0, dtype);
    }
  });

  it('Q8_0 stores d = amax/127 and q = round(x/d), halfway cases away from zero', () => {
    const x = new Float32Array(32);
    x[0] = 127;
    x[1] = 2.5; // exactly halfway: roundf gives 3
    x[2] = -2.5; // and -3
    const b = quantizeMatrix('Q8_0', x, 1, 32);
    assert.equal(f16ToF32(b[0] | (b[1] << 8)), 1);
    assert.equal(b[2], 127);
    assert.equal(b[3], 3);
    assert.equal((b[4] << 24) >> 24, -3);
  });

  it('writes exactly rowBytes at the requested offset and nothing else', () => {
    for (const dtype of ALL_DTYPES) {
      const n = blockSize(dtype) === 1 ? 32 : 2 * blockSize(dtype);
      const x = gaussian(n + 5, 1, 5);
      const size = rowBytes(dtype, n);
      const dst = new Uint8Array(size + 20).fill(0xee);
      quantizeRow(dtype, x, 5, n, dst, 9);
      assert.ok(dst.subarray(0, 9).every((v) => v === 0xee), `${dtype} wrote before its range`);
      assert.ok(dst.subarray(9 + size).every((v) => v === 0xee), `${dtype} wrote past its range`);
      const alone = new Uint8Array(size);
      quantizeRow(dtype, x.slice(5), 0, n, alone, 0);
      assert.deepEqual(dst.subarray(9, 9 + size), alone, `${dtype} depends on the offsets`);
    }
  });

  it('rejects bad lengths and ranges with Llama4Error', () => {
    assert.throws(() => quantizeRow('Q4_0', new Float32Array(48), 0, 48, new Uint8Array(100), 0), Llama4Error);
    assert.throws(() => quantizeRow('Q8_0', new Float32Array(32), 0, 32, new Uint8Array(33), 0), Llama4Error);
    assert.throws(() => quantizeRow('Q6_K', new Float32Array(255), 0, 256, new Uint8Array(210), 0), Llama4Error);
  });

  it('is deterministic: the same input always gives the same bytes', () => {
    const x = gaussian(1024, 0.02, 99);
    for (const dtype of ALL_DTYPES) {
      assert.deepEqual(quantizeMatrix(dtype, x, 4, 256), quantizeMatrix(dtype, x, 4, 256), dtype);
    }
  });

  it('re-quantizing dequantized Q8_0/Q4_0 data reproduces the same bytes (fixed point)', () => {
    const x = gaussian(32 * 64, 1, 1234);
    for (const dtype of ['Q8_0', 'Q4_0'] as const) {
      const q1 = quantizeMatrix(dtype, x, 64, 32);
      const q2 = quantizeMatrix(dtype, dequantizeAll(dtype, q1, 32), 64, 32);
      assert.deepEqual(q2, q1, dtype);
    }
  });

  it('dequantizeRow of any random bytes never reads outside its block range', () => {
    const r = rng(77);
    for (const dtype of ALL_DTYPES) {
      const n = blockSize(dtype) === 1 ? 8 : blockSize(dtype);
      const size = rowBytes(dtype, n);
      const bytes = Uint8Array.from({ length: size }, () => Math.floor(r() * 256));
      const out = new Float32Array(n);
      dequantizeRow(dtype, bytes, 0, out, 0, n);
      assert.throws(() => dequantizeRow(dtype, bytes.subarray(1), 0, out, 0, n), /out of bounds/);
    }
  });
});
