import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matches, type Grammar } from '../../../src/generate/grammar/grammar.js';
import { UnsupportedSchemaError } from '../../../src/generate/grammar/json-schema.js';
import { pythonicToolCallGrammar, type ToolSpec } from '../../../src/generate/grammar/tool-calls.js';
import { parseToolCalls } from '../../../src/server/tool-calls.js';
import { Llama4Error } from '../../../src/errors.js';

function check(g: Grammar, yes: string[], no: string[]): void {
  for (const s of yes) assert.ok(matches(g, s), `should match ${JSON.stringify(s)}`);
  for (const s of no) assert.ok(!matches(g, s), `should not match ${JSON.stringify(s)}`);
}

const TOOLS: ToolSpec[] = [
  {
    name: 'get_weather',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer' } },
      required: ['city'],
    },
  },
  { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } }, required: ['tz'] } },
  { name: 'f' },
  { name: 'g', parameters: { type: 'object', properties: {} } },
  {
    name: 'configure',
    parameters: {
      type: 'object',
      properties: {
        verbose: { type: 'boolean' },
        limit: { type: ['number', 'null'] },
        ids: { type: 'array', items: { type: 'integer' } },
        options: { type: 'object', properties: { deep: { type: 'boolean' }, names: { type: 'array', items: { type: 'string' } } }, required: ['deep'] },
        anything: {},
      },
      required: ['verbose'],
    },
  },
];

test('single calls with keyword arguments in declared order', () => {
  const g = pythonicToolCallGrammar(TOOLS, { parallel: false });
  check(g,
    ['[get_weather(city="Paris")]', '[get_weather(city="Paris", unit="celsius")]', '[get_weather(city="Paris",unit="celsius",days=3)]',
      '[get_weather(city="Zürich ☃", days=-2)]', '[get_time(tz="UTC")]', '[f()]', '[g()]'],
    ['[get_weather(city="Paris", unit="celsius"), get_time(tz="UTC")]', // one call only when not parallel
      '[get_weather(unit="celsius", city="Paris")]', // declared order
      '[get_weather()]', '[get_weather(unit="celsius")]', // missing required
      '[get_weather(city="Paris", country="FR")]', // unknown argument
      '[get_weather(city=Paris)]', '[get_weather(city="Paris", days="3")]', '[get_weather(city="Paris", unit="kelvin")]', // wrong values
      '[get_weather(city = "Paris")]', '[get_weather(city="Paris",  days=3)]', '[get_weather(city="Paris" , days=3)]', // spacing
      '[get_weather(city="Paris",)]', '[get_weather("Paris")]', '[get_wether(city="Paris")]', '[h()]', '[f(x=1)]',
      '[]', '', 'get_time(tz="UTC")', '[f()] ', ' [f()]', '[f(),]', '[ f()]']);
});

test('parallel calls: one or more, comma and at most one space between', () => {
  const g = pythonicToolCallGrammar(TOOLS, { parallel: true });
  check(g,
    ['[get_weather(city="Paris", unit="celsius"), get_time(tz="UTC")]', '[f(),f(),g()]', '[get_time(tz="UTC")]', '[f(), f(), f(), f()]'],
    ['[]', '[f(), ]', '[f(),]', '[f()  , f()]', '[f(),  f()]', '[f() f()]', '[f()][g()]', '[f(), unknown()]']);
});

test('Python literal values: True/False/None, lists and dicts per the nested schema', () => {
  const g = pythonicToolCallGrammar(TOOLS, { parallel: false });
  check(g,
    ['[configure(verbose=True)]', '[configure(verbose=False, limit=None)]', '[configure(verbose=True, limit=2.5)]',
      '[configure(verbose=True, ids=[1, 2, 3])]', '[configure(verbose=True, ids=[])]',
      '[configure(verbose=True, options={"deep": True, "names": ["a", "b"]})]',
      '[configure(verbose=False, anything={"k": [None, True, {"x": 1.5}]})]', '[configure(verbose=True, anything="s")]'],
    ['[configure(verbose=true)]', '[configure(verbose=1)]', '[configure(verbose=True, limit=null)]', '[configure(verbose=True, limit=none)]',
      '[configure(verbose=True, ids=[1.5])]', '[configure(verbose=True, ids=(1, 2))]',
      '[configure(verbose=True, options={"names": []})]', '[configure(verbose=True, options={"deep": true})]',
      '[configure(verbose=True, options={deep: True})]', '[configure(verbose=True, anything={"k": null})]', '[configure(limit=1)]']);
});

test('every call the grammar takes is one the server parser reads back', () => {
  const g = pythonicToolCallGrammar(TOOLS, { parallel: true });
  const text = '[get_weather(city="Paris", unit="celsius"), configure(verbose=True, limit=None, options={"deep": False, "names": ["x"]})]';
  assert.ok(matches(g, text));
  const parsed = parseToolCalls(text, true);
  assert.equal(parsed.status, 'calls');
  if (parsed.status === 'calls') {
    assert.deepEqual(parsed.calls, [
      { name: 'get_weather', arguments: { city: 'Paris', unit: 'celsius' } },
      { name: 'configure', arguments: { verbose: true, limit: null, options: { deep: false, names: ['x'] } } },
    ]);
  }
});

test('bad tool lists and schemas are refused with descriptive errors', () => {
  assert.throws(() => pythonicToolCallGrammar([], { parallel: true }), Llama4Error);
  assert.throws(() => pythonicToolCallGrammar([{ name: 'bad name' }], { parallel: true }), /tools\[0\] has no usable name/);
  assert.throws(
    () => pythonicToolCallGrammar([{ name: 'f' }, { name: 'h', parameters: { type: 'object', properties: { s: { type: 'string', pattern: 'a+' } } } }], { parallel: true }),
    (err: unknown) => err instanceof UnsupportedSchemaError && err.pointer === 'tools[1].parameters#/properties/s/pattern',
  );
  assert.throws(() => pythonicToolCallGrammar([{ name: 'h', parameters: { type: 'object', properties: { 'not-an-identifier': {} } } }], { parallel: true }),
    UnsupportedSchemaError);
});
