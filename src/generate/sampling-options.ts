/**
 * Sampling options, their defaults and their validation.
 *
 * Every option is either rejected with an error that names it or applied by the sampler; nothing
 * is silently ignored. That includes unknown option names (a `top_p` arriving where `topP` was
 * meant would otherwise sample with the wrong settings and nobody would notice).
 */

import { Llama4Error } from '../errors.js';

/** Token id → value added to its logit. */
export type LogitBias = ReadonlyMap<number, number> | Readonly<Record<string, number>>;

/**
 * How the next token is chosen from the model's logits. Every field is optional; an unset field
 * takes the "off" value listed (temperature takes 1, the OpenAI default).
 */
export interface SamplingOptions {
  /** Divides the logits before the softmax. 0 means greedy (argmax). Default 1. */
  temperature?: number;
  /** Keep only the k highest logits. 0 = off. Default 0. */
  topK?: number;
  /**
   * Nucleus sampling: keep the smallest set of most likely tokens whose probability (after the
   * temperature) sums to at least p. In (0, 1]; 1 = off. Default 1.
   */
  topP?: number;
  /**
   * Keep tokens whose probability (after the temperature) is at least minP × the top token's
   * probability. In [0, 1]; 0 = off. Default 0.
   */
  minP?: number;
  /**
   * CTRL / llama.cpp repetition penalty: for each distinct token among the last `penaltyLastN`
   * tokens of prompt + generated text, a positive logit is divided by it and a negative one
   * multiplied. Must be > 0; 1 = off. Default 1.
   */
  repetitionPenalty?: number;
  /**
   * The window of the repetition penalty, in tokens, counted back from the newest token over the
   * prompt followed by the generated tokens (as llama.cpp does). -1 = the whole context; 0 turns
   * the repetition penalty off. Default 64.
   */
  penaltyLastN?: number;
  /**
   * OpenAI presence penalty: subtracted once from the logit of every token that occurs in the
   * generated tokens so far (not the prompt, as OpenAI and vLLM do). 0 = off. Default 0.
   */
  presencePenalty?: number;
  /**
   * OpenAI frequency penalty: subtracted `count` times from the logit of a token that occurs
   * `count` times in the generated tokens so far (not the prompt). 0 = off. Default 0.
   */
  frequencyPenalty?: number;
  /** Added to the raw logit of the given token ids before anything else; -100 effectively bans. */
  logitBias?: LogitBias;
  /** Same seed → same tokens. Any safe integer. Unset: a random seed (see `Sampler.seed`). */
  seed?: number;
}

/** Options after validation: every field filled in, logit bias as a map. */
export interface ResolvedSamplingOptions {
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;
  readonly minP: number;
  readonly repetitionPenalty: number;
  readonly penaltyLastN: number;
  readonly presencePenalty: number;
  readonly frequencyPenalty: number;
  readonly logitBias: ReadonlyMap<number, number>;
  /** Undefined when the caller gave none; the sampler then draws a random one. */
  readonly seed: number | undefined;
}

/** The value each option takes when it is not given. */
export const DEFAULT_SAMPLING_OPTIONS: Readonly<Omit<ResolvedSamplingOptions, 'logitBias' | 'seed'>> = {
  temperature: 1,
  topK: 0,
  topP: 1,
  minP: 0,
  repetitionPenalty: 1,
  penaltyLastN: 64,
  presencePenalty: 0,
  frequencyPenalty: 0,
};

const KNOWN_OPTIONS: ReadonlySet<string> = new Set<keyof SamplingOptions>([
  'temperature', 'topK', 'topP', 'minP', 'repetitionPenalty', 'penaltyLastN',
  'presencePenalty', 'frequencyPenalty', 'logitBias', 'seed',
]);

function fail(name: string, why: string, value: unknown): never {
  throw new Llama4Error(`invalid sampling option ${name}: ${why} (got ${describe(value)})`);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  return typeof value;
}

/** A finite number, or the default when absent. The typeof check guards input that came from JSON. */
function finite(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(name, 'must be a finite number', value);
  return value;
}

function integer(name: string, value: unknown, fallback: number): number {
  const v = finite(name, value, fallback);
  if (!Number.isSafeInteger(v)) fail(name, 'must be an integer', value);
  return v;
}

