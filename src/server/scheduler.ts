/**
 * The scheduler: continuous batching over `parallel` slots.
 *
 * Each slot owns one KV cache. A request is admitted to a free slot (the one whose cache shares
 * the longest prefix with its prompt, else the least recently used) or waits in a bounded FIFO
 * queue; past the queue's capacity it is refused ({@link QueueFullError} → 429).
 *
 * One scheduler step is ONE `model.forwardMany` call: every decoding sequence contributes its
 * last sampled token, and prefilling sequences share a budget of `prefillChunk` prompt tokens (in
 * admission order), so a long prompt is evaluated over several steps while the others keep
 * decoding, and a request that arrives mid-generation starts its prefill at the next step. After
 * the pass each sequence that got logits samples its next token with its own sampler, decodes it
 * (UTF-8 across tokens), checks end-of-generation ids and stop strings, and reports the token.
 * Between steps the loop yields to the event loop (setImmediate), so sockets are served and a
 * client's disconnect is seen; an aborted sequence leaves before the next step, freeing its slot.
 *
 * Prefix caching: a slot keeps its tokens after a generation ends. A new prompt that starts with
 * them (the next turn of a chat) truncates the cache to the common prefix and evaluates only the
 * rest; `KvCache.truncate` refuses when a chunked-attention layer has already dropped the chunk
 * the prefix ends in, and then the slot starts empty.
 */
import { Llama4Error } from '../errors.js';
import type { GeneratedToken } from '../generate/generator.js';
import { logSumExp, tokenLogprob, topLogprobs, type TokenLogprob } from '../generate/logprobs.js';
import { createSampler, type Sampler, type SamplingOptions, type TokenHistory } from '../generate/sampler.js';
import { sampleConstrained, type TokenConstraint } from '../generate/grammar/token-constraint.js';
import { StopStringMatcher } from '../generate/stop-strings.js';
import type { KvCache } from '../model/kv-cache.js';
import type { LlamaModel, SequenceRequest } from '../model/llama.js';
import type { Metrics } from './metrics.js';

/** What the scheduler needs from a tokenizer. */
export interface TokenBytes {
  tokenBytes(id: number): Uint8Array;
}

export interface JobOptions {
  readonly promptIds: readonly number[];
  /** Most tokens to generate (0: evaluate the prompt only, e.g. echo + logprobs). */
  readonly maxTokens: number;
  readonly sampling: SamplingOptions;
  readonly stop?: readonly string[];
  /** Ids that end generation (not emitted). */
  readonly stopIds: ReadonlySet<number>;
  /** Report each token's logprob and this many alternatives. */
  readonly logprobs?: number;
  /** Also report the prompt tokens' logprobs (completions `echo` + `logprobs`); no prefix reuse. */
  readonly promptLogprobs?: boolean;
  /** Aborting cancels the generation at the next step (or removes it from the queue). */
  readonly signal?: AbortSignal;
  /**
   * Test seam: emit these ids instead of sampled ones (the forward passes still run), then end
   * as if an end-of-generation id had been sampled.
   */
  readonly scriptedIds?: readonly number[];
  /** Restricts the tokens sampled to those that keep the reply inside a format (JSON schema, tool calls). */
  readonly constraint?: TokenConstraint;
  /** Called with each generated token (synchronously, inside the step). */
  readonly onToken?: (token: GeneratedToken) => void;
  /** Called once the prompt is evaluated, with its logprobs when `promptLogprobs` asked for them. */
  readonly onPrompt?: (promptLogprobs: readonly PromptLogprob[] | undefined) => void;
}

/** A prompt token's logprob and alternatives (null for the first token, which has none). */
export type PromptLogprob = { readonly logprob: number; readonly top: readonly TokenLogprob[] } | null;

export interface JobResult {
  readonly ids: readonly number[];
  readonly text: string;
  /** Text no `onToken` call carried (held back until the end); stream it last. */
  readonly tail: string;
  readonly finishReason: 'stop' | 'length' | 'abort';
  readonly promptTokens: number;
  readonly reusedTokens: number;
  readonly seed: number;
  readonly promptLogprobs?: readonly PromptLogprob[];
  /** The slot that ran it. */
  readonly slot: number;
}

/** The queue is full (HTTP 429). */
export class QueueFullError extends Error {
  constructor(capacity: number) {
    super(`the server is busy: every slot is in use and ${capacity} request${capacity === 1 ? ' is' : 's are'} already waiting; retry later`);
    this.name = 'QueueFullError';
  }
}

/** The scheduler was closed before the job finished. */
export class SchedulerClosedError extends Error {
  constructor() { super('the server is shutting down'); this.name = 'SchedulerClosedError'; }
}

