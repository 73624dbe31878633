/**
 * Rotary position embedding: frequencies (with llama3-style scaling) and the rotation itself.
 * Llama 4 (HF and GGUF) and GGUF Llama 3 rotate adjacent pairs (x[2j], x[2j+1]); HF Llama 3 q/k
 * weights are permuted back to that layout at load (see model/weights.ts), so there is one
 * rotation convention inside the engine.
 */
import type { RopeConfig } from '../config/model-config.js';

/** HF `rope_scaling` with `rope_type: "llama3"`. */
export interface Llama3RopeScaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositions: number;
}

/**
 * Per-pair divisors of θ^(-2j/d) implementing llama3 scaling: 1 for short wavelengths, `factor`
 * for long ones, a smooth blend in between. The blend is computed only inside the band, because
 * Scout's low = high = 1 makes the band empty and its formula a division by zero.
 */
export function llama3FreqDivisors(theta: number, dims: number, s: Llama3RopeScaling): Float64Array {
  const out = new Float64Array(dims / 2);
  const lowFreqWavelen = s.originalMaxPositions / s.lowFreqFactor;
  const highFreqWavelen = s.originalMaxPositions / s.highFreqFactor;
  for (let j = 0; j < dims / 2; j++) {
    const invFreq = Math.pow(theta, (-2 * j) / dims);
    const wavelen = (2 * Math.PI) / invFreq;
    if (wavelen < highFreqWavelen) out[j] = 1;
    else if (wavelen > lowFreqWavelen) out[j] = s.factor;
    else {
      const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      out[j] = 1 / ((1 - smooth) / s.factor + smooth);
    }
  }
  return out;
}

/** Effective angular frequency of each pair: θ^(-2j/d) / divisor_j. */
export function ropeFrequencies(rope: RopeConfig): Float64Array {
  const f = new Float64Array(rope.dims / 2);
  for (let j = 0; j < f.length; j++) f[j] = Math.pow(rope.theta, (-2 * j) / rope.dims) / rope.freqDivisors[j];
  return f;
}

/**
 * Rotates adjacent pairs of every head in place. `x` is [nTokens, nHeads, headDim]; token t sits
 * at absolute position `positions[t]`.
 */
export function applyRope(x: Float32Array, nTokens: number, nHeads: number, headDim: number, positions: ArrayLike<number>, freqs: Float64Array): void {
  const half = headDim / 2;
  for (let t = 0; t < nTokens; t++) {
    const p = positions[t];
    for (let j = 0; j < half; j++) {
      const angle = p * freqs[j];
      const c = Math.cos(angle), s = Math.sin(angle);
      for (let h = 0; h < nHeads; h++) {
        const i = (t * nHeads + h) * headDim + 2 * j;
        const a = x[i], b = x[i + 1];
        x[i] = a * c - b * s;
        x[i + 1] = a * s + b * c;
      }
    }
  }
}

/**
 * Llama 4 attention temperature for the query at position p (NoPE layers):
 * 1 + attnScale · ln(1 + ⌊(p + 1) / floorScale⌋). It is 1 below p = floorScale − 1, so short
 * prompts are unaffected and long contexts sharpen attention logarithmically.
 */
export function attentionTemperature(p: number, floorScale: number, attnScale: number): number {
  return Math.log(Math.floor((p + 1) / floorScale) + 1) * attnScale + 1;
}
