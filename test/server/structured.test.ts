/**
 * Constrained replies through the official client, sampled from the fixture model itself (its
 * random weights would otherwise produce anything): response_format json_schema / json_object,
 * and tool_choice "required" / a named function, whose calls must parse and fit the tool's
 * parameters. Streaming and non-streaming agree.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { LoadedModel } from '../../src/load.js';
import type { RunningServer } from '../../src/server/index.js';
import { client, loadFixture, MODEL_NAME, start } from './helpers.js';

const PERSON = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 12 },
    age: { type: 'integer' },
    role: { enum: ['admin', 'user', null] },
    tags: { type: 'array', items: { type: 'string', maxLength: 6 }, maxItems: 3 },
    address: { type: 'object', properties: { city: { type: 'string', maxLength: 10 }, zip: { type: 'number' } }, required: ['city'] },
  },
  required: ['name', 'age'],
};

/** Checks a value against PERSON by hand (independently of the grammar compiler). */
function checkPerson(v: unknown): void {
  assert.ok(typeof v === 'object' && v !== null && !Array.isArray(v), 'an object');
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  assert.ok(keys.every((k) => ['name', 'age', 'role', 'tags', 'address'].includes(k)), `only declared keys: ${keys}`);
  assert.equal(typeof o.name, 'string');
  assert.ok([...(o.name as string)].length <= 12, "maxLength counts code points");
  assert.ok(Number.isInteger(o.age), `age ${o.age}`);
  if ('role' in o) assert.ok(['admin', 'user', null].includes(o.role as string | null));
  if ('tags' in o) {
    assert.ok(Array.isArray(o.tags) && o.tags.length <= 3);
    for (const t of o.tags as unknown[]) assert.ok(typeof t === 'string' && [...t].length <= 6);
  }
  if ('address' in o) {
    const a = o.address as Record<string, unknown>;
    assert.equal(typeof a.city, 'string');
    if ('zip' in a) assert.equal(typeof a.zip, 'number');
  }
}

const tools: OpenAI.ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 16 }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer' } }, required: ['city', 'unit'] },
    },
  },
  { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string', maxLength: 8 }, utc: { type: 'boolean' } }, required: ['tz'] } } },
];

async function streamed(stream: AsyncIterable<OpenAI.ChatCompletionChunk>) {
  let content = '', finish: string | null = null;
  const calls: { name: string; arguments: string }[] = [];
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    if (!c) continue;
    content += c.delta.content ?? '';
    for (const d of c.delta.tool_calls ?? []) {
      calls[d.index] ??= { name: '', arguments: '' };
      calls[d.index].name += d.function?.name ?? '';
      calls[d.index].arguments += d.function?.arguments ?? '';
    }
    if (c.finish_reason) finish = c.finish_reason;
  }
  return { content, finish, calls };
}

describe('server: constrained replies (sampled from the model)', () => {
  let m: LoadedModel;
  let server: RunningServer;
  let api: OpenAI;
  before(async () => {
    m = await loadFixture();
    server = await start(m, { ctxSize: 2048 });
    api = client(server);
  });
  after(async () => { await server.close(); });

  const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Describe a person as JSON.' }];

  it('response_format json_schema: every reply parses and fits the schema (greedy and sampled), streamed the same', async () => {
    const response_format = { type: 'json_schema' as const, json_schema: { name: 'person', schema: PERSON, strict: true } };
    for (const sampling of [{ temperature: 0 }, { temperature: 1, seed: 1 }, { temperature: 1.5, seed: 2 }, { temperature: 1, top_p: 0.9, seed: 3 }]) {
      const res = await api.chat.completions.create({ model: MODEL_NAME, messages, response_format, max_tokens: 600, ...sampling });
      const choice = res.choices[0];
      assert.equal(choice.finish_reason, 'stop', `${JSON.stringify(sampling)}: ended by the grammar, not the budget: ${choice.message.content}`);
      checkPerson(JSON.parse(choice.message.content!));
      const s = await streamed(await api.chat.completions.create({ model: MODEL_NAME, messages, response_format, max_tokens: 600, stream: true, ...sampling }));
      assert.equal(s.content, choice.message.content, 'streamed deltas concatenate to the same JSON');
    }
  });

  it('response_format json_object: a JSON object (or, cut by max_tokens, the start of one)', async () => {
    for (const seed of [1, 2, 3]) {
      const res = await api.chat.completions.create({ model: MODEL_NAME, messages, response_format: { type: 'json_object' }, max_tokens: 120, temperature: 1, seed });
      const { content, } = res.choices[0].message;
      assert.ok(content!.startsWith('{'), content!);
      if (res.choices[0].finish_reason === 'stop') {
        const v = JSON.parse(content!);
        assert.ok(typeof v === 'object' && v !== null && !Array.isArray(v));
      } else {
        assert.equal(res.choices[0].finish_reason, 'length');
        assert.throws(() => JSON.parse(content!), 'an unfinished object does not parse yet');
      }
    }
  });

  it('tool_choice naming a function: one call to it, arguments that fit its parameters', async () => {
    for (const seed of [1, 2, 3, 4]) {
      const body = { model: MODEL_NAME, messages: [{ role: 'user' as const, content: 'Weather in Paris?' }], tools, tool_choice: { type: 'function' as const, function: { name: 'get_weather' } }, max_tokens: 300, temperature: 1, seed };
      const res = await api.chat.completions.create(body);
      const choice = res.choices[0];
      assert.equal(choice.finish_reason, 'tool_calls');
      const calls = choice.message.tool_calls ?? [];
      assert.equal(calls.length, 1);
      const call = calls[0];
      assert.ok(call.type === 'function');
      assert.equal(call.function.name, 'get_weather');
      const args = JSON.parse(call.function.arguments) as Record<string, unknown>;
      assert.equal(typeof args.city, 'string');
      assert.ok(['celsius', 'fahrenheit'].includes(args.unit as string));
      if ('days' in args) assert.ok(Number.isInteger(args.days));
      const s = await streamed(await api.chat.completions.create({ ...body, stream: true }));
      assert.equal(s.finish, 'tool_calls');
      assert.deepEqual(s.calls, [{ name: 'get_weather', arguments: call.function.arguments }]);
    }
  });

  it('tool_choice required: calls to offered tools only (several with parallel_tool_calls, one without)', async () => {
    const seen = new Set<string>();
    for (const [seed, parallel] of [[1, true], [2, true], [3, false], [4, false], [5, true], [6, true], [7, true]] as const) {
      const res = await api.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'Weather and time?' }], tools, tool_choice: 'required', parallel_tool_calls: parallel, max_tokens: 400, temperature: 1, seed });
      const choice = res.choices[0];
      if (parallel && choice.finish_reason === 'length') {
        // Random weights may keep adding calls until the budget ends; the reply is then cut, as OpenAI reports it.
        assert.match(choice.message.content ?? '', /^\[get_(weather|time)\(/);
        continue;
      }
      assert.equal(choice.finish_reason, 'tool_calls');
      const calls = choice.message.tool_calls ?? [];
      assert.ok(calls.length >= 1 && (parallel || calls.length === 1), `${calls.length} calls, parallel ${parallel}`);
      for (const c of calls) {
        assert.ok(c.type === 'function');
        seen.add(c.function.name);
        const args = JSON.parse(c.function.arguments) as Record<string, unknown>;
        if (c.function.name === 'get_time') assert.equal(typeof args.tz, 'string');
        else { assert.equal(c.function.name, 'get_weather'); assert.equal(typeof args.city, 'string'); }
      }
    }
    assert.ok(seen.size >= 1);
  });
});
