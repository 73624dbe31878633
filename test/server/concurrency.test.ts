/**
 * Many users at once: 16 concurrent streamed greedy chats each get exactly the text they get
 * alone, through batched forward passes; a request arriving mid-generation is served without
 * waiting for the running one; a client that disconnects frees its slot; the next chat turn
 * reuses the previous turn's KV cache; a full queue answers 429.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { LoadedModel } from '../../src/load.js';
import type { RunningServer } from '../../src/server/index.js';
import { encodeChat, type ChatMessage } from '../../src/tokenizer/chat.js';
import { banStops, client, loadFixture, metrics, MODEL_NAME, reference, start, waitFor } from './helpers.js';

const TOPICS = ['rivers', 'mountains', 'the sea', 'bread', 'music', 'cats', 'rain', 'trains', 'stars', 'gardens', 'clocks', 'bridges', 'snow', 'maps', 'bees', 'lamps'];

async function streamText(stream: AsyncIterable<OpenAI.ChatCompletionChunk>): Promise<{ text: string; finish: string | null }> {
  let text = '', finish: string | null = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  return { text, finish };
}

describe('server: concurrency', () => {
  let m: LoadedModel;

  before(async () => { m = await loadFixture(); });

  describe('continuous batching', () => {
    let server: RunningServer;
    let api: OpenAI;
    before(async () => { server = await start(m, { parallel: 8 }); api = client(server); });
    after(async () => { await server.close(); });

    it('16 concurrent streamed greedy chats each equal their text alone; passes were batched', async () => {
      const conversations = TOPICS.map((topic, i) => [{ role: 'user' as const, content: `Request ${i}: write ${'a few words '.repeat(i % 4)}about ${topic}.` }]);
      const alone = await Promise.all(conversations.map(async (msgs) => (await reference(m, encodeChat(m.tokenizer, m.chat, msgs as ChatMessage[]), { maxTokens: 24 })).result));
      const before = await metrics(server);
      const results = await Promise.all(conversations.map(async (msgs) =>
        streamText(await api.chat.completions.create({ model: MODEL_NAME, messages: msgs, max_tokens: 24, temperature: 0, stream: true }))));
      results.forEach((r, i) => {
        assert.equal(r.text, alone[i].text, `conversation ${i}`);
        assert.equal(r.finish, alone[i].finishReason, `conversation ${i}`);
      });
      const after = await metrics(server);
      const batched = after.get('llama4_forward_batched_calls_total')! - before.get('llama4_forward_batched_calls_total')!;
      assert.ok(batched > 0, 'some forward passes carried several sequences');
      assert.ok(after.get('llama4_forward_max_sequences')! > 1);
      assert.equal(after.get('llama4_slots_busy'), 0);
      assert.equal(after.get('llama4_generations_started_total')! - before.get('llama4_generations_started_total')!, 16);
    });

    it('a request that arrives mid-generation finishes without waiting for the running one', async () => {
      const long = await api.chat.completions.create({
        model: MODEL_NAME, messages: [{ role: 'user', content: 'Talk for a long time.' }], max_tokens: 400, temperature: 0, stream: true, logit_bias: banStops(m),
      });
      let longChunks = 0;
      let shortDoneAt = -1;
      const reader = (async () => { for await (const _ of long) longChunks++; })();
      await waitFor(() => longChunks > 5, 10_000, 'the long reply to start');
      const short = await api.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'Be brief.' }], max_tokens: 3, temperature: 0 });
      shortDoneAt = longChunks;
      assert.ok(short.choices[0].message.content !== null);
      await reader;
      assert.ok(shortDoneAt < longChunks, `the short request finished while the long one ran (${shortDoneAt} of ${longChunks} chunks)`);
    });
  });

  it('a client that disconnects mid-stream cancels its generation and frees its slot', async () => {
    const server = await start(m, { parallel: 2 });
    try {
      const api = client(server);
      const stream = await api.chat.completions.create({
        model: MODEL_NAME, messages: [{ role: 'user', content: 'Never stop.' }], max_tokens: 100_000, temperature: 0, stream: true, logit_bias: banStops(m),
      });
      let chunks = 0;
      for await (const _ of stream) if (++chunks === 5) break; // leaving the loop aborts the request
      await waitFor(async () => (await metrics(server)).get('llama4_slots_busy') === 0, 5_000, 'the slot to be freed');
      const after = await metrics(server);
      assert.equal(after.get('llama4_generations_cancelled_total'), 1);
      assert.ok(after.get('llama4_completion_tokens_total')! < 5_000, `generation stopped (${after.get('llama4_completion_tokens_total')} tokens)`);
      const health = await fetch(`${server.url}/health`).then((r) => r.json() as Promise<Record<string, unknown>>);
      assert.equal(health.slots_processing, 0);
      // Still serving.
      const res = await api.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 });
      assert.ok(res.usage!.completion_tokens > 0);
    } finally {
      await server.close();
    }
  });

  it('the next chat turn reuses the previous turn\'s KV cache (longest-prefix slot)', async () => {
    const server = await start(m, { parallel: 2 });
    try {
      const api = client(server);
      const turn1: OpenAI.ChatCompletionMessageParam[] = [{ role: 'system', content: 'You are helpful.' }, { role: 'user', content: 'Tell me about rivers.' }];
      const r1 = await api.chat.completions.create({ model: MODEL_NAME, messages: turn1, max_tokens: 12, temperature: 0 });
      assert.equal(r1.usage?.prompt_tokens_details?.cached_tokens, 0);
      // Another conversation in between takes the other slot.
      await api.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'Something else entirely.' }], max_tokens: 4, temperature: 0 });
      const turn2: OpenAI.ChatCompletionMessageParam[] = [...turn1, { role: 'assistant', content: r1.choices[0].message.content }, { role: 'user', content: 'And lakes?' }];
      const before = await metrics(server);
      const r2 = await api.chat.completions.create({ model: MODEL_NAME, messages: turn2, max_tokens: 12, temperature: 0 });
      const reused = r2.usage?.prompt_tokens_details?.cached_tokens ?? 0;
      assert.ok(reused >= r1.usage!.prompt_tokens, `reused ${reused} of the ${r1.usage!.prompt_tokens} tokens of turn 1's prompt`);
      const after = await metrics(server);
      assert.equal(after.get('llama4_prefix_reused_tokens_total')! - before.get('llama4_prefix_reused_tokens_total')!, reused);
      assert.equal(after.get('llama4_prefill_tokens_total')! - before.get('llama4_prefill_tokens_total')!, r2.usage!.prompt_tokens - reused);
      // Reuse does not change the answer.
      const ids = encodeChat(m.tokenizer, m.chat, turn2.map((x) => ({ ...x, content: x.content ?? '' })) as ChatMessage[]);
      assert.equal(r2.usage?.prompt_tokens, ids.length);
      assert.equal(r2.choices[0].message.content, (await reference(m, ids, { maxTokens: 12 })).result.text);
    } finally {
      await server.close();
    }
  });

  it('past the queue\'s capacity requests get 429; the server keeps serving', async () => {
    const server = await start(m, { parallel: 1, queueSize: 1 });
    try {
      const api = client(server);
      const endless = { model: MODEL_NAME, messages: [{ role: 'user' as const, content: 'Go on.' }], max_tokens: 100_000, stream: true as const, logit_bias: banStops(m) };
      const running = await api.chat.completions.create(endless);
      const queued = await api.chat.completions.create(endless);
      assert.equal((await metrics(server)).get('llama4_queue_depth'), 1);
      await assert.rejects(api.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'Me too' }], max_tokens: 2 }),
        (err: unknown) => err instanceof OpenAI.APIError && err.status === 429 && (err.error as { type?: string }).type === 'rate_limit_error');
      running.controller.abort();
      queued.controller.abort();
      await waitFor(async () => { const x = await metrics(server); return x.get('llama4_slots_busy') === 0 && x.get('llama4_queue_depth') === 0; }, 5_000, 'the queue to drain');
      const res = await api.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 });
      assert.equal(res.choices.length, 1);
      assert.equal((await metrics(server)).get('llama4_rejected_queue_full_total'), 1);
    } finally {
      await server.close();
    }
  });
});
