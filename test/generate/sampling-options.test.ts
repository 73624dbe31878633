import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_SAMPLING_OPTIONS, validateSamplingOptions, type SamplingOptions,
} from '../../src/generate/sampling-options.js';
import { Llama4Error } from '../../src/errors.js';

test('defaults fill in unset options', () => {
  const r = validateSamplingOptions({});
  assert.deepEqual({ ...r, logitBias: [...r.logitBias] }, { ...DEFAULT_SAMPLING_OPTIONS, logitBias: [], seed: undefined });
  assert.equal(r.temperature, 1);
  assert.equal(r.penaltyLastN, 64);
});

test('valid options are kept; logit bias becomes a map', () => {
  const r = validateSamplingOptions({
    temperature: 0, topK: 40, topP: 1, minP: 0, repetitionPenalty: 1.1, penaltyLastN: -1,
    presencePenalty: -2, frequencyPenalty: 2, logitBias: { '0': -100, 7: 2.5 }, seed: -3,
  }, 8);
  assert.deepEqual([...r.logitBias], [[0, -100], [7, 2.5]]);
  assert.equal(r.seed, -3);
  assert.equal(r.penaltyLastN, -1);
  assert.deepEqual([...validateSamplingOptions({ logitBias: new Map([[3, 1]]) }).logitBias], [[3, 1]]);
});

test('each invalid option is rejected by name', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ temperature: -0.1 }, /temperature/],
    [{ temperature: Number.NaN }, /temperature/],
    [{ temperature: Infinity }, /temperature/],
    [{ temperature: '1' }, /temperature/],
    [{ topK: -1 }, /topK/],
    [{ topK: 2.5 }, /topK/],
    [{ topP: 0 }, /topP/],
    [{ topP: 1.01 }, /topP/],
    [{ topP: Number.NaN }, /topP/],
    [{ minP: -0.1 }, /minP/],
    [{ minP: 1.1 }, /minP/],
    [{ repetitionPenalty: 0 }, /repetitionPenalty/],
    [{ repetitionPenalty: -1 }, /repetitionPenalty/],
    [{ repetitionPenalty: Number.NaN }, /repetitionPenalty/],
    [{ penaltyLastN: -2 }, /penaltyLastN/],
    [{ penaltyLastN: 1.5 }, /penaltyLastN/],
    [{ presencePenalty: Number.NaN }, /presencePenalty/],
    [{ frequencyPenalty: Infinity }, /frequencyPenalty/],
    [{ logitBias: { '1.5': 1 } }, /logitBias/],
    [{ logitBias: { '-1': 1 } }, /logitBias/],
    [{ logitBias: { abc: 1 } }, /logitBias/],
    [{ logitBias: { '01': 1 } }, /logitBias/],
    [{ logitBias: new Map([[2.5, 1]]) }, /logitBias/],
    [{ logitBias: { 1: Number.NaN } }, /logitBias\[1\]/],
    [{ logitBias: [1, 2] }, /logitBias/],
    [{ seed: 1.5 }, /seed/],
    [{ seed: 2 ** 60 }, /seed/],
    [{ top_p: 0.9 }, /unknown sampling option "top_p"/],
  ];
  for (const [options, name] of cases) {
    assert.throws(() => validateSamplingOptions(options as SamplingOptions), (e: unknown) => {
      assert.ok(e instanceof Llama4Error, `${JSON.stringify(options)} threw a non-Llama4Error`);
      assert.match(e.message, name);
      return true;
    }, `${JSON.stringify(options)} was accepted`);
  }
});

test('logit bias ids are checked against the vocabulary when it is known', () => {
  assert.doesNotThrow(() => validateSamplingOptions({ logitBias: { 9: 1 } }, 10));
  assert.throws(() => validateSamplingOptions({ logitBias: { 10: 1 } }, 10), /outside the vocabulary of 10/);
});
