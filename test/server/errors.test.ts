/**
 * Bad input: every case gets its HTTP status and OpenAI's error body
 * `{"error":{"message","type","param","code"}}`, while a streamed request already in flight
 * finishes undisturbed and the server keeps serving. Also the API key (401) and the body limit (413).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { LoadedModel } from '../../src/load.js';
import type { RunningServer } from '../../src/server/index.js';
import { encodeChat } from '../../src/tokenizer/chat.js';
import { banStops, client, loadFixture, MODEL_NAME, reference, start } from './helpers.js';

interface Case {
  readonly name: string;
  readonly path?: string;
  readonly method?: string;
  /** An object is sent as JSON; a string as is. */
  readonly body?: unknown;
  readonly status: number;
  readonly param?: string | null;
  readonly code?: string;
  readonly message?: RegExp;
}

const user = [{ role: 'user', content: 'Hi' }];
const chat = (extra: Record<string, unknown>) => ({ model: MODEL_NAME, messages: user, ...extra });
const weather = { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } };

const CASES: Case[] = [
  { name: 'malformed JSON', body: '{"model": "x", ', status: 400, code: 'invalid_json' },
  { name: 'empty body', body: '', status: 400, code: 'invalid_json' },
  { name: 'body is not an object', body: '[1, 2]', status: 400, code: 'invalid_json' },
  { name: 'missing model', body: { messages: user }, status: 400, param: 'model', code: 'missing_required_parameter' },
  { name: 'model of the wrong type', body: { model: 3, messages: user }, status: 400, param: 'model', code: 'invalid_type' },
  { name: 'unknown model', body: { model: 'gpt-4o', messages: user }, status: 404, param: 'model', code: 'model_not_found', message: /gpt-4o/ },
  { name: 'missing messages', body: { model: MODEL_NAME }, status: 400, param: 'messages', code: 'missing_required_parameter' },
  { name: 'messages not an array', body: chat({ messages: 'Hi' }), status: 400, param: 'messages', code: 'invalid_type' },
  { name: 'no messages', body: chat({ messages: [] }), status: 400, param: 'messages' },
  { name: 'unknown role', body: chat({ messages: [{ role: 'wizard', content: 'x' }] }), status: 400, param: 'messages[0].role' },
  { name: 'content of the wrong type', body: chat({ messages: [{ role: 'user', content: 5 }] }), status: 400, param: 'messages[0].content', code: 'invalid_type' },
  { name: 'image content', body: chat({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }), status: 400, param: 'messages[0].content[0]', code: 'unsupported_value' },
  { name: 'tool message without tool_call_id', body: chat({ messages: [{ role: 'tool', content: 'x' }] }), status: 400, param: 'messages[0].tool_call_id' },
  { name: 'tool call arguments not JSON', body: chat({ messages: [...user, { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{oops' } }] }] }), status: 400, param: 'messages[1].tool_calls[0].function.arguments' },
  { name: 'unknown field', body: chat({ temprature: 0.5 }), status: 400, param: 'temprature', code: 'unknown_parameter' },
  { name: 'temperature of the wrong type', body: chat({ temperature: 'hot' }), status: 400, param: 'temperature', code: 'invalid_type' },
  { name: 'temperature out of range', body: chat({ temperature: 3 }), status: 400, param: 'temperature' },
  { name: 'top_p out of range', body: chat({ top_p: 0 }), status: 400, param: 'top_p' },
  { name: 'max_tokens 0', body: chat({ max_tokens: 0 }), status: 400, param: 'max_tokens' },
  { name: 'max_tokens negative', body: chat({ max_tokens: -5 }), status: 400, param: 'max_tokens' },
  { name: 'max_tokens not an integer', body: chat({ max_tokens: 2.5 }), status: 400, param: 'max_tokens', code: 'invalid_type' },
  { name: 'max_completion_tokens 0', body: chat({ max_completion_tokens: 0 }), status: 400, param: 'max_completion_tokens' },
  { name: 'n > 1', body: chat({ n: 2 }), status: 400, param: 'n', code: 'unsupported_value' },
  { name: 'stream_options without stream', body: chat({ stream_options: { include_usage: true } }), status: 400, param: 'stream_options' },
  { name: 'top_logprobs without logprobs', body: chat({ top_logprobs: 2 }), status: 400, param: 'top_logprobs' },
  { name: 'top_logprobs too many', body: chat({ logprobs: true, top_logprobs: 50 }), status: 400, param: 'top_logprobs' },
  { name: 'logit_bias key not a token id', body: chat({ logit_bias: { hello: 1 } }), status: 400, param: 'logit_bias' },
  { name: 'logit_bias value out of range', body: chat({ logit_bias: { 5: 200 } }), status: 400, param: 'logit_bias' },
  { name: 'logit_bias token outside the vocabulary', body: chat({ logit_bias: { 999999: 1 } }), status: 400, message: /vocabulary/ },
  { name: 'empty stop string', body: chat({ stop: [''] }), status: 400, param: 'stop' },
  { name: 'stop of the wrong type', body: chat({ stop: 5 }), status: 400, param: 'stop', code: 'invalid_type' },
  { name: 'unknown response_format type', body: chat({ response_format: { type: 'yaml' } }), status: 400, param: 'response_format.type' },
  { name: 'json_schema without its schema object', body: chat({ response_format: { type: 'json_schema' } }), status: 400, param: 'response_format.json_schema' },
  { name: 'json_schema with a pattern (unsupported)', body: chat({ response_format: { type: 'json_schema', json_schema: { name: 'p', schema: { type: 'string', pattern: '^a+$' } } } }), status: 400, param: 'response_format.json_schema.schema' },
  { name: 'bad tool_choice', body: chat({ tools: [weather], tool_choice: 'sometimes' }), status: 400, param: 'tool_choice' },
  { name: 'tool_choice naming an unknown tool', body: chat({ tools: [weather], tool_choice: { type: 'function', function: { name: 'nope' } } }), status: 400, param: 'tool_choice' },
  { name: 'tool_choice required without tools', body: chat({ tool_choice: 'required' }), status: 400, param: 'tool_choice' },
  { name: 'malformed tool', body: chat({ tools: [{ type: 'function', function: { name: 'bad name!' } }] }), status: 400, param: 'tools[0].function.name' },
  { name: 'strict tools', body: chat({ tools: [{ type: 'function', function: { name: 'f', strict: true } }] }), status: 400, param: 'tools[0].function.strict' },
  { name: 'prompt longer than the context', body: chat({ messages: [{ role: 'user', content: 'word '.repeat(400) }] }), status: 400, code: 'context_length_exceeded', message: /maximum context length is 256 tokens.*prompt has \d+ tokens/ },
  { name: 'completions: missing prompt', path: '/v1/completions', body: { model: MODEL_NAME }, status: 400, param: 'prompt' },
  { name: 'completions: token id out of range', path: '/v1/completions', body: { model: MODEL_NAME, prompt: [1, 99999] }, status: 400, param: 'prompt' },
  { name: 'completions: several prompts', path: '/v1/completions', body: { model: MODEL_NAME, prompt: ['a', 'b'] }, status: 400, param: 'prompt' },
  { name: 'completions: suffix', path: '/v1/completions', body: { model: MODEL_NAME, prompt: 'a', suffix: 'b' }, status: 400, param: 'suffix' },
  { name: 'completions: max_tokens 0 without echo', path: '/v1/completions', body: { model: MODEL_NAME, prompt: 'a', max_tokens: 0 }, status: 400, param: 'max_tokens' },
  { name: 'completions: best_of > 1', path: '/v1/completions', body: { model: MODEL_NAME, prompt: 'a', best_of: 3 }, status: 400, param: 'best_of' },
  { name: 'completions: prompt too long', path: '/v1/completions', body: { model: MODEL_NAME, prompt: Array.from({ length: 300 }, () => 5) }, status: 400, code: 'context_length_exceeded' },
  { name: 'tokenize: missing content', path: '/tokenize', body: {}, status: 400, param: 'content' },
  { name: 'detokenize: bad tokens', path: '/detokenize', body: { tokens: [1, -2] }, status: 400, param: 'tokens' },
  { name: 'unknown route', path: '/v1/embeddings', body: { model: MODEL_NAME, input: 'x' }, status: 404, code: 'unknown_url' },
  { name: 'wrong method', path: '/v1/chat/completions', method: 'GET', status: 404 },
];

function checkBody(body: unknown, c: Pick<Case, 'name' | 'status' | 'param' | 'code' | 'message'>): void {
  const e = (body as { error?: Record<string, unknown> }).error;
  assert.ok(e, `${c.name}: an error object`);
  assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'param', 'type'], c.name);
  assert.equal(typeof e.message, 'string');
  assert.ok((e.message as string).length > 0);
  assert.equal(typeof e.type, 'string');
  if (c.param !== undefined) assert.equal(e.param, c.param, `${c.name}: param (${e.message})`);
  if (c.code !== undefined) assert.equal(e.code, c.code, `${c.name}: code (${e.message})`);
  if (c.message !== undefined) assert.match(e.message as string, c.message, c.name);
}

describe('server: errors', () => {
  let m: LoadedModel;
  let server: RunningServer;

  before(async () => {
    m = await loadFixture();
    server = await start(m, { ctxSize: 256, bodyLimit: 64 * 1024, apiKey: 'sk-secret', parallel: 2 });
  });
  after(async () => { await server.close(); });

  const auth = { authorization: 'Bearer sk-secret' };
  const send = (c: Pick<Case, 'path' | 'method' | 'body'>, headers: Record<string, string> = auth) => fetch(`${server.url}${c.path ?? '/v1/chat/completions'}`, {
    method: c.method ?? 'POST', headers: { 'content-type': 'application/json', ...headers },
    body: c.method === 'GET' ? undefined : typeof c.body === 'string' ? c.body : JSON.stringify(c.body),
  });

  it('every bad request gets its status and error body, and a request in flight is undisturbed', async () => {
    const api = client(server, 'sk-secret');
    const messages = [{ role: 'user' as const, content: 'Keep talking.' }];
    const bias = banStops(m);
    const want = await reference(m, encodeChat(m.tokenizer, m.chat, messages), { maxTokens: 120, sampling: { temperature: 0, logitBias: bias } });
    const stream = await api.chat.completions.create({ model: MODEL_NAME, messages, max_tokens: 120, temperature: 0, logit_bias: bias, stream: true });
    const inFlight = (async () => { let t = ''; for await (const ch of stream) t += ch.choices[0]?.delta.content ?? ''; return t; })();

    for (const c of CASES) {
      const res = await send(c);
      assert.equal(res.status, c.status, `${c.name}: status`);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/, c.name);
      checkBody(await res.json(), c);
    }
    assert.equal(await inFlight, want.result.text);

    const ok = await api.chat.completions.create({ model: MODEL_NAME, messages: user as OpenAI.ChatCompletionMessageParam[], max_tokens: 3 });
    assert.equal(ok.choices.length, 1);
  });

  it('the official client sees the same errors as APIError', async () => {
    const api = client(server, 'sk-secret');
    await assert.rejects(api.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
      (err: unknown) => err instanceof OpenAI.NotFoundError && err.code === 'model_not_found' && err.param === 'model');
    await assert.rejects(api.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'x' }], max_tokens: 0 }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && err.param === 'max_tokens');
  });

  it('the API key guards every route but /health', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'sk-secret' }] as Record<string, string>[]) {
      const res = await send({ body: chat({}) }, headers);
      assert.equal(res.status, 401);
      checkBody(await res.json(), { name: '401', status: 401, code: 'invalid_api_key' });
      assert.equal((await fetch(`${server.url}/metrics`, { headers })).status, 401);
      assert.equal((await fetch(`${server.url}/v1/models`, { headers })).status, 401);
    }
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
    await assert.rejects(client(server, 'wrong').models.list(), (err: unknown) => err instanceof OpenAI.AuthenticationError);
    assert.equal((await client(server, 'sk-secret').models.list()).data.length, 1);
  });

  it('a body over the size limit gets 413', async () => {
    const res = await send({ body: chat({ messages: [{ role: 'user', content: 'x'.repeat(100 * 1024) }] }) });
    assert.equal(res.status, 413);
    checkBody(await res.json(), { name: '413', status: 413, code: 'request_too_large' });
    // Chunked (no content-length) is limited too.
    const big = new TextEncoder().encode(JSON.stringify(chat({ messages: [{ role: 'user', content: 'y'.repeat(100 * 1024) }] })));
    const chunked = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...auth }, duplex: 'half',
      body: new ReadableStream({ start(ctl) { ctl.enqueue(big); ctl.close(); } }),
    } as RequestInit);
    assert.equal(chunked.status, 413);
    const health = await fetch(`${server.url}/health`).then((r) => r.json());
    assert.equal((health as { status: string }).status, 'ok');
  });
});
