/**
 * Which keys a query may see. Global (NoPE) layers: every earlier position. Chunked (RoPE)
 * layers of Llama 4: only positions in the query's own chunk, ⌊p/C⌋·C … p — so p = C−1 sees C
 * keys and p = C sees one.
 */

/** First absolute key position visible to a query at position p. */
export function firstVisiblePosition(p: number, chunk: number | null): number {
  return chunk === null ? 0 : Math.floor(p / chunk) * chunk;
}

/** Number of keys a query at position p attends to. */
export function visibleKeyCount(p: number, chunk: number | null): number {
  return p - firstVisiblePosition(p, chunk) + 1;
}
