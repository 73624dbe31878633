/**
 * Feed-forward blocks: the SwiGLU MLP and Llama 4's mixture of experts.
 * x is [T, D] (T tokens of width D); every function returns a fresh [T, D] output.
 */
import { matmuls, type Backend } from '../backend/backend.js';
import type { MoeFfnWeights, SwiGluWeights } from './weights.js';
import type { Workspace } from './workspace.js';

/**
 * SwiGLU: (silu(x·Wgᵀ) ⊙ x·Wuᵀ)·Wdᵀ for T rows of x. With a workspace the result is its
 * 'ffn.out' buffer (valid until the next call with the same workspace), else a fresh array.
 */
export function swiglu(be: Backend, w: SwiGluWeights, x: Float32Array, T: number, ws?: Workspace): Float32Array {
  const F = w.gate.rows;
  const buf = (name: string, n: number) => (ws ? ws.f32(name, n) : new Float32Array(n));
  const g = buf('ffn.gate', T * F), u = buf('ffn.up', T * F);
  matmuls(be, x, T, [w.gate, w.up], [g, u]);
  be.siluMul(g, u, T * F);
  const out = buf('ffn.out', T * w.down.rows);
  be.matmul(g, T, w.down, out);
  return out;
}

/** One token's choice of one expert. */
export interface Route { token: number; expert: number; weight: number }

/**
 * Top-k routing on raw router logits [T, E]: ties go to the lower expert index; each chosen
 * expert's weight is sigmoid(its logit), with no renormalisation across the k.
 */
export function routeTopK(logits: Float32Array, T: number, E: number, K: number): Route[] {
  const routes: Route[] = [];
  for (let t = 0; t < T; t++) {
    const chosen: number[] = [];
    for (let k = 0; k < K; k++) {
      let best = -1;
      for (let e = 0; e < E; e++) {
        if (chosen.includes(e)) continue;
        if (best < 0 || logits[t * E + e] > logits[t * E + best]) best = e;
      }
      chosen.push(best);
      routes.push({ token: t, expert: best, weight: 1 / (1 + Math.exp(-logits[t * E + best])) });
    }
  }
  return routes;
}

/** Interpretability hooks of one MoE layer over the batch (the model adapts ForwardHooks to these). */
export interface MoeHooks {
  /** Sees (and may edit) the router logits [T, E] before top-k. */
  routerLogits?(logits: Float32Array): void;
  /** Sees the chosen routes and returns the ones to run (unchanged, forced or with experts dropped). */
  routes?(routes: Route[]): Route[];
}

/**
 * Mixture of experts, Llama 4 style: the chosen expert sees the token's input scaled by its
 * router weight — Expert(w·x), not w·Expert(x); SwiGLU is not homogeneous, so the two differ —
 * and the shared expert sees the unscaled input. Tokens are gathered per expert so only chosen
 * experts run.
 */
export function moe(be: Backend, w: MoeFfnWeights, x: Float32Array, T: number, expertsPerToken: number, hooks?: MoeHooks): { out: Float32Array; routes: Route[] } {
  const E = w.experts.length;
  const D = w.router.cols;
  const routerLogits = new Float32Array(T * E); // [T, E]
  be.matmul(x, T, w.router, routerLogits);
  hooks?.routerLogits?.(routerLogits);
  let routes = routeTopK(routerLogits, T, E, expertsPerToken);
  if (hooks?.routes) routes = hooks.routes(routes);

  const out = w.shared ? swiglu(be, w.shared, x, T) : new Float32Array(T * D);
  for (let e = 0; e < E; e++) {
    const mine = routes.filter((r) => r.expert === e);
    if (mine.length === 0) continue;
    const xin = new Float32Array(mine.length * D); // gathered, scaled inputs [n_e, D]
    mine.forEach((r, j) => { for (let c = 0; c < D; c++) xin[j * D + c] = x[r.token * D + c] * r.weight; });
    const y = swiglu(be, w.experts[e], xin, mine.length);
    mine.forEach((r, j) => { for (let c = 0; c < D; c++) out[r.token * D + c] += y[j * D + c]; });
  }
  return { out, routes };
}
