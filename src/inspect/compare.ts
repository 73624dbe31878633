/**
 * Two traces side by side — two prompts, two models (a base and a fine-tune), or a clean run and
 * an intervened one — and where they diverge: which tokens route to other experts in which layer,
 * where the logit lens's top token differs, and how far apart the next-token distributions are.
 * Positions are compared from the start, up to the shorter prompt.
 */
import { softmax, type TokenProb } from './logit-lens.js';
import type { Trace } from './trace.js';

export interface RoutingDiff {
  readonly layer: number;
  readonly position: number;
  readonly a: number[];
  readonly b: number[];
  readonly aWeights: number[];
  readonly bWeights: number[];
  /** Same set of experts. */
  readonly same: boolean;
}

export interface LensDiff { readonly layer: number; readonly position: number; readonly a?: TokenProb; readonly b?: TokenProb; readonly same: boolean }

export interface TraceComparison {
  readonly labels: [string, string];
  /** Positions compared: 0 … min(Ta, Tb) − 1. */
  readonly positions: number;
  /** First position whose token ids differ (null: the shorter prompt is a prefix of the other). */
  readonly firstTokenDifference: number | null;
  readonly routing: RoutingDiff[];
  /** Per MoE layer present in both: tokens routed to the same experts, out of `total`. */
  readonly routingAgreement: { layer: number; same: number; total: number }[];
  /** The earliest position (then lowest layer) whose experts differ. */
  readonly firstRoutingDivergence: { layer: number; position: number } | null;
  /** Top-1 token of the logit lens, per layer and position both traced. */
  readonly lens: LensDiff[];
  /** The first position whose final prediction (the last layer's lens) differs. */
  readonly firstPredictionDivergence: number | null;
  readonly next: {
    readonly a: TokenProb[];
    readonly b: TokenProb[];
    readonly sameTop: boolean;
    /** ½ Σ |p − q| over the vocabulary (null when the vocabularies differ in size). */
    readonly totalVariation: number | null;
    /** KL(a ‖ b) in nats (null when the vocabularies differ in size). */
    readonly kl: number | null;
  };
}

const sameSet = (a: readonly number[], b: readonly number[]) => a.length === b.length && [...a].sort().every((e, i) => e === [...b].sort()[i]);

/**
 * Compares two traces position by position. Tokens are matched by id when both models share a
 * vocabulary size, else by their text (two models with different tokenizers).
 */
export function compareTraces(a: Trace, b: Trace, labels: [string, string] = ['A', 'B']): TraceComparison {
  const T = Math.min(a.tokens.length, b.tokens.length);
  const byId = a.model.vocabSize === b.model.vocabSize;
  const sameToken = (x: number | undefined, y: number | undefined) =>
    x !== undefined && y !== undefined && (byId ? x === y : (a.tokenText.get(x) ?? `#${x}`) === (b.tokenText.get(y) ?? `#${y}`));
  let firstTokenDifference: number | null = null;
  for (let p = 0; p < T; p++) if (!sameToken(a.tokens[p], b.tokens[p])) { firstTokenDifference = p; break; }

  const bRoutes = new Map(b.routing.map((r) => [`${r.layer}:${r.position}`, r]));
  const routing: RoutingDiff[] = [];
  for (const ra of a.routing) {
    if (ra.position >= T) continue;
    const rb = bRoutes.get(`${ra.layer}:${ra.position}`);
    if (!rb) continue;
    routing.push({ layer: ra.layer, position: ra.position, a: ra.experts, b: rb.experts, aWeights: ra.weights, bWeights: rb.weights, same: sameSet(ra.experts, rb.experts) });
  }
  const layers = [...new Set(routing.map((r) => r.layer))].sort((x, y) => x - y);
  const routingAgreement = layers.map((layer) => {
    const rs = routing.filter((r) => r.layer === layer);
    return { layer, same: rs.filter((r) => r.same).length, total: rs.length };
  });
  const diverged = routing.filter((r) => !r.same).sort((x, y) => x.position - y.position || x.layer - y.layer);
  const firstRoutingDivergence = diverged.length > 0 ? { layer: diverged[0].layer, position: diverged[0].position } : null;

  const bLens = new Map(b.lens.map((c) => [`${c.layer}:${c.position}`, c]));
  const lens: LensDiff[] = [];
  for (const ca of a.lens) {
    const cb = bLens.get(`${ca.layer}:${ca.position}`);
    if (!cb || ca.position >= T) continue;
    lens.push({ layer: ca.layer, position: ca.position, a: ca.top[0], b: cb.top[0], same: sameToken(ca.top[0]?.id, cb.top[0]?.id) });
  }
  const finalTop = (t: Trace) => new Map(t.lens.filter((c) => c.layer === t.model.nLayers - 1).map((c) => [c.position, c.top[0]?.id]));
  const finalA = finalTop(a), finalB = finalTop(b);
  let firstPredictionDivergence: number | null = null;
  for (let p = 0; p < T && firstPredictionDivergence === null; p++) {
    if (finalA.has(p) && finalB.has(p) && !sameToken(finalA.get(p), finalB.get(p))) firstPredictionDivergence = p;
  }

  let totalVariation: number | null = null, kl: number | null = null;
  if (a.logits.length === b.logits.length && a.logits.length > 0) {
    const p = softmax(a.logits), q = softmax(b.logits);
    totalVariation = 0; kl = 0;
    for (let i = 0; i < p.length; i++) {
      totalVariation += Math.abs(p[i] - q[i]) / 2;
      if (p[i] > 0) kl += p[i] * Math.log(p[i] / Math.max(q[i], 1e-300));
    }
  }
  return {
    labels, positions: T, firstTokenDifference, routing, routingAgreement, firstRoutingDivergence, lens, firstPredictionDivergence,
    next: { a: a.next, b: b.next, sameTop: sameToken(a.next[0]?.id, b.next[0]?.id), totalVariation, kl },
  };
}
