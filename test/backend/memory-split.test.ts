/**
 * Models larger than one wasm memory: with an artificially small per-memory cap, the weights
 * spread over several memories, every thread runs kernels on each, and the logits still match the
 * goldens. (The real cap is 4 GiB; Llama 3.1 8B at Q4_K_M needs two memories.)
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadModel } from '../../src/load.js';
import { Llama4Error } from '../../src/errors.js';
import { WasmBackend } from '../../src/backend/wasm/wasm-backend.js';
import { modelDir, readGolden, type FixtureModel } from '../support/fixtures.js';

async function check(model: FixtureModel, file: string, golden: string, capBytes: number, threads: number) {
  const backend = await WasmBackend.create({ threads, precision: 'exact', maxMemoryBytes: capBytes });
  try {
    const m = await loadModel(join(modelDir(model), file), { backend });
    const g = readGolden(model, golden);
    const V = m.config.vocabSize;
    const logits = m.model.forward(m.model.newCache(g.prompt_token_ids.length), g.prompt_token_ids, { logits: g.logits_positions });
    let d = 0;
    g.logits_positions.forEach((_, r) => { for (let i = 0; i < V; i++) d = Math.max(d, Math.abs(logits[r * V + i] - g.logits[r][i])); });
    return { memories: backend.memories, maxDiff: d };
  } finally {
    await backend.dispose();
  }
}

describe('weights split across several wasm memories', () => {
  it('llama3-small-kq f32 (5.4 MB) in 4 MiB memories, 2 threads: golden logits within 1e-4', async () => {
    const r = await check('llama3-small-kq', 'llama3-small-kq-f32.gguf', 'short.f32.json', 4 << 20, 2);
    assert.ok(r.memories >= 2, `expected several memories, got ${r.memories}`);
    assert.ok(r.maxDiff < 1e-4, `max |Δ| ${r.maxDiff}`);
  });

  it('llama4-tiny-moe f32 (2.6 MB, experts) in 2 MiB memories, 3 threads', async () => {
    const r = await check('llama4-tiny-moe', 'llama4-tiny-moe-f32.gguf', 'short.f32.json', 2 << 20, 3);
    assert.ok(r.memories >= 2);
    assert.ok(r.maxDiff < 1e-4, `max |Δ| ${r.maxDiff}`);
  });

  it('a tensor larger than one memory is a clear error', async () => {
    const backend = await WasmBackend.create({ threads: 1, maxMemoryBytes: 2 << 20 });
    try {
      await assert.rejects(loadModel(join(modelDir('llama3-small-kq'), 'llama3-small-kq-f32.gguf'), { backend }).then(() => {
        // 128 KiB embeddings fit; force one bigger than a memory:
        backend.matrix({ name: 'huge', dtype: 'F32', rows: 1024, cols: 1024, bytes: new Uint8Array(4 << 20) });
      }), (e: unknown) => e instanceof Llama4Error && /one tensor must fit in one memory|out of wasm memory/.test(e.message));
    } finally {
      await backend.dispose();
    }
  });
});
