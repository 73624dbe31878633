/**
 * Interventions on a forward pass, expressed as ForwardHooks: steering (add a vector to the
 * residual stream), ablation (zero a head, disable an expert) and forced routing. They compose
 * with recording hooks through {@link combineHooks}: interventions first, so what is recorded is
 * what the model actually computed.
 */
import type { ModelConfig } from '../config/model-config.js';
import { Llama4Error } from '../errors.js';
import type { AttentionRow, ForwardHooks } from '../model/llama.js';
import type { Route } from '../model/ffn.js';

/** Add `scale · vector` (length D) to the residual stream of `layer` after its FFN (or attention). */
export interface Steering {
  readonly layer: number;
  readonly vector: ArrayLike<number>;
  readonly scale?: number;
  /** After the layer's FFN (default: the layer's output) or after its attention. */
  readonly stage?: 'attention' | 'ffn';
  /** Absolute positions to steer (default: every position). */
  readonly positions?: readonly number[];
}

/** Zero one query head's output (before the output projection) of `layer`. */
export interface HeadAblation { readonly layer: number; readonly head: number; readonly positions?: readonly number[] }

/**
 * Disable an expert of an MoE layer. 'drop' (default): tokens routed to it lose that expert's
 * contribution and keep the others (and the shared expert); 'reroute': the router never picks it,
 * so those tokens go to their next-best expert.
 */
export interface ExpertAblation { readonly layer: number; readonly expert: number; readonly mode?: 'drop' | 'reroute' }

/**
 * Force the experts of one token at one MoE layer. Weights default to sigmoid(router logit) of
 * each forced expert, as the router would give them.
 */
export interface ForcedRoute { readonly layer: number; readonly position: number; readonly experts: readonly number[]; readonly weights?: readonly number[] }

export interface Interventions {
  readonly steer?: readonly Steering[];
  readonly ablateHeads?: readonly HeadAblation[];
  readonly disableExperts?: readonly ExpertAblation[];
  readonly forceRoutes?: readonly ForcedRoute[];
}

/** True when `iv` asks for nothing. */
export function isEmptyInterventions(iv: Interventions | undefined): boolean {
  return !iv || [iv.steer, iv.ablateHeads, iv.disableExperts, iv.forceRoutes].every((a) => !a || a.length === 0);
}

/** Checks every index against the model (a clear error instead of a silent no-op). */
export function validateInterventions(config: ModelConfig, iv: Interventions): void {
  const L = config.nLayers;
  const layer = (what: string, l: number) => {
    if (!Number.isInteger(l) || l < 0 || l >= L) throw new Llama4Error(`${what}: layer ${l} is out of range (the model has ${L} layers)`);
  };
  const moeLayer = (what: string, l: number) => {
    layer(what, l);
    if (config.layers[l].ffn !== 'moe') throw new Llama4Error(`${what}: layer ${l} is not a mixture-of-experts layer`);
  };
  const expert = (what: string, e: number) => {
    if (!Number.isInteger(e) || e < 0 || e >= config.nExperts) throw new Llama4Error(`${what}: expert ${e} is out of range (the model has ${config.nExperts} experts)`);
  };
  for (const s of iv.steer ?? []) {
    layer('steering', s.layer);
    if (s.vector.length !== config.hiddenSize) throw new Llama4Error(`steering: the vector has ${s.vector.length} values, the hidden size is ${config.hiddenSize}`);
  }
  for (const a of iv.ablateHeads ?? []) {
    layer('head ablation', a.layer);
    if (!Number.isInteger(a.head) || a.head < 0 || a.head >= config.nHeads) throw new Llama4Error(`head ablation: head ${a.head} is out of range (the model has ${config.nHeads} heads)`);
  }
  for (const a of iv.disableExperts ?? []) { moeLayer('expert ablation', a.layer); expert('expert ablation', a.expert); }
  for (const f of iv.forceRoutes ?? []) {
    moeLayer('forced route', f.layer);
    if (f.experts.length === 0) throw new Llama4Error('forced route: give at least one expert');
    f.experts.forEach((e) => expert('forced route', e));
    if (f.weights && f.weights.length !== f.experts.length) throw new Llama4Error('forced route: give one weight per expert');
  }
}

