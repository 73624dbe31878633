/**
 * Constrained decoding: which vocabulary tokens may come next so that the text generated so far
 * stays a prefix of a sentence of a grammar (a JSON schema, a tool-call list). The sampler draws
 * as usual; only when its token is not allowed is the full mask computed and the draw repeated
 * over allowed tokens (as llama.cpp does), so most steps cost one check.
 *
 * The full mask walks the vocabulary in byte order, keeping the matcher of every prefix of the
 * current token: tokens sharing a prefix share its matching, and a rejected prefix skips every
 * token that starts with it.
 */
import { Llama4Error } from '../../errors.js';
import type { Sampler, TokenHistory } from '../sampler.js';
import { feedBytes, startMatcher, type Grammar, type Matcher } from './grammar.js';

/** What a constraint needs from a tokenizer. */
export interface ConstraintTokenizer {
  readonly vocabSize: number;
  /** Control tokens (never produced by a grammar; end-of-generation ones are handled apart). */
  readonly specialIds: ReadonlySet<number>;
  tokenBytes(id: number): Uint8Array;
}

/** A tokenizer's text tokens sorted by their bytes, with common-prefix lengths: built once per tokenizer. */
export class SortedVocab {
  /** Token ids in byte order. */
  readonly ids: Int32Array;
  /** Bytes of token ids[i] are pool[start[i], start[i + 1]). */
  readonly start: Int32Array;
  readonly pool: Uint8Array;
  /** Length of the common prefix of token i and token i − 1 (0 for the first). */
  readonly lcp: Int32Array;
  readonly bytesOf: (id: number) => Uint8Array;
  readonly vocabSize: number;
  /** Control tokens: left out of the walk, never allowed as text. */
  readonly special: ReadonlySet<number>;

  private static readonly cache = new WeakMap<ConstraintTokenizer, SortedVocab>();
  static of(tokenizer: ConstraintTokenizer): SortedVocab {
    let v = SortedVocab.cache.get(tokenizer);
    if (!v) { v = new SortedVocab(tokenizer); SortedVocab.cache.set(tokenizer, v); }
    return v;
  }

  private constructor(tokenizer: ConstraintTokenizer) {
    this.vocabSize = tokenizer.vocabSize;
    this.special = tokenizer.specialIds;
    this.bytesOf = (id) => tokenizer.tokenBytes(id);
    const entries: { id: number; bytes: Uint8Array }[] = [];
    for (let id = 0; id < tokenizer.vocabSize; id++) {
      if (tokenizer.specialIds.has(id)) continue;
      const bytes = tokenizer.tokenBytes(id);
      if (bytes.length > 0) entries.push({ id, bytes });
    }
    entries.sort((a, b) => compareBytes(a.bytes, b.bytes));
    const n = entries.length;
    this.ids = new Int32Array(n);
    this.start = new Int32Array(n + 1);
    this.lcp = new Int32Array(n);
    let total = 0;
    for (const e of entries) total += e.bytes.length;
    this.pool = new Uint8Array(total);
    let at = 0;
    entries.forEach((e, i) => {
      this.ids[i] = e.id;
      this.start[i] = at;
      this.pool.set(e.bytes, at);
      at += e.bytes.length;
      if (i > 0) {
        const p = entries[i - 1].bytes, c = e.bytes;
        let k = 0;
        while (k < p.length && k < c.length && p[k] === c[k]) k++;
        this.lcp[i] = k;
      }
    });
    this.start[n] = at;
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** The state of one constrained generation. */
export class TokenConstraint {
  private matcher: Matcher;
  private readonly vocab: SortedVocab;

  /** `endIds`: end-of-generation tokens, allowed exactly when the text is a complete sentence. */
  constructor(grammar: Grammar, tokenizer: ConstraintTokenizer, private readonly endIds: ReadonlySet<number>) {
    this.matcher = startMatcher(grammar);
    this.vocab = SortedVocab.of(tokenizer);
  }

  /**
   * Feeds text that is already part of the reply but was not generated (a prefilled `[` of a
   * tool-call list), so that generation continues the grammar after it.
   */
  prime(text: string): void {
    const m = feedBytes(this.matcher, new TextEncoder().encode(text));
    if (!m) throw new Error(`constrained decoding: the prefilled text ${JSON.stringify(text)} is not in the format`);
    this.matcher = m;
  }

  /** The text so far is a complete sentence (generation may end). */
  get complete(): boolean { return this.matcher.accepting; }

  allows(id: number): boolean {
    if (this.endIds.has(id)) return this.matcher.accepting;
    return this.after(id) !== null;
  }

  /** Advances past `id`, which must be allowed. */
  accept(id: number): void {
    if (this.endIds.has(id)) return;
    const m = this.after(id);
    if (!m) throw new Error(`constrained decoding: token ${id} does not continue the grammar`);
    this.matcher = m;
  }

  /** The matcher after text token `id`, or null when the grammar does not allow it next. */
  private after(id: number): Matcher | null {
    if (this.matcher.finished || this.vocab.special.has(id)) return null;
    const bytes = this.vocab.bytesOf(id);
    return bytes.length === 0 ? null : feedBytes(this.matcher, bytes);
  }

  /** Sets every token that may not come next to −Infinity. */
  mask(logits: Float32Array): void {
    const allowed = new Uint8Array(this.vocab.vocabSize);
    if (this.matcher.accepting) for (const id of this.endIds) if (id < allowed.length) allowed[id] = 1;
    if (!this.matcher.finished) this.walk(allowed);
    for (let id = 0; id < logits.length; id++) if (!allowed[id]) logits[id] = -Infinity;
  }

  /** Marks the text tokens that continue the grammar (see the file comment). */
  private walk(allowed: Uint8Array): void {
    const { ids, start, pool, lcp } = this.vocab;
    const n = ids.length;
    // stack[j]: the matcher after the current token's first j bytes, valid for j ≤ depth.
    const stack: Matcher[] = [this.matcher];
    let depth = 0;
    for (let i = 0; i < n; i++) {
      const s = start[i], len = start[i + 1] - s;
      let j = Math.min(lcp[i], depth);
      let m: Matcher | null = stack[j];
      for (; j < len; j++) {
        m = m.feed(pool[s + j]);
        if (m === null) break;
        stack[j + 1] = m;
      }
      if (m === null) {
        depth = j;
        // Every following token that starts with this rejected prefix is rejected too.
        while (i + 1 < n && lcp[i + 1] > j) i++;
        continue;
      }
      depth = len;
      allowed[ids[i]] = 1;
    }
  }
}

/**
 * The sampler's draw when the constraint allows it; otherwise a draw from the same sampler over
 * the allowed tokens only. The constraint advances past the returned token.
 */
export function sampleConstrained(sampler: Sampler, logits: Float32Array, history: TokenHistory, constraint: TokenConstraint): number {
  let id = sampler.sample(logits, history);
  if (!constraint.allows(id)) {
    const masked = Float32Array.from(logits);
    constraint.mask(masked);
    if (!masked.some((x) => x > -Infinity)) throw new Llama4Error('constrained decoding: no token of the vocabulary can continue the required format');
    id = sampler.sample(masked, history);
    // Samplers never pick a −Infinity logit; a penalty or bias cannot revive one either.
    if (!constraint.allows(id)) throw new Llama4Error(`constrained decoding: the sampler chose token ${id}, which the format does not allow`);
  }
  constraint.accept(id);
  return id;
}
