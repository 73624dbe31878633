import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSampler, type SampledToken, type TokenHistory } from '../../src/generate/sampler.js';
import { Xoshiro128StarStar } from '../../src/generate/rng.js';
import { Llama4Error } from '../../src/errors.js';

const EMPTY: TokenHistory = { prompt: [], generated: [] };

/** Independent float64 reference: softmax(logits / T). */
function softmax(logits: ArrayLike<number>, temperature = 1): number[] {
  const xs = Array.from(logits, (x) => x / temperature);
  const max = xs.reduce((a, b) => Math.max(a, b), -Infinity); // no spread: vocabularies exceed the argument limit
  const e = xs.map((x) => Math.exp(x - max));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / z);
}

/** Reference distribution restricted to `ids` and renormalized, most likely first. */
function restricted(logits: ArrayLike<number>, ids: number[], temperature = 1): SampledToken[] {
  const p = softmax(logits, temperature);
  const z = ids.reduce((a, id) => a + p[id], 0);
  return ids.map((id) => ({ id, prob: p[id] / z })).sort((a, b) => b.prob - a.prob || a.id - b.id);
}

function assertDistribution(actual: SampledToken[], expected: SampledToken[], tol = 1e-12): void {
  assert.deepEqual(actual.map((t) => t.id), expected.map((t) => t.id));
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i].prob - expected[i].prob) <= tol, `id ${actual[i].id}: ${actual[i].prob} ≠ ${expected[i].prob}`);
  }
}

function randomLogits(n: number, seed: number, spread = 6): Float32Array {
  const rng = Xoshiro128StarStar.fromSeed(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng.nextFloat() - 0.5) * spread;
  return out;
}

const PROBS = [0.5, 0.2, 0.15, 0.1, 0.05];
const LOG_PROBS = new Float32Array(PROBS.map(Math.log));

test('greedy picks the argmax, ties toward the lowest id', () => {
  const s = createSampler({ temperature: 0 }, 4);
  assert.equal(s.sample(new Float32Array([1, 3, 2, 0]), EMPTY), 1);
  assert.equal(s.sample(new Float32Array([5, 1, 5, 5]), EMPTY), 0);
  assert.equal(s.sample(new Float32Array([1, 7, 7, -1]), EMPTY), 1);
  assert.deepEqual(s.sampleWithProbs(new Float32Array([0, 0, 9, 0]), EMPTY), { id: 2, prob: 1 });
});

test('greedy is unaffected by truncation settings', () => {
  const s = createSampler({ temperature: 0, topK: 1, topP: 0.1, minP: 0.9, seed: 1 }, 4);
  assert.equal(s.sample(new Float32Array([0, 2, 2, 1]), EMPTY), 1);
});

test('the same seed gives the same tokens; different seeds differ', () => {
  const logits = randomLogits(50, 3, 1);
  const draw = (seed: number): number[] => {
    const s = createSampler({ temperature: 1, seed }, 50);
    return Array.from({ length: 300 }, () => s.sample(logits, EMPTY));
  };
  assert.deepEqual(draw(123), draw(123));
  assert.notDeepEqual(draw(123), draw(124));
  const distinct = new Set(draw(9)).size;
  assert.ok(distinct > 30, `only ${distinct} distinct tokens in 300 draws over 50`);
});

test('an unseeded sampler reports its random seed, which reproduces it', () => {
  const logits = randomLogits(20, 4, 1);
  const a = createSampler({}, 20);
  assert.ok(Number.isSafeInteger(a.seed));
  const b = createSampler({ seed: a.seed }, 20);
  for (let i = 0; i < 50; i++) assert.equal(a.sample(logits, EMPTY), b.sample(logits, EMPTY));
});

