/**
 * Token generation as an async iterator: evaluate the prompt (reusing any cached prefix), then
 * sample, stream decoded text, and stop on an end-of-generation token, a stop string, the token
 * budget, the context limit or an AbortSignal. The CLI, the JS API and the server all sit on this.
 */
import { Llama4Error } from '../errors.js';
import type { Session } from '../model/session.js';
import { topLogprobs, tokenLogprob, logSumExp, type TokenLogprob } from './logprobs.js';
import { createSampler, type SamplingOptions } from './sampler.js';
import { StopStringMatcher } from './stop-strings.js';
import { sampleConstrained, type TokenConstraint } from './grammar/token-constraint.js';

/** What the generator needs from a tokenizer. */
export interface TokenText {
  /** The raw bytes of one token (UTF-8 pieces may split a character across tokens). */
  tokenBytes(id: number): Uint8Array;
}

export interface GenerateOptions {
  /** Most tokens to generate. */
  maxTokens: number;
  sampling?: SamplingOptions;
  /** Ids that end generation (the model's end-of-generation set). */
  stopIds?: ReadonlySet<number>;
  /** Keep going through end-of-generation ids (benchmarks, golden comparisons). */
  ignoreEos?: boolean;
  /** Strings that end generation; neither they nor anything after them is emitted. */
  stop?: readonly string[];
  signal?: AbortSignal;
  /** Report each token's log-probability and this many alternatives (OpenAI `top_logprobs`). */
  logprobs?: number;
  /** Keep the output inside a format (see src/generate/grammar/); ends it only once complete. */
  constraint?: TokenConstraint;
}

export interface GeneratedToken {
  readonly id: number;
  /** Text that became safe to emit with this token (may be empty while a character or a
   * possible stop string is incomplete). */
  readonly text: string;
  readonly logprob?: number;
  readonly topLogprobs?: readonly TokenLogprob[];
}

export type FinishReason = 'stop' | 'length' | 'abort';

export interface GenerationResult {
  /** Generated ids, including an end-of-generation id only when `ignoreEos` kept it as output. */
  readonly ids: number[];
  readonly text: string;
  /** The end of `text` that no yielded step carried (held back for a possible stop string or
   * an incomplete character until generation ended). Streaming consumers print it last. */
  readonly tail: string;
  readonly finishReason: FinishReason;
  readonly promptTokens: number;
  /** Prompt tokens that were already in the cache and not evaluated again. */
  readonly reusedTokens: number;
  /** The sampler's seed (report it so a run can be repeated). */
  readonly seed: number;
}

/**
 * Generates from `promptIds` in `session`.
 *
 * @example
 * const it = generate(session, tokenizer, ids, { maxTokens: 32, sampling: { temperature: 0 } });
 * for (let r = await it.next(); !r.done; r = await it.next()) process.stdout.write(r.value.text);
 */
export async function* generate(session: Session, tokenizer: TokenText, promptIds: readonly number[], options: GenerateOptions): AsyncGenerator<GeneratedToken, GenerationResult> {
  const { maxTokens } = options;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new Llama4Error(`max tokens must be a non-negative integer (got ${maxTokens})`);
  if (promptIds.length >= session.nCtx) {
    throw new Llama4Error(`the prompt has ${promptIds.length} tokens, but the context holds ${session.nCtx} (at least one must be left to generate)`);
  }
  const vocab = session.model.config.vocabSize;
  const sampler = createSampler(options.sampling ?? {}, vocab);
  const stops = new StopStringMatcher(options.stop ?? []);
  // ignoreBOM: a U+FEFF the model generates first is text, as tokenizer.decode keeps it.
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  const stopIds = options.stopIds ?? new Set<number>();
  const generated: number[] = [];
  const history = { prompt: promptIds, generated };
  let text = '';
  let finishReason: FinishReason = 'length';

  throwIfAborted(options.signal);
  let { logits, reused } = session.evaluate(promptIds);
  while (generated.length < maxTokens) {
    if (options.signal?.aborted) { finishReason = 'abort'; break; }
    const id = options.constraint ? sampleConstrained(sampler, logits, history, options.constraint) : sampler.sample(logits, history);
    let logprob: number | undefined, top: TokenLogprob[] | undefined;
    if (options.logprobs !== undefined) {
      const lse = logSumExp(logits);
      logprob = tokenLogprob(logits, id, lse);
      top = options.logprobs > 0 ? topLogprobs(logits, options.logprobs, lse) : [];
    }
    if (stopIds.has(id) && !options.ignoreEos) { finishReason = 'stop'; break; }
    generated.push(id);
    const piece = decoder.decode(tokenizer.tokenBytes(id), { stream: true });
    const out = stops.push(piece);
    text += out.text;
    yield { id, text: out.text, logprob, topLogprobs: top };
    if (out.stopped) { finishReason = 'stop'; break; }
    if (generated.length >= maxTokens) break;
    if (session.cache.nPast >= session.nCtx) { finishReason = 'length'; break; }
    // Let timers, sockets and abort handlers run between tokens.
    await new Promise<void>((resolve) => setImmediate(resolve));
    logits = session.step(id);
  }
  let tail = '';
  if (!stops.stopped) {
    tail = stops.push(decoder.decode()).text + stops.flush();
    text += tail;
  }
  return { ids: generated, text, tail, finishReason, promptTokens: promptIds.length, reusedTokens: reused, seed: sampler.seed };
}

function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new Llama4Error('generation was cancelled before it started');
}
