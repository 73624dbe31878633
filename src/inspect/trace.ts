/**
 * Tracing a forward pass: one prompt through the model with recording hooks (and optional
 * interventions), keeping only what the spec asks for — routing (small: layers × tokens × k),
 * attention maps of the chosen layers/heads, the logit lens's top tokens at the chosen positions
 * (each layer's full logits are dropped as soon as their top tokens are known), residuals only
 * when asked, and the next-token distribution.
 */
import type { ModelConfig } from '../config/model-config.js';
import { Llama4Error } from '../errors.js';
import type { ForwardHooks, LlamaModel } from '../model/llama.js';
import type { TextTokenizer } from '../tokenizer/tokenizer.js';
import { combineHooks, interventionHooks, isEmptyInterventions, type Interventions } from './interventions.js';
import { lensLogits, topTokens, type TokenProb } from './logit-lens.js';

export type Stage = 'attention' | 'ffn';

/** Rows of logit-lens logits computed at once (each row is a full vocabulary). */
const LENS_ROWS = 32;

export interface TraceSpec {
  /** Attention probabilities of these layers' heads (default heads: all). */
  readonly attention?: { readonly layers: readonly number[]; readonly heads?: readonly number[] };
  /** Logit lens at these positions (default all) and layers (default all), `top` tokens each (default 5); false: none. */
  readonly lens?: false | { readonly positions?: readonly number[]; readonly layers?: readonly number[]; readonly top?: number };
  /** Keep the residual stream [T, D] of these layers and stages (default: none). */
  readonly residuals?: { readonly layers: readonly number[]; readonly stages?: readonly Stage[] };
  /** Keep every MoE layer's raw router logits per token. */
  readonly routerLogits?: boolean;
  /** Tokens of the next-token distribution (default 20). */
  readonly nextTop?: number;
  readonly interventions?: Interventions;
}

/** The experts one token ran in one MoE layer, with their router weights (sigmoid of the logit). */
export interface RoutingRecord {
  readonly layer: number;
  readonly position: number;
  readonly experts: number[];
  readonly weights: number[];
  /** Raw router logits [E] (only with `routerLogits`); −Infinity where an intervention masked one. */
  logits?: number[];
}

/** One head's attention: probs[q][k] for keys k ≤ q (0 where the query cannot see the key). */
export interface AttentionMap { readonly layer: number; readonly head: number; readonly probs: Float32Array[] }

export interface LensCell { readonly layer: number; readonly position: number; readonly top: TokenProb[] }

/** The model facts a report needs (so a trace stands alone). */
export interface TraceModelInfo {
  readonly name: string;
  readonly family: string;
  readonly nLayers: number;
  readonly nHeads: number;
  readonly nExperts: number;
  readonly nExpertsPerToken: number;
  readonly moeLayers: number[];
  readonly vocabSize: number;
  readonly hiddenSize: number;
}

export interface Trace {
  readonly model: TraceModelInfo;
  readonly prompt?: string;
  readonly tokens: number[];
  /** Text of each token (its own decoding; partial UTF-8 shows as U+FFFD). */
  readonly pieces: string[];
  readonly interventions?: Interventions;
  readonly routing: RoutingRecord[];
  /** Tokens each expert ran per MoE layer (counts[e]). */
  readonly expertLoad: { layer: number; counts: number[] }[];
  readonly attention: AttentionMap[];
  readonly lens: LensCell[];
  /** The next-token distribution after the last token (top tokens). */
  readonly next: TokenProb[];
  /** The last position's full logits [V]. */
  readonly logits: Float32Array;
  /** Recorded residual streams, `${layer}:${stage}` → [T, D]. */
  readonly residuals: Map<string, Float32Array>;
  /** Text of every token id the trace mentions (prompt, lens, next token). */
  readonly tokenText: Map<number, string>;
}

export interface TraceOptions {
  readonly tokenizer?: TextTokenizer;
  readonly prompt?: string;
  readonly name?: string;
}

/** Model facts for a trace. */
export function modelInfo(config: ModelConfig, name = ''): TraceModelInfo {
  return {
    name, family: config.family, nLayers: config.nLayers, nHeads: config.nHeads, nExperts: config.nExperts,
    nExpertsPerToken: config.nExpertsPerToken, moeLayers: config.layers.filter((l) => l.ffn === 'moe').map((l) => l.index),
    vocabSize: config.vocabSize, hiddenSize: config.hiddenSize,
  };
}

/**
 * A recorder: hooks that collect what `spec` asks for over one or more forward calls of one
 * sequence (positions are absolute), and `finish` to read the result.
 */