test('draw frequencies match softmax(logits / T)', () => {
  const logits = new Float32Array([1, 2, 0.5, -1]);
  const T = 0.7;
  const s = createSampler({ temperature: T, seed: 1234 }, 4);
  const n = 20_000;
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) counts[s.sample(logits, EMPTY)]++;
  const expected = softmax(logits, T);
  for (let id = 0; id < 4; id++) {
    // Standard error is at most sqrt(0.25 / 20000) ≈ 0.0035; allow about 3σ.
    assert.ok(Math.abs(counts[id] / n - expected[id]) < 0.01, `id ${id}: ${counts[id] / n} vs ${expected[id]}`);
  }
  assertDistribution(s.distribution(logits, EMPTY), restricted(logits, [0, 1, 2, 3], T));
});

test('sampleWithProbs reports the probability of the drawn token', () => {
  const logits = new Float32Array([1, 2, 0.5, -1]);
  const s = createSampler({ temperature: 1.3, topK: 3, seed: 8 }, 4);
  const dist = new Map(s.distribution(logits, EMPTY).map((t) => [t.id, t.prob]));
  for (let i = 0; i < 50; i++) {
    const { id, prob } = s.sampleWithProbs(logits, EMPTY);
    assert.equal(prob, dist.get(id));
  }
});

test('top-k keeps exactly k candidates, ties toward the lowest id', () => {
  const logits = new Float32Array([0.1, 5, 3, 3, 4, -2, 3, 0, 1, 2]);
  const s = createSampler({ topK: 3, seed: 2 }, 10);
  assertDistribution(s.distribution(logits, EMPTY), restricted(logits, [1, 4, 2]));
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) seen.add(s.sample(logits, EMPTY));
  assert.deepEqual([...seen].sort((a, b) => a - b), [1, 2, 4]);
  // topK ≥ vocabulary size is the same as off.
  assert.equal(createSampler({ topK: 10, seed: 2 }, 10).distribution(logits, EMPTY).length, 10);
});

test('top-k over a Llama 4 sized vocabulary selects the true top k', () => {
  const V = 202048;
  const logits = randomLogits(V, 6, 20);
  const ids = Array.from({ length: V }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b).slice(0, 40);
  const s = createSampler({ topK: 40, temperature: 0.8, seed: 3 }, V);
  assertDistribution(s.distribution(logits, EMPTY), restricted(logits, ids, 0.8));
});

test('top-p keeps the smallest most-likely prefix with mass ≥ p', () => {
  const dist = (topP: number): number[] =>
    createSampler({ topP, seed: 1 }, 5).distribution(LOG_PROBS, EMPTY).map((t) => t.id);
  assert.deepEqual(dist(0.45), [0]);
  assert.deepEqual(dist(0.6), [0, 1]);
  assert.deepEqual(dist(0.75), [0, 1, 2]);
  assert.deepEqual(dist(0.9), [0, 1, 2, 3]);
  assert.deepEqual(dist(1), [0, 1, 2, 3, 4]);
  assertDistribution(createSampler({ topP: 0.75 }, 5).distribution(LOG_PROBS, EMPTY), restricted(LOG_PROBS, [0, 1, 2]));
});

test('top-p applies to the tempered distribution', () => {
  // At T = 0.5 the top token has 0.867 of the mass, so p = 0.85 keeps it alone (at T = 1 it has 0.665).
  const logits = new Float32Array([2, 1, 0]);
  const ids = createSampler({ temperature: 0.5, topP: 0.85 }, 3).distribution(logits, EMPTY).map((t) => t.id);
  assert.deepEqual(ids, [0]);
  assert.deepEqual(createSampler({ temperature: 1, topP: 0.85 }, 3).distribution(logits, EMPTY).map((t) => t.id), [0, 1]);
});

test('top-p without top-k on a large vocabulary matches a full-sort reference', () => {
  const V = 5000;
  const logits = randomLogits(V, 7, 6);
  const p = softmax(logits);
  const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b);
  for (const topP of [0.05, 0.5, 0.9, 0.999]) {
    let cum = 0;
    let k = 0;
    while (cum < topP && k < V) cum += p[order[k++]];
    const actual = createSampler({ topP, seed: 1 }, V).distribution(logits, EMPTY);
    assert.ok(k > 1, 'test needs a nucleus of several tokens');
    assertDistribution(actual, restricted(logits, order.slice(0, k)), 1e-9);
  }
});

