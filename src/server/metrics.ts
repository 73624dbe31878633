/**
 * Server counters, rendered in the Prometheus text format (version 0.0.4) at `GET /metrics`.
 * Step time is split between prefill and decode in proportion to the tokens of each kind in the
 * step (both cost about one token's pass through the weights), which gives the tokens/s gauges.
 */

export class Metrics {
  /** HTTP requests by route and status. */
  readonly requests = new Map<string, number>();
  promptTokens = 0;
  completionTokens = 0;
  /** Prompt tokens evaluated (prefill), i.e. not reused from a slot's cache. */
  prefillTokens = 0;
  prefillSeconds = 0;
  decodeTokens = 0;
  decodeSeconds = 0;
  /** Prompt tokens found in a slot's KV cache and not evaluated again. */
  reusedTokens = 0;
  /** forwardMany calls, those with more than one sequence, sequences summed over calls. */
  forwardCalls = 0;
  forwardBatchedCalls = 0;
  forwardSequences = 0;
  maxBatchSequences = 0;
  generationsStarted = 0;
  generationsFinished = 0;
  generationsCancelled = 0;
  generationsFailed = 0;
  rejectedQueueFull = 0;

  countRequest(route: string, status: number): void {
    const key = `${route}\u0000${status}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  /**
   * The exposition text. `live` gives the gauges that describe the scheduler right now.
   */
  render(live: { queueDepth: number; queueCapacity: number; slotsBusy: number; slotsFree: number; loading: boolean }): string {
    const lines: string[] = [];
    const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) lines.push(`${name}${labels} ${Number.isFinite(value) ? value : 0}`);
    };
    const one = (name: string, type: 'counter' | 'gauge', help: string, value: number) => metric(name, type, help, [['', value]]);

    const byRoute: [string, number][] = [...this.requests.entries()].sort().map(([key, n]) => {
      const [route, status] = key.split('\u0000');
      return [`{route="${route}",status="${status}"}`, n];
    });
    metric('llama4_requests_total', 'counter', 'HTTP requests by route and status code.', byRoute);
    one('llama4_prompt_tokens_total', 'counter', 'Prompt tokens of accepted generations (tokens in).', this.promptTokens);
    one('llama4_completion_tokens_total', 'counter', 'Generated tokens (tokens out).', this.completionTokens);
    one('llama4_prefill_tokens_total', 'counter', 'Prompt tokens evaluated (not reused from a KV cache).', this.prefillTokens);
    one('llama4_prefix_reused_tokens_total', 'counter', 'Prompt tokens reused from a slot\'s KV cache (prefix caching).', this.reusedTokens);
    one('llama4_decode_tokens_total', 'counter', 'Tokens evaluated one per sequence per step (decode).', this.decodeTokens);
    one('llama4_prefill_seconds_total', 'counter', 'Forward-pass seconds attributed to prefill.', this.prefillSeconds);
    one('llama4_decode_seconds_total', 'counter', 'Forward-pass seconds attributed to decode.', this.decodeSeconds);
    one('llama4_prefill_tokens_per_second', 'gauge', 'Prefill throughput since start.', this.prefillSeconds > 0 ? this.prefillTokens / this.prefillSeconds : 0);
    one('llama4_decode_tokens_per_second', 'gauge', 'Decode throughput since start (all sequences together).', this.decodeSeconds > 0 ? this.decodeTokens / this.decodeSeconds : 0);
    one('llama4_forward_calls_total', 'counter', 'Batched forward passes (one per scheduler step).', this.forwardCalls);
    one('llama4_forward_batched_calls_total', 'counter', 'Forward passes that carried more than one sequence.', this.forwardBatchedCalls);
    one('llama4_forward_sequences_total', 'counter', 'Sequences summed over forward passes.', this.forwardSequences);
    one('llama4_forward_max_sequences', 'gauge', 'Most sequences seen in one forward pass.', this.maxBatchSequences);
    one('llama4_generations_started_total', 'counter', 'Generations admitted to a slot.', this.generationsStarted);
    one('llama4_generations_finished_total', 'counter', 'Generations that ended normally (stop or length).', this.generationsFinished);
    one('llama4_generations_cancelled_total', 'counter', 'Generations cancelled (client disconnected).', this.generationsCancelled);
    one('llama4_generations_failed_total', 'counter', 'Generations that failed with an error.', this.generationsFailed);
    one('llama4_rejected_queue_full_total', 'counter', 'Requests refused with 429 because the queue was full.', this.rejectedQueueFull);
    one('llama4_queue_depth', 'gauge', 'Requests waiting for a slot.', live.queueDepth);
    one('llama4_queue_capacity', 'gauge', 'Most requests that may wait for a slot.', live.queueCapacity);
    one('llama4_slots_busy', 'gauge', 'Slots running a generation.', live.slotsBusy);
    one('llama4_slots_free', 'gauge', 'Idle slots.', live.slotsFree);
    one('llama4_model_loading', 'gauge', '1 while the model is loading.', live.loading ? 1 : 0);
    return `${lines.join('\n')}\n`;
  }
}