/** The hooks that apply `iv` (validated against `config`). */
export function interventionHooks(config: ModelConfig, iv: Interventions): ForwardHooks {
  validateInterventions(config, iv);
  const D = config.hiddenSize, H = config.nHeads, d = config.headDim, E = config.nExperts;
  const steer = iv.steer ?? [], heads = iv.ablateHeads ?? [], experts = iv.disableExperts ?? [], forced = iv.forceRoutes ?? [];
  const hooks: ForwardHooks = {};
  if (steer.length > 0) {
    hooks.residual = (layer, stage, x, p0) => {
      for (const s of steer) {
        if (s.layer !== layer || (s.stage ?? 'ffn') !== stage) continue;
        const scale = s.scale ?? 1;
        for (let t = 0; t < x.length / D; t++) {
          if (s.positions && !s.positions.includes(p0 + t)) continue;
          for (let i = 0; i < D; i++) x[t * D + i] += scale * s.vector[i];
        }
      }
    };
  }
  if (heads.length > 0) {
    hooks.heads = (layer, out, p0) => {
      for (const a of heads) {
        if (a.layer !== layer) continue;
        for (let t = 0; t < out.length / (H * d); t++) {
          if (a.positions && !a.positions.includes(p0 + t)) continue;
          out.fill(0, (t * H + a.head) * d, (t * H + a.head + 1) * d);
        }
      }
    };
  }
  const rerouted = experts.filter((a) => a.mode === 'reroute');
  // Router logits of the runs that have forced routes, by layer and first position, until used.
  const seen = new Map<string, Float32Array>();
  if (rerouted.length > 0 || forced.length > 0) {
    hooks.routerLogits = (layer, logits, p0) => {
      if (forced.some((f) => f.layer === layer)) seen.set(`${layer}:${p0}`, logits.slice());
      for (const a of rerouted) if (a.layer === layer) for (let t = 0; t < logits.length / E; t++) logits[t * E + a.expert] = -Infinity;
    };
  }
  const dropped = experts.filter((a) => a.mode !== 'reroute');
  if (dropped.length > 0 || forced.length > 0) {
    hooks.routes = (layer, routes, p0) => {
      let out: readonly Route[] = routes;
      const mine = forced.filter((f) => f.layer === layer);
      if (mine.length > 0) {
        const logits = seen.get(`${layer}:${p0}`)!;
        seen.delete(`${layer}:${p0}`);
        for (const f of mine) {
          const t = f.position - p0;
          if (t < 0 || t >= logits.length / E) continue;
          const replace = f.experts.map((expert, j) => ({
            token: t, expert, weight: f.weights ? f.weights[j] : 1 / (1 + Math.exp(-logits[t * E + expert])),
          }));
          out = [...out.filter((r) => r.token !== t), ...replace];
        }
      }
      const drop = dropped.filter((a) => a.layer === layer).map((a) => a.expert);
      if (drop.length > 0) out = out.filter((r) => !drop.includes(r.expert));
      return out === routes ? undefined : [...out];
    };
  }
  return hooks;
}

/**
 * One hooks object that runs several in order: each mutating hook sees the previous ones' edits,
 * `routes` chains replacements, `attentionHeads` asks for the union.
 */
export function combineHooks(...list: readonly (ForwardHooks | undefined)[]): ForwardHooks {
  const hs = list.filter((h): h is ForwardHooks => h !== undefined);
  const out: ForwardHooks = {};
  const each = <K extends keyof ForwardHooks>(k: K) => hs.map((h) => h[k]).filter((f) => f !== undefined) as NonNullable<ForwardHooks[K]>[];
  const residual = each('residual'), headsFns = each('heads'), want = each('attentionHeads'), attention = each('attention');
  const routerLogits = each('routerLogits'), routes = each('routes'), logits = each('logits');
  if (residual.length) out.residual = (l, s, x, p0) => residual.forEach((f) => f(l, s, x, p0));
  if (headsFns.length) out.heads = (l, o, p0) => headsFns.forEach((f) => f(l, o, p0));
  if (want.length) out.attentionHeads = (l) => [...new Set(want.flatMap((f) => [...(f(l) ?? [])]))].sort((a, b) => a - b);
  if (attention.length) out.attention = (l, h, rows: readonly AttentionRow[], p0) => attention.forEach((f) => f(l, h, rows, p0));
  if (routerLogits.length) out.routerLogits = (l, x, p0) => routerLogits.forEach((f) => f(l, x, p0));
  if (routes.length) {
    out.routes = (l, r, p0) => {
      let cur = r, changed = false;
      for (const f of routes) { const next = f(l, cur, p0); if (next) { cur = next; changed = true; } }
      return changed ? cur : undefined;
    };
  }
  if (logits.length) out.logits = (p, x) => logits.forEach((f) => f(p, x));
  return out;
}
