/**
 * A sequence being evaluated: one model, one KV cache, the tokens seen so far. Feeding a token
 * list that starts with what the cache already holds reuses that prefix (the next chat turn, a
 * retried request) and evaluates only the rest.
 */
import { Llama4Error } from '../errors.js';
import type { KvCache } from './kv-cache.js';
import type { LlamaModel } from './llama.js';

export class Session {
  readonly cache: KvCache;
  constructor(readonly model: LlamaModel, nCtx?: number) {
    this.cache = model.newCache(nCtx);
  }

  /** Tokens currently in the cache. */
  get tokens(): readonly number[] { return this.cache.tokens; }
  get nCtx(): number { return this.cache.nCtx; }

  /**
   * Makes the cache hold exactly `ids` and returns the logits after the last one [V].
   * Returns how many leading tokens were reused from the cache.
   */
  evaluate(ids: readonly number[]): { logits: Float32Array; reused: number } {
    if (ids.length === 0) throw new Llama4Error('the prompt is empty: at least one token is needed');
    const held = this.cache.tokens;
    let common = 0;
    while (common < held.length && common < ids.length && held[common] === ids[common]) common++;
    // At least one token must run to produce logits.
    if (common === ids.length) common = Math.max(0, ids.length - 1);
    if (!this.cache.truncate(common)) { this.cache.clear(); common = 0; }
    const logits = this.model.forward(this.cache, ids.slice(common), { logits: 'last' });
    return { logits, reused: common };
  }

  /** Appends one token (decoding) and returns the logits after it [V]. */
  step(id: number): Float32Array {
    return this.model.forward(this.cache, [id], { logits: 'last' });
  }
}