test('top-p on a Llama 4 sized vocabulary, nuclei of thousands of tokens', () => {
  // Spread 40 puts the 0.1 / 0.5 / 0.9 nuclei at roughly 400 / 3600 / 12000 tokens, so the partial
  // selection has to grow past its first 256 (heap) and, for the largest, fall back to a full sort.
  const V = 202048;
  const logits = randomLogits(V, 8, 40);
  const p = softmax(logits);
  const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b);
  for (const topP of [0.1, 0.5, 0.9]) {
    let cum = 0;
    let k = 0;
    while (cum < topP && k < V) cum += p[order[k++]];
    assert.ok(k > 256, `nucleus of ${k} is too small to exercise the growth`);
    const actual = createSampler({ topP, seed: 1 }, V).distribution(logits, EMPTY);
    assertDistribution(actual, restricted(logits, order.slice(0, k)), 1e-9);
  }
});

test('min-p keeps tokens with probability ≥ minP × the top probability (after temperature)', () => {
  const ids = (minP: number, temperature = 1): number[] =>
    createSampler({ minP, temperature }, 5).distribution(LOG_PROBS, EMPTY).map((t) => t.id);
  assert.deepEqual(ids(0.25), [0, 1, 2]); // threshold 0.125
  assert.deepEqual(ids(0.35), [0, 1]); // threshold 0.175
  assert.deepEqual(ids(1), [0]);
  // At T = 2 the ratios to the top become sqrt(0.4, 0.3, 0.2, 0.1) = 0.63, 0.55, 0.45, 0.32.
  assert.deepEqual(ids(0.35, 2), [0, 1, 2, 3]);
  assertDistribution(createSampler({ minP: 0.25 }, 5).distribution(LOG_PROBS, EMPTY), restricted(LOG_PROBS, [0, 1, 2]));
});

test('top-k, top-p and min-p combine', () => {
  // top-k 4 leaves 0.5, 0.2, 0.15, 0.1; renormalized 0.526, 0.211, 0.158, 0.105, so top-p 0.7
  // stops at the second token (0.737); min-p 0.1 (threshold 0.053) then removes nothing more.
  const s = createSampler({ topK: 4, topP: 0.7, minP: 0.1 }, 5);
  assertDistribution(s.distribution(LOG_PROBS, EMPTY), restricted(LOG_PROBS, [0, 1]));
  const m = createSampler({ topK: 4, minP: 0.35 }, 5);
  assertDistribution(m.distribution(LOG_PROBS, EMPTY), restricted(LOG_PROBS, [0, 1]));
});

test('repetition penalty divides positive and multiplies negative logits, once per token', () => {
  const logits = new Float32Array([2, -1, 0.5, 3]);
  const history = { prompt: [0], generated: [1, 1] };
  const s = createSampler({ repetitionPenalty: 2, seed: 1 }, 4);
  // Penalized logits: [2 / 2, -1 × 2, 0.5, 3] = [1, -2, 0.5, 3].
  assertDistribution(s.distribution(logits, history), restricted([1, -2, 0.5, 3], [0, 1, 2, 3]));
  // A penalty below 1 rewards repetition.
  const r = createSampler({ repetitionPenalty: 0.5 }, 4);
  assertDistribution(r.distribution(logits, history), restricted([4, -0.5, 0.5, 3], [0, 1, 2, 3]));
});

test('repetition penalty window: last penaltyLastN tokens of prompt + generated', () => {
  const logits = new Float32Array([2, 2, 2]);
  const history = { prompt: [0, 1], generated: [2] };
  const dist = (penaltyLastN: number): SampledToken[] =>
    createSampler({ repetitionPenalty: 2, penaltyLastN }, 3).distribution(logits, history);
  assertDistribution(dist(2), restricted([2, 1, 1], [0, 1, 2])); // window [1, 2]
  assertDistribution(dist(-1), restricted([1, 1, 1], [0, 1, 2])); // whole context
  assertDistribution(dist(0), restricted([2, 2, 2], [0, 1, 2])); // off
  // The default window is 64 tokens: token 0, 64 positions back, is outside it.
  const long = { prompt: [0, ...new Array<number>(63).fill(1)], generated: [2] };
  assertDistribution(createSampler({ repetitionPenalty: 2 }, 3).distribution(logits, long), restricted([2, 1, 1], [0, 1, 2]));
});

