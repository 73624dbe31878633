/**
 * The steps of the sampler chain, each a small function over shared scratch buffers, so each can
 * be read, tested and reordered on its own (the shape of llama.cpp's sampler chain and mlx-lm's
 * `make_sampler`). Nothing here allocates per call beyond a few numbers.
 *
 * Two kinds of state flow through the chain:
 * - `logits`: a scratch copy of the model's logits (indexed by token id) that the bias and
 *   penalty steps edit in place;
 * - {@link Candidates}: the token ids still in the running, plus `weights` (indexed by token id),
 *   the unnormalized probabilities exp((logit − max) / T) once the softmax step has run.
 */

import { fullSortIsCheaper, selectTopK } from './top-k.js';

/** The ids still eligible, in `ids[0..count)`. `sorted`: by logit, largest first, ties to lowest id. */
export interface Candidates {
  readonly ids: Int32Array;
  count: number;
  sorted: boolean;
}

/** Adds `bias[id]` to `logits[id]` for every biased token. */
export function applyLogitBias(logits: Float32Array, bias: ReadonlyMap<number, number>): void {
  for (const [id, b] of bias) logits[id] += b;
}

/**
 * CTRL-style repetition penalty (Keskar et al. 2019, as llama.cpp applies it): each listed token's
 * logit is divided by `penalty` if positive and multiplied by it if negative, so a penalty > 1
 * always makes the token less likely. Applied once per distinct token, however often it occurs.
 */
export function applyRepetitionPenalty(logits: Float32Array, distinctIds: readonly number[], penalty: number): void {
  for (const id of distinctIds) {
    const x = logits[id];
    logits[id] = x > 0 ? x / penalty : x * penalty;
  }
}

/**
 * OpenAI presence and frequency penalties: logit −= presence·[count > 0] + frequency·count, where
 * `counts[id]` is how often the token occurs in the counted tokens.
 */
export function applyPresenceFrequencyPenalty(
  logits: Float32Array,
  distinctIds: readonly number[],
  counts: Int32Array,
  presence: number,
  frequency: number,
): void {
  for (const id of distinctIds) logits[id] -= presence + frequency * counts[id];
}

/** Makes every token a candidate, in id order. */
export function allCandidates(cands: Candidates, vocabSize: number): void {
  for (let i = 0; i < vocabSize; i++) cands.ids[i] = i;
  cands.count = vocabSize;
  cands.sorted = false;
}

/** Keeps the `k` highest logits (ties to the lowest id), sorted. */
export function topKCandidates(cands: Candidates, logits: Float32Array, k: number): void {
  cands.count = selectTopK(logits, k, cands.ids);
  cands.sorted = true;
}

/**
 * The tempered softmax numerators: `weights[id] = exp((logits[id] − max) / temperature)` for
 * every candidate, where max is the largest candidate logit (so the top weight is exactly 1 and
 * nothing overflows). Returns their sum. `temperature` must be > 0.
 */
export function softmaxWeights(
  cands: Candidates,
  logits: Float32Array,
  temperature: number,
  weights: Float64Array,
): number {
  const { ids, count } = cands;
  let max = -Infinity;
  for (let i = 0; i < count; i++) {
    const x = logits[ids[i]];
    if (x > max) max = x;
  }
  let total = 0;
  for (let i = 0; i < count; i++) {
    const id = ids[i];
    const w = Math.exp((logits[id] - max) / temperature);
    weights[id] = w;
    total += w;
  }
  return total;
}

/**
 * Nucleus (top-p) truncation: keeps the shortest most-likely-first prefix of the candidates whose
 * weight sums to at least `p · total`. If the candidates are not sorted yet, sorts only as much as
 * needed, because the nucleus is usually a few hundred tokens out of a vocabulary of 200k: it
 * selects the top 256, and while their mass falls short, selects more (at least 8× as many, and
 * at least as many as the shortfall proves necessary, so a flat distribution goes straight to one
 * full sort instead of paying for several ever-larger partial ones).
 */
export function topPCandidates(
  cands: Candidates,
  logits: Float32Array,
  weights: Float64Array,
  total: number,
  p: number,
): void {
  const target = p * total;
  const ids = cands.ids;
  if (cands.sorted) {
    const length = nucleusLength(ids, cands.count, weights, target);
    if (length > 0) cands.count = length;
    return;
  }
  // Unsorted means every token is a candidate (top-k was off).
  const vocabSize = cands.count;
  for (let k = Math.min(256, vocabSize); ;) {
    const selected = selectTopK(logits, k, ids);
    const length = nucleusLength(ids, selected, weights, target);
    // With every token selected the target can still be missed by rounding (the prefix is summed
    // in a different order than `total`); then everything is kept.
    if (length > 0 || selected === vocabSize) {
      cands.count = length > 0 ? length : selected;
      cands.sorted = true;
      return;
    }
    // No unselected token outweighs the last selected one, so covering the shortfall takes at
    // least shortfall / that weight more tokens.
    let cum = 0;
    for (let i = 0; i < selected; i++) cum += weights[ids[i]];
    const smallest = weights[ids[selected - 1]];
    const needed = smallest > 0 ? Math.ceil((target - cum) / smallest) : vocabSize;
    k = Math.min(vocabSize, Math.max(k * 8, selected + needed));
    if (fullSortIsCheaper(k, vocabSize)) k = vocabSize; // a full sort anyway: keep all of it
  }
}

/** Length of the shortest prefix of `ids[0..count)` whose weight reaches `target`, or 0 if none does. */
function nucleusLength(ids: Int32Array, count: number, weights: Float64Array, target: number): number {
  let cum = 0;
  for (let i = 0; i < count; i++) {
    cum += weights[ids[i]];
    if (cum >= target) return i + 1;
  }
  return 0;
}

/**
 * Min-p truncation (Nguyen et al. 2024): keeps candidates whose weight is at least `minP` times
 * the largest candidate weight. Keeps the candidates' order. Because the threshold is relative to
 * the top token, which top-p never removes, this step commutes with top-p.
 */
export function minPCandidates(cands: Candidates, weights: Float64Array, minP: number): void {
  const { ids, count } = cands;
  let maxWeight = 0;
  for (let i = 0; i < count; i++) maxWeight = Math.max(maxWeight, weights[ids[i]]);
  const threshold = minP * maxWeight;
  let kept = 0;
  for (let i = 0; i < count; i++) {
    const id = ids[i];
    if (weights[id] >= threshold) ids[kept++] = id;
  }
  cands.count = kept;
}

/** Sum of the candidates' weights. */
export function candidateMass(cands: Candidates, weights: Float64Array): number {
  let total = 0;
  for (let i = 0; i < cands.count; i++) total += weights[cands.ids[i]];
  return total;
}

/**
 * Inverse-CDF draw: walks the candidates in order and returns the first whose cumulative weight
 * exceeds `u · total`, `u` uniform in [0, 1). Rounding can leave the walk short of the total;
 * then the last candidate with non-zero weight is returned, never a zero-weight one.
 */
export function drawCandidate(cands: Candidates, weights: Float64Array, total: number, u: number): number {
  const { ids, count } = cands;
  const r = u * total;
  let cum = 0;
  let lastPositive = ids[0];
  for (let i = 0; i < count; i++) {
    const id = ids[i];
    const w = weights[id];
    if (w > 0) lastPositive = id;
    cum += w;
    if (cum > r) return id;
  }
  return lastPositive;
}
