/**
 * The Llama decoder — Llama 4 (iRoPE, chunked attention, QK-norm, temperature tuning, MoE with a
 * shared expert) with Llama 3 as the special case where every layer is RoPE + dense + global.
 *
 *   x   = Embed(tokens)
 *   for each layer:  x = x + Attention(RMSNorm(x))
 *                    x = x + FFN(RMSNorm(x))          FFN = MoE or dense SwiGLU
 *   logits = RMSNorm(x) · W_outᵀ
 *
 * Shapes in comments: T tokens in the run, D hidden, H query heads, Hkv KV heads, d head dim,
 * E experts, F FFN width, V vocab.
 */
import type { Backend } from '../backend/backend.js';
import type { LayerPlan, ModelConfig } from '../config/model-config.js';
import { Llama4Error } from '../errors.js';
import { firstVisiblePosition } from './attention-mask.js';
import { KvCache, type LayerKvCache } from './kv-cache.js';
import { attentionTemperature, ropeFrequencies } from './rope.js';
import { moe, swiglu } from './ffn.js';
import type { AttentionWeights, LlamaWeights } from './weights.js';

/** Which rows of logits a forward pass returns. */
export type LogitsWanted = 'last' | 'all' | 'none' | readonly number[];

export interface ForwardOptions {
  /** Default 'last': only the next-token distribution. Numbers index into `tokens`. */
  logits?: LogitsWanted;
}

/** Largest number of tokens pushed through the layers at once (bounds scratch memory). */
const MAX_RUN = 512;

export class LlamaModel {
  private readonly freqs: Float64Array;
  /** The chunk length when any layer is chunked: runs never straddle a chunk boundary. */
  private readonly chunk: number | null;

  constructor(readonly config: ModelConfig, readonly weights: LlamaWeights, readonly backend: Backend) {
    this.freqs = ropeFrequencies(config.rope);
    this.chunk = config.layers.some((l) => l.chunked) ? config.attentionChunkSize : null;
  }

  /** A fresh, empty KV cache for one sequence of at most nCtx tokens. */
  newCache(nCtx: number = this.config.maxContext): KvCache {
    return new KvCache(this.config, nCtx, this.backend.floats);
  }

  /**
   * Appends `tokens` to the sequence held in `cache` and returns the requested logits rows,
   * [nRows, V]. Batched prefill and one-token decoding give the same logits: long inputs are cut
   * into runs that never cross a chunk boundary, so the chunked layers' cache holds one chunk.
   */
  forward(cache: KvCache, tokens: readonly number[], options: ForwardOptions = {}): Float32Array {
    const V = this.config.vocabSize;
    for (const id of tokens) {
      if (!Number.isInteger(id) || id < 0 || id >= V) throw new Llama4Error(`token id ${id} is out of range (vocabulary has ${V} tokens)`);
    }
    if (cache.nPast + tokens.length > cache.nCtx) {
      throw new Llama4Error(`${tokens.length} new tokens after ${cache.nPast} in the context exceed the context size of ${cache.nCtx} tokens`);
    }
    const wanted = resolveWanted(options.logits ?? 'last', tokens.length);
    const out = new Float32Array(wanted.length * V);
    this.backend.beginPass?.();
    try {
      this.runAll(cache, tokens, wanted, out);
    } finally {
      this.backend.endPass?.();
    }
    return out;
  }

  private runAll(cache: KvCache, tokens: readonly number[], wanted: readonly number[], out: Float32Array): void {
    const V = this.config.vocabSize;
    let done = 0;
    while (done < tokens.length) {
      const p0 = cache.nPast;
      let n = Math.min(MAX_RUN, tokens.length - done);
      if (this.chunk !== null) n = Math.min(n, this.chunk - (p0 % this.chunk));
      const rows: number[] = [];
      const outRows: number[] = [];
      wanted.forEach((w, j) => { if (w >= done && w < done + n) { rows.push(w - done); outRows.push(j); } });
      const logits = this.run(cache, tokens.slice(done, done + n), rows);
      outRows.forEach((j, r) => out.set(logits.subarray(r * V, (r + 1) * V), j * V));
      done += n;
    }
  }

