import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  allCandidates, applyLogitBias, applyPresenceFrequencyPenalty, applyRepetitionPenalty, candidateMass,
  drawCandidate, minPCandidates, softmaxWeights, topKCandidates, topPCandidates, type Candidates,
} from '../../src/generate/sampler-steps.js';

function candidates(ids: number[], sorted: boolean, room = ids.length): Candidates {
  const buf = new Int32Array(Math.max(room, ids.length));
  buf.set(ids);
  return { ids: buf, count: ids.length, sorted };
}

const kept = (c: Candidates): number[] => [...c.ids.subarray(0, c.count)];

test('applyLogitBias adds to the listed logits only', () => {
  const logits = new Float32Array([1, 2, 3]);
  applyLogitBias(logits, new Map([[0, -100], [2, 0.5]]));
  assert.deepEqual([...logits], [-99, 2, 3.5]);
});

test('applyRepetitionPenalty: divide positive, multiply negative', () => {
  const logits = new Float32Array([2, -1, 0.5, 3, 0]);
  applyRepetitionPenalty(logits, [0, 1, 4], 2);
  assert.deepEqual([...logits], [1, -2, 0.5, 3, 0]);
});

test('applyPresenceFrequencyPenalty: presence once, frequency per occurrence', () => {
  const logits = new Float32Array([1, 1, 1]);
  const counts = new Int32Array([3, 0, 1]);
  applyPresenceFrequencyPenalty(logits, [0, 2], counts, 0.5, 0.25);
  assert.deepEqual([...logits], [-0.25, 1, 0.25]);
});

test('softmaxWeights: top weight is exactly 1, tempered exponent of the gap', () => {
  const logits = new Float32Array([0, 2, 1]);
  const weights = new Float64Array(3);
  const c = candidates([], false, 3);
  allCandidates(c, 3);
  const total = softmaxWeights(c, logits, 0.5, weights);
  assert.deepEqual([...weights], [Math.exp(-4), 1, Math.exp(-2)]);
  assert.equal(total, Math.exp(-4) + 1 + Math.exp(-2));
});

test('topKCandidates keeps k ids, sorted', () => {
  const c = candidates([], false, 5);
  topKCandidates(c, new Float32Array([3, 1, 4, 1, 5]), 2);
  assert.deepEqual(kept(c), [4, 2]);
  assert.equal(c.sorted, true);
});

test('topPCandidates: mass exactly p is enough (≥, not >)', () => {
  const weights = new Float64Array([0.25, 0.5, 0.25]);
  const sorted = candidates([1, 0, 2], true);
  topPCandidates(sorted, new Float32Array([1, 2, 1]), weights, 1, 0.75);
  assert.deepEqual(kept(sorted), [1, 0]);
  // Unsorted input is sorted on the way (ties toward the lowest id).
  const all = candidates([0, 1, 2], false);
  topPCandidates(all, new Float32Array([1, 2, 1]), weights, 1, 0.75);
  assert.deepEqual(kept(all), [1, 0]);
  assert.equal(all.sorted, true);
});

test('minPCandidates: weight exactly minP × max is kept; order is preserved', () => {
  const weights = new Float64Array([0.25, 1, 0.5, 0.125]);
  const c = candidates([0, 1, 2, 3], false);
  minPCandidates(c, weights, 0.5);
  assert.deepEqual(kept(c), [1, 2]);
  assert.equal(candidateMass(c, weights), 1.5);
});

test('drawCandidate: inverse CDF over the candidates in order', () => {
  const weights = new Float64Array([1, 2, 1]);
  const c = candidates([0, 1, 2], false);
  const draw = (u: number): number => drawCandidate(c, weights, 4, u);
  assert.equal(draw(0), 0);
  assert.equal(draw(0.2499), 0);
  assert.equal(draw(0.25), 1);
  assert.equal(draw(0.7499), 1);
  assert.equal(draw(0.75), 2);
  assert.equal(draw(0.9999999), 2);
  // Rounding past the end returns the last candidate with weight, never a zero-weight one.
  const z = new Float64Array([1, 1, 0]);
  assert.equal(drawCandidate(c, z, 2, 1), 1);
});