test('presence and frequency penalties count generated tokens only', () => {
  const logits = new Float32Array([1, 1, 1, 1]);
  const history = { prompt: [3, 3], generated: [0, 0, 2] };
  // id 0: 1 − 0.5 − 2 × 0.25 = 0; id 2: 1 − 0.5 − 0.25 = 0.25; id 3 occurs in the prompt only.
  const expected = restricted([0, 1, 0.25, 1], [0, 1, 2, 3]);
  const s = createSampler({ presencePenalty: 0.5, frequencyPenalty: 0.25 }, 4);
  assertDistribution(s.distribution(logits, history), expected);
  // penaltyLastN is the repetition penalty's window; it does not narrow these.
  const narrow = createSampler({ presencePenalty: 0.5, frequencyPenalty: 0.25, penaltyLastN: 1 }, 4);
  assertDistribution(narrow.distribution(logits, history), expected);
  // Each alone.
  assertDistribution(createSampler({ presencePenalty: 1 }, 4).distribution(logits, history), restricted([0, 1, 0, 1], [0, 1, 2, 3]));
  assertDistribution(createSampler({ frequencyPenalty: 1 }, 4).distribution(logits, history), restricted([-1, 1, 0, 1], [0, 1, 2, 3]));
});

test('logit bias: -100 bans a token, positive bias boosts one', () => {
  const logits = new Float32Array([10, 1, 1]);
  const greedy = createSampler({ temperature: 0, logitBias: { 0: -100 } }, 3);
  assert.equal(greedy.sample(logits, EMPTY), 1);
  const s = createSampler({ logitBias: { '0': -100 }, seed: 5 }, 3);
  for (let i = 0; i < 2000; i++) assert.notEqual(s.sample(logits, EMPTY), 0);
  const boost = createSampler({ logitBias: new Map([[2, 5]]) }, 3);
  assertDistribution(boost.distribution(new Float32Array([1, 1, 1]), EMPTY), restricted([1, 1, 6], [0, 1, 2]));
});

test('the caller’s logits are not modified', () => {
  const logits = new Float32Array([2, -1, 0.5, 3]);
  const copy = Float32Array.from(logits);
  const s = createSampler({ repetitionPenalty: 1.5, presencePenalty: 1, logitBias: { 3: -2 }, topK: 2, seed: 1 }, 4);
  s.sample(logits, { prompt: [0, 1], generated: [3] });
  assert.deepEqual(logits, copy);
});

test('bad logits and histories are reported', () => {
  const s = createSampler({ repetitionPenalty: 1.1 }, 3);
  assert.throws(() => s.sample(new Float32Array(4), EMPTY), /expects 3 logits/);
  assert.throws(() => s.sample(new Float32Array([0, Number.NaN, 0]), EMPTY), /NaN at token 1/);
  assert.throws(() => s.sample(new Float32Array([-Infinity, -Infinity, -Infinity]), EMPTY), Llama4Error);
  assert.throws(() => s.sample(new Float32Array(3), { prompt: [5], generated: [] }), /outside the vocabulary/);
  // The failed call left no stale counts behind.
  assertDistribution(s.distribution(new Float32Array([1, 1, 1]), { prompt: [], generated: [] }), restricted([1, 1, 1], [0, 1, 2]));
  const overflow = createSampler({ logitBias: { 0: 1e39 } }, 3);
  assert.throws(() => overflow.sample(new Float32Array(3), EMPTY), /float32 range/);
});

test('createSampler validates options against the vocabulary', () => {
  assert.throws(() => createSampler({ logitBias: { 3: 1 } }, 3), /logitBias/);
  assert.throws(() => createSampler({ temperature: -1 }, 3), /temperature/);
  assert.throws(() => createSampler({}, 0), /vocabulary size/);
});
