/**
 * The forward hooks checked against the model itself, on both backends and on a Llama 4 MoE and a
 * Llama 3 dense model: observing changes nothing, the last residual through the output head is
 * the logits, recorded routes are the experts that really ran, ablations and steering change
 * exactly what they should, and attention probabilities reproduce the attention output.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { loadModel, type LoadedModel } from '../../src/load.js';
import type { Backend, Matrix } from '../../src/backend/backend.js';
import { RefBackend } from '../../src/backend/ref/ref-backend.js';
import { WasmBackend } from '../../src/backend/wasm/wasm-backend.js';
import type { ForwardHooks } from '../../src/model/llama.js';
import { Llama4Error } from '../../src/errors.js';
import { combineHooks, createRecorder, interventionHooks, lensLogits, traceTokens, type Trace } from '../../src/inspect/index.js';
import { modelDir, type FixtureModel } from '../support/fixtures.js';

const PROMPT = Array.from({ length: 24 }, (_, i) => (i * 37 + 11) % 600);
const BACKENDS = [['ref', async () => new RefBackend()], ['wasm', () => WasmBackend.create({ threads: 2 })]] as const;

/** A backend that reports every matmul (weight, input rows) before running it. */
function spyBackend(be: Backend, log: (w: Matrix, x: Float32Array, n: number) => void): Backend {
  return new Proxy(be, {
    get(target, key) {
      if (key === 'matmul') return (x: Float32Array, n: number, w: Matrix, out: Float32Array) => { log(w, x, n); target.matmul(x, n, w, out); };
      if (key === 'matmulMany' && target.matmulMany) {
        return (x: Float32Array, n: number, ws: readonly Matrix[], outs: readonly Float32Array[]) => { for (const w of ws) log(w, x, n); target.matmulMany!(x, n, ws, outs); };
      }
      const v = Reflect.get(target, key);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

function sameBits(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) assert.fail(`${what}: element ${i} differs (${a[i]} vs ${b[i]})`);
}
const rowDiff = (a: Float32Array, b: Float32Array, D: number, t: number) => {
  let d = 0;
  for (let i = t * D; i < (t + 1) * D; i++) d = Math.max(d, Object.is(a[i], b[i]) ? 0 : Math.abs(a[i] - b[i]) || Infinity);
  return d;
};
/**
 * Is row t of a and b the same? Bit for bit when the intervention leaves the row's whole
 * computation alone; `rebatched` allows 1e-5 where it moved other tokens into the batch of an
 * expert this token also runs: the wasm kernels' sums depend on how many rows a matmul has.
 */
const rowsSame = (a: Float32Array, b: Float32Array, D: number, t: number, rebatched: boolean) => rowDiff(a, b, D, t) <= (rebatched ? 1e-5 : 0);
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

for (const [beName, makeBackend] of BACKENDS) {
  for (const model of ['llama4-tiny-moe', 'llama3-tiny'] as FixtureModel[]) {
    describe(`forward hooks [${model}, ${beName}]`, () => {
      let m: LoadedModel;
      const calls: { w: Matrix; x: Float32Array; n: number }[] = [];
      let recording = false;
      before(async () => {
        const be = spyBackend(await makeBackend(), (w, x, n) => { if (recording) calls.push({ w, x: x.slice(0, n * w.cols), n }); });
        m = await loadModel(modelDir(model), { backend: be });
      });
      after(async () => { await (m.model.backend as Partial<WasmBackend>).dispose?.(); });
      const moe = model.startsWith('llama4');
      const L = () => m.config.nLayers, D = () => m.config.hiddenSize;
      const allLayers = () => Array.from({ length: L() }, (_, l) => l);
      const trace = (spec: Parameters<typeof traceTokens>[2] = {}) => traceTokens(m.model, PROMPT, { lens: false, residuals: { layers: allLayers() }, ...spec });

      it('without hooks, with empty hooks and with observing hooks the logits are bit-identical', () => {
        const plain = m.model.forward(m.model.newCache(64), PROMPT, { logits: 'all' });
        sameBits(m.model.forward(m.model.newCache(64), PROMPT, { logits: 'all', hooks: {} }), plain, 'empty hooks');
        const rec = createRecorder(m.model, PROMPT.length, { attention: { layers: allLayers() }, residuals: { layers: allLayers() }, routerLogits: true });
        sameBits(m.model.forward(m.model.newCache(64), PROMPT, { logits: 'all', hooks: rec.hooks }), plain, 'recording hooks');
        const t = rec.finish();
        assert.equal(t.residuals.size, 2 * L());
        assert.equal(t.attention.length, L() * m.config.nHeads);
      });

      it("the last layer's residual through the final norm and output matrix equals the logits", () => {
        const t = trace();
        const logits = m.model.forward(m.model.newCache(64), PROMPT, { logits: 'all' });
        sameBits(lensLogits(m.model, t.residuals.get(`${L() - 1}:ffn`)!, PROMPT.length), logits, 'lens of the last layer');
        // The recorded next-token distribution is the model's, and the lens table's last layer agrees.
        const V = m.config.vocabSize;
        sameBits(t.logits, m.model.forward(m.model.newCache(64), PROMPT), 'next-token logits');
        const withLens = traceTokens(m.model, PROMPT, { lens: { top: 3 } });
        assert.equal(withLens.lens.length, L() * PROMPT.length);
        const last = withLens.lens.filter((c) => c.layer === L() - 1);
        for (const c of last) {
          const row = logits.subarray(c.position * V, (c.position + 1) * V);
          assert.equal(c.top[0].id, row.indexOf(Math.max(...row)), `top token at ${c.position}`);
        }
        assert.equal(withLens.next[0].id, last[last.length - 1].top[0].id);
      });

      it('a zero steering vector changes nothing; a nonzero one adds exactly at its layer and changes the output', () => {
        const clean = trace();
        const zero = trace({ interventions: { steer: allLayers().flatMap((layer) => [{ layer, vector: new Float32Array(D()) }, { layer, vector: new Float32Array(D()), stage: 'attention' as const }]) } });
        sameBits(zero.logits, clean.logits, 'zero steering: logits');
        for (const [k, v] of clean.residuals) sameBits(zero.residuals.get(k)!, v, `zero steering: residual ${k}`);

        const v = Float32Array.from({ length: D() }, (_, i) => Math.sin(i) * 0.5);
        const layer = L() - 2;
        const steered = trace({ interventions: { steer: [{ layer, vector: v }] } });
        for (let l = 0; l < layer; l++) sameBits(steered.residuals.get(`${l}:ffn`)!, clean.residuals.get(`${l}:ffn`)!, `layer ${l} before steering`);
        sameBits(steered.residuals.get(`${layer}:attention`)!, clean.residuals.get(`${layer}:attention`)!, 'attention stage of the steered layer');
        const expect = clean.residuals.get(`${layer}:ffn`)!.map((x, i) => x + v[i % D()]);
        sameBits(steered.residuals.get(`${layer}:ffn`)!, expect, 'steered layer output = clean + v');
        assert.notDeepEqual(Array.from(steered.logits), Array.from(clean.logits));
      });

      it('ablating every head of a layer leaves its residual as it entered; one head changes that layer on', () => {
        const clean = trace();
        const all = trace({ interventions: { ablateHeads: Array.from({ length: m.config.nHeads }, (_, head) => ({ layer: 1, head })) } });
        sameBits(all.residuals.get('1:attention')!, clean.residuals.get('0:ffn')!, 'layer 1 with no heads');
        const one = trace({ interventions: { ablateHeads: [{ layer: 1, head: 2 }] } });
        sameBits(one.residuals.get('0:ffn')!, clean.residuals.get('0:ffn')!, 'layer 0');
        assert.notDeepEqual(Array.from(one.residuals.get('1:attention')!), Array.from(clean.residuals.get('1:attention')!));
        // The ablated head's output really is zero when later hooks look at it.
        const seen: Float32Array[] = [];
        const hooks = combineHooks(interventionHooks(m.config, { ablateHeads: [{ layer: 1, head: 2 }] }), { heads: (l, out) => { if (l === 1) seen.push(out.slice()); } });
        m.model.forward(m.model.newCache(64), PROMPT, { hooks });
        const { nHeads: H, headDim: d } = m.config;
        for (let t = 0; t < PROMPT.length; t++) for (let i = 0; i < d; i++) assert.equal(seen[0][(t * H + 2) * d + i], 0);
      });

      it('attention probabilities are causal rows summing to 1 that reproduce the attention output (Σ p·v)', () => {
        const layers = [0, L() - 1];
        const rec = createRecorder(m.model, PROMPT.length, { attention: { layers }, lens: false });
        const headsOut = new Map<number, Float32Array>();
        const cache = m.model.newCache(64);
        m.model.forward(cache, PROMPT, { hooks: combineHooks(rec.hooks, { heads: (l, out) => { headsOut.set(l, out.slice()); } }) });
        const t = rec.finish();
        const { nHeads: H, nKvHeads: Hkv, headDim: d } = m.config;
        assert.equal(t.attention.length, layers.length * H);
        let worst = 0;
        for (const map of t.attention) {
          const v = cache.layers[map.layer].v, out = headsOut.get(map.layer)!;
          const kvh = Math.floor(map.head / (H / Hkv));
          map.probs.forEach((row, q) => {
            assert.equal(row.length, q + 1);
            assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5, `row ${q} sums to 1`);
            for (let i = 0; i < d; i++) {
              let acc = 0;
              for (let k = 0; k <= q; k++) acc += row[k] * v[(k * Hkv + kvh) * d + i];
              worst = Math.max(worst, Math.abs(acc - out[(q * H + map.head) * d + i]));
            }
          });
        }
        assert.ok(worst < 1e-4, `Σ p·v vs the backend's attention output: ${worst}`);
        cache.dispose();
      });

      if (!moe) {
        it('a dense model records no routing and refuses expert interventions', () => {
          const t = trace();
          assert.deepEqual(t.routing, []);
          assert.deepEqual(t.expertLoad, []);
          assert.throws(() => trace({ interventions: { disableExperts: [{ layer: 0, expert: 0 }] } }), (e: Error) => e instanceof Llama4Error && /not a mixture-of-experts layer/.test(e.message));
        });
        return;
      }

      it('router choices recorded equal the experts actually run (inputs scaled by the recorded weights)', () => {
        const experts = new Map<Matrix, { layer: number; expert: number }>();
        m.model.weights.layers.forEach((lw, layer) => { if (lw.ffn.kind === 'moe') lw.ffn.experts.forEach((w, expert) => experts.set(w.gate, { layer, expert })); });
        calls.length = 0;
        recording = true;
        let t: Trace;
        try { t = trace({ routerLogits: true }); } finally { recording = false; }
        const ran = calls.filter((c) => experts.has(c.w)).map((c) => ({ ...experts.get(c.w)!, x: c.x, n: c.n }));
        const E = m.config.nExperts;
        assert.equal(t.routing.length, m.config.layers.filter((l) => l.ffn === 'moe').length * PROMPT.length);
        for (const layer of t.expertLoad.map((l) => l.layer)) {
          const norm = new Float32Array(PROMPT.length * D());
          m.model.backend.rmsNorm(t.residuals.get(`${layer}:attention`)!, PROMPT.length, D(), m.model.weights.layers[layer].ffn.norm, m.config.rmsNormEps, norm);
          for (let e = 0; e < E; e++) {
            const mine = t.routing.filter((r) => r.layer === layer && r.experts.includes(e));
            const runs = ran.filter((r) => r.layer === layer && r.expert === e);
            assert.equal(runs.length, mine.length > 0 ? 1 : 0, `layer ${layer} expert ${e}: ran once iff chosen`);
            if (mine.length === 0) continue;
            assert.equal(runs[0].n, mine.length, `layer ${layer} expert ${e}: token count`);
            mine.forEach((r, j) => {
              const w = r.weights[r.experts.indexOf(e)];
              for (let c = 0; c < D(); c++) assert.equal(runs[0].x[j * D() + c], Math.fround(norm[r.position * D() + c] * w), `layer ${layer} expert ${e} row ${j}`);
            });
          }
          // And the recorded choices are the router's top-k with sigmoid weights.
          for (const r of t.routing.filter((x) => x.layer === layer)) {
            const top = r.logits!.indexOf(Math.max(...r.logits!));
            assert.deepEqual(r.experts, [top]);
            assert.equal(r.weights[0], sigmoid(r.logits![top]));
          }
        }
      });

      const pickExpert = (t: Trace, layer: number) => {
        const counts = t.expertLoad.find((l) => l.layer === layer)!.counts;
        const e = counts.indexOf(Math.max(...counts));
        assert.ok(counts[e] > 0 && counts[e] < PROMPT.length, 'the test needs tokens on and off the expert');
        return e;
      };

      for (const mode of ['drop', 'reroute'] as const) {
        it(`disabling an expert (${mode}) changes exactly the tokens routed to it at that layer`, () => {
          const clean = trace({ routerLogits: true });
          const layer = 1, e = pickExpert(clean, layer);
          const ablated = trace({ interventions: { disableExperts: [{ layer, expert: e, mode }] } });
          const routed = new Set(clean.routing.filter((r) => r.layer === layer && r.experts.includes(e)).map((r) => r.position));
          for (let l = 0; l < layer; l++) sameBits(ablated.residuals.get(`${l}:ffn`)!, clean.residuals.get(`${l}:ffn`)!, `layer ${l}`);
          sameBits(ablated.residuals.get(`${layer}:attention`)!, clean.residuals.get(`${layer}:attention`)!, 'attention of the ablated layer');
          const a = ablated.residuals.get(`${layer}:ffn`)!, c = clean.residuals.get(`${layer}:ffn`)!;
          for (let p = 0; p < PROMPT.length; p++) {
            // Rerouted tokens join other experts' batches: on wasm that may move the last bits of their other tokens.
            if (routed.has(p)) assert.ok(rowDiff(a, c, D(), p) > 1e-4, `position ${p} (routed to expert ${e}) changes`);
            else assert.ok(rowsSame(a, c, D(), p, mode === 'reroute' && beName === 'wasm'), `position ${p} (not routed to expert ${e}) keeps its residual: ${rowDiff(a, c, D(), p)}`);
          }
          for (const r of ablated.routing.filter((x) => x.layer === layer)) {
            assert.ok(!r.experts.includes(e), `expert ${e} no longer runs at ${r.position}`);
            const before = clean.routing.find((x) => x.layer === layer && x.position === r.position)!;
            if (!routed.has(r.position)) assert.deepEqual(r.experts, before.experts);
            else if (mode === 'drop') assert.deepEqual(r.experts, []);
            else {
              const masked = before.logits!.map((x, i) => (i === e ? -Infinity : x));
              assert.deepEqual(r.experts, [masked.indexOf(Math.max(...masked))], 'rerouted to the next-best expert');
            }
          }
          assert.notDeepEqual(Array.from(ablated.logits), Array.from(clean.logits));
        });
      }

      it('forcing a route runs the forced expert with its router weight at that token only', () => {
        const clean = trace({ routerLogits: true });
        const layer = 2, p = 7;
        const before = clean.routing.find((r) => r.layer === layer && r.position === p)!;
        const forcedExpert = (before.experts[0] + 1) % m.config.nExperts;
        const forced = trace({ interventions: { forceRoutes: [{ layer, position: p, experts: [forcedExpert] }] } });
        const r = forced.routing.find((x) => x.layer === layer && x.position === p)!;
        assert.deepEqual(r.experts, [forcedExpert]);
        assert.equal(r.weights[0], sigmoid(before.logits![forcedExpert]));
        const a = forced.residuals.get(`${layer}:ffn`)!, c = clean.residuals.get(`${layer}:ffn`)!;
        for (let q = 0; q < PROMPT.length; q++) {
          if (q === p) assert.ok(rowDiff(a, c, D(), q) > 1e-4, 'the forced token changes');
          else assert.ok(rowsSame(a, c, D(), q, beName === 'wasm'), `position ${q} keeps its residual: ${rowDiff(a, c, D(), q)}`);
        }
        const weighted = trace({ interventions: { forceRoutes: [{ layer, position: p, experts: [forcedExpert], weights: [0.25] }] } });
        assert.deepEqual(weighted.routing.find((x) => x.layer === layer && x.position === p)!.weights, [0.25]);
      });

      it('interventions that name a missing layer, head or expert are errors', () => {
        for (const iv of [{ steer: [{ layer: 99, vector: new Float32Array(D()) }] }, { steer: [{ layer: 0, vector: [1, 2] }] }, { ablateHeads: [{ layer: 0, head: 99 }] },
          { disableExperts: [{ layer: 0, expert: 9 }] }, { forceRoutes: [{ layer: 0, position: 0, experts: [] as number[] }] }]) {
          assert.throws(() => trace({ interventions: iv }), Llama4Error, JSON.stringify(iv));
        }
      });
    });
  }
}

describe('attention probabilities are the same on every backend', () => {
  it('ref and wasm (exact) agree', async () => {
    const wasm = await WasmBackend.create({ threads: 2, precision: 'exact' });
    try {
      const spec = { attention: { layers: [0, 3] }, lens: false } as const;
      const a = traceTokens((await loadModel(modelDir('llama4-tiny-moe'), { backend: new RefBackend() })).model, PROMPT, spec);
      const b = traceTokens((await loadModel(modelDir('llama4-tiny-moe'), { backend: wasm })).model, PROMPT, spec);
      let worst = 0;
      a.attention.forEach((map, i) => map.probs.forEach((row, q) => row.forEach((p, k) => { worst = Math.max(worst, Math.abs(p - b.attention[i].probs[q][k])); })));
      assert.ok(worst < 1e-5, `max difference ${worst}`);
      assert.deepEqual(b.routing.map((r) => r.experts), a.routing.map((r) => r.experts));
    } finally {
      await wasm.dispose();
    }
  });
});

describe('hooks on long prompts, chunked attention and batches', () => {
  let m: LoadedModel;
  before(async () => { m = await loadModel(modelDir('llama4-tiny-moe'), { backend: new RefBackend() }); });

  it('a prompt longer than one run (600 tokens) is traced whole, keeping only what was asked', () => {
    const ids = Array.from({ length: 600 }, (_, i) => (i * 53 + 7) % 800);
    const t = traceTokens(m.model, ids, { attention: { layers: [3], heads: [1] }, lens: { positions: [0, 511, 512, 599], top: 2 } });
    assert.equal(t.routing.length, 4 * 600);
    assert.deepEqual(t.routing.filter((r) => r.layer === 2).map((r) => r.position), ids.map((_, i) => i));
    assert.equal(t.attention.length, 1);
    t.attention[0].probs.forEach((row, q) => assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-4, `row ${q}`));
    assert.deepEqual([...new Set(t.lens.map((c) => c.position))], [0, 511, 512, 599]);
    assert.equal(t.residuals.size, 0);
    assert.deepEqual(t.expertLoad.map((l) => l.counts.reduce((a, b) => a + b, 0)), [600, 600, 600, 600]);
    const logits = m.model.forward(m.model.newCache(600), ids);
    sameBits(t.logits, logits, 'next-token logits of the long trace');
  });

  it('chunked layers attend only inside the chunk; a prefill and token-by-token decoding record the same', async () => {
    const { buildModelConfig } = await import('../../src/config/model-config.js');
    const { LlamaModel } = await import('../../src/model/llama.js');
    const small = new LlamaModel(buildModelConfig({
      ...m.config, moeLayers: [0, 1, 2, 3], noRopeInterval: 4, useQkNorm: true, attentionChunkSize: 8, attnTemperature: m.config.attnTemperature,
    }, 'test'), m.model.weights, m.model.backend);
    const ids = PROMPT.slice(0, 20);
    const spec = { attention: { layers: [0, 3], heads: [0, 3] }, lens: { positions: [5, 19] } };
    const whole = traceTokens(small, ids, spec);
    for (const map of whole.attention.filter((a) => a.layer === 0)) {
      map.probs.forEach((row, q) => row.forEach((p, k) => { if (k < Math.floor(q / 8) * 8) assert.equal(p, 0, `layer 0 q ${q} k ${k} is outside the chunk`); }));
    }
    assert.ok(whole.attention.find((a) => a.layer === 3)!.probs[19][0] > 0, 'the NoPE layer sees every position');
    const rec = createRecorder(small, ids.length, spec);
    const cache = small.newCache(64);
    small.forward(cache, ids.slice(0, 5), { hooks: rec.hooks });
    for (const id of ids.slice(5, 13)) small.forward(cache, [id], { hooks: rec.hooks });
    small.forward(cache, ids.slice(13), { hooks: rec.hooks });
    const stepped = rec.finish();
    assert.deepEqual(stepped.routing.map((r) => [r.layer, r.position, r.experts]), whole.routing.map((r) => [r.layer, r.position, r.experts]));
    let worst = 0;
    whole.attention.forEach((a, i) => a.probs.forEach((row, q) => row.forEach((p, k) => { worst = Math.max(worst, Math.abs(p - stepped.attention[i].probs[q][k])); })));
    assert.ok(worst < 1e-5, `attention, prefill vs stepped: ${worst}`);
    assert.deepEqual(stepped.lens.map((c) => c.top[0].id), whole.lens.map((c) => c.top[0].id));
  });

  it('in a batch, each sequence has its own hooks and positions', () => {
    const a = PROMPT.slice(0, 9), b = PROMPT.slice(5, 20);
    const solo = traceTokens(m.model, b, { lens: false });
    const rec = createRecorder(m.model, b.length, { lens: false });
    const ca = m.model.newCache(64), cb = m.model.newCache(64);
    const [la] = m.model.forwardMany([{ cache: ca, tokens: a, logits: 'all' }, { cache: cb, tokens: b, hooks: rec.hooks }]);
    sameBits(la, m.model.forward(m.model.newCache(64), a, { logits: 'all' }), 'the unhooked sequence');
    const t = rec.finish();
    assert.deepEqual(t.routing, solo.routing);
    sameBits(t.logits, solo.logits, 'the hooked sequence');
  });

  it('a routes hook that returns an invalid route is an error', () => {
    const bad: ForwardHooks = { routes: () => [{ token: 0, expert: 99, weight: 1 }] };
    assert.throws(() => m.model.forward(m.model.newCache(8), [1, 2], { hooks: bad }), /invalid route/);
  });
});

describe('logits without hooks are bit-identical to the model before hooks existed', () => {
  // SHA-256 of forward(PROMPT, logits: 'all') on the reference backend, computed with the code as
  // it was before the hook points were added (commit before src/inspect/). The reference backend
  // is plain, deterministic TypeScript; if its arithmetic is changed on purpose, update these.
  const BEFORE: Record<string, string> = {
    'llama4-tiny-moe': '4b43fa3ca297db7a741de9fe4ae7d6f06e7e8501a517eb751dd3c268652a0ef8',
    'llama3-tiny': '8f03293c26d36239c566372f11234a76e873f8eef2bbbc13bb50f651d63859f0',
  };
  for (const [model, digest] of Object.entries(BEFORE)) {
    it(model, async () => {
      const m = await loadModel(modelDir(model as FixtureModel), { backend: new RefBackend() });
      const logits = m.model.forward(m.model.newCache(64), PROMPT, { logits: 'all' });
      assert.equal(createHash('sha256').update(new Uint8Array(logits.buffer)).digest('hex'), digest);
    });
  }
});