export interface SchedulerOptions {
  readonly model: LlamaModel;
  readonly tokenizer: TokenBytes;
  /** Number of slots (sequences decoded together). */
  readonly parallel: number;
  /** Context size of each slot's KV cache. */
  readonly ctxSize: number;
  /** Requests that may wait for a slot. */
  readonly queueSize: number;
  /** Prompt tokens evaluated per step, over all prefilling sequences. Default 512. */
  readonly prefillChunk?: number;
  readonly metrics: Metrics;
}

/** Prompt tokens per step for a sequence that wants every prompt position's logits. */
const PROMPT_LOGPROBS_CHUNK = 64;

class Slot {
  job: Job | null = null;
  /** Larger = used more recently. */
  lastUsed = 0;
  constructor(readonly index: number, readonly cache: KvCache) {}
}

class Job {
  slot: Slot | null = null;
  /** Prompt tokens already in the cache. */
  prefilled = 0;
  reused = 0;
  /** The token to feed at the next decode step. */
  pending: number | null = null;
  readonly generated: number[] = [];
  readonly history: TokenHistory;
  readonly stops: StopStringMatcher;
  // ignoreBOM: a U+FEFF the model generates first is text (as tokenizer.decode keeps it).
  readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  text = '';
  promptLogprobs: PromptLogprob[] | undefined;
  settled = false;

  constructor(
    readonly options: JobOptions,
    readonly sampler: Sampler,
    readonly resolve: (r: JobResult) => void,
    readonly reject: (err: unknown) => void,
  ) {
    this.history = { prompt: options.promptIds, generated: this.generated };
    this.stops = new StopStringMatcher(options.stop ?? []);
    if (options.promptLogprobs) this.promptLogprobs = [null];
  }

  get prompt(): readonly number[] { return this.options.promptIds; }
  get prefilling(): boolean { return this.prefilled < this.prompt.length; }
}

/** One part of a step's forward pass. */
interface Part { readonly job: Job; readonly kind: 'prefill' | 'decode'; readonly n: number }

export class Scheduler {
  readonly slots: Slot[];
  readonly ctxSize: number;
  readonly queueSize: number;
  private readonly model: LlamaModel;
  private readonly tokenizer: TokenBytes;
  private readonly prefillChunk: number;
  private readonly metrics: Metrics;
  private readonly queue: Job[] = [];
  /** Running jobs in admission order. */
  private readonly running: Job[] = [];
  private looping = false;
  private closed = false;
  private useCounter = 0;

  constructor(options: SchedulerOptions) {
    const { model, parallel, ctxSize, queueSize } = options;
    if (!(Number.isInteger(parallel) && parallel >= 1)) throw new Llama4Error(`parallel must be a positive integer (got ${parallel})`);
    if (!(Number.isInteger(queueSize) && queueSize >= 0)) throw new Llama4Error(`queue size must be a non-negative integer (got ${queueSize})`);
    this.model = model;
    this.tokenizer = options.tokenizer;
    this.ctxSize = ctxSize;
    this.queueSize = queueSize;
    this.prefillChunk = options.prefillChunk ?? 512;
    this.metrics = options.metrics;
    this.slots = Array.from({ length: parallel }, (_, i) => new Slot(i, model.newCache(ctxSize)));
  }

  get queueDepth(): number { return this.queue.length; }
  get busySlots(): number { return this.slots.filter((s) => s.job !== null).length; }
  get freeSlots(): number { return this.slots.length - this.busySlots; }

  /**
   * Starts a generation. Throws at once — a {@link Llama4Error} for invalid sampling options or a
   * prompt that does not fit, {@link QueueFullError} when the queue is full — else resolves when
   * the generation ends (also when it is cancelled: finishReason 'abort').
   */
  submit(options: JobOptions): Promise<JobResult> {
    if (this.closed) throw new SchedulerClosedError();
    const { promptIds, maxTokens } = options;
    if (promptIds.length === 0) throw new Llama4Error('the prompt is empty: at least one token is needed');
    if (promptIds.length >= this.ctxSize) {
      throw new Llama4Error(`the prompt has ${promptIds.length} tokens, but the context holds ${this.ctxSize} (at least one must be left to generate)`);
    }
    if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new Llama4Error(`max tokens must be a non-negative integer (got ${maxTokens})`);
    const sampler = createSampler(options.sampling, this.model.config.vocabSize);
    const V = this.model.config.vocabSize;
    for (const id of promptIds) if (!Number.isInteger(id) || id < 0 || id >= V) throw new Llama4Error(`token id ${id} is out of range (vocabulary has ${V} tokens)`);
    const free = this.slots.some((s) => s.job === null);
    if (!(free && this.queue.length === 0) && this.queue.length >= this.queueSize) {
      this.metrics.rejectedQueueFull++;
      throw new QueueFullError(this.queueSize);
    }
    return new Promise<JobResult>((resolve, reject) => {
      const job = new Job(options, sampler, resolve, reject);
      if (free && this.queue.length === 0) this.admit(job);
      else this.queue.push(job);
      this.wake();
    });
  }

