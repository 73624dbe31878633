/**
 * The logit lens: read any layer's residual stream as if it were the last one — through the final
 * RMSNorm and the output matrix — and see which tokens it already predicts. For the last layer's
 * output this is exactly the model's logits.
 */
import type { LlamaModel } from '../model/llama.js';

/** One token of a distribution: id, probability (softmax over the whole vocabulary) and logit. */
export interface TokenProb { readonly id: number; readonly prob: number; readonly logit: number }

/** Logits [n, V] of residual rows x [n, D]: RMSNorm(x) with the final norm, times W_outᵀ. */
export function lensLogits(model: LlamaModel, x: Float32Array, n: number): Float32Array {
  const { hiddenSize: D, vocabSize: V, rmsNormEps: eps } = model.config;
  const h = new Float32Array(n * D);
  model.backend.rmsNorm(x.subarray(0, n * D), n, D, model.weights.outputNorm, eps, h);
  const logits = new Float32Array(n * V);
  model.backend.matmul(h, n, model.weights.output, logits);
  return logits;
}

/** The k most likely tokens of one logits row (ties: lower id first), probabilities in float64. */
export function topTokens(logits: Float32Array, k: number): TokenProb[] {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  // A bounded insertion list: k is small next to V.
  const best: number[] = [];
  for (let i = 0; i < logits.length; i++) {
    if (best.length === k && !(logits[i] > logits[best[k - 1]])) continue;
    let j = best.length < k ? best.length : k - 1;
    while (j > 0 && logits[i] > logits[best[j - 1]]) j--;
    best.splice(j, 0, i);
    if (best.length > k) best.pop();
  }
  return best.map((id) => ({ id, prob: Math.exp(logits[id] - max) / sum, logit: logits[id] }));
}

/** softmax of one logits row, in float64. */
export function softmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  const p = Float64Array.from(logits, (v) => Math.exp(v - max));
  const sum = p.reduce((a, b) => a + b, 0);
  for (let i = 0; i < p.length; i++) p[i] /= sum;
  return p;
}
