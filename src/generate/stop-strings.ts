/**
 * Stop strings for streamed output.
 *
 * Text arrives in chunks (one per decoded token or so), and a stop string can straddle chunks, so
 * the end of each chunk that could still grow into a stop string is held back until the next
 * chunk settles it. Neither the stop string nor anything after it is ever emitted.
 *
 * Which stop wins: generation ends the moment any stop string is complete, so the match that ends
 * first in the text wins; among matches ending at the same place, the one that starts earliest
 * (the longest). This rule depends only on the text, never on how it was cut into chunks. Note it
 * can pick a later-starting stop: with stops "abcd" and "c", the text "abcd" stops at "c" and
 * emits "ab", because "c" was complete when "abcd" was not yet.
 */

import { Llama4Error } from '../errors.js';

/** What {@link StopStringMatcher.push} lets through. */
export interface StopMatch {
  /** Text that is safe to emit now (before any stop string). */
  readonly text: string;
  /** True once a stop string has been seen; generation should end. */
  readonly stopped: boolean;
  /** The stop string that matched, when `stopped`. */
  readonly stop?: string;
}

/** Streams text through, cutting it at the first stop string. */
export class StopStringMatcher {
  private readonly stops: readonly string[];
  /** Longest stop string length − 1: the most text that can ever need holding back. */
  private readonly maxHold: number;
  private held = '';
  private matched: string | undefined;

  /**
   * @param stops the stop strings; may be empty (then text passes straight through). Duplicates
   *   are harmless. An empty string is rejected: it would match before any text.
   */
  constructor(stops: readonly string[]) {
    for (const s of stops) {
      if (typeof s !== 'string' || s.length === 0) {
        throw new Llama4Error(`stop strings must be non-empty strings, got ${JSON.stringify(s)}`);
      }
    }
    this.stops = [...stops];
    this.maxHold = Math.max(0, ...this.stops.map((s) => s.length - 1));
  }

  /** True once a stop string has matched. */
  get stopped(): boolean {
    return this.matched !== undefined;
  }

  /**
   * Feeds the next chunk of decoded text. Returns what can be emitted now; once a stop string has
   * matched, every later call returns empty text with `stopped: true`.
   */
  push(chunk: string): StopMatch {
    if (this.matched !== undefined) return { text: '', stopped: true, stop: this.matched };
    const buffer = this.held + chunk;

    // Earliest-ending match; `indexOf` finds each stop's earliest (hence earliest-ending) occurrence.
    // Held text contains no complete stop, so any match ends inside `chunk`.
    let bestStart = -1;
    let bestEnd = Infinity;
    let best: string | undefined;
    for (const stop of this.stops) {
      const start = buffer.indexOf(stop);
      if (start < 0) continue;
      const end = start + stop.length;
      if (end < bestEnd || (end === bestEnd && start < bestStart)) {
        bestStart = start;
        bestEnd = end;
        best = stop;
      }
    }
    if (best !== undefined) {
      this.matched = best;
      this.held = '';
      return { text: buffer.slice(0, bestStart), stopped: true, stop: best };
    }

    const hold = this.partialMatchLength(buffer);
    this.held = buffer.slice(buffer.length - hold);
    return { text: buffer.slice(0, buffer.length - hold), stopped: false };
  }

  /**
   * Ends the stream: returns the held-back text (it turned out not to start a stop string), or ''
   * if a stop string matched.
   */
  flush(): string {
    const rest = this.matched === undefined ? this.held : '';
    this.held = '';
    return rest;
  }

  /** Length of the longest suffix of `text` that is a proper prefix of some stop string. */
  private partialMatchLength(text: string): number {
    for (let len = Math.min(this.maxHold, text.length); len > 0; len--) {
      const suffix = text.slice(text.length - len);
      for (const stop of this.stops) {
        if (stop.length > len && stop.startsWith(suffix)) return len;
      }
    }
    return 0;
  }
}
