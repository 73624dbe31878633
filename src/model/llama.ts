/**
 * The Llama decoder — Llama 4 (iRoPE, chunked attention, QK-norm, temperature tuning, MoE with a
 * shared expert) with Llama 3 as the special case where every layer is RoPE + dense + global.
 *
 *   x   = Embed(tokens)
 *   for each layer:  x = x + Attention(RMSNorm(x))
 *                    x = x + FFN(RMSNorm(x))          FFN = MoE or dense SwiGLU
 *   logits = RMSNorm(x) · W_outᵀ
 *
 * An optional `hooks` object (ForwardHooks) sees — and may edit — the residual stream, the heads'
 * outputs, attention probabilities, routing and logits along the way; src/inspect/ builds on it.
 *
 * Shapes in comments: T tokens in the run, D hidden, H query heads, Hkv KV heads, d head dim,
 * E experts, F FFN width, V vocab.
 */
import { matmuls, type Backend } from '../backend/backend.js';
import type { LayerPlan, ModelConfig } from '../config/model-config.js';
import { Llama4Error } from '../errors.js';
import { firstVisiblePosition } from './attention-mask.js';
import { KvCache } from './kv-cache.js';
import { attentionTemperature, ropeFrequencies } from './rope.js';
import { moe, swiglu, type MoeHooks, type Route } from './ffn.js';
import type { AttentionWeights, LlamaWeights } from './weights.js';
import { Workspace } from './workspace.js';

/** Which rows of logits a forward pass returns. */
export type LogitsWanted = 'last' | 'all' | 'none' | readonly number[];

/** One sequence's part of a batched forward pass. */
export interface SequenceRequest {
  readonly cache: KvCache;
  readonly tokens: readonly number[];
  readonly logits?: LogitsWanted;
  readonly hooks?: ForwardHooks;
}

/**
 * Observation and intervention points of a forward pass, for interpretability (src/inspect/
 * builds tracers, interventions and the logit lens on them). Each callback sees the rows of the
 * sequence it was passed with, one run at a time: row t is the token at absolute position p0 + t.
 * Arrays are live views, so writing to them changes the pass (steering, ablation). A pass without
 * hooks runs exactly as before and computes nothing extra.
 */
export interface ForwardHooks {
  /** The residual stream [n, D] of layer `layer` after its attention ('attention') or its FFN ('ffn') was added. */
  residual?(layer: number, stage: 'attention' | 'ffn', x: Float32Array, p0: number): void;
  /** The heads' attention outputs [n, H, d] before the output projection (zero a head to ablate it). */
  heads?(layer: number, out: Float32Array, p0: number): void;
  /** Which heads of `layer` to compute attention probabilities for (none when absent or empty). */
  attentionHeads?(layer: number): readonly number[] | undefined;
  /** Attention probabilities of one head, one row per query token (see {@link AttentionRow}). */
  attention?(layer: number, head: number, rows: readonly AttentionRow[], p0: number): void;
  /** MoE layers: raw router logits [n, E] before top-k (writable: −Infinity keeps an expert from being chosen). */
  routerLogits?(layer: number, logits: Float32Array, p0: number): void;
  /** MoE layers: the chosen experts and sigmoid weights (token = row); returning a list replaces them. */
  routes?(layer: number, routes: readonly Route[], p0: number): readonly Route[] | void;
  /** The logits rows this pass computed for the sequence, [R, V], at these absolute positions. */
  logits?(positions: readonly number[], logits: Float32Array): void;
}

/** softmax(q·kᵀ·scale) of one query over the keys it sees: probs[j] is the key at position firstKey + j. */
export interface AttentionRow {
  readonly position: number;
  readonly firstKey: number;
  readonly probs: Float32Array;
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
  readonly hooks?: ForwardHooks;
}

export interface ForwardOptions {
  /** Default 'last': only the next-token distribution. Numbers index into `tokens`. */
  logits?: LogitsWanted;
  /** Observe or intervene in this pass (see {@link ForwardHooks}). */
  hooks?: ForwardHooks;
}

/** Largest number of tokens pushed through the layers at once (bounds scratch memory). */
const MAX_RUN = 512;

export class LlamaModel {
  private readonly freqs: Float64Array;
  /** The chunk length when any layer is chunked: runs never straddle a chunk boundary. */
  private readonly chunk: number | null;
  /** Activation buffers reused across passes without hooks. */
  private readonly ws = new Workspace();

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
    return this.forwardMany([{ cache, tokens, logits: options.logits, hooks: options.hooks }])[0];
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
        segments.push({ cache: r.cache, tokens: r.tokens.slice(done, done + n), p0: pos, logitRows: rows, out: outs[i], outRows, hooks: r.hooks });
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
    const hooked = segs.some((s) => s.hooks !== undefined);
    for (const plan of this.config.layers) {
      const lw = this.weights.layers[plan.index];
      be.rmsNorm(x, T, D, lw.attention.norm, eps, h);
      addInto(x, this.attention(plan, lw.attention, h, segs, hooked));
      if (hooked) eachHooked(segs, D, x, (hk, rows, p0) => hk.residual?.(plan.index, 'attention', rows, p0));
      be.rmsNorm(x, T, D, lw.ffn.norm, eps, h);
      const moeHooks = hooked ? segmentMoeHooks(segs, plan.index, this.config.nExperts) : undefined;
      addInto(x, lw.ffn.kind === 'moe' ? moe(be, lw.ffn, h, T, this.config.nExpertsPerToken, moeHooks).out : swiglu(be, lw.ffn, h, T, hooked ? undefined : this.ws));
      if (hooked) eachHooked(segs, D, x, (hk, rows, p0) => hk.residual?.(plan.index, 'ffn', rows, p0));
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
    // One row (decoding): straight into the caller's array.
    const direct = R === 1 ? picks[0].seg.out.subarray(picks[0].outRow * V, (picks[0].outRow + 1) * V) : null;
    const logits = direct ?? new Float32Array(R * V);
    be.matmul(last, R, this.weights.output, logits);
    if (!direct) picks.forEach((p, r) => p.seg.out.set(logits.subarray(r * V, (r + 1) * V), p.outRow * V));
    if (hooked) {
      let r = 0;
      for (const s of segs) {
        const n = s.logitRows.length;
        if (n > 0) s.hooks?.logits?.(s.logitRows.map((t) => s.p0 + t), logits.subarray(r * V, (r + n) * V));
        r += n;
      }
    }
  }

