/**
 * The token sampler: turns one step's logits into the next token id.
 *
 * The chain, in llama.cpp's default order except where noted:
 *
 *   logit bias → repetition penalty → presence/frequency penalties → top-k
 *     → temperature + softmax → top-p → min-p → seeded random draw
 *
 * Unlike llama.cpp (which truncates before the temperature), top-p and min-p see the tempered
 * distribution, as in Hugging Face transformers and vLLM, so "top-p 0.9" means 90% of the mass
 * the draw actually uses. Temperature 0 is greedy: the argmax of the biased and penalized logits,
 * ties toward the lowest id; top-k/top-p/min-p cannot change it (they always keep the top token).
 *
 * Token windows: the repetition penalty looks at the last `penaltyLastN` tokens of the prompt
 * followed by the generated tokens (llama.cpp); the presence and frequency penalties count only
 * the generated tokens, all of them (OpenAI, vLLM).
 *
 * The caller's logits are never modified: each step copies them into a scratch buffer that lives
 * as long as the sampler, as do all other buffers, so a step allocates almost nothing.
 */

import { Llama4Error } from '../errors.js';
import { Xoshiro128StarStar, randomSeed, type Rng } from './rng.js';
import {
  validateSamplingOptions, type ResolvedSamplingOptions, type SamplingOptions,
} from './sampling-options.js';
import { argmax } from './top-k.js';
import {
  allCandidates, applyLogitBias, applyPresenceFrequencyPenalty, applyRepetitionPenalty,
  candidateMass, drawCandidate, minPCandidates, softmaxWeights, topKCandidates, topPCandidates,
  type Candidates,
} from './sampler-steps.js';

export type { SamplingOptions, ResolvedSamplingOptions } from './sampling-options.js';
export { validateSamplingOptions, DEFAULT_SAMPLING_OPTIONS } from './sampling-options.js';

/** The tokens so far: the prompt, then what has been generated (arrays or typed arrays). */
export interface TokenHistory {
  readonly prompt: ArrayLike<number>;
  readonly generated: ArrayLike<number>;
}

/** A sampled token and the probability the sampler gave it (after every step of the chain). */
export interface SampledToken {
  readonly id: number;
  /** Probability under the final, truncated and renormalized distribution; 1 for greedy. */
  readonly prob: number;
}

/** Picks next tokens. Holds scratch buffers and the random stream; otherwise stateless. */
export interface Sampler {
  /** The validated options, defaults filled in. */
  readonly options: ResolvedSamplingOptions;
  /** The seed in use: the one given, or the random one drawn for this sampler (report it). */
  readonly seed: number;
  /** The next token. `logits` has one entry per vocabulary token and is not modified. */
  sample(logits: Float32Array, history: TokenHistory): number;
  /** As {@link Sampler.sample}, with the chosen token's probability. */
  sampleWithProbs(logits: Float32Array, history: TokenHistory): SampledToken;
  /**
   * The distribution the next draw would use: every surviving token with its probability, most
   * likely first (ties toward the lowest id). Does not advance the random stream. For tests and
   * debugging; it allocates.
   */
  distribution(logits: Float32Array, history: TokenHistory): SampledToken[];
}

/**
 * Counts token occurrences into a per-vocabulary array, remembering which entries it touched so
 * that clearing costs O(tokens counted), not O(vocabulary).
 */
class TokenCounter {
  readonly counts: Int32Array;
  readonly distinct: number[] = [];

  constructor(vocabSize: number) {
    this.counts = new Int32Array(vocabSize);
  }

  /** Counts positions [start, end) of prompt ++ generated. */
  count(history: TokenHistory, start: number, end: number): void {
    const { prompt, generated } = history;
    const vocabSize = this.counts.length;
    for (let i = start; i < end; i++) {
      const id = i < prompt.length ? prompt[i] : generated[i - prompt.length];
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        this.clear();
        throw new Llama4Error(`token history holds id ${String(id)}, outside the vocabulary of ${vocabSize}`);
      }
      if (this.counts[id]++ === 0) this.distinct.push(id);
    }
  }

  clear(): void {
    for (const id of this.distinct) this.counts[id] = 0;
    this.distinct.length = 0;
  }
}

class ChainSampler implements Sampler {
  readonly options: ResolvedSamplingOptions;
  readonly seed: number;
  private readonly vocabSize: number;
  private readonly rng: Rng;
  private readonly logits: Float32Array;
  private readonly weights: Float64Array;
  private readonly cands: Candidates;
  private readonly counter: TokenCounter;