export function createRecorder(model: LlamaModel, nTokens: number, spec: TraceSpec = {}): { hooks: ForwardHooks; finish(): Omit<Trace, 'model' | 'tokens' | 'pieces' | 'prompt' | 'interventions' | 'tokenText'> } {
  const config = model.config;
  const { nLayers: L, nHeads: H, hiddenSize: D, nExperts: E } = config;
  const checkLayers = (what: string, layers: readonly number[]) => {
    for (const l of layers) if (!Number.isInteger(l) || l < 0 || l >= L) throw new Llama4Error(`${what}: layer ${l} is out of range (the model has ${L} layers)`);
  };
  const attnLayers = spec.attention?.layers ?? [];
  const attnHeads = spec.attention?.heads ?? Array.from({ length: H }, (_, h) => h);
  checkLayers('attention', attnLayers);
  for (const h of attnHeads) if (!Number.isInteger(h) || h < 0 || h >= H) throw new Llama4Error(`attention: head ${h} is out of range (the model has ${H} heads)`);
  const lensSpec = spec.lens === false ? null : spec.lens ?? {};
  const lensLayers = new Set(lensSpec?.layers ?? Array.from({ length: L }, (_, l) => l));
  const lensPositions = new Set(lensSpec?.positions ?? Array.from({ length: nTokens }, (_, p) => p));
  const lensTop = lensSpec?.top ?? 5;
  if (lensSpec) checkLayers('logit lens', [...lensLayers]);
  for (const p of lensPositions) if (!Number.isInteger(p) || p < 0 || p >= nTokens) throw new Llama4Error(`logit lens: position ${p} is out of range (the prompt has ${nTokens} tokens)`);
  const resLayers = spec.residuals?.layers ?? [];
  const resStages = spec.residuals?.stages ?? ['attention', 'ffn'];
  checkLayers('residuals', resLayers);

  const routing = new Map<string, RoutingRecord>();
  const routerLogits = new Map<string, Float32Array>();
  const attention = new Map<string, AttentionMap>();
  for (const layer of attnLayers) for (const head of attnHeads) {
    attention.set(`${layer}:${head}`, { layer, head, probs: Array.from({ length: nTokens }, (_, q) => new Float32Array(q + 1)) });
  }
  const lens: LensCell[] = [];
  const residuals = new Map<string, Float32Array>();
  let next: TokenProb[] = [];
  let logits = new Float32Array(0);

  const hooks: ForwardHooks = {
    residual(layer, stage, x, p0) {
      const n = x.length / D;
      if (resLayers.includes(layer) && resStages.includes(stage)) {
        const key = `${layer}:${stage}`;
        if (!residuals.has(key)) residuals.set(key, new Float32Array(nTokens * D));
        residuals.get(key)!.set(x, p0 * D);
      }
      if (stage === 'ffn' && lensSpec && lensLayers.has(layer)) {
        const rows: number[] = [];
        for (let t = 0; t < n; t++) if (lensPositions.has(p0 + t)) rows.push(t);
        // A few rows at a time, so a long prompt never holds more than LENS_ROWS rows of logits.
        const V = config.vocabSize;
        for (let i = 0; i < rows.length; i += LENS_ROWS) {
          const some = rows.slice(i, i + LENS_ROWS);
          const picked = new Float32Array(some.length * D);
          some.forEach((t, r) => picked.set(x.subarray(t * D, (t + 1) * D), r * D));
          const lg = lensLogits(model, picked, some.length);
          some.forEach((t, r) => lens.push({ layer, position: p0 + t, top: topTokens(lg.subarray(r * V, (r + 1) * V), lensTop) }));
        }
      }
    },
    routerLogits: spec.routerLogits ? (layer, lg, p0) => {
      for (let t = 0; t < lg.length / E; t++) routerLogits.set(`${layer}:${p0 + t}`, lg.slice(t * E, (t + 1) * E));
    } : undefined,
    routes(layer, routes, p0) {
      for (const r of routes) {
        const key = `${layer}:${p0 + r.token}`;
        let rec = routing.get(key);
        if (!rec) routing.set(key, rec = { layer, position: p0 + r.token, experts: [], weights: [] });
        rec.experts.push(r.expert);
        rec.weights.push(r.weight);
      }
    },
    attentionHeads: attnLayers.length > 0 ? (layer) => (attnLayers.includes(layer) ? attnHeads : undefined) : undefined,
    attention(layer, head, rows) {
      const map = attention.get(`${layer}:${head}`);
      if (!map) return;
      for (const r of rows) map.probs[r.position].set(r.probs, r.firstKey);
    },
    logits(positions, lg) {
      const V = config.vocabSize;
      const last = positions.indexOf(nTokens - 1);
      if (last < 0) return;
      logits = lg.slice(last * V, (last + 1) * V);
      next = topTokens(logits, spec.nextTop ?? 20);
    },
  };

  return {
    hooks,
    finish() {
      const moeLayers = config.layers.filter((l) => l.ffn === 'moe').map((l) => l.index);
      // A token whose every expert was dropped still gets its (empty) record.
      for (const layer of moeLayers) for (let p = 0; p < nTokens; p++) {
        if (!routing.has(`${layer}:${p}`)) routing.set(`${layer}:${p}`, { layer, position: p, experts: [], weights: [] });
      }
      const records = [...routing.values()].sort((a, b) => a.layer - b.layer || a.position - b.position);
      if (spec.routerLogits) for (const r of records) r.logits = Array.from(routerLogits.get(`${r.layer}:${r.position}`) ?? []);
      const expertLoad = moeLayers.map((layer) => {
        const counts = new Array<number>(E).fill(0);
        for (const r of records) if (r.layer === layer) for (const e of r.experts) counts[e]++;
        return { layer, counts };
      });
      lens.sort((a, b) => a.layer - b.layer || a.position - b.position);
      return { routing: records, expertLoad, attention: [...attention.values()], lens, next, logits, residuals };
    },
  };
}

