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
import { KvCache } from './kv-cache.js';
import { attentionTemperature, ropeFrequencies } from './rope.js';
import { moe, swiglu } from './ffn.js';
import type { AttentionWeights, LlamaWeights } from './weights.js';

/** Which rows of logits a forward pass returns. */
export type LogitsWanted = 'last' | 'all' | 'none' | readonly number[];

/** One sequence's part of a batched forward pass. */
export interface SequenceRequest {
  readonly cache: KvCache;
  readonly tokens: readonly number[];
  readonly logits?: LogitsWanted;
}

/** A run of one sequence's tokens inside one attention chunk, with where its logits go. */
interface Segment {
  readonly cache: KvCache;
  readonly tokens: readonly number[];
  /** Position of the first token. */
  readonly p0: number;
  /** Rows of `tokens` whose logits are wanted, and the rows of `out` they go to. */
  readonly logitRows: readonly number[];
  readonly outRows: readonly number[];
  readonly out: Float32Array;
}

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
    return this.forwardMany([{ cache, tokens, logits: options.logits }])[0];
  }

  /**
   * Several sequences in one pass (continuous batching): every weight matrix is read once for
   * all their tokens, while attention stays per sequence. Each request appends its tokens to its
   * own cache; the result holds each request's logits rows, as `forward` returns them.
   */
  forwardMany(requests: readonly SequenceRequest[]): Float32Array[] {
    const V = this.config.vocabSize;
    const caches = new Set<KvCache>();
    for (const { cache, tokens } of requests) {
      if (caches.has(cache)) throw new Llama4Error('forwardMany: two requests share one KV cache');
      caches.add(cache);
      for (const id of tokens) {
        if (!Number.isInteger(id) || id < 0 || id >= V) throw new Llama4Error(`token id ${id} is out of range (vocabulary has ${V} tokens)`);
      }
      if (cache.nPast + tokens.length > cache.nCtx) {
        throw new Llama4Error(`${tokens.length} new tokens after ${cache.nPast} in the context exceed the context size of ${cache.nCtx} tokens`);
      }
    }
    const wanted = requests.map((r) => resolveWanted(r.logits ?? 'last', r.tokens.length));
    const outs = wanted.map((w) => new Float32Array(w.length * V));

    // Cut every request into segments that stay inside one attention chunk, then pack segments
    // into batches of at most MAX_RUN tokens. Segments of one sequence stay in order.
    const segments: Segment[] = [];
    requests.forEach((r, i) => {
      let done = 0, pos = r.cache.nPast;
      while (done < r.tokens.length) {
        let n = Math.min(MAX_RUN, r.tokens.length - done);
        if (this.chunk !== null) n = Math.min(n, this.chunk - (pos % this.chunk));
        const rows: number[] = [], outRows: number[] = [];
        wanted[i].forEach((w, j) => { if (w >= done && w < done + n) { rows.push(w - done); outRows.push(j); } });
        segments.push({ cache: r.cache, tokens: r.tokens.slice(done, done + n), p0: pos, logitRows: rows, out: outs[i], outRows });
        done += n; pos += n;
      }
    });
    this.backend.beginPass?.();
    try {
      for (let s = 0; s < segments.length;) {
        let total = 0, e = s;
        while (e < segments.length && (e === s || total + segments[e].tokens.length <= MAX_RUN)) total += segments[e++].tokens.length;
        this.run(segments.slice(s, e));
        s = e;
      }
    } finally {
      this.backend.endPass?.();
    }
    return outs;
  }

  /** One batch of segments, each inside one attention chunk of its sequence. */
  private run(segs: readonly Segment[]): void {
    const { hiddenSize: D, vocabSize: V, rmsNormEps: eps } = this.config;
    const be = this.backend;
    const T = segs.reduce((n, s) => n + s.tokens.length, 0);
    const tokens = segs.flatMap((s) => s.tokens);

    const x = new Float32Array(T * D); // the residual stream [T, D] of all segments
    be.embedRows(this.weights.tokenEmbedding, tokens, x);
    const h = new Float32Array(T * D);
    for (const plan of this.config.layers) {
      const lw = this.weights.layers[plan.index];
      be.rmsNorm(x, T, D, lw.attention.norm, eps, h);
      addInto(x, this.attention(plan, lw.attention, h, segs));
      be.rmsNorm(x, T, D, lw.ffn.norm, eps, h);
      addInto(x, lw.ffn.kind === 'moe' ? moe(be, lw.ffn, h, T, this.config.nExpertsPerToken).out : swiglu(be, lw.ffn, h, T));
    }
    for (const s of segs) {
      s.cache.nPast += s.tokens.length;
      s.cache.tokens.push(...s.tokens);
    }

    // Only the rows whose logits were asked for go through the output head.
    const picks: { row: number; seg: Segment; outRow: number }[] = [];
    let base = 0;
    for (const s of segs) {
      s.logitRows.forEach((t, k) => picks.push({ row: base + t, seg: s, outRow: s.outRows[k] }));
      base += s.tokens.length;
    }
    const R = picks.length;
    if (R === 0) return;
    const last = new Float32Array(R * D);
    picks.forEach((p, r) => last.set(x.subarray(p.row * D, (p.row + 1) * D), r * D));
    be.rmsNorm(last, R, D, this.weights.outputNorm, eps, last);
    const logits = new Float32Array(R * V);
    be.matmul(last, R, this.weights.output, logits);
    picks.forEach((p, r) => p.seg.out.set(logits.subarray(r * V, (r + 1) * V), p.outRow * V));
  }

  /**
   * Grouped-query self-attention of one layer for a batch of segments; returns its output
   * [T, D] (before the residual). Projections run once for the whole batch; RoPE, the KV cache
   * and attention run per segment, in order.
   */
  private attention(plan: LayerPlan, w: AttentionWeights, a: Float32Array, segs: readonly Segment[]): Float32Array {
    const { nHeads: H, nKvHeads: Hkv, headDim: d, rmsNormEps: eps } = this.config;
    const be = this.backend;
    const T = a.length / this.config.hiddenSize;
    const q = new Float32Array(T * H * d); // [T, H, d]
    const k = new Float32Array(T * Hkv * d); // [T, Hkv, d]
    const v = new Float32Array(T * Hkv * d);
    be.matmul(a, T, w.q, q);
    be.matmul(a, T, w.k, k);
    be.matmul(a, T, w.v, v);
    const attn = new Float32Array(T * H * d);

    let t0 = 0;
    for (const seg of segs) {
      const n = seg.tokens.length;
      const positions = new Int32Array(n);
      for (let t = 0; t < n; t++) positions[t] = seg.p0 + t;
      const qs = q.subarray(t0 * H * d, (t0 + n) * H * d);
      const ks = k.subarray(t0 * Hkv * d, (t0 + n) * Hkv * d);
      const vs = v.subarray(t0 * Hkv * d, (t0 + n) * Hkv * d);
      if (plan.rope) {
        be.rope(qs, n, H, d, positions, this.freqs);
        be.rope(ks, n, Hkv, d, positions, this.freqs);
      }
      if (plan.qkNorm) {
        // Per-head RMS norm without weight, after RoPE (Llama 4 Scout).
        be.rmsNorm(qs, n * H, d, null, eps, qs);
        be.rmsNorm(ks, n * Hkv, d, null, eps, ks);
      }
      if (plan.temperatureTuning) {
        const { floorScale, attnScale } = this.config.attnTemperature!;
        for (let t = 0; t < n; t++) {
          const s = attentionTemperature(positions[t], floorScale, attnScale);
          if (s !== 1) for (let i = t * H * d; i < (t + 1) * H * d; i++) qs[i] *= s;
        }
      }
      const kv = seg.cache.layers[plan.index];
      kv.prepare(positions[0]);
      kv.append(ks, vs, n);
      const keyStart = new Int32Array(n), keyEnd = new Int32Array(n);
      for (let t = 0; t < n; t++) {
        const p = positions[t];
        keyStart[t] = Math.max(firstVisiblePosition(p, kv.chunk), kv.startPos) - kv.startPos;
        keyEnd[t] = p + 1 - kv.startPos;
      }
      be.attention({ q: qs, k: kv.k, v: kv.v, nTokens: n, nHeads: H, nKvHeads: Hkv, headDim: d, keyStart, keyEnd, scale: this.config.attentionScale, out: attn.subarray(t0 * H * d, (t0 + n) * H * d) });
      t0 += n;
    }
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
