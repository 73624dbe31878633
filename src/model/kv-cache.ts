/**
 * Per-sequence key/value cache. NoPE (global) layers keep every position; chunked RoPE layers
 * keep only the chunk the next token falls in, so their memory never grows past the chunk size —
 * a chunked query at p sees only positions ⌊p/C⌋·C … p (chunked ≠ sliding window).
 */
import type { ModelConfig } from '../config/model-config.js';
import { Llama4Error, assert } from '../errors.js';

/**
 * Where cache arrays live. A backend with its own memory (wasm) hands out views into it, so its
 * attention kernel reads the cache in place instead of copying it on every call.
 */
export interface FloatAllocator {
  alloc(n: number): Float32Array;
  free(a: Float32Array): void;
}
const HEAP_FLOATS: FloatAllocator = { alloc: (n) => new Float32Array(n), free: () => {} };

/** Cache of one layer: rows hold consecutive absolute positions startPos … startPos+length−1. */
export class LayerKvCache {
  /** [capacity, nKvHeads·headDim] */
  k: Float32Array = new Float32Array(0);
  v: Float32Array = new Float32Array(0);
  startPos = 0;
  length = 0;
  constructor(readonly rowSize: number, readonly maxRows: number, readonly chunk: number | null, private readonly floats: FloatAllocator = HEAP_FLOATS) {}

  /** Absolute position one past the last cached row. */
  get endPos(): number { return this.startPos + this.length; }

  /** Before a run of tokens starting at p0: chunked layers forget every earlier chunk. */
  prepare(p0: number): void {
    if (this.chunk === null) return;
    const chunkStart = Math.floor(p0 / this.chunk) * this.chunk;
    if (chunkStart <= this.startPos) return;
    const drop = Math.min(chunkStart - this.startPos, this.length);
    if (drop < this.length) {
      this.k.copyWithin(0, drop * this.rowSize, this.length * this.rowSize);
      this.v.copyWithin(0, drop * this.rowSize, this.length * this.rowSize);
    }
    this.length -= drop;
    this.startPos = chunkStart;
    if (this.length === 0) this.startPos = p0;
  }

  /** Appends nTokens rows of k and v ([nTokens, rowSize]) for positions endPos … */
  append(k: Float32Array, v: Float32Array, nTokens: number): void {
    const need = this.length + nTokens;
    assert(need <= this.maxRows, `KV cache overflow (${need} > ${this.maxRows} rows)`);
    if (need * this.rowSize > this.k.length) this.grow(need);
    this.k.set(k.subarray(0, nTokens * this.rowSize), this.length * this.rowSize);
    this.v.set(v.subarray(0, nTokens * this.rowSize), this.length * this.rowSize);
    this.length = need;
  }

  /** Forgets positions ≥ pos (used to rewind a sequence to a shared prefix). */
  truncate(pos: number): void {
    if (pos < this.startPos) { this.length = 0; this.startPos = pos; return; }
    this.length = Math.min(this.length, pos - this.startPos);
  }

  private grow(rows: number): void {
    const cap = Math.min(this.maxRows, Math.max(rows, 2 * (this.k.length / this.rowSize), 16));
    const k = this.floats.alloc(cap * this.rowSize);
    const v = this.floats.alloc(cap * this.rowSize);
    k.set(this.k.subarray(0, this.length * this.rowSize));
    v.set(this.v.subarray(0, this.length * this.rowSize));
    if (this.k.length > 0) { this.floats.free(this.k); this.floats.free(this.v); }
    this.k = k; this.v = v;
  }

  /** Returns the arrays to their allocator; the layer is empty afterwards. */
  release(): void {
    if (this.k.length > 0) { this.floats.free(this.k); this.floats.free(this.v); }
    this.k = new Float32Array(0); this.v = new Float32Array(0);
    this.length = 0;
  }

  /** Bytes currently allocated for this layer. */
  get allocatedBytes(): number { return (this.k.byteLength + this.v.byteLength); }
}

/** The cache of one sequence: one LayerKvCache per layer and the number of positions seen. */
export class KvCache {
  readonly layers: LayerKvCache[];
  /** Tokens already in the cache; the next token sits at position `nPast`. */
  nPast = 0;
  /** The ids held in the cache, in order (enables prefix reuse). */
  readonly tokens: number[] = [];

  constructor(config: ModelConfig, readonly nCtx: number, floats?: FloatAllocator) {
    if (!(Number.isInteger(nCtx) && nCtx > 0)) throw new Llama4Error(`context size must be a positive integer (got ${nCtx})`);
    const rowSize = config.nKvHeads * config.headDim;
    this.layers = config.layers.map((l) => {
      const chunk = l.chunked ? config.attentionChunkSize : null;
      return new LayerKvCache(rowSize, chunk === null ? nCtx : Math.min(nCtx, chunk), chunk, floats);
    });
  }

  /** Rewinds to `pos` tokens (positions ≥ pos are forgotten). Chunked layers can rewind only
   * within the chunk they hold; returns false when the prefix cannot be kept. */
  truncate(pos: number): boolean {
    if (pos > this.nPast) return false;
    for (const layer of this.layers) {
      if (layer.chunk === null) continue;
      // The next token at `pos` needs keys from the start of its chunk.
      const chunkStart = Math.floor(pos / layer.chunk) * layer.chunk;
      if (pos > chunkStart && layer.startPos > chunkStart) return false;
    }
    for (const layer of this.layers) layer.truncate(pos);
    this.nPast = pos;
    this.tokens.length = pos;
    return true;
  }

  clear(): void { this.truncate(0); }

  /** Frees the cache's memory (for backends that allocate it); the cache is empty afterwards. */
  dispose(): void {
    for (const layer of this.layers) { layer.release(); layer.startPos = 0; }
    this.nPast = 0;
    this.tokens.length = 0;
  }

  get allocatedBytes(): number { return this.layers.reduce((s, l) => s + l.allocatedBytes, 0); }
}