/**
 * Runs `tokens` through `model` from an empty cache with recording hooks (and `spec`'s
 * interventions applied first) and returns what was recorded.
 */
export function traceTokens(model: LlamaModel, tokens: readonly number[], spec: TraceSpec = {}, options: TraceOptions = {}): Trace {
  if (tokens.length === 0) throw new Llama4Error('nothing to trace: the prompt has no tokens');
  const recorder = createRecorder(model, tokens.length, spec);
  const iv = spec.interventions;
  const hooks = isEmptyInterventions(iv) ? recorder.hooks : combineHooks(interventionHooks(model.config, iv!), recorder.hooks);
  const cache = model.newCache(tokens.length);
  try {
    model.forward(cache, tokens, { logits: 'last', hooks });
  } finally {
    cache.dispose();
  }
  const text = (id: number) => (options.tokenizer ? options.tokenizer.decode([id]) : `#${id}`);
  const recorded = recorder.finish();
  const tokenText = new Map<number, string>();
  for (const id of [...tokens, ...recorded.next.map((t) => t.id), ...recorded.lens.flatMap((c) => c.top.map((t) => t.id))]) {
    if (!tokenText.has(id)) tokenText.set(id, text(id));
  }
  return {
    model: modelInfo(model.config, options.name), prompt: options.prompt, tokens: [...tokens], pieces: tokens.map((id) => tokenText.get(id)!),
    interventions: isEmptyInterventions(iv) ? undefined : iv, ...recorded, tokenText,
  };
}

const round = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(7)) : null);
const tokenJson = (text: Map<number, string>) => (t: TokenProb) => ({ id: t.id, piece: text.get(t.id) ?? `#${t.id}`, prob: round(t.prob), logit: round(t.logit) });

/**
 * The trace as plain JSON (for notebooks and scripts): tokens, pieces, routing
 * [{layer, position, experts, weights}], expert load, attention maps (probs[q][k], k ≤ q),
 * logit lens and next-token distribution, each token as {id, piece, prob, logit}.
 */
export function traceToJson(trace: Trace): Record<string, unknown> {
  const tj = tokenJson(trace.tokenText);
  return {
    model: trace.model,
    prompt: trace.prompt,
    tokens: trace.tokens,
    pieces: trace.pieces,
    interventions: trace.interventions ? interventionsJson(trace.interventions) : undefined,
    routing: trace.routing.map((r) => ({
      layer: r.layer, position: r.position, experts: r.experts, weights: r.weights.map(round),
      ...(r.logits ? { logits: r.logits.map(round) } : {}),
    })),
    expertLoad: trace.expertLoad,
    attention: trace.attention.map((a) => ({ layer: a.layer, head: a.head, probs: a.probs.map((row) => Array.from(row, round)) })),
    lens: trace.lens.map((c) => ({ layer: c.layer, position: c.position, top: c.top.map(tj) })),
    next: trace.next.map(tj),
  };
}

function interventionsJson(iv: Interventions): Record<string, unknown> {
  return {
    ...iv,
    steer: iv.steer?.map((s) => ({ ...s, vector: `[${s.vector.length} values, |v| = ${round(Math.sqrt(Array.from(s.vector).reduce((a, v) => a + v * v, 0)))}]` })),
  };
}