function tokenId(key: string | number, vocabSize: number | undefined): number {
  // Record keys are strings; accept only plain decimal integers ("1.5", "-1", "0x10" are errors).
  const id = typeof key === 'number' ? key : /^(0|[1-9][0-9]*)$/.test(key) ? Number(key) : NaN;
  if (!Number.isSafeInteger(id) || id < 0) {
    fail('logitBias', 'token ids must be non-negative integers', key);
  }
  if (vocabSize !== undefined && id >= vocabSize) {
    fail('logitBias', `token id is outside the vocabulary of ${vocabSize}`, key);
  }
  return id;
}

function resolveLogitBias(value: unknown, vocabSize: number | undefined): Map<number, number> {
  const out = new Map<number, number>();
  if (value === undefined) return out;
  let entries: Iterable<[string | number, unknown]>;
  if (value instanceof Map) {
    entries = value as Map<string | number, unknown>;
  } else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    entries = Object.entries(value);
  } else {
    fail('logitBias', 'must be a Map or an object of token id → bias', value);
  }
  for (const [key, bias] of entries) {
    const id = tokenId(key, vocabSize);
    if (typeof bias !== 'number' || !Number.isFinite(bias)) {
      fail(`logitBias[${id}]`, 'must be a finite number', bias);
    }
    out.set(id, bias);
  }
  return out;
}

/**
 * Checks sampling options and fills in defaults. Throws a {@link Llama4Error} naming the first
 * offending option: a non-finite or out-of-range number, a non-integer `topK`/`penaltyLastN`/
 * `seed`, a logit-bias key that is not a token id (or is ≥ `vocabSize` when given), or an
 * unknown option name.
 *
 * @param options the options as given by the caller (possibly parsed from a request).
 * @param vocabSize when known, logit-bias ids are also checked against it.
 */
export function validateSamplingOptions(options: SamplingOptions, vocabSize?: number): ResolvedSamplingOptions {
  if (typeof options !== 'object' || options === null) fail('options', 'must be an object', options);
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) {
      throw new Llama4Error(`unknown sampling option ${JSON.stringify(key)}`);
    }
  }
  const d = DEFAULT_SAMPLING_OPTIONS;

  const temperature = finite('temperature', options.temperature, d.temperature);
  if (temperature < 0) fail('temperature', 'must be ≥ 0 (0 = greedy)', options.temperature);

  const topK = integer('topK', options.topK, d.topK);
  if (topK < 0) fail('topK', 'must be ≥ 0 (0 = off)', options.topK);

  const topP = finite('topP', options.topP, d.topP);
  if (!(topP > 0 && topP <= 1)) fail('topP', 'must be in (0, 1] (1 = off)', options.topP);

  const minP = finite('minP', options.minP, d.minP);
  if (!(minP >= 0 && minP <= 1)) fail('minP', 'must be in [0, 1] (0 = off)', options.minP);

  const repetitionPenalty = finite('repetitionPenalty', options.repetitionPenalty, d.repetitionPenalty);
  if (!(repetitionPenalty > 0)) fail('repetitionPenalty', 'must be > 0 (1 = off)', options.repetitionPenalty);

  const penaltyLastN = integer('penaltyLastN', options.penaltyLastN, d.penaltyLastN);
  if (penaltyLastN < -1) fail('penaltyLastN', 'must be ≥ -1 (-1 = whole context)', options.penaltyLastN);

  const presencePenalty = finite('presencePenalty', options.presencePenalty, d.presencePenalty);
  const frequencyPenalty = finite('frequencyPenalty', options.frequencyPenalty, d.frequencyPenalty);

  let seed: number | undefined;
  if (options.seed !== undefined) {
    seed = integer('seed', options.seed, 0);
  }

  if (vocabSize !== undefined && !(Number.isSafeInteger(vocabSize) && vocabSize > 0)) {
    throw new Llama4Error(`vocabulary size must be a positive integer, got ${String(vocabSize)}`);
  }
  const logitBias = resolveLogitBias(options.logitBias, vocabSize);

  return {
    temperature, topK, topP, minP, repetitionPenalty, penaltyLastN,
    presencePenalty, frequencyPenalty, logitBias, seed,
  };
}
