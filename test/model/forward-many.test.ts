/**
 * Several sequences in one forward pass (continuous batching) give each sequence the logits it
 * gets alone: prefills of different lengths, decode steps, a prefill beside decodes, and a
 * sequence crossing an attention-chunk boundary inside the batch.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadModel, type LoadedModel } from '../../src/load.js';
import { LlamaModel } from '../../src/model/llama.js';
import { buildModelConfig } from '../../src/config/model-config.js';
import { Llama4Error } from '../../src/errors.js';
import { RefBackend } from '../../src/backend/ref/ref-backend.js';
import { WasmBackend } from '../../src/backend/wasm/wasm-backend.js';
import { modelDir } from '../support/fixtures.js';

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}
const ids = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (i * 37 + seed * 101) % 700);

for (const [name, make] of [['ref', async () => new RefBackend()], ['wasm fast', () => WasmBackend.create({ threads: 2 })]] as const) {
  describe(`forwardMany [${name}]`, () => {
    let m: LoadedModel;
    let small: LlamaModel; // the same weights with 8-token attention chunks
    before(async () => {
      m = await loadModel(join(modelDir('llama4-tiny-moe'), 'llama4-tiny-moe-q8_0.gguf'), { backend: await make() });
      small = new LlamaModel(buildModelConfig({
        ...m.config, moeLayers: [0, 1, 2, 3], noRopeInterval: 4, useQkNorm: true, attentionChunkSize: 8,
        attnTemperature: m.config.attnTemperature,
      }, 'test'), m.model.weights, m.model.backend);
    });

    it('prefills of different lengths, then decode steps, equal each sequence alone', () => {
      const prompts = [ids(5, 1), ids(13, 2), ids(1, 3)];
      const alone = prompts.map((p) => m.model.forward(m.model.newCache(64), p, { logits: 'all' }));
      const caches = prompts.map(() => m.model.newCache(64));
      const together = m.model.forwardMany(prompts.map((p, i) => ({ cache: caches[i], tokens: p, logits: 'all' })));
      together.forEach((t, i) => assert.ok(maxDiff(t, alone[i]) < 1e-5, `sequence ${i}`));

      // One decode step each, batched, vs alone.
      const soloCaches = prompts.map((p) => { const c = m.model.newCache(64); m.model.forward(c, p); return c; });
      const next = [7, 8, 9];
      const soloNext = next.map((id, i) => m.model.forward(soloCaches[i], [id]));
      const batchNext = m.model.forwardMany(next.map((id, i) => ({ cache: caches[i], tokens: [id] })));
      batchNext.forEach((t, i) => assert.ok(maxDiff(t, soloNext[i]) < 1e-5, `decode ${i}`));
      caches.forEach((c, i) => assert.equal(c.nPast, prompts[i].length + 1));
    });

    it('a sequence crossing a chunk boundary inside the batch, beside others', () => {
      const a = ids(6, 4), b = ids(3, 5);
      const ca = small.newCache(64), cb = small.newCache(64);
      small.forward(ca, a); small.forward(cb, b);
      const more = ids(7, 6); // positions 6..12 cross the boundary at 8
      const aloneA = (() => { const c = small.newCache(64); small.forward(c, a); return small.forward(c, more, { logits: 'all' }); })();
      const aloneB = (() => { const c = small.newCache(64); small.forward(c, b); return small.forward(c, [42], { logits: 'all' }); })();
      const [ra, rb] = small.forwardMany([{ cache: ca, tokens: more, logits: 'all' }, { cache: cb, tokens: [42], logits: 'all' }]);
      assert.ok(maxDiff(ra, aloneA) < 1e-5);
      assert.ok(maxDiff(rb, aloneB) < 1e-5);
      assert.equal(ca.layers[0].startPos, 8); // the chunked layer forgot the first chunk
    });

    it('rejects two requests on one cache', () => {
      const c = m.model.newCache(8);
      assert.throws(() => m.model.forwardMany([{ cache: c, tokens: [1] }, { cache: c, tokens: [2] }]), Llama4Error);
    });
  });
}