  /** Cancels everything; pending and running jobs reject with {@link SchedulerClosedError}. */
  close(): void {
    this.closed = true;
    for (const job of [...this.queue, ...this.running]) this.fail(job, new SchedulerClosedError(), false);
    this.queue.length = 0;
    for (const slot of this.slots) slot.cache.dispose();
  }

  // ── admission ──────────────────────────────────────────────────────────────────────────────

  /**
   * Puts a job into the free slot whose cache shares the longest prefix with its prompt. A prefix
   * shorter than half of what a slot holds does not count (a shared template header or system
   * prompt is no reason to throw away another conversation's cache): among such slots, and on
   * ties, the least recently used one is taken.
   */
  private admit(job: Job): void {
    const prompt = job.prompt;
    let best: Slot | null = null, bestScore = -1, bestLen = 0;
    for (const slot of this.slots) {
      if (slot.job !== null) continue;
      const len = job.options.promptLogprobs ? 0 : commonPrefix(slot.cache.tokens, prompt);
      const score = 2 * len >= slot.cache.tokens.length ? len : 0;
      if (score > bestScore || (score === bestScore && slot.lastUsed < best!.lastUsed)) { best = slot; bestScore = score; bestLen = len; }
    }
    if (best === null) throw new Error('internal error: admit without a free slot');
    // At least one prompt token must run to produce the next token's logits.
    let common = Math.min(bestLen, prompt.length - 1);
    if (!best.cache.truncate(common)) { best.cache.clear(); common = 0; }
    best.job = job;
    job.slot = best;
    job.prefilled = common;
    job.reused = common;
    this.running.push(job);
    this.metrics.generationsStarted++;
    this.metrics.promptTokens += prompt.length;
    this.metrics.reusedTokens += common;
  }

  // ── the loop ───────────────────────────────────────────────────────────────────────────────

  private wake(): void {
    if (this.looping || this.closed) return;
    this.looping = true;
    setImmediate(() => void this.loop());
  }

  private async loop(): Promise<void> {
    try {
      while (!this.closed && (this.running.length > 0 || this.queue.length > 0)) {
        try {
          this.step();
        } catch (err) {
          // A bug, not a request's fault: fail what is running, keep serving the rest.
          for (const job of [...this.running]) { job.slot?.cache.dispose(); this.fail(job, err); }
        }
        // Sockets, timers and abort handlers run between steps.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      this.looping = false;
    }
  }

  /** One step: drop cancelled jobs, admit waiting ones, one forwardMany, sample. */
  private step(): void {
    for (const job of [...this.running]) if (job.options.signal?.aborted) this.finish(job, 'abort');
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const job = this.queue[i];
      if (job.options.signal?.aborted) { this.queue.splice(i, 1); this.finish(job, 'abort'); }
    }
    while (this.queue.length > 0 && this.slots.some((s) => s.job === null)) this.admit(this.queue.shift()!);

    // The pass: every decoding sequence's last token, then prompt chunks within the budget.
    const parts: Part[] = [];
    const requests: SequenceRequest[] = [];
    for (const job of this.running) {
      if (job.pending === null) continue;
      parts.push({ job, kind: 'decode', n: 1 });
      requests.push({ cache: job.slot!.cache, tokens: [job.pending], logits: 'last' });
    }
    let budget = this.prefillChunk;
    for (const job of this.running) {
      if (!job.prefilling || budget <= 0) continue;
      const n = Math.min(budget, job.prompt.length - job.prefilled, job.promptLogprobs ? PROMPT_LOGPROBS_CHUNK : Infinity);
      const last = job.prefilled + n === job.prompt.length;
      parts.push({ job, kind: 'prefill', n });
      requests.push({
        cache: job.slot!.cache,
        tokens: job.prompt.slice(job.prefilled, job.prefilled + n),
        logits: job.promptLogprobs ? 'all' : last ? 'last' : 'none',
      });
      budget -= n;
    }
    if (parts.length === 0) return;

    const t0 = performance.now();
    let outs: Float32Array[];
    try {
      outs = this.model.forwardMany(requests);
    } catch (err) {
      // The caches of this pass may be half-updated: empty them, fail the jobs, keep serving.
      for (const { job } of parts) { job.slot?.cache.dispose(); this.fail(job, err); }
      return;
    }
    const seconds = (performance.now() - t0) / 1000;
    const m = this.metrics;
    const prefillTokens = parts.reduce((s, p) => s + (p.kind === 'prefill' ? p.n : 0), 0);
    const decodeTokens = parts.length - parts.filter((p) => p.kind === 'prefill').length;
    m.forwardCalls++;
    m.forwardSequences += parts.length;
    if (parts.length > 1) m.forwardBatchedCalls++;
    m.maxBatchSequences = Math.max(m.maxBatchSequences, parts.length);
    m.prefillTokens += prefillTokens;
    m.decodeTokens += decodeTokens;
    m.prefillSeconds += (seconds * prefillTokens) / (prefillTokens + decodeTokens);
    m.decodeSeconds += (seconds * decodeTokens) / (prefillTokens + decodeTokens);

    const V = this.model.config.vocabSize;
    parts.forEach(({ job, kind, n }, i) => {
      if (job.settled) return;
      try {
        const out = outs[i];
        if (kind === 'decode') {
          job.pending = null;
          this.next(job, out);
          return;
        }
        if (job.promptLogprobs) {
          // Row r predicts prompt token prefilled + r + 1.
          for (let r = 0; r < n; r++) {
            const pos = job.prefilled + r + 1;
            if (pos >= job.prompt.length) break;
            const row = out.subarray(r * V, (r + 1) * V);
            const lse = logSumExp(row);
            job.promptLogprobs.push({ logprob: tokenLogprob(row, job.prompt[pos], lse), top: topLogprobs(row, job.options.logprobs ?? 0, lse) });
          }
        }
        job.prefilled += n;
        if (job.prefilling) return;
        try {
          job.options.onPrompt?.(job.promptLogprobs);
        } catch {
          this.finish(job, 'abort');
          return;
        }
        this.next(job, job.promptLogprobs ? out.subarray((n - 1) * V, n * V) : out);
      } catch (err) {
        this.fail(job, err);
      }
    });
  }

