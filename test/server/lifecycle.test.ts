/**
 * Server life cycle and cache edge cases: /health says "loading" (503) while the model loads and
 * the API answers 503 until it is ready; closing the server ends a running stream with an error;
 * a prompt sharing a prefix with a slot whose chunked-attention layers can no longer rewind to it
 * starts fresh (and still gives the right text).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RefBackend } from '../../src/backend/ref/ref-backend.js';
import { buildModelConfig } from '../../src/config/model-config.js';
import { LlamaModel } from '../../src/model/llama.js';
import { startServer } from '../../src/server/index.js';
import { commonPrefix } from '../../src/server/scheduler.js';
import { banStops, client, loadFixture, metrics, MODEL_DIR, MODEL_NAME, reference, start } from './helpers.js';

describe('server: life cycle', () => {
  it('reports loading until the model is ready', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    class HeldBackend extends RefBackend { reserve(): Promise<void> { return gate; } }
    const server = await startServer({ model: MODEL_DIR, loadOptions: { backend: new HeldBackend() }, port: 0, waitForModel: false });
    try {
      const health = await fetch(`${server.url}/health`);
      assert.equal(health.status, 503);
      assert.deepEqual(await health.json(), { status: 'loading' });
      const chat = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: MODEL_NAME, messages: [{ role: 'user', content: 'x' }] }) });
      assert.equal(chat.status, 503);
      assert.equal(((await chat.json()) as { error: { code: string } }).error.code, 'model_loading');
      assert.equal((await metrics(server)).get('llama4_model_loading'), 1);
      release();
      await server.ready;
      assert.equal((await fetch(`${server.url}/health`)).status, 200);
      const res = await client(server).chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'x' }], max_tokens: 2 });
      assert.equal(res.choices.length, 1);
    } finally {
      await server.close();
    }
  });

  it('closing the server ends a running stream with an error', async () => {
    const m = await loadFixture();
    const server = await start(m);
    const stream = await client(server).chat.completions.create({
      model: MODEL_NAME, messages: [{ role: 'user', content: 'Go on.' }], max_tokens: 100_000, stream: true, logit_bias: banStops(m),
    });
    const reading = (async () => { for await (const _ of stream) { /* drain */ } })();
    await new Promise((r) => setTimeout(r, 50));
    await server.close();
    await assert.rejects(reading);
  });

  it('a prefix the chunked layers cannot rewind to is evaluated afresh, with the same text', async () => {
    const m = await loadFixture();
    // The same weights with 8-token attention chunks: a long turn leaves the chunked layers
    // holding only the last chunk.
    const small = new LlamaModel(buildModelConfig({
      ...m.config, moeLayers: [0, 1, 2, 3], noRopeInterval: 4, useQkNorm: true, attentionChunkSize: 8, attnTemperature: m.config.attnTemperature,
    }, 'test'), m.model.weights, m.model.backend);
    const sm = { ...m, model: small, config: small.config };
    const server = await start(sm, { parallel: 1 });
    try {
      const api = client(server);
      const base = 'The quick brown fox jumps over the lazy dog';
      const first = m.tokenizer.encode(`${base} again and again and again`);
      await api.completions.create({ model: MODEL_NAME, prompt: first, max_tokens: 4, temperature: 0 });
      // Shares 10+ tokens, but the chunk they end in is gone from the chunked layers' cache.
      const second = m.tokenizer.encode(`${base} once`);
      assert.ok(commonPrefix(first, second) > 16);
      const res = await api.completions.create({ model: MODEL_NAME, prompt: second, max_tokens: 8, temperature: 0 });
      assert.equal(res.usage?.prompt_tokens_details?.cached_tokens, 0);
      const want = (await reference(sm, second, { maxTokens: 8 })).result;
      assert.equal(res.choices[0].text, want.text);
      // The continuation of what the slot holds (the last chunk included) is reused.
      const third = [...second, ...want.ids, ...m.tokenizer.encode(' more', { addBos: false })];
      const again = await api.completions.create({ model: MODEL_NAME, prompt: third, max_tokens: 8, temperature: 0 });
      assert.ok((again.usage?.prompt_tokens_details?.cached_tokens ?? 0) >= second.length + want.ids.length - 1);
      assert.equal(again.choices[0].text, (await reference(sm, third, { maxTokens: 8 })).result.text);
    } finally {
      await server.close();
    }
  });
});
