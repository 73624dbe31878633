/** Chat formatting against llama.cpp's goldens, for the Jinja and the built-in path, plus tool use. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { Llama4Error } from '../../src/errors.js';
import {
  ChatFormatter, chatFormatterFor, detectChatFamily, encodeChat, ggufChatTemplate, loadHfChatTemplate,
  loadHfTokenizer, tokenizerFromGguf, type ChatMessage, type TextTokenizer,
} from '../../src/tokenizer/index.js';
import { MODELS, ggufMetadata, ggufPath, goldenChat, modelDir } from './helpers.js';

for (const model of MODELS) {
  describe(`${model} chat`, () => {
    let hf: TextTokenizer;
    let gguf: TextTokenizer;
    let template: string;
    before(async () => {
      hf = await loadHfTokenizer(modelDir(model));
      gguf = tokenizerFromGguf(ggufMetadata(model), ggufPath(model));
      template = (await loadHfChatTemplate(modelDir(model))) as string;
    });
    const formatters = (): [string, ChatFormatter][] => [
      ['jinja', chatFormatterFor(hf, template, join(modelDir(model), 'tokenizer_config.json'))],
      ['built-in', chatFormatterFor(hf, null)],
    ];

    test('the GGUF carries the same template as tokenizer_config.json', () => {
      assert.equal(typeof template, 'string');
      assert.equal(ggufChatTemplate(ggufMetadata(model)), template);
      assert.equal(detectChatFamily(hf), model.startsWith('llama4') ? 'llama4' : 'llama3');
    });

    test('render = BOS text + llama.cpp\'s rendering, on both paths', () => {
      const g = goldenChat(model);
      for (const [name, f] of formatters()) {
        assert.equal(f.usesTemplate, name === 'jinja');
        assert.equal(f.render(g.messages, { addGenerationPrompt: g.add_generation_prompt }),
          '<|begin_of_text|>' + g.rendered, name);
      }
    });

    test('encodeChat gives the golden token_ids (BOS once) for both paths and both loaders', () => {
      const g = goldenChat(model);
      for (const [name, f] of formatters()) {
        for (const tok of [hf, gguf]) assert.deepEqual(encodeChat(tok, f, g.messages), g.token_ids, name);
      }
    });

    test('a vocabulary that does not add BOS keeps the template\'s BOS text, still once', () => {
      const g = goldenChat(model);
      const noAutoBos = tokenizerFromGguf(
        new Map([...ggufMetadata(model), ['tokenizer.ggml.add_bos_token', false]]), ggufPath(model));
      for (const [name, f] of formatters()) assert.deepEqual(encodeChat(noAutoBos, f, g.messages), g.token_ids, name);
    });

    test('without a generation prompt, and with content parts', () => {
      const parts: ChatMessage[] = [
        { role: 'system', content: [{ type: 'text', text: 'Be brief.' }] },
        { role: 'user', content: [{ type: 'text', text: 'Hi' }, { type: 'text', text: '!' }] },
      ];
      const plain: ChatMessage[] = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi!' }];
      const [[, jinja], [, builtin]] = formatters();
      const opts = { addGenerationPrompt: false };
      const eot = model.startsWith('llama4') ? '<|eot|>' : '<|eot_id|>';
      const expected = builtin.render(plain, opts);
      assert.ok(expected.endsWith(`Hi!${eot}`));
      assert.equal(builtin.render(parts, opts), expected);
      assert.equal(jinja.render(plain, opts), expected);
      // The fixture's Llama 3 template only takes string content.
      if (model.startsWith('llama4')) assert.equal(jinja.render(parts, opts), expected);
    });
  });
}

describe('built-in Llama 4 tool use', () => {
  const chat = new ChatFormatter({ template: null, family: 'llama4', bosToken: '<|begin_of_text|>', eosToken: '<|eot|>' });
  const conversation: ChatMessage[] = [
    { role: 'user', content: 'Weather in Paris?' },
    {
      role: 'assistant', content: '', tool_calls: [
        { id: 'c1', type: 'function', function: {
          name: 'get_weather',
          arguments: '{"city":"Paris","days":2,"metric":true,"extra":null,"tags":["a","b"],"opts":{"x":1.5}}' } },
        { id: 'c2', type: 'function', function: { name: 'now', arguments: '' } },
      ],
    },
    { role: 'tool', tool_call_id: 'c1', name: 'get_weather', content: '{"temp": 21}' },
  ];

  test('calls are a pythonic list, results use ipython, both end with <|eom|>', () => {
    assert.equal(chat.render(conversation),
      '<|begin_of_text|><|header_start|>user<|header_end|>\n\nWeather in Paris?<|eot|>' +
      '<|header_start|>assistant<|header_end|>\n\n' +
      '[get_weather(city="Paris", days=2, metric=True, extra=None, tags=["a", "b"], opts={"x": 1.5}), now()]<|eom|>' +
      '<|header_start|>ipython<|header_end|>\n\n{"temp": 21}<|eom|>' +
      '<|header_start|>assistant<|header_end|>\n\n');
  });

  test('tool definitions go into the system prompt', () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather by city',
      parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const withSystem = chat.render([{ role: 'system', content: 'Be terse.' }, ...conversation.slice(0, 1)], { tools });
    assert.ok(withSystem.startsWith('<|begin_of_text|><|header_start|>system<|header_end|>\n\nBe terse.\n\nHere is a list of functions'));
    assert.ok(withSystem.includes('"name": "get_weather"'));
    assert.equal((withSystem.match(/<\|header_start\|>system/g) ?? []).length, 1);
    const without = chat.render(conversation.slice(0, 1), { tools });
    assert.ok(without.startsWith('<|begin_of_text|><|header_start|>system<|header_end|>\n\nHere is a list of functions'));
    assert.ok(without.includes('<|header_start|>user<|header_end|>\n\nWeather in Paris?<|eot|>'));
  });

  test('the tool conversation tokenizes with <|eom|> and BOS once', async () => {
    const tok = await loadHfTokenizer(modelDir('llama4-tiny-moe'));
    const ids = encodeChat(tok, chat, conversation);
    const eom = tok.tokenId('<|eom|>');
    assert.equal(ids.filter((id) => id === eom).length, 2);
    assert.equal(ids.filter((id) => id === tok.bosId).length, 1);
    assert.equal(tok.decode(ids), chat.render(conversation));
  });

  test('arguments that are not a JSON object are rejected, naming the message', () => {
    const bad: ChatMessage[] = [{ role: 'assistant', content: '', tool_calls: [
      { type: 'function', function: { name: 'f', arguments: '[1, 2]' } }] }];
    assert.throws(() => chat.render(bad), (e: unknown) => e instanceof Llama4Error && e.message.includes('messages[0].tool_calls[0]'));
    const broken: ChatMessage[] = [{ role: 'assistant', content: '', tool_calls: [
      { type: 'function', function: { name: 'f', arguments: '{"a": ' } }] }];
    assert.throws(() => chat.render(broken), /not valid JSON/);
  });
});

describe('built-in Llama 3 tool use', () => {
  const chat = new ChatFormatter({ template: null, family: 'llama3', bosToken: '<|begin_of_text|>', eosToken: '<|eot_id|>' });

  test('one call as JSON, results under ipython', () => {
    const text = chat.render([
      { role: 'assistant', content: '', tool_calls: [{ type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] },
      { role: 'tool', content: '42' },
    ], { addGenerationPrompt: false });
    assert.equal(text,
      '<|begin_of_text|><|start_header_id|>assistant<|end_header_id|>\n\n{"name":"f","parameters":{"a":1}}<|eot_id|>' +
      '<|start_header_id|>ipython<|end_header_id|>\n\n42<|eot_id|>');
  });

  test('two calls in one message are rejected', () => {
    const call = { type: 'function', function: { name: 'f', arguments: '{}' } } as const;
    assert.throws(() => chat.render([{ role: 'assistant', content: '', tool_calls: [call, call] }]), Llama4Error);
  });
});

describe('Jinja templates', () => {
  const make = (template: string): ChatFormatter =>
    new ChatFormatter({ template, family: 'llama4', bosToken: '<s>', eosToken: '</s>', templateSource: 'models/x/tokenizer_config.json' });

  test('a syntax error is a Llama4Error naming the template source', () => {
    assert.throws(() => make('{% for m in messages %}{{ m.content }'),
      (e: unknown) => e instanceof Llama4Error && e.message.includes('models/x/tokenizer_config.json') && e.message.includes('invalid Jinja'));
  });

  test('a failure while rendering is a Llama4Error naming the template source', () => {
    const f = make("{{ raise_exception('no tools allowed') }}");
    assert.throws(() => f.render([]),
      (e: unknown) => e instanceof Llama4Error && e.message.includes('no tools allowed') && e.message.includes('tokenizer_config.json'));
  });

  test('tools, extra variables and bos/eos reach the template', () => {
    const f = make('{{ bos_token }}{{ tools | length }}|{{ greeting }}|{{ add_generation_prompt }}{{ eos_token }}');
    assert.equal(f.render([], { tools: [{}, {}], extra: { greeting: 'hi' }, addGenerationPrompt: false }), '<s>2|hi|false</s>');
  });

  test('extra variables are refused by the built-in format rather than ignored', () => {
    const f = new ChatFormatter({ template: null, family: 'llama4', bosToken: '<s>', eosToken: '</s>' });
    assert.throws(() => f.render([], { extra: { date_string: 'today' } }), /need a Jinja chat template/);
    assert.doesNotThrow(() => f.render([], { extra: {} }));
  });
});
