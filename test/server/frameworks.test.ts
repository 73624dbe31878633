/**
 * The server behind the two most used framework clients, unchanged but for the base URL:
 * LangChain's ChatOpenAI and the Vercel AI SDK's OpenAI provider (chat completions). Plain and
 * streamed text equal what the official client gets; tool calls and structured output come back
 * parsed by the frameworks themselves.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type OpenAI from 'openai';
import { ChatOpenAI } from '@langchain/openai';
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, Output, streamText, tool } from 'ai';
import type { LoadedModel } from '../../src/load.js';
import type { RunningServer } from '../../src/server/index.js';
import { client, loadFixture, MODEL_NAME, start } from './helpers.js';

const WEATHER = {
  type: 'object' as const,
  properties: { city: { type: 'string' as const, maxLength: 16 }, unit: { type: 'string' as const, enum: ['celsius', 'fahrenheit'] } },
  required: ['city', 'unit'],
  additionalProperties: false,
};
const PERSON = {
  type: 'object' as const,
  properties: { name: { type: 'string' as const, maxLength: 12 }, age: { type: 'integer' as const } },
  required: ['name', 'age'],
  additionalProperties: false,
};

function checkPerson(v: unknown): void {
  const o = v as { name?: unknown; age?: unknown };
  assert.equal(typeof o.name, 'string');
  assert.ok([...(o.name as string)].length <= 12, "maxLength counts code points");
  assert.ok(Number.isInteger(o.age));
  assert.deepEqual(Object.keys(o).sort(), ['age', 'name']);
}

describe('server: LangChain and the Vercel AI SDK', () => {
  let m: LoadedModel;
  let server: RunningServer;
  let api: OpenAI;
  let expected = '';
  before(async () => {
    m = await loadFixture();
    server = await start(m, { ctxSize: 2048 });
    api = client(server);
    const res = await api.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'Hello' }], temperature: 0, max_tokens: 12 });
    expected = res.choices[0].message.content ?? '';
    assert.ok(expected.length > 0);
  });
  after(async () => { await server.close(); });

  describe('LangChain ChatOpenAI', () => {
    const llm = (maxTokens = 12) => new ChatOpenAI({ model: MODEL_NAME, apiKey: 'sk-test', configuration: { baseURL: `${server.url}/v1` }, temperature: 0, maxTokens, maxRetries: 0 });

    it('invoke and stream give the official client’s greedy text', async () => {
      const msg = await llm().invoke('Hello');
      assert.equal(msg.content, expected);
      let text = '';
      for await (const chunk of await llm().stream('Hello')) text += typeof chunk.content === 'string' ? chunk.content : '';
      assert.equal(text, expected);
    });

    it('bindTools with a forced tool: a parsed call', async () => {
      const bound = llm(200).bindTools([{ type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters: WEATHER } }], { tool_choice: 'get_weather' });
      const msg = await bound.invoke('Weather in Paris?');
      assert.equal(msg.tool_calls?.length, 1);
      assert.equal(msg.tool_calls![0].name, 'get_weather');
      assert.equal(typeof msg.tool_calls![0].args.city, 'string');
      assert.ok(['celsius', 'fahrenheit'].includes(msg.tool_calls![0].args.unit as string));
    });

    it('withStructuredOutput (json_schema): a parsed object fitting the schema', async () => {
      const structured = llm(200).withStructuredOutput(PERSON, { method: 'jsonSchema', name: 'person' });
      checkPerson(await structured.invoke('Describe a person.'));
    });
  });

  describe('Vercel AI SDK (@ai-sdk/openai chat model)', () => {
    const model = () => createOpenAI({ baseURL: `${server.url}/v1`, apiKey: 'sk-test' }).chat(MODEL_NAME);

    it('generateText and streamText give the official client’s greedy text', async () => {
      const res = await generateText({ model: model(), prompt: 'Hello', temperature: 0, maxOutputTokens: 12, maxRetries: 0 });
      assert.equal(res.text, expected);
      const stream = streamText({ model: model(), prompt: 'Hello', temperature: 0, maxOutputTokens: 12, maxRetries: 0 });
      assert.equal(await stream.text, expected);
    });

    it('a forced tool: a parsed call with typed input', async () => {
      const res = await generateText({
        model: model(), prompt: 'Weather in Paris?', maxOutputTokens: 200, maxRetries: 0, temperature: 0,
        tools: { get_weather: tool({ description: 'Weather in a city', inputSchema: jsonSchema<{ city: string; unit: string }>(WEATHER) }) },
        toolChoice: { type: 'tool', toolName: 'get_weather' },
      });
      assert.equal(res.toolCalls.length, 1);
      assert.equal(res.toolCalls[0].toolName, 'get_weather');
      const input = res.toolCalls[0].input as { city: unknown; unit: unknown };
      assert.equal(typeof input.city, 'string');
      assert.ok(['celsius', 'fahrenheit'].includes(input.unit as string));
    });

    it('structured output (Output.object): a parsed object fitting the schema', async () => {
      const res = await generateText({ model: model(), prompt: 'Describe a person.', maxOutputTokens: 200, maxRetries: 0, temperature: 0, output: Output.object({ schema: jsonSchema(PERSON) }) });
      checkPerson(res.output);
    });
  });
});
