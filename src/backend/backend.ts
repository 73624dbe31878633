/**
 * The one narrow interface between the model and the arithmetic. The model (model/llama.ts)
 * calls these ops for every heavy step; a backend decides how they run (plain TypeScript as the
 * executable specification, WebAssembly SIMD for speed). Activations are Float32Arrays in
 * row-major layout; weights are opaque handles the backend prepared from their stored bytes.
 */
import type { DType } from '../io/tensor.js';
import type { FloatAllocator } from '../model/kv-cache.js';

/**
 * A weight matrix `[rows, cols]` as stored: quantized blocks run along `cols`. Its bytes come
 * either in memory (`bytes`) or straight from the file (`readInto`), so a backend with its own
 * memory can load weights without a second copy.
 */
export interface MatrixData {
  readonly name: string;
  readonly dtype: DType;
  readonly rows: number;
  readonly cols: number;
  readonly bytes?: Uint8Array;
  readInto?(dst: Uint8Array): void;
}

/** A weight matrix after the backend adopted it (its storage is the backend's business). */
export interface Matrix {
  readonly name: string;
  readonly dtype: DType;
  readonly rows: number;
  readonly cols: number;
}

/**
 * Causal attention of a run of query tokens over one layer's cached keys and values.
 * Query t may see cache rows [keyStart[t], keyEnd[t]) — the model computes those ranges from
 * positions (causal, chunked, or both), so the backend knows nothing about masks.
 */
export interface AttentionArgs {
  /** [nTokens, nHeads, headDim] */
  readonly q: Float32Array;
  /** [cacheRows, nKvHeads, headDim] */
  readonly k: Float32Array;
  /** [cacheRows, nKvHeads, headDim] */
  readonly v: Float32Array;
  readonly nTokens: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
  readonly keyStart: Int32Array;
  readonly keyEnd: Int32Array;
  /** Softmax scale (1/sqrt(headDim)). */
  readonly scale: number;
  /** [nTokens, nHeads, headDim] */
  readonly out: Float32Array;
}

export interface Backend {
  readonly name: string;
  /** Adopts a weight matrix; the backend may keep `bytes` by reference (they are never reused). */
  matrix(m: MatrixData): Matrix;
  /** Adopts `count` matrices stored back to back (an expert tensor [count, rows, cols]). */
  matrixStack(m: MatrixData, count: number): Matrix[];
  /** out[t, r] = Σ_c x[t, c] · W[r, c] for t < nTokens: the linear layer `x · Wᵀ`. */
  matmul(x: Float32Array, nTokens: number, w: Matrix, out: Float32Array): void;
  /**
   * The same input through several matrices of equal width (q/k/v, gate/up): outs[i] = x·ws[i]ᵀ.
   * Optional; a backend may share work between them (one quantization of x, one job).
   */
  matmulMany?(x: Float32Array, nTokens: number, ws: readonly Matrix[], outs: readonly Float32Array[]): void;
  /** out[i, :] = W[ids[i], :] (embedding lookup, dequantized). */
  embedRows(w: Matrix, ids: ArrayLike<number>, out: Float32Array): void;
  /** out[r] = x[r] / sqrt(mean(x[r]²) + eps) ⊙ weight (weight null: no scaling). out may be x. */
  rmsNorm(x: Float32Array, nRows: number, dim: number, weight: Float32Array | null, eps: number, out: Float32Array): void;
  /** Rotates adjacent pairs of each head of x [nTokens, nHeads, headDim] in place. */
  rope(x: Float32Array, nTokens: number, nHeads: number, headDim: number, positions: Int32Array, freqs: Float64Array): void;
  attention(args: AttentionArgs): void;
  /** gate[i] = silu(gate[i]) · up[i] for i < n (SwiGLU), in place. */
  siluMul(gate: Float32Array, up: Float32Array, n: number): void;
  /** Where KV caches are allocated, when the backend wants them in its own memory. */
  readonly floats?: FloatAllocator;
  /** Called before weights of about `weightBytes` are adopted (a backend may need to grow). */
  reserve?(weightBytes: number): Promise<void>;
  /** A forward pass starts / ends: a threaded backend keeps its workers spinning in between. */
  beginPass?(): void;
  endPass?(): void;
}

/** outs[i] = x·ws[i]ᵀ for every i: one matmulMany where the backend has it, else one matmul each. */
export function matmuls(be: Backend, x: Float32Array, nTokens: number, ws: readonly Matrix[], outs: readonly Float32Array[]): void {
  if (be.matmulMany) be.matmulMany(x, nTokens, ws, outs);
  else ws.forEach((w, i) => be.matmul(x, nTokens, w, outs[i]));
}
