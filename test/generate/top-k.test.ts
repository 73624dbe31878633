import { test } from 'node:test';
import assert from 'node:assert/strict';
import { argmax, selectTopK } from '../../src/generate/top-k.js';
import { Xoshiro128StarStar } from '../../src/generate/rng.js';

/** Reference: full sort, value descending, then id ascending. */
function referenceTopK(values: ArrayLike<number>, k: number): number[] {
  const ids = Array.from({ length: values.length }, (_, i) => i);
  ids.sort((a, b) => (values[b] > values[a] ? 1 : values[b] < values[a] ? -1 : a - b));
  return ids.slice(0, k);
}

test('argmax breaks ties toward the lowest id', () => {
  assert.equal(argmax([1, 3, 2]), 1);
  assert.equal(argmax([5, 1, 5, 5]), 0);
  assert.equal(argmax([1, 7, 7]), 1);
  assert.equal(argmax([-Infinity, -Infinity, -3]), 2);
  assert.equal(argmax([]), -1);
});

test('selectTopK: exact small case with ties', () => {
  const values = [0.1, 5, 3, 3, 4, -2, 3, 0, 1, 2];
  const out = new Int32Array(3);
  assert.equal(selectTopK(values, 3, out), 3);
  assert.deepEqual([...out], [1, 4, 2]);
});

test('selectTopK matches a full sort (heap and sort paths, many ties, infinities)', () => {
  const rng = Xoshiro128StarStar.fromSeed(5);
  const values = new Float32Array(1000);
  for (let i = 0; i < values.length; i++) values[i] = (rng.nextUint32() % 50) - 25;
  values[17] = -Infinity;
  values[400] = -Infinity;
  for (const k of [1, 2, 5, 40, 249, 250, 600, 1000, 5000]) {
    const small = new Int32Array(Math.min(k, values.length));
    const n = selectTopK(values, k, small);
    assert.deepEqual([...small.subarray(0, n)], referenceTopK(values, k), `k=${k} (heap)`);
    const big = new Int32Array(values.length);
    const m = selectTopK(values, k, big);
    assert.deepEqual([...big.subarray(0, m)], referenceTopK(values, k), `k=${k} (room for all)`);
  }
});
