/**
 * The OpenAI routes through the official `openai` client on the tiny fixture model: greedy chat
 * equals `generate()` on the same prompt ids (non-streamed and streamed), usage, logprobs,
 * sampling fields that must change the result (seed, logit_bias, penalties, stop), completions
 * (text and id prompts, echo, logprobs, streaming), tokenize/detokenize and the model list.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type OpenAI from 'openai';
import type { LoadedModel } from '../../src/load.js';
import type { RunningServer } from '../../src/server/index.js';
import { encodeChat } from '../../src/tokenizer/chat.js';
import { client, loadFixture, MODEL_NAME, reference, start } from './helpers.js';

describe('server: chat and completions', () => {
  let m: LoadedModel;
  let server: RunningServer;
  let api: OpenAI;
  const messages = [
    { role: 'system' as const, content: 'You are a terse assistant.' },
    { role: 'user' as const, content: 'Name three colours.' },
  ];

  before(async () => {
    m = await loadFixture();
    server = await start(m, { parallel: 2 });
    api = client(server);
  });
  after(async () => { await server.close(); });

  it('non-streamed greedy chat equals generate() on the rendered prompt, with usage', async () => {
    const ids = encodeChat(m.tokenizer, m.chat, messages);
    const want = await reference(m, ids, { maxTokens: 24 });
    const res = await api.chat.completions.create({ model: MODEL_NAME, messages, max_tokens: 24, temperature: 0 });
    assert.equal(res.object, 'chat.completion');
    assert.equal(res.model, MODEL_NAME);
    assert.equal(res.choices.length, 1);
    assert.equal(res.choices[0].message.role, 'assistant');
    assert.equal(res.choices[0].message.content, want.result.text);
    assert.equal(res.choices[0].finish_reason, want.result.finishReason);
    assert.equal(res.usage?.prompt_tokens, ids.length);
    assert.equal(res.usage?.completion_tokens, want.result.ids.length);
    assert.equal(res.usage?.total_tokens, ids.length + want.result.ids.length);
  });

  it('streamed deltas concatenate to the same text; include_usage adds a usage chunk', async () => {
    const ids = encodeChat(m.tokenizer, m.chat, messages);
    const want = await reference(m, ids, { maxTokens: 24 });
    const stream = await api.chat.completions.create({
      model: MODEL_NAME, messages, max_completion_tokens: 24, temperature: 0, stream: true, stream_options: { include_usage: true },
    });
    let text = '', finish: string | null = null, role: string | undefined;
    let usage: OpenAI.CompletionUsage | undefined | null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      assert.equal(chunk.object, 'chat.completion.chunk');
      if (chunk.usage) { usage = chunk.usage; assert.equal(chunk.choices.length, 0); continue; }
      const c = chunk.choices[0];
      role ??= c.delta.role;
      text += c.delta.content ?? '';
      if (c.finish_reason) finish = c.finish_reason;
    }
    assert.ok(chunks > 3);
    assert.equal(role, 'assistant');
    assert.equal(text, want.result.text);
    assert.equal(finish, want.result.finishReason);
    assert.equal(usage?.completion_tokens, want.result.ids.length);
    assert.equal(usage?.prompt_tokens, ids.length);
  });

  it('logprobs and top_logprobs equal generate()\'s', async () => {
    const ids = encodeChat(m.tokenizer, m.chat, messages);
    const want = await reference(m, ids, { maxTokens: 6, logprobs: 3 });
    const res = await api.chat.completions.create({ model: MODEL_NAME, messages, max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3 });
    const lp = res.choices[0].logprobs?.content ?? [];
    assert.equal(lp.length, want.steps.length);
    lp.forEach((e, i) => {
      const step = want.steps[i];
      assert.ok(Math.abs(e.logprob - step.logprob!) < 1e-5, `${e.logprob} vs ${step.logprob}`);
      assert.deepEqual(e.bytes, Array.from(m.tokenizer.tokenBytes(step.id)));
      assert.equal(e.top_logprobs.length, 3);
      assert.equal(e.top_logprobs[0].logprob, e.logprob); // greedy picks the top token
      e.top_logprobs.forEach((t, j) => assert.ok(Math.abs(t.logprob - step.topLogprobs![j].logprob) < 1e-5));
    });
    // Streamed: the same entries, spread over the chunks.
    const stream = await api.chat.completions.create({ model: MODEL_NAME, messages, max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3, stream: true });
    const streamed: number[] = [];
    for await (const chunk of stream) for (const e of chunk.choices[0]?.logprobs?.content ?? []) streamed.push(e.logprob);
    assert.deepEqual(streamed, lp.map((e) => e.logprob));
  });

  it('seed makes sampling repeatable; sampling settings are applied', async () => {
    const ask = (extra: Partial<OpenAI.ChatCompletionCreateParamsNonStreaming>) =>
      api.chat.completions.create({ model: MODEL_NAME, messages, max_tokens: 16, temperature: 1, top_p: 1, ...extra }).then((r) => r.choices[0].message.content);
    const a = await ask({ seed: 42 });
    assert.equal(await ask({ seed: 42 }), a);
    const others = await Promise.all([1, 2, 3, 4].map((seed) => ask({ seed })));
    assert.ok(others.some((t) => t !== a), 'different seeds give different text');
    // Same as generate() with the same sampling options.
    const ids = encodeChat(m.tokenizer, m.chat, messages);
    const sampling = { temperature: 0.8, topP: 0.9, seed: 7, presencePenalty: 1.5, frequencyPenalty: 0.5 };
    const want = await reference(m, ids, { maxTokens: 16, sampling });
    const got = await ask({ temperature: 0.8, top_p: 0.9, seed: 7, presence_penalty: 1.5, frequency_penalty: 0.5 });
    assert.equal(got, want.result.text);
  });

  it('logit_bias bans a token; stop strings end the reply before them', async () => {
    const ids = encodeChat(m.tokenizer, m.chat, messages);
    const greedy = await reference(m, ids, { maxTokens: 12 });
    const first = greedy.result.ids[0];
    const banned = await api.chat.completions.create({ model: MODEL_NAME, messages, max_tokens: 4, temperature: 0, logit_bias: { [String(first)]: -100 } });
    const want = await reference(m, ids, { maxTokens: 4, sampling: { temperature: 0, logitBias: { [String(first)]: -100 } } });
    assert.equal(banned.choices[0].message.content, want.result.text);
    assert.notEqual(want.result.ids[0], first);

    const text = greedy.result.text;
    const stop = text.slice(4, 7);
    const cut = text.slice(0, text.indexOf(stop));
    const stopped = await api.chat.completions.create({ model: MODEL_NAME, messages, max_tokens: 12, temperature: 0, stop: [stop, 'never-there'] });
    assert.equal(stopped.choices[0].message.content, cut);
    assert.equal(stopped.choices[0].finish_reason, 'stop');
  });

  it('completions: text prompt, id prompt, echo, logprobs, streaming', async () => {
    const prompt = 'Once upon a time';
    const ids = m.tokenizer.encode(prompt);
    const want = await reference(m, ids, { maxTokens: 8, logprobs: 2 });
    const res = await api.completions.create({ model: MODEL_NAME, prompt, max_tokens: 8, temperature: 0 });
    assert.equal(res.object, 'text_completion');
    assert.equal(res.choices[0].text, want.result.text);
    assert.equal(res.usage?.prompt_tokens, ids.length);
    assert.equal(res.usage?.completion_tokens, want.result.ids.length);

    const byIds = await api.completions.create({ model: MODEL_NAME, prompt: ids, max_tokens: 8, temperature: 0 });
    assert.equal(byIds.choices[0].text, want.result.text);

    const echoed = await api.completions.create({ model: MODEL_NAME, prompt, max_tokens: 8, temperature: 0, echo: true, logprobs: 2 });
    assert.equal(echoed.choices[0].text, prompt + want.result.text);
    const lp = echoed.choices[0].logprobs!;
    assert.equal(lp.tokens!.length, ids.length + want.result.ids.length);
    assert.equal(lp.token_logprobs![0], null);
    assert.ok(lp.token_logprobs!.slice(1).every((x) => typeof x === 'number' && x <= 0));
    want.steps.forEach((s, i) => assert.ok(Math.abs(lp.token_logprobs![ids.length + i]! - s.logprob!) < 1e-5));
    // Each offset points at its token in the returned text (BOS is not in the text).
    lp.tokens!.forEach((t, i) => { if (i > 0 && !t.includes('\ufffd')) assert.equal(echoed.choices[0].text.slice(lp.text_offset![i], lp.text_offset![i] + t.length), t); });

    // Scoring a prompt: echo with max_tokens 0.
    const scored = await api.completions.create({ model: MODEL_NAME, prompt, max_tokens: 0, echo: true, logprobs: 0 });
    assert.equal(scored.choices[0].text, prompt);
    assert.deepEqual(scored.choices[0].logprobs!.token_logprobs, lp.token_logprobs!.slice(0, ids.length));

    const stream = await api.completions.create({ model: MODEL_NAME, prompt, max_tokens: 8, temperature: 0, echo: true, stream: true, stream_options: { include_usage: true } });
    let text = '', finish: string | null = null, usageTokens = -1;
    for await (const chunk of stream) {
      if (chunk.usage) usageTokens = chunk.usage.completion_tokens;
      for (const c of chunk.choices) { text += c.text; finish = c.finish_reason ?? finish; }
    }
    assert.equal(text, prompt + want.result.text);
    assert.equal(finish, want.result.finishReason);
    assert.equal(usageTokens, want.result.ids.length);
  });

  it('tokenize and detokenize', async () => {
    const post = (path: string, body: unknown) => fetch(`${server.url}${path}`, { method: 'POST', body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, json: await r.json() as Record<string, unknown> }));
    const text = 'Hello <|eot|> world';
    const t = await post('/tokenize', { content: text });
    assert.equal(t.status, 200);
    assert.deepEqual(t.json.tokens, m.tokenizer.encode(text, { addBos: false }));
    const withBos = await post('/tokenize', { content: text, add_special: true, parse_special: false, with_pieces: true });
    const pieces = withBos.json.tokens as { id: number; piece: string }[];
    assert.deepEqual(pieces.map((p) => p.id), m.tokenizer.encode(text, { parseSpecial: false }));
    assert.equal(pieces.slice(1).map((p) => p.piece).join(''), text);
    const d = await post('/detokenize', { tokens: t.json.tokens, model: MODEL_NAME });
    assert.deepEqual(d.json, { content: text });
  });

  it('lists and retrieves the model', async () => {
    const list = await api.models.list();
    assert.deepEqual(list.data.map((x) => x.id), [MODEL_NAME]);
    const one = await api.models.retrieve(MODEL_NAME);
    assert.equal(one.id, MODEL_NAME);
    const health = await fetch(`${server.url}/health`).then((r) => r.json());
    assert.deepEqual(health, { status: 'ok', slots_idle: 2, slots_processing: 0, queue_depth: 0 });
  });
});