  /** The job's next token from `logits` (after its prompt or its last token). */
  private next(job: Job, logits: Float32Array): void {
    const o = job.options;
    if (job.generated.length >= o.maxTokens) { this.finish(job, 'length'); return; }
    let id: number;
    if (o.scriptedIds !== undefined) {
      if (job.generated.length >= o.scriptedIds.length) { this.finish(job, 'stop'); return; }
      id = o.scriptedIds[job.generated.length];
    } else {
      id = o.constraint ? sampleConstrained(job.sampler, logits, job.history, o.constraint) : job.sampler.sample(logits, job.history);
    }
    let logprob: number | undefined, top: TokenLogprob[] | undefined;
    if (o.logprobs !== undefined) {
      const lse = logSumExp(logits);
      logprob = tokenLogprob(logits, id, lse);
      top = o.logprobs > 0 ? topLogprobs(logits, o.logprobs, lse) : [];
    }
    if (o.stopIds.has(id)) { this.finish(job, 'stop'); return; }
    job.generated.push(id);
    const piece = job.decoder.decode(this.tokenizer.tokenBytes(id), { stream: true });
    const out = job.stops.push(piece);
    job.text += out.text;
    try {
      o.onToken?.({ id, text: out.text, logprob, topLogprobs: top });
    } catch {
      // The consumer is gone (its stream closed): stop generating for it.
      this.finish(job, 'abort');
      return;
    }
    if (out.stopped) { this.finish(job, 'stop'); return; }
    if (job.generated.length >= o.maxTokens || job.slot!.cache.nPast >= job.slot!.cache.nCtx) { this.finish(job, 'length'); return; }
    job.pending = id;
  }

  /** Ends a job normally (stop, length) or by cancellation, frees its slot, resolves it. */
  private finish(job: Job, reason: 'stop' | 'length' | 'abort'): void {
    if (job.settled) return;
    job.settled = true;
    const slot = this.release(job);
    let tail = '';
    if (!job.stops.stopped) {
      tail = job.stops.push(job.decoder.decode()).text + job.stops.flush();
      job.text += tail;
    }
    this.metrics.completionTokens += job.generated.length;
    if (reason === 'abort') this.metrics.generationsCancelled++;
    else this.metrics.generationsFinished++;
    job.resolve({
      ids: job.generated, text: job.text, tail, finishReason: reason, promptTokens: job.prompt.length,
      reusedTokens: job.reused, seed: job.sampler.seed, promptLogprobs: job.promptLogprobs, slot: slot?.index ?? -1,
    });
  }

  private fail(job: Job, err: unknown, count = true): void {
    if (job.settled) return;
    job.settled = true;
    this.release(job);
    if (count) this.metrics.generationsFailed++;
    job.reject(err);
  }

  private release(job: Job): Slot | null {
    const i = this.running.indexOf(job);
    if (i >= 0) this.running.splice(i, 1);
    const q = this.queue.indexOf(job);
    if (q >= 0) this.queue.splice(q, 1);
    const slot = job.slot;
    if (slot !== null) {
      slot.job = null;
      slot.lastUsed = ++this.useCounter;
    }
    return slot;
  }
}

/** Length of the common prefix of two id lists. */
export function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