  constructor(options: ResolvedSamplingOptions, vocabSize: number) {
    this.options = options;
    this.vocabSize = vocabSize;
    this.seed = options.seed ?? randomSeed();
    this.rng = Xoshiro128StarStar.fromSeed(this.seed);
    this.logits = new Float32Array(vocabSize);
    this.weights = new Float64Array(vocabSize);
    this.cands = { ids: new Int32Array(vocabSize), count: 0, sorted: false };
    this.counter = new TokenCounter(vocabSize);
  }

  sample(logits: Float32Array, history: TokenHistory): number {
    return this.sampleWithProbs(logits, history).id;
  }

  sampleWithProbs(logits: Float32Array, history: TokenHistory): SampledToken {
    this.adjustLogits(logits, history);
    if (this.options.temperature === 0) return { id: argmax(this.logits), prob: 1 };
    const total = this.truncate();
    const id = drawCandidate(this.cands, this.weights, total, this.rng.nextFloat());
    return { id, prob: this.weights[id] / total };
  }

  distribution(logits: Float32Array, history: TokenHistory): SampledToken[] {
    this.adjustLogits(logits, history);
    if (this.options.temperature === 0) return [{ id: argmax(this.logits), prob: 1 }];
    const total = this.truncate();
    const out: SampledToken[] = [];
    for (let i = 0; i < this.cands.count; i++) {
      const id = this.cands.ids[i];
      out.push({ id, prob: this.weights[id] / total });
    }
    return out.sort((a, b) => b.prob - a.prob || a.id - b.id);
  }

  /** Copy the logits into scratch, then apply logit bias and the penalties. */
  private adjustLogits(input: Float32Array, history: TokenHistory): void {
    const V = this.vocabSize;
    if (input.length !== V) {
      throw new Llama4Error(`sampler expects ${V} logits (the vocabulary size), got ${input.length}`);
    }
    const logits = this.logits;
    let max = -Infinity;
    for (let i = 0; i < V; i++) {
      const x = input[i];
      // A NaN would make every comparison below false and the draw silently wrong; it means the
      // forward pass broke, so say so.
      if (x !== x) throw new Llama4Error(`logits contain NaN at token ${i}`);
      if (x > max) max = x;
      logits[i] = x;
    }
    if (!Number.isFinite(max)) throw new Llama4Error(`logits have no finite maximum (max is ${max})`);

    const o = this.options;
    applyLogitBias(logits, o.logitBias);

    const { prompt, generated } = history;
    const length = prompt.length + generated.length;
    if (o.repetitionPenalty !== 1 && o.penaltyLastN !== 0) {
      const start = o.penaltyLastN < 0 ? 0 : Math.max(0, length - o.penaltyLastN);
      this.counter.count(history, start, length);
      applyRepetitionPenalty(logits, this.counter.distinct, o.repetitionPenalty);
      this.counter.clear();
    }
    if (o.presencePenalty !== 0 || o.frequencyPenalty !== 0) {
      this.counter.count(history, prompt.length, length);
      applyPresenceFrequencyPenalty(logits, this.counter.distinct, this.counter.counts, o.presencePenalty, o.frequencyPenalty);
      this.counter.clear();
    }
  }

  /** top-k → tempered softmax → top-p → min-p; returns the surviving mass. */
  private truncate(): number {
    const o = this.options;
    const { cands, logits, weights } = this;
    if (o.topK > 0 && o.topK < this.vocabSize) topKCandidates(cands, logits, o.topK);
    else allCandidates(cands, this.vocabSize);
    const total = softmaxWeights(cands, logits, o.temperature, weights);
    // The raw logits were checked, but a huge bias or penalty can overflow float32 to ±Infinity,
    // and Infinity − Infinity poisons the weights with NaN.
    if (!(total > 0 && total < Infinity)) {
      throw new Llama4Error('logits left the float32 range after logit bias and penalties');
    }
    if (o.topP < 1) topPCandidates(cands, logits, weights, total, o.topP);
    if (o.minP > 0) minPCandidates(cands, weights, o.minP);
    return candidateMass(cands, weights);
  }
}

/**
 * A sampler for a vocabulary of `vocabSize` tokens. Validates the options first (see
 * {@link validateSamplingOptions}); throws a {@link Llama4Error} naming any invalid one.
 */
export function createSampler(options: SamplingOptions, vocabSize: number): Sampler {
  if (!Number.isSafeInteger(vocabSize) || vocabSize <= 0) {
    throw new Llama4Error(`vocabulary size must be a positive integer, got ${String(vocabSize)}`);
  }
  return new ChainSampler(validateSamplingOptions(options, vocabSize), vocabSize);
}
