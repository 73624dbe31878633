/**
 * The tool-call parser: Meta's pythonic call lists (with and without <|python_start|>), JSON calls
 * ("parameters" or "arguments", several in a row or in a list), Python literals, text that is not
 * a call, streaming prefixes (incomplete vs invalid), and the streaming splitter, which must give
 * the same events whether the reply arrives in one piece or character by character.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parsePythonLiteral, parseToolCalls, ToolCallStream, type ToolStreamEvent } from '../../src/server/tool-calls.js';

function calls(text: string) {
  const r = parseToolCalls(text, true);
  assert.equal(r.status, 'calls', `expected calls in ${JSON.stringify(text)}: ${JSON.stringify(r)}`);
  return r.status === 'calls' ? r : assert.fail();
}

function invalid(text: string) {
  const r = parseToolCalls(text, true);
  assert.equal(r.status, 'invalid', `expected no call in ${JSON.stringify(text)}, got ${JSON.stringify(r)}`);
}

describe('parseToolCalls: pythonic', () => {
  it('one call with keyword arguments', () => {
    assert.deepEqual(calls('[get_weather(city="Paris", days=3)]').calls, [{ name: 'get_weather', arguments: { city: 'Paris', days: 3 } }]);
  });

  it('parallel calls, no arguments, trailing commas, whitespace and newlines', () => {
    const r = calls('  \n[get_weather(city="Paris",), get_time(),\n  ping( host = \'a\' ) ,]');
    assert.deepEqual(r.calls, [
      { name: 'get_weather', arguments: { city: 'Paris' } },
      { name: 'get_time', arguments: {} },
      { name: 'ping', arguments: { host: 'a' } },
    ]);
    assert.equal(r.rest, '');
  });

  it('inside <|python_start|> … <|python_end|>', () => {
    const r = calls('<|python_start|>[f(x=1), g(y="z")]<|python_end|>');
    assert.deepEqual(r.calls.map((c) => c.name), ['f', 'g']);
    assert.equal(r.rest, '');
  });

  it('with <|python_start|> but no <|python_end|>, and dotted names', () => {
    assert.deepEqual(calls('<|python_start|> [brave_search.call(query="llama 4")]').calls, [{ name: 'brave_search.call', arguments: { query: 'llama 4' } }]);
  });

  it('text after the call list is returned as rest', () => {
    const r = calls('[f(a=1)]\n\nI called f.');
    assert.equal(r.rest, 'I called f.');
  });

  it('all literal kinds', () => {
    const r = calls(`[f(s='it\\'s', d="a\\"b\\n\\t\\u00e9\\x41\\U0001F600", t='''tri'ple''', n=-1_000, h=0x1F, o=0o17, b=0b101,
      x=1.5e-3, y=.5, z=+2, yes=True, no=False, nil=None, jt=true, jf=false, jn=null,
      l=[1, [2, 3], {"k": (4, 5)}], tup=(1,), one=(7), empty=(), dct={'a': {'b': [None]}, 1: 'one'}, st={1, 2}, e={})]`);
    assert.deepEqual(r.calls[0].arguments, {
      s: "it's", d: 'a"b\n\té' + 'A' + '😀', t: "tri'ple", n: -1000, h: 31, o: 15, b: 5,
      x: 0.0015, y: 0.5, z: 2, yes: true, no: false, nil: null, jt: true, jf: false, jn: null,
      l: [1, [2, 3], { k: [4, 5] }], tup: [1], one: 7, empty: [], dct: { a: { b: [null] }, 1: 'one' }, st: [1, 2], e: {},
    });
  });

  it('a "__proto__" key stays data', () => {
    const args = calls('[f(d={"__proto__": 1})]').calls[0].arguments as { d: Record<string, unknown> };
    assert.deepEqual(Object.keys(args.d), ['__proto__']);
    assert.equal(Object.getPrototypeOf(args.d), Object.prototype);
  });

  it('is not fooled by prose, markdown and lists of data', () => {
    invalid('The weather in Paris is sunny.');
    invalid('[1] First point');
    invalid('[Note] this is text');
    invalid('[click here](https://example.com)');
    invalid('["a", "b"]');
    invalid('[]');
    invalid('Sure: [f(a=1)]'); // the call must come first
    invalid('[f(1, 2)]'); // positional arguments
    invalid('[f(a=g())]'); // a call is not a literal
    invalid('[f(a=1, a=2)]');
    invalid('[f(a=1)'); // cut off
    invalid('[f(a=x)]');
    invalid('[f(a=1e)]');
  });
});

describe('parseToolCalls: JSON', () => {
  it('"parameters" and "arguments" (object or JSON string)', () => {
    assert.deepEqual(calls('{"name": "get_weather", "parameters": {"city": "Paris"}}').calls, [{ name: 'get_weather', arguments: { city: 'Paris' } }]);
    assert.deepEqual(calls('{"type": "function", "name": "f", "arguments": "{\\"a\\": [1, true, null]}"}').calls, [{ name: 'f', arguments: { a: [1, true, null] } }]);
    assert.deepEqual(calls('{"name": "noargs"}').calls, [{ name: 'noargs', arguments: {} }]);
    assert.deepEqual(calls('{"type": "function", "function": {"name": "g", "arguments": {"x": 1}}}').calls, [{ name: 'g', arguments: { x: 1 } }]);
  });

  it('several objects (";", "," or nothing between), a JSON list, python tags', () => {
    assert.deepEqual(calls('{"name": "a", "parameters": {}}; {"name": "b", "parameters": {"x": 1}}').calls.map((c) => c.name), ['a', 'b']);
    assert.deepEqual(calls('{"name": "a"}\n{"name": "b"}').calls.map((c) => c.name), ['a', 'b']);
    assert.deepEqual(calls('[{"name": "a", "arguments": {}}, {"name": "b", "arguments": {}}]').calls.map((c) => c.name), ['a', 'b']);
    assert.deepEqual(calls('<|python_start|>{"name": "a", "parameters": {"q": "x"}}<|python_end|>').calls, [{ name: 'a', arguments: { q: 'x' } }]);
  });

  it('JSON that is not a call is text', () => {
    invalid('{"answer": 42}');
    invalid('{"name": 5}');
    invalid('{"name": "f", "parameters": [1]}');
    invalid('{"name": "f", "parameters": {}, "arguments": {}}');
    invalid('{"name": "f", "arguments": "not json"}');
    invalid('{"name": "f"');
  });
});

describe('parseToolCalls: streaming prefixes', () => {
  it('a prefix of a call is incomplete, not invalid', () => {
    const text = '<|python_start|>[get_weather(city="Pa\\"ris", n=[1, 2.5], d={"k": True}), f()]';
    for (let i = 1; i < text.length; i++) {
      const r = parseToolCalls(text.slice(0, i), false);
      assert.equal(r.status, 'incomplete', `prefix ${JSON.stringify(text.slice(0, i))}`);
    }
    assert.equal(parseToolCalls(text, false).status, 'calls');
  });

  it('a JSON call stays incomplete until the text ends (another object may follow)', () => {
    assert.equal(parseToolCalls('{"name": "f", "parameters": {}}', false).status, 'incomplete');
    assert.equal(parseToolCalls('{"name": "f", "parameters": {}} Done', false).status, 'calls');
  });

  it('text that cannot become a call is invalid at once', () => {
    assert.equal(parseToolCalls('[1', false).status, 'invalid');
    assert.equal(parseToolCalls('[f x', false).status, 'invalid');
    assert.equal(parseToolCalls('Hello', false).status, 'invalid');
  });
});

describe('parsePythonLiteral', () => {
  it('parses and rejects', () => {
    assert.deepEqual(parsePythonLiteral(' {"a": [1, (2, 3)], \'b\': None} '), { a: [1, [2, 3]], b: null });
    assert.equal(parsePythonLiteral('"""multi\nline"""'), 'multi\nline');
    assert.equal(parsePythonLiteral("'\\d'"), '\\d'); // unknown escapes are kept
    assert.throws(() => parsePythonLiteral('[1, 2'));
    assert.throws(() => parsePythonLiteral('foo'));
    assert.throws(() => parsePythonLiteral('1 2'));
  });
});

describe('ToolCallStream', () => {
  /** Events with adjacent content merged, so different chunkings compare equal. */
  function normalize(events: ToolStreamEvent[]): ToolStreamEvent[] {
    const out: ToolStreamEvent[] = [];
    for (const e of events) {
      const last = out[out.length - 1];
      if (e.type === 'content' && last?.type === 'content') out[out.length - 1] = { type: 'content', text: last.text + e.text };
      else out.push(e);
    }
    return out;
  }
  const whole = (text: string, enabled = true, prefill = '') => { const s = new ToolCallStream(enabled, prefill); return normalize([...s.push(text), ...s.end()]); };
  const byChar = (text: string, enabled = true, prefill = '') => {
    const s = new ToolCallStream(enabled, prefill);
    const ev: ToolStreamEvent[] = [];
    for (const ch of text) ev.push(...s.push(ch));
    return normalize([...ev, ...s.end()]);
  };

  const cases = [
    'Plain answer, no tools.',
    '  [get_weather(city="Paris"), get_time(tz="CET")]',
    '<|python_start|>[f(a=1)]<|python_end|>',
    '[f(a=1)]<|python_end|> and some words',
    '{"name": "f", "parameters": {"a": 1}}',
    '{"name": "f", "parameters": {"a": 1}}; {"name": "g", "arguments": {}}',
    '[1, 2, 3] are numbers',
    '<|python_st',
    '{"not": "a call"}',
    '[f(a=1)',
  ];
  for (const text of cases) {
    it(`chunking does not matter: ${JSON.stringify(text)}`, () => {
      assert.deepEqual(byChar(text), whole(text));
    });
  }

  it('content streams through at once; a call is held back until complete', () => {
    const s = new ToolCallStream(true);
    assert.deepEqual(s.push('Hel'), [{ type: 'content', text: 'Hel' }]);
    assert.deepEqual(s.push('lo'), [{ type: 'content', text: 'lo' }]);
    const t = new ToolCallStream(true);
    assert.deepEqual(t.push('[f(a='), []);
    assert.deepEqual(t.push('1)'), []);
    assert.deepEqual(t.push(']'), [{ type: 'calls', calls: [{ name: 'f', arguments: { a: 1 } }] }]);
    assert.deepEqual(t.end(), []);
    assert.ok(t.called);
  });

  it('events: calls, then trailing text; disabled: all content', () => {
    assert.deepEqual(whole('[f(a=1)] done'), [{ type: 'calls', calls: [{ name: 'f', arguments: { a: 1 } }] }, { type: 'content', text: 'done' }]);
    assert.deepEqual(whole('[f(a=1)]', false), [{ type: 'content', text: '[f(a=1)]' }]);
  });

  it('a prefill is part of the call', () => {
    assert.deepEqual(whole('city="Paris")]', true, '[get_weather('), [{ type: 'calls', calls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] }]);
    assert.deepEqual(byChar('hello', true, '['), [{ type: 'content', text: '[hello' }]);
  });
});