  /**
   * Grouped-query self-attention of one layer for a batch of segments; returns its output
   * [T, D] (before the residual). Projections run once for the whole batch; RoPE, the KV cache
   * and attention run per segment, in order.
   */
  private attention(plan: LayerPlan, w: AttentionWeights, a: Float32Array, segs: readonly Segment[], hooked: boolean): Float32Array {
    const { nHeads: H, nKvHeads: Hkv, headDim: d, rmsNormEps: eps } = this.config;
    const be = this.backend;
    const T = a.length / this.config.hiddenSize;
    const buf = (name: string, n: number) => (hooked ? new Float32Array(n) : this.ws.f32(name, n));
    const q = buf('attn.q', T * H * d); // [T, H, d]
    const k = buf('attn.k', T * Hkv * d); // [T, Hkv, d]
    const v = buf('attn.v', T * Hkv * d);
    matmuls(be, a, T, [w.q, w.k, w.v], [q, k, v]);
    const attn = buf('attn.heads', T * H * d);

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
      // Probabilities only when a hook asks, computed here from q and the cached keys (the
      // backends' fused attention never materialises them), so they are the same on every backend.
      const wantHeads = hooked ? seg.hooks?.attentionHeads?.(plan.index) : undefined;
      for (const head of wantHeads ?? []) {
        if (!(Number.isInteger(head) && head >= 0 && head < H)) throw new Llama4Error(`attention probabilities asked for head ${head} of ${H}`);
        const rows = attentionProbs(qs, kv.k, head, H, Hkv, d, keyStart, keyEnd, this.config.attentionScale)
          .map((probs, t) => ({ position: positions[t], firstKey: kv.startPos + keyStart[t], probs }));
        seg.hooks!.attention?.(plan.index, head, rows, seg.p0);
      }
      t0 += n;
    }
    if (hooked) eachHooked(segs, H * d, attn, (hk, rows, p0) => hk.heads?.(plan.index, rows, p0));
    const out = buf('attn.out', T * this.config.hiddenSize);
    be.matmul(attn, T, w.o, out);
    return out;
  }
}

/** Calls `fn` with each hooked segment's rows of `a` ([T, width], segments back to back). */
function eachHooked(segs: readonly Segment[], width: number, a: Float32Array, fn: (hooks: ForwardHooks, rows: Float32Array, p0: number) => void): void {
  let t0 = 0;
  for (const s of segs) {
    const n = s.tokens.length;
    if (s.hooks) fn(s.hooks, a.subarray(t0 * width, (t0 + n) * width), s.p0);
    t0 += n;
  }
}

/** The MoE hooks of one layer for a batch: each segment's hooks see its own rows (token = row). */
function segmentMoeHooks(segs: readonly Segment[], layer: number, E: number): MoeHooks {
  return {
    routerLogits(logits) {
      eachHooked(segs, E, logits, (hk, rows, p0) => hk.routerLogits?.(layer, rows, p0));
    },
    routes(routes) {
      const out: Route[] = [];
      let t0 = 0;
      for (const s of segs) {
        const n = s.tokens.length;
        const mine = routes.filter((r) => r.token >= t0 && r.token < t0 + n).map((r) => ({ ...r, token: r.token - t0 }));
        const chosen = s.hooks?.routes?.(layer, mine, s.p0) ?? mine;
        for (const r of chosen) {
          if (!(Number.isInteger(r.token) && r.token >= 0 && r.token < n && Number.isInteger(r.expert) && r.expert >= 0 && r.expert < E && Number.isFinite(r.weight))) {
            throw new Llama4Error(`layer ${layer}: a routes hook returned an invalid route ${JSON.stringify(r)} (${n} tokens, ${E} experts)`);
          }
          out.push({ ...r, token: r.token + t0 });
        }
        t0 += n;
      }
      return out;
    },
  };
}

/**
 * softmax(q_t·kᵀ·scale) of one query head over the cache rows [keyStart[t], keyEnd[t]) of each
 * token t, in float64 like the reference backend; the head reads KV head ⌊head / (H / Hkv)⌋.
 */
function attentionProbs(q: Float32Array, k: Float32Array, head: number, H: number, Hkv: number, d: number, keyStart: Int32Array, keyEnd: Int32Array, scale: number): Float32Array[] {
  const kvh = Math.floor(head / (H / Hkv));
  return Array.from(keyStart, (s0, t) => {
    const s1 = keyEnd[t], qo = (t * H + head) * d;
    const scores = new Float64Array(s1 - s0);
    let max = -Infinity;
    for (let s = s0; s < s1; s++) {
      let dot = 0;
      for (let i = 0, ko = (s * Hkv + kvh) * d; i < d; i++) dot += q[qo + i] * k[ko + i];
      scores[s - s0] = dot * scale;
      max = Math.max(max, scores[s - s0]);
    }
    let sum = 0;
    for (let j = 0; j < scores.length; j++) { scores[j] = Math.exp(scores[j] - max); sum += scores[j]; }
    return Float32Array.from(scores, (e) => e / sum);
  });
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
