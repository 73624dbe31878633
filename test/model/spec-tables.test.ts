/** The spec's tables, pinned: RoPE frequencies, attention temperature, chunk visibility. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { attentionTemperature, llama3FreqDivisors, ropeFrequencies, applyRope } from '../../src/model/rope.js';
import { firstVisiblePosition, visibleKeyCount } from '../../src/model/attention-mask.js';

describe('attention temperature (NoPE layers, floor 8192, scale 0.1)', () => {
  const temp = (p: number) => attentionTemperature(p, 8192, 0.1);
  it('is exactly 1 up to p = 8190', () => {
    assert.equal(temp(0), 1);
    assert.equal(temp(8190), 1);
  });
  it('steps to 1 + 0.1·ln 2 at p = 8191 and stays there to p = 16382', () => {
    assert.ok(Math.abs(temp(8191) - (1 + 0.1 * Math.log(2))) < 1e-12);
    assert.ok(Math.abs(temp(8191) - 1.0693) < 1e-4);
    assert.equal(temp(16382), temp(8191));
  });
  it('is 1 + 0.1·ln 3 ≈ 1.1099 at p = 16383, and matches the spec further out', () => {
    assert.ok(Math.abs(temp(16383) - (1 + 0.1 * Math.log(3))) < 1e-12);
    assert.ok(Math.abs(temp(16383) - 1.1099) < 1e-4);
    assert.ok(Math.abs(temp(131071) - 1.2833) < 1e-4);
    assert.ok(Math.abs(temp(1048575) - 1.4860) < 1e-4);
  });
});

describe('chunked attention visibility (chunk 8192)', () => {
  it('p = 8191 sees 8192 keys, p = 8192 sees 1 key on RoPE (chunked) layers', () => {
    assert.equal(visibleKeyCount(8191, 8192), 8192);
    assert.equal(visibleKeyCount(8192, 8192), 1);
    assert.equal(firstVisiblePosition(8192, 8192), 8192);
    assert.equal(visibleKeyCount(16383, 8192), 8192);
    assert.equal(visibleKeyCount(16384, 8192), 1);
  });
  it('NoPE (global) layers see p + 1 keys', () => {
    assert.equal(visibleKeyCount(8191, null), 8192);
    assert.equal(visibleKeyCount(8192, null), 8193);
    assert.equal(visibleKeyCount(0, null), 1);
  });
});

describe('Scout RoPE frequencies (θ = 500000, head dim 128)', () => {
  const base = (j: number) => Math.pow(500000, -2 * j / 128);
  it('factor 16, low 1, high 1: 29 pairs (j ≥ 35) divided by 16, the rest untouched, no NaN', () => {
    const div = llama3FreqDivisors(500000, 128, { factor: 16, lowFreqFactor: 1, highFreqFactor: 1, originalMaxPositions: 8192 });
    assert.equal(div.length, 64);
    for (const x of div) assert.ok(Number.isFinite(x));
    const scaled = [...div].map((x, j) => [x, j] as const).filter(([x]) => x !== 1);
    assert.equal(scaled.length, 29);
    for (const [x, j] of scaled) { assert.equal(x, 16); assert.ok(j >= 35); }
    const f = ropeFrequencies({ theta: 500000, dims: 128, freqDivisors: div });
    assert.ok(Math.abs(f[0] - 1) < 1e-15);
    assert.ok(Math.abs(f[34] - base(34)) < 1e-18);
    assert.ok(Math.abs(f[35] - base(35) / 16) < 1e-18);
    for (const x of f) assert.ok(Number.isFinite(x) && x > 0);
  });
  it('factor 8, low 1, high 4: 35 pairs (j ≥ 29) changed, smooth between wavelengths 2048 and 8192, no NaN', () => {
    const div = llama3FreqDivisors(500000, 128, { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 });
    const changed = [...div].map((x, j) => [x, j] as const).filter(([x]) => x !== 1);
    assert.equal(changed.length, 35);
    assert.ok(changed.every(([, j]) => j >= 29));
    for (let j = 0; j < 64; j++) {
      const wl = 2 * Math.PI / base(j);
      assert.ok(Number.isFinite(div[j]));
      if (wl < 2048) assert.equal(div[j], 1);
      else if (wl > 8192) assert.equal(div[j], 8);
      else {
        const s = (8192 / wl - 1) / (4 - 1);
        assert.ok(Math.abs(div[j] - 1 / ((1 - s) / 8 + s)) < 1e-12);
        assert.ok(div[j] > 1 && div[j] < 8);
      }
    }
  });
});

describe('RoPE rotation', () => {
  it('rotates adjacent pairs, equal to half-split rotation on permuted inputs', () => {
    const d = 8, freqs = new Float64Array([1, 0.1, 0.01, 0.001]);
    const x = Float32Array.from({ length: d }, (_, i) => Math.sin(i + 1));
    const adj = Float32Array.from(x);
    applyRope(adj, 1, 1, d, [7], freqs);
    // rotate_half convention: pair j is (x[j], x[j + d/2]).
    const half = new Float32Array(d);
    for (let j = 0; j < d / 2; j++) {
      const a = x[2 * j], b = x[2 * j + 1], c = Math.cos(7 * freqs[j]), s = Math.sin(7 * freqs[j]);
      half[j] = a * c - b * s; half[j + d / 2] = a * s + b * c;
    }
    for (let j = 0; j < d / 2; j++) {
      assert.ok(Math.abs(adj[2 * j] - half[j]) < 1e-6);
      assert.ok(Math.abs(adj[2 * j + 1] - half[j + d / 2]) < 1e-6);
    }
  });
});