  /** One run of T tokens that stays inside one attention chunk. */
  private run(cache: KvCache, tokens: readonly number[], logitRows: readonly number[]): Float32Array {
    const { hiddenSize: D, vocabSize: V, rmsNormEps: eps } = this.config;
    const be = this.backend;
    const T = tokens.length;
    const positions = new Int32Array(T);
    for (let t = 0; t < T; t++) positions[t] = cache.nPast + t;

    const x = new Float32Array(T * D); // the residual stream [T, D]
    be.embedRows(this.weights.tokenEmbedding, tokens, x);
    const h = new Float32Array(T * D);
    for (const plan of this.config.layers) {
      const lw = this.weights.layers[plan.index];
      be.rmsNorm(x, T, D, lw.attention.norm, eps, h);
      addInto(x, this.attention(plan, lw.attention, h, positions, cache.layers[plan.index]));
      be.rmsNorm(x, T, D, lw.ffn.norm, eps, h);
      addInto(x, lw.ffn.kind === 'moe' ? moe(be, lw.ffn, h, T, this.config.nExpertsPerToken).out : swiglu(be, lw.ffn, h, T));
    }
    cache.nPast += T;
    cache.tokens.push(...tokens);

    // Only the rows whose logits were asked for go through the output head.
    const R = logitRows.length;
    const last = new Float32Array(R * D);
    logitRows.forEach((t, r) => last.set(x.subarray(t * D, (t + 1) * D), r * D));
    be.rmsNorm(last, R, D, this.weights.outputNorm, eps, last);
    const logits = new Float32Array(R * V);
    if (R > 0) be.matmul(last, R, this.weights.output, logits);
    return logits;
  }

  /** Grouped-query self-attention of one layer; returns its output [T, D] (before the residual). */
  private attention(plan: LayerPlan, w: AttentionWeights, a: Float32Array, positions: Int32Array, kv: LayerKvCache): Float32Array {
    const { nHeads: H, nKvHeads: Hkv, headDim: d, rmsNormEps: eps } = this.config;
    const be = this.backend;
    const T = positions.length;
    const q = new Float32Array(T * H * d); // [T, H, d]
    const k = new Float32Array(T * Hkv * d); // [T, Hkv, d]
    const v = new Float32Array(T * Hkv * d);
    be.matmul(a, T, w.q, q);
    be.matmul(a, T, w.k, k);
    be.matmul(a, T, w.v, v);

    if (plan.rope) {
      be.rope(q, T, H, d, positions, this.freqs);
      be.rope(k, T, Hkv, d, positions, this.freqs);
    }
    if (plan.qkNorm) {
      // Per-head RMS norm without weight, after RoPE (Llama 4 Scout).
      be.rmsNorm(q, T * H, d, null, eps, q);
      be.rmsNorm(k, T * Hkv, d, null, eps, k);
    }
    if (plan.temperatureTuning) {
      const { floorScale, attnScale } = this.config.attnTemperature!;
      for (let t = 0; t < T; t++) {
        const s = attentionTemperature(positions[t], floorScale, attnScale);
        if (s !== 1) for (let i = t * H * d; i < (t + 1) * H * d; i++) q[i] *= s;
      }
    }

    kv.prepare(positions[0]);
    kv.append(k, v, T);
    const keyStart = new Int32Array(T), keyEnd = new Int32Array(T);
    for (let t = 0; t < T; t++) {
      const p = positions[t];
      keyStart[t] = Math.max(firstVisiblePosition(p, kv.chunk), kv.startPos) - kv.startPos;
      keyEnd[t] = p + 1 - kv.startPos;
    }
    const attn = new Float32Array(T * H * d);
    be.attention({ q, k: kv.k, v: kv.v, nTokens: T, nHeads: H, nKvHeads: Hkv, headDim: d, keyStart, keyEnd, scale: this.config.attentionScale, out: attn });
    const out = new Float32Array(T * this.config.hiddenSize);
    be.matmul(attn, T, w.o, out);
    return out;
  }
}

function addInto(x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) x[i] += y[i];
}

function resolveWanted(w: LogitsWanted, n: number): number[] {
  if (w === 'none') return [];
  if (w === 'last') return n > 0 ? [n - 1] : [];
  if (w === 'all') return Array.from({ length: n }, (_, i) => i);
  for (const i of w) if (!Number.isInteger(i) || i < 0 || i >= n) throw new Llama4Error(`logits requested for position ${i}, but only ${n} tokens were given`);
  return [...w];
}
