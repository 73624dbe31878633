/**
 * Log-probabilities of tokens, as the OpenAI API reports them: log-softmax of the model's raw
 * logits, before temperature, penalties or truncation, so the numbers describe the model rather
 * than the sampling settings. Computed in float64: a float32 sum over 202k exponentials loses
 * digits that show up in the reported values.
 */

import { Llama4Error } from '../errors.js';
import { selectTopK } from './top-k.js';

/** One token and its log-probability (natural log). */
export interface TokenLogprob {
  readonly id: number;
  readonly logprob: number;
}

/**
 * log Σ exp(logits), computed stably in float64 (shifted by the maximum). Throws a
 * {@link Llama4Error} if the logits contain NaN or have no finite maximum, since any logprob
 * derived from them would be meaningless.
 */
export function logSumExp(logits: ArrayLike<number>): number {
  const n = logits.length;
  if (n === 0) throw new Llama4Error('logits are empty');
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = logits[i];
    if (x !== x) throw new Llama4Error(`logits contain NaN at token ${i}`);
    if (x > max) max = x;
  }
  if (!Number.isFinite(max)) throw new Llama4Error(`logits have no finite maximum (max is ${max})`);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(logits[i] - max);
  return max + Math.log(sum);
}

function checkId(logits: ArrayLike<number>, id: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= logits.length) {
    throw new Llama4Error(`token id ${id} is outside the vocabulary of ${logits.length}`);
  }
}

/**
 * The log-probability of token `id` under softmax(logits).
 * @param lse `logSumExp(logits)`, when the caller already has it (saves a pass over the vocabulary).
 */
export function tokenLogprob(logits: ArrayLike<number>, id: number, lse: number = logSumExp(logits)): number {
  checkId(logits, id);
  return logits[id] - lse;
}

/**
 * The `k` most likely tokens under softmax(logits) with their log-probabilities, most likely
 * first, ties toward the lowest id. `k` is clamped to the vocabulary size.
 * @param lse `logSumExp(logits)`, when the caller already has it.
 */
export function topLogprobs(logits: ArrayLike<number>, k: number, lse?: number): TokenLogprob[] {
  if (!Number.isSafeInteger(k) || k < 0) throw new Llama4Error(`top logprobs count must be a non-negative integer, got ${k}`);
  const norm = lse ?? logSumExp(logits); // also rejects NaN, which selectTopK cannot order
  const ids = new Int32Array(Math.min(k, logits.length));
  const count = selectTopK(logits, ids.length, ids);
  const out: TokenLogprob[] = [];
  for (let i = 0; i < count; i++) out.push({ id: ids[i], logprob: logits[ids[i]] - norm });
  return out;
}
