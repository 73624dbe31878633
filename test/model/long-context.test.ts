/**
 * Past position 8192 on the tiny Llama 4 model: one batched prefill and a prefill followed by
 * one-token decoding agree across the chunk boundary; the chunked layers' cache stays within one
 * chunk; and chunking and temperature tuning really change the logits there.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadModel, type LoadedModel } from '../../src/load.js';
import { LlamaModel } from '../../src/model/llama.js';
import { buildModelConfig } from '../../src/config/model-config.js';
import { modelDir } from '../support/fixtures.js';

const N = 8200; // crosses the 8192 boundary
const SPLIT = 8185; // incremental run: prefill up to here, then decode one token at a time

describe('long context (past 8192 tokens)', { timeout: 600_000 }, () => {
  let m: LoadedModel;
  const ids: number[] = [];
  const positions = Array.from({ length: N - SPLIT }, (_, i) => SPLIT + i);
  /** Logits at `positions` from one batched pass over all N tokens. */
  let batched: Float32Array;
  before(async () => {
    m = await loadModel(join(modelDir('llama4-tiny-moe'), 'llama4-tiny-moe-f32.gguf'));
    let s = 12345;
    for (let i = 0; i < N; i++) { s = (s * 1103515245 + 12345) % 2147483648; ids.push(s % 700); }
    batched = m.model.forward(m.model.newCache(N), ids, { logits: positions });
  });

  it('batched prefill and incremental decoding give the same logits at positions 8185–8199', () => {
    const V = m.config.vocabSize;

    const cache = m.model.newCache(N);
    m.model.forward(cache, ids.slice(0, SPLIT), { logits: 'none' });
    let maxDiff = 0;
    positions.forEach((p, r) => {
      const row = m.model.forward(cache, [ids[p]]);
      for (let i = 0; i < V; i++) maxDiff = Math.max(maxDiff, Math.abs(row[i] - batched[r * V + i]));
    });
    assert.ok(maxDiff <= 5e-4, `max |Δlogit| ${maxDiff}`);
    process.stdout.write(`batched vs incremental past 8192: max |Δlogit| = ${maxDiff.toExponential(2)}\n`);

    // Chunked (RoPE) layers hold only the current chunk; the NoPE layer holds everything.
    m.config.layers.forEach((plan, i) => {
      const layer = cache.layers[i];
      if (plan.chunked) { assert.equal(layer.startPos, 8192); assert.equal(layer.length, N - 8192); assert.ok(layer.k.length <= 8192 * layer.rowSize); }
      else assert.equal(layer.length, N);
    });
  });

  it('chunking and temperature tuning change the logits only from the chunk boundary on', () => {
    const V = m.config.vocabSize;
    // The same weights with a config that neither chunks nor tunes the temperature.
    const plain = buildModelConfig({
      ...m.config, moeLayers: m.config.layers.filter((l) => l.ffn === 'moe').map((l) => l.index),
      noRopeInterval: 4, useQkNorm: true, attentionChunkSize: null, attnTemperature: null,
    }, 'test');
    const unchunked = new LlamaModel(plain, m.model.weights, m.model.backend);
    const b = unchunked.forward(unchunked.newCache(N), ids, { logits: positions });
    const diff = (p: number) => {
      const r = positions.indexOf(p);
      let d = 0;
      for (let i = 0; i < V; i++) d = Math.max(d, Math.abs(batched[r * V + i] - b[r * V + i]));
      return d;
    };
    assert.equal(diff(8189), 0); // same keys, temperature 1
    assert.equal(diff(8190), 0); // the last position with temperature 1
    assert.ok(diff(8191) > 1e-4, `p = 8191: temperature 1.069 on the NoPE layer, max |Δ| ${diff(8191)}`);
    assert.ok(diff(8192) > 1e-3, `p = 8192 sees one key on chunked layers, max |Δ| ${diff(8192)}`);
    assert.ok(diff(8199) > 1e-3);
  });
});
