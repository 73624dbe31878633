/**
 * Tool calling through the official client. The model's sampled tokens are replaced by a scripted
 * reply (the `scriptedOutput` seam: the text's token ids are emitted, forward passes still run),
 * so both output forms — Meta's pythonic list and JSON — go through the real parser, the real
 * streaming and the real prompt rendering: tools in the prompt, assistant tool calls and tool
 * results in the history, tool_choice none/auto/required/named, parallel_tool_calls.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { LoadedModel } from '../../src/load.js';
import type { RunningServer } from '../../src/server/index.js';
import { ChatFormatter, encodeChat, type ChatMessage } from '../../src/tokenizer/chat.js';
import { client, loadFixture, MODEL_NAME, start } from './helpers.js';

const tools: OpenAI.ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather', description: 'Current weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } }, required: ['city'] },
    },
  },
  { type: 'function', function: { name: 'get_time', description: 'Current time in a time zone', parameters: { type: 'object', properties: { tz: { type: 'string' } } } } },
];
const ask: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Weather and time in Paris?' }];

interface Collected { content: string; calls: { id?: string; name: string; arguments: string }[]; finish: string | null; firstDeltas: unknown[] }

async function collect(stream: AsyncIterable<OpenAI.ChatCompletionChunk>): Promise<Collected> {
  const out: Collected = { content: '', calls: [], finish: null, firstDeltas: [] };
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    if (!c) continue;
    out.content += c.delta.content ?? '';
    for (const d of c.delta.tool_calls ?? []) {
      if (!out.calls[d.index]) { out.calls[d.index] = { id: d.id, name: d.function?.name ?? '', arguments: '' }; out.firstDeltas.push(d); }
      out.calls[d.index].arguments += d.function?.arguments ?? '';
    }
    if (c.finish_reason) out.finish = c.finish_reason;
  }
  return out;
}

describe('server: tool calls', () => {
  let m: LoadedModel;
  let server: RunningServer;
  let api: OpenAI;
  const script: string[] = [];
  /** Scripts the next reply(s) and returns a non-streamed and a streamed answer to `body`. */
  async function both(reply: string, body: Partial<OpenAI.ChatCompletionCreateParamsNonStreaming> = {}) {
    script.push(reply, reply);
    const params = { model: MODEL_NAME, messages: ask, tools, max_tokens: 400, ...body };
    const plain = await api.chat.completions.create(params);
    const streamed = await collect(await api.chat.completions.create({ ...params, stream: true }));
    return { plain, streamed };
  }

  before(async () => {
    m = await loadFixture();
    server = await start(m, { ctxSize: 2048, scriptedOutput: () => script.shift() });
    api = client(server);
  });
  after(async () => { await server.close(); });

  const weatherAndTime = [
    { name: 'get_weather', arguments: { city: 'Paris', unit: 'celsius' } },
    { name: 'get_time', arguments: { tz: 'Europe/Paris' } },
  ];

  for (const [form, reply] of [
    ['pythonic', '[get_weather(city="Paris", unit=\'celsius\'), get_time(tz="Europe/Paris")]<|eom|>'],
    ['pythonic in python tags', '<|python_start|>[get_weather(city="Paris", unit="celsius"), get_time(tz="Europe/Paris")]<|python_end|><|eom|>'],
    ['JSON with "parameters"', '{"name": "get_weather", "parameters": {"city": "Paris", "unit": "celsius"}}; {"name": "get_time", "parameters": {"tz": "Europe/Paris"}}<|eom|>'],
    ['JSON with "arguments"', '[{"type": "function", "name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}, {"name": "get_time", "arguments": "{\\"tz\\": \\"Europe/Paris\\"}"}]<|eot|>'],
  ] as const) {
    it(`parallel calls in ${form} form, non-streamed and streamed`, async () => {
      const { plain, streamed } = await both(reply);
      const choice = plain.choices[0];
      assert.equal(choice.finish_reason, 'tool_calls');
      assert.equal(choice.message.content, null);
      const calls = choice.message.tool_calls ?? [];
      assert.deepEqual(calls.map((c) => c.type === 'function' ? { name: c.function.name, arguments: JSON.parse(c.function.arguments) } : null), weatherAndTime);
      assert.ok(calls.every((c) => /^call_[0-9a-f]{24}$/.test(c.id)));

      assert.equal(streamed.finish, 'tool_calls');
      assert.equal(streamed.content, '');
      assert.deepEqual(streamed.calls.map((c) => ({ name: c.name, arguments: JSON.parse(c.arguments) })), weatherAndTime);
      // OpenAI's delta shape: the first delta of a call has its id, type and name.
      for (const d of streamed.firstDeltas as OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[]) {
        assert.equal(d.type, 'function');
        assert.match(d.id ?? '', /^call_/);
      }
      assert.equal(plain.usage?.completion_tokens, m.tokenizer.encode(reply, { addBos: false }).length - 1); // the end token is not output
    });
  }

  it('a text reply stays text (finish_reason stop), also when it starts with "["', async () => {
    let r = await both('It is sunny in Paris.<|eot|>');
    assert.equal(r.plain.choices[0].message.content, 'It is sunny in Paris.');
    assert.equal(r.plain.choices[0].finish_reason, 'stop');
    assert.equal(r.plain.choices[0].message.tool_calls, undefined);
    assert.equal(r.streamed.content, 'It is sunny in Paris.');
    assert.deepEqual(r.streamed.calls, []);
    r = await both('[1] Sunny. [2] Warm.<|eot|>');
    assert.equal(r.plain.choices[0].message.content, '[1] Sunny. [2] Warm.');
    assert.equal(r.streamed.content, '[1] Sunny. [2] Warm.');
  });

  it('text after a call list is content beside the calls', async () => {
    const { plain, streamed } = await both('[get_time(tz="UTC")]\nChecking the time.<|eom|>');
    assert.equal(plain.choices[0].message.content, 'Checking the time.');
    assert.equal(plain.choices[0].message.tool_calls?.length, 1);
    assert.equal(streamed.content, 'Checking the time.');
    assert.equal(streamed.calls.length, 1);
  });

  it('tools, assistant tool calls and tool results are rendered in the Llama 4 format', async () => {
    const history: OpenAI.ChatCompletionMessageParam[] = [
      ...ask,
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temperature": 21}' },
    ];
    script.push('It is 21 degrees.<|eot|>');
    const res = await api.chat.completions.create({ model: MODEL_NAME, messages: history, tools });
    assert.equal(res.choices[0].message.content, 'It is 21 degrees.');
    // The fixture's Jinja template ignores tools, so the built-in Llama 4 format renders them.
    const builtin = new ChatFormatter({ template: null, family: 'llama4', bosToken: m.chat.bosToken, eosToken: m.chat.eosToken });
    const asChat = history.map((msg) => ({ ...msg, content: msg.content ?? '' })) as ChatMessage[];
    const text = builtin.render(asChat, { tools });
    assert.match(text, /<\|header_start\|>ipython<\|header_end\|>\n\n\{"temperature": 21\}<\|eom\|>/);
    assert.match(text, /\[get_weather\(city="Paris"\)\]<\|eom\|>/);
    assert.match(text, /"name": "get_time"/);
    assert.equal(res.usage?.prompt_tokens, encodeChat(m.tokenizer, builtin, asChat, { tools }).length);
  });

  it('tool_choice none: tools are not shown and the reply is not parsed', async () => {
    script.push('[get_time(tz="UTC")]<|eot|>');
    const res = await api.chat.completions.create({ model: MODEL_NAME, messages: ask, tools, tool_choice: 'none' });
    assert.equal(res.choices[0].message.content, '[get_time(tz="UTC")]');
    assert.equal(res.choices[0].finish_reason, 'stop');
    assert.equal(res.usage?.prompt_tokens, encodeChat(m.tokenizer, m.chat, ask as ChatMessage[]).length);
  });

  it('tool_choice required: the reply is prefilled with "[" and must be a call', async () => {
    // The scripted text continues the prefill.
    const { plain, streamed } = await both('get_weather(city="Paris")]<|eom|>', { tool_choice: 'required' });
    assert.deepEqual(plain.choices[0].message.tool_calls?.map((c) => c.type === 'function' && c.function.name), ['get_weather']);
    assert.equal(streamed.calls[0].name, 'get_weather');
    assert.equal(streamed.finish, 'tool_calls');

    script.push('not a call<|eot|>');
    await assert.rejects(api.chat.completions.create({ model: MODEL_NAME, messages: ask, tools, tool_choice: 'required' }),
      (err: unknown) => err instanceof OpenAI.APIError && err.status === 500 && (err.error as { code?: string }).code === 'tool_call_failed');
    script.push('not a call<|eot|>');
    const stream = await api.chat.completions.create({ model: MODEL_NAME, messages: ask, tools, tool_choice: 'required', stream: true });
    await assert.rejects(collect(stream), /tool_choice is "required"/);
  });

  it('a named tool_choice prefills the call and shows only that tool', async () => {
    const { plain, streamed } = await both('unit="fahrenheit", city="Rome")]<|eom|>', { tool_choice: { type: 'function', function: { name: 'get_weather' } } });
    const call = plain.choices[0].message.tool_calls?.[0];
    assert.equal(call?.type === 'function' && call.function.name, 'get_weather');
    assert.deepEqual(call?.type === 'function' && JSON.parse(call.function.arguments), { unit: 'fahrenheit', city: 'Rome' });
    assert.deepEqual(JSON.parse(streamed.calls[0].arguments), { unit: 'fahrenheit', city: 'Rome' });
  });

  it('parallel_tool_calls false keeps the first call', async () => {
    const { plain, streamed } = await both('[get_weather(city="Paris"), get_time(tz="CET")]<|eom|>', { parallel_tool_calls: false });
    assert.equal(plain.choices[0].message.tool_calls?.length, 1);
    assert.equal(streamed.calls.length, 1);
    assert.equal(streamed.calls[0].name, 'get_weather');
  });

  it('the unscripted model with tools answers (whatever its random weights say)', async () => {
    const res = await api.chat.completions.create({ model: MODEL_NAME, messages: ask, tools, max_tokens: 8, temperature: 0 });
    assert.ok(['stop', 'length', 'tool_calls'].includes(res.choices[0].finish_reason));
  });
});
