/** MoE on hand-set weights: routing, input scaling, the shared expert. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RefBackend } from '../../src/backend/ref/ref-backend.js';
import { moe, routeTopK, swiglu } from '../../src/model/ffn.js';
import type { MoeFfnWeights, SwiGluWeights } from '../../src/model/weights.js';

const be = new RefBackend();
const mat = (name: string, rows: number, cols: number, values: number[]) =>
  be.matrix({ name, dtype: 'F32', rows, cols, bytes: new Uint8Array(Float32Array.from(values).buffer) });
const silu = (z: number) => z / (1 + Math.exp(-z));

// D = 2, F = 2. Expert e: gate = I·a_e, up = I·b_e, down = I.
function expert(name: string, a: number, b: number): SwiGluWeights {
  return { gate: mat(`${name}.g`, 2, 2, [a, 0, 0, a]), up: mat(`${name}.u`, 2, 2, [b, 0, 0, b]), down: mat(`${name}.d`, 2, 2, [1, 0, 0, 1]) };
}
/** What expert (a, b) computes on input z: silu(a·z) · b·z per element. */
const expertFn = (a: number, b: number) => (z: number) => silu(a * z) * b * z;

describe('mixture of experts', () => {
  const weights: MoeFfnWeights = {
    kind: 'moe',
    norm: new Float32Array(2),
    // Router logits for x = (x0, x1): expert 0 → x0 − x1, expert 1 → x1 − x0.
    router: mat('router', 2, 2, [1, -1, -1, 1]),
    experts: [expert('e0', 1, 2), expert('e1', 3, 0.5)],
    shared: expert('shared', 2, 1),
  };
  const x = Float32Array.from([1.5, -0.5, -2, 1]); // token 0 → expert 0, token 1 → expert 1

  it('routes each token to its top expert and scales the expert input by sigmoid(logit)', () => {
    const { out, routes } = moe(be, weights, x, 2, 1);
    assert.deepEqual(routes.map((r) => r.expert), [0, 1]);
    const w0 = 1 / (1 + Math.exp(-2)), w1 = 1 / (1 + Math.exp(-3));
    assert.ok(Math.abs(routes[0].weight - w0) < 1e-7 && Math.abs(routes[1].weight - w1) < 1e-7);
    const sh = expertFn(2, 1), e0 = expertFn(1, 2), e1 = expertFn(3, 0.5);
    const expected = [sh(1.5) + e0(w0 * 1.5), sh(-0.5) + e0(w0 * -0.5), sh(-2) + e1(w1 * -2), sh(1) + e1(w1 * 1)];
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(out[i] - expected[i]) < 1e-5, `out[${i}] = ${out[i]}, expected ${expected[i]}`);
    // Output scaling (Mixtral style) gives a different answer: the test would catch that mistake.
    const outputScaled = sh(1.5) + w0 * e0(1.5);
    assert.ok(Math.abs(out[0] - outputScaled) > 1e-2);
  });

  it('the shared expert sees the unscaled input', () => {
    const s = swiglu(be, weights.shared!, x, 2);
    const sh = expertFn(2, 1);
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(s[i] - sh(x[i])) < 1e-6);
  });

  it('top-k breaks ties toward the lower expert and picks k distinct experts', () => {
    const logits = Float32Array.from([0.5, 0.5, 0.1, /* token 1 */ -1, 2, 2]);
    const r1 = routeTopK(logits, 2, 3, 1);
    assert.deepEqual(r1.map((r) => r.expert), [0, 1]);
    const r2 = routeTopK(logits, 2, 3, 2);
    assert.deepEqual(r2.map((r) => [r.token, r.expert]), [[0, 0], [0, 1], [1, 1], [1, 2]]);
  });
});
