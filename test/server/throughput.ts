/**
 * Server throughput on the fixture model: completion tokens/s over all clients with 1, 4 and 16
 * concurrent streaming clients (each sends REQUESTS chat requests of TOKENS tokens, end-of-
 * generation banned so every reply has the same length). Prints a table; asserts nothing.
 *
 *   node dist/test/server/throughput.js        (after npm run build)
 *
 * Env: BENCH_THREADS (wasm threads, default 1), BENCH_TOKENS (64), BENCH_REQUESTS (4),
 * LLAMA4_TEST_BACKEND=ref for the reference backend. Under `node --test` it does nothing (the
 * numbers would be skewed by test files running side by side).
 */
import OpenAI from 'openai';
import { loadModel } from '../../src/load.js';
import { RefBackend } from '../../src/backend/ref/ref-backend.js';
import { WasmBackend } from '../../src/backend/wasm/wasm-backend.js';
import { startServer } from '../../src/server/index.js';
import { banStops, metrics, MODEL_DIR, MODEL_NAME } from './helpers.js';

async function main(): Promise<void> {
  const threads = Number(process.env.BENCH_THREADS ?? 1);
  const tokens = Number(process.env.BENCH_TOKENS ?? 64);
  const requests = Number(process.env.BENCH_REQUESTS ?? 4);
  const ref = process.env.LLAMA4_TEST_BACKEND === 'ref';
  const backend = ref ? new RefBackend() : await WasmBackend.create({ threads });
  const m = await loadModel(MODEL_DIR, { backend });
  const server = await startServer({ model: m, port: 0, parallel: 16, ctxSize: 1024 });
  const api = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'x', maxRetries: 0 });
  const bias = banStops(m);
  const one = async (client: number, i: number): Promise<number> => {
    const stream = await api.chat.completions.create({
      model: MODEL_NAME, messages: [{ role: 'user', content: `Client ${client}, request ${i}: tell me a story.` }],
      max_tokens: tokens, temperature: 0.8, seed: client * 1000 + i, logit_bias: bias, stream: true, stream_options: { include_usage: true },
    });
    let n = 0;
    for await (const chunk of stream) if (chunk.usage) n = chunk.usage.completion_tokens;
    return n;
  };
  await one(0, 0); // warm up
  console.log(`llama4-tiny-moe, ${ref ? 'ref backend' : `wasm backend, ${threads} thread(s)`}, ${requests} requests × ${tokens} tokens per client, --parallel 16`);
  console.log('clients  completion tokens  seconds  tokens/s  mean sequences per forward pass');
  for (const clients of [1, 4, 16]) {
    const before = await metrics(server);
    const t0 = performance.now();
    const counts = await Promise.all(Array.from({ length: clients }, async (_, c) => {
      let n = 0;
      for (let i = 0; i < requests; i++) n += await one(c, i);
      return n;
    }));
    const seconds = (performance.now() - t0) / 1000;
    const after = await metrics(server);
    const total = counts.reduce((a, b) => a + b, 0);
    const calls = after.get('llama4_forward_calls_total')! - before.get('llama4_forward_calls_total')!;
    const seqs = after.get('llama4_forward_sequences_total')! - before.get('llama4_forward_sequences_total')!;
    console.log(`${String(clients).padStart(7)}  ${String(total).padStart(17)}  ${seconds.toFixed(2).padStart(7)}  ${(total / seconds).toFixed(0).padStart(8)}  ${(seqs / calls).toFixed(2).padStart(31)}`);
  }
  await server.close();
  await (backend as { dispose?: () => Promise<void> | void }).dispose?.();
}

if (process.env.NODE_TEST_CONTEXT === undefined) {
  await main();
  process.exit(0);
}
