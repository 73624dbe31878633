import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logSumExp, tokenLogprob, topLogprobs } from '../../src/generate/logprobs.js';
import { Llama4Error } from '../../src/errors.js';

function close(actual: number, expected: number, tol = 1e-12): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${actual} ≠ ${expected}`);
}

test('tokenLogprob is the log-softmax of the raw logits', () => {
  // Hand computation: ln(e + e² + e³) = 3.40760596444438.
  const logits = new Float32Array([1, 2, 3]);
  close(logSumExp(logits), 3.40760596444438);
  close(tokenLogprob(logits, 0), -2.40760596444438);
  close(tokenLogprob(logits, 1), -1.4076059644443801);
  close(tokenLogprob(logits, 2), -0.40760596444438013);
  close(tokenLogprob(logits, 2, 3.5), -0.5); // precomputed normalizer is used as given
});

test('topLogprobs: most likely first, ties toward the lowest id', () => {
  const logits = new Float32Array([0.5, -1.25, 2, 2, 0]);
  const top = topLogprobs(logits, 3);
  assert.deepEqual(top.map((t) => t.id), [2, 3, 0]);
  close(top[0].logprob, -0.8743179301028277);
  close(top[1].logprob, -0.8743179301028277);
  close(top[2].logprob, -2.3743179301028277);
  assert.equal(topLogprobs(logits, 10).length, 5);
  assert.deepEqual(topLogprobs(logits, 0), []);
});

test('logprobs stay exact for large logits (shifted by the max)', () => {
  const logits = new Float32Array([1000, 1000]);
  close(tokenLogprob(logits, 1), -Math.LN2);
  assert.equal(tokenLogprob(new Float32Array([0, -Infinity]), 1), -Infinity);
});

test('logprobs reject bad input', () => {
  assert.throws(() => tokenLogprob(new Float32Array([1, 2]), 2), Llama4Error);
  assert.throws(() => tokenLogprob(new Float32Array([1, 2]), -1), Llama4Error);
  assert.throws(() => logSumExp(new Float32Array([1, Number.NaN])), /NaN at token 1/);
  assert.throws(() => logSumExp(new Float32Array([-Infinity, -Infinity])), Llama4Error);
  assert.throws(() => topLogprobs(new Float32Array([1]), 1.5), Llama4Error);
});
