import { test } from 'node:test';
import assert from 'node:assert/strict';
import { feedBytes, feedUncached, matches, startMatcher, type Grammar, type Matcher } from '../../../src/generate/grammar/grammar.js';
import { jsonObjectGrammar, jsonSchemaGrammar, UnsupportedSchemaError } from '../../../src/generate/grammar/json-schema.js';
import { Xoshiro128StarStar } from '../../../src/generate/rng.js';

function check(g: Grammar, yes: string[], no: string[]): void {
  for (const s of yes) assert.ok(matches(g, s), `should match ${JSON.stringify(s)}`);
  for (const s of no) assert.ok(!matches(g, s), `should not match ${JSON.stringify(s)}`);
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

test('scalars: strings with escapes and UTF-8, numbers, integers, booleans, null', () => {
  check(jsonSchemaGrammar({ type: 'string' }),
    ['""', '"héllo ☃"', '"😀"', '"a\\"b"', '"\\\\ \\/ \\b \\f \\n \\r \\t"', '"\\u00e9\\uD83D\\uDE00"', '"\u007f"'],
    ['', '"', 'abc', '"a"b"', '"\\x"', '"\\u12G4"', '"\\u12"', '"line\nbreak"', '"tab\there"', ' "a"', '"a" ', '"a""b"']);
  // Malformed UTF-8 inside a string: a lone continuation byte, a truncated sequence, an overlong form.
  const str = jsonSchemaGrammar({ type: 'string' });
  for (const bad of [[0x22, 0x80, 0x22], [0x22, 0xe2, 0x98, 0x22], [0x22, 0xc0, 0xaf, 0x22], [0x22, 0xed, 0xa0, 0x80, 0x22]]) {
    assert.ok(!feedBytes(startMatcher(str), Uint8Array.from(bad))?.accepting, `bytes ${bad}`);
  }
  check(jsonSchemaGrammar({ type: 'number' }),
    ['0', '-0', '1', '-0.5e10', '3.14', '1E+5', '2e-7', '123456789012345', '0.000000000000001', '1.5e308'],
    ['01', '1.', '.5', '+1', '-', '1e', '1e+', '--1', '1.2.3', 'NaN', '1234567890123456', '1.1234567890123456', '1 ']);
  check(jsonSchemaGrammar({ type: 'integer' }),
    ['0', '-7', '42', '1234567890123456'],
    ['01', '1.0', '1e3', '-', '-01', '12345678901234567']);
  check(jsonSchemaGrammar({ type: 'boolean' }), ['true', 'false'], ['True', 'tru', 'null', '1']);
  check(jsonSchemaGrammar({ type: 'null' }), ['null'], ['None', 'nul', '""']);
  check(jsonSchemaGrammar({ type: ['integer', 'null'] }), ['1', 'null'], ['1.5', '"1"']);
  check(jsonSchemaGrammar({ type: 'string', nullable: true }), ['"x"', 'null'], ['1']);
});

test('string length bounds count characters, not bytes', () => {
  check(jsonSchemaGrammar({ type: 'string', minLength: 2, maxLength: 3 }),
    ['"ab"', '"abc"', '"é☃"', '"😀😀😀"', '"\\n\\u0041"'],
    ['"a"', '"abcd"', '"é"', '""', '"😀😀😀😀"']);
  assert.throws(() => jsonSchemaGrammar({ type: 'string', minLength: 5, maxLength: 2 }), UnsupportedSchemaError);
});

test('enum and const are written canonically', () => {
  check(jsonSchemaGrammar({ enum: ['red', 'green', 3, null, true, { a: [1] }] }),
    ['"red"', '"green"', '3', 'null', 'true', '{"a":[1]}'],
    ['"blue"', 'red', '3.0', '"3"', 'false', '{"a": [1]}', '"red" ']);
  check(jsonSchemaGrammar({ const: 'fixed' }), ['"fixed"'], ['"fixe"', '"fixedd"']);
  check(jsonSchemaGrammar({ type: 'string', enum: ['a'], nullable: true }), ['"a"', 'null'], ['"b"']);
});

test('whitespace: at most one space between tokens, none around the value', () => {
  const g = jsonSchemaGrammar({ type: 'object', properties: { a: { type: 'integer' }, b: { type: 'array', items: { type: 'integer' } } } });
  check(g,
    ['{"a": 1, "b": [1, 2]}', '{"a":1,"b":[1,2]}', '{ "a" : 1 , "b" : [ 1 , 2 ] }', '{}', '{ }', '{"b": []}', '{"b": [ ]}'],
    ['{"a":  1}', '{\n"a": 1}', '{"a":\t1}', ' {"a": 1}', '{"a": 1} ', '{  }', '[1]', '{"a": 1,}', '{"b": [1, 2, ]}', '{"b": [,]}']);
});

test('object properties: declared order, required present, every optional combination', () => {
  const g = jsonSchemaGrammar({
    type: 'object',
    properties: { a: { type: 'integer' }, b: { type: 'integer' }, c: { type: 'integer' } },
    required: ['b'],
  });
  check(g,
    ['{"b":1}', '{"a":1,"b":2}', '{"b":1,"c":2}', '{"a":1,"b":2,"c":3}', '{"a": 1, "b": 2, "c": 3}'],
    ['{"b":1,}', '{,"b":1}', '{"a":1}', '{"c":1}', '{}', '{"a":1,"c":3}', '{"b":1,"a":2}', '{"a":1,,"b":2}',
      '{"a":1"b":2}', '{"b":1,"d":2}', '{"b":1,"b":2}', '{"a":1,"b":2,"c":3,}']);

  const allOptional = jsonSchemaGrammar({ type: 'object', properties: { x: { type: 'null' }, y: { type: 'null' }, z: { type: 'null' } } });
  const names = ['x', 'y', 'z'];
  for (let mask = 0; mask < 8; mask++) {
    const present = names.filter((_, i) => mask & (1 << i));
    const text = `{${present.map((n) => `"${n}": null`).join(', ')}}`;
    assert.ok(matches(allOptional, text), text);
    if (present.length > 0) assert.ok(!matches(allOptional, `{${present.map((n) => `"${n}": null`).join(', ')},}`));
    if (present.length > 1) assert.ok(!matches(allOptional, `{${[...present].reverse().map((n) => `"${n}": null`).join(', ')}}`));
  }

  // Keys are written exactly, with '"' and '\' escaped.
  check(jsonSchemaGrammar({ properties: { 'say "hi"\\': { type: 'integer' } }, required: ['say "hi"\\'] }),
    ['{"say \\"hi\\"\\\\": 1}'], ['{"say "hi"\\": 1}', '{}']);
});

test('nested objects and arrays with min/maxItems and prefixItems', () => {
  const g = jsonSchemaGrammar({
    type: 'object',
    properties: {
      user: { type: 'object', properties: { name: { type: 'string' }, tags: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 3 } }, required: ['name', 'tags'] },
    },
    required: ['user'],
  });
  check(g,
    ['{"user": {"name": "Ann", "tags": ["a"]}}', '{"user":{"name":"","tags":["a","b","c"]}}'],
    ['{"user": {"name": "Ann", "tags": []}}', '{"user": {"name": "Ann", "tags": ["a", "b", "c", "d"]}}', '{"user": {"name": "Ann"}}',
      '{"user": {"tags": ["a"], "name": "Ann"}}', '{"user": {"name": 1, "tags": ["a"]}}']);

  const arr = (extra: object): Grammar => jsonSchemaGrammar({ type: 'array', items: { type: 'integer' }, ...extra });
  check(arr({}), ['[]', '[1]', '[1, 2, 3]', `[${Array(100).fill(7).join(',')}]`], ['[1,]', '[,1]', '["a"]', '[1 2]']);
  check(arr({ minItems: 2, maxItems: 4 }), ['[1,2]', '[1, 2, 3]', '[1,2,3,4]'], ['[]', '[1]', '[1,2,3,4,5]']);
  check(arr({ maxItems: 0 }), ['[]', '[ ]'], ['[1]']);
  check(arr({ minItems: 3 }), ['[1,2,3]', `[${Array(40).fill(1).join(',')}]`], ['[1,2]']);
  check(arr({ maxItems: 100000 }), [`[${Array(300).fill(1).join(',')}]`], []); // large bound: unbounded

  const tuple = jsonSchemaGrammar({ type: 'array', prefixItems: [{ type: 'string' }, { type: 'integer' }], items: false });
  check(tuple, ['[]', '["a"]', '["a", 1]'], ['[1]', '["a", "b"]', '["a", 1, 2]']);
  const tupleMore = jsonSchemaGrammar({ type: 'array', prefixItems: [{ type: 'string' }], items: { type: 'boolean' }, minItems: 2 });
  check(tupleMore, ['["a", true]', '["a", true, false]'], ['["a"]', '[true, true]', '["a", "b"]']);
});

test('anyOf / oneOf / allOf / $ref (recursive tree)', () => {
  const shapes = jsonSchemaGrammar({
    anyOf: [
      { type: 'object', properties: { kind: { const: 'circle' }, r: { type: 'number' } }, required: ['kind', 'r'] },
      { type: 'object', properties: { kind: { const: 'rect' }, w: { type: 'number' }, h: { type: 'number' } }, required: ['kind', 'w', 'h'] },
    ],
  });
  check(shapes, ['{"kind": "circle", "r": 1.5}', '{"kind": "rect", "w": 1, "h": 2}'],
    ['{"kind": "circle", "w": 1, "h": 2}', '{"kind": "rect", "r": 1}', '{"kind": "square"}']);
  check(jsonSchemaGrammar({ oneOf: [{ type: 'integer' }, { type: 'string', maxLength: 1 }] }), ['1', '"a"'], ['"ab"', 'true']);
  check(jsonSchemaGrammar({ allOf: [{ type: 'boolean' }], description: 'x' }), ['true'], ['1']);
  // Sibling keywords apply to every branch (merged properties, united required).
  check(jsonSchemaGrammar({
    type: 'object', properties: { id: { type: 'integer' } }, required: ['id'],
    anyOf: [{ properties: { a: { type: 'string' } }, required: ['a'] }, { properties: { b: { type: 'null' } } }],
  }), ['{"id": 1, "a": "x"}', '{"id": 1, "b": null}', '{"id": 1}'], ['{"a": "x"}', '{"id": 1, "a": null}']);

  const tree = jsonSchemaGrammar({
    $ref: '#/$defs/node',
    $defs: {
      node: {
        type: 'object',
        properties: { value: { type: 'integer' }, children: { type: 'array', items: { $ref: '#/$defs/node' } } },
        required: ['value'],
      },
    },
  });
  check(tree,
    ['{"value": 1}', '{"value": 1, "children": []}', '{"value": 1, "children": [{"value": 2, "children": [{"value": 3}]}, {"value": 4}]}'],
    ['{"value": 1, "children": [{}]}', '{"value": 1, "children": [{"value": "x"}]}', '{"children": []}']);
  check(jsonSchemaGrammar({ definitions: { n: { type: 'null' } }, type: 'array', items: { $ref: '#/definitions/n' } }), ['[null]'], ['[1]']);
  check(jsonSchemaGrammar({ type: 'object', properties: { next: { $ref: '#' } } }), ['{}', '{"next": {"next": {}}}'], ['{"next": 1}']);
});

test('additionalProperties: true, a schema, false, and the default', () => {
  const open = jsonSchemaGrammar({ type: 'object', properties: { a: { type: 'integer' } }, required: ['a'], additionalProperties: true });
  check(open, ['{"a": 1}', '{"a": 1, "b": [true, {"c": null}]}', '{"a": 1, "ab": 2, "": 3, "é": 4, "\\u0061x": 5}'],
    ['{"b": 1}', '{"b": 1, "a": 1}', '{"a": 1, "a": 2}', '{"a": 1, "b": 2,}']);
  const openOptional = jsonSchemaGrammar({ type: 'object', properties: { name: { type: 'string' } }, additionalProperties: true });
  check(openOptional, ['{}', '{"x": 1}', '{"name": "n", "x": 1}', '{"nam": 1, "names": 2}'], ['{"name": 1}', '{"x": 1, "name": "n"}']);
  const map = jsonSchemaGrammar({ type: 'object', additionalProperties: { type: 'number' } });
  check(map, ['{}', '{"x": 1, "y": 2.5}'], ['{"x": "1"}']);
  const closed = jsonSchemaGrammar({ type: 'object', additionalProperties: false });
  check(closed, ['{}', '{ }'], ['{"a": 1}']);
  const byDefault = jsonSchemaGrammar({ type: 'object', properties: { a: { type: 'integer' } } });
  check(byDefault, ['{}', '{"a": 1}'], ['{"b": 1}']);
  // A property required but not declared must be present, with any value.
  check(jsonSchemaGrammar({ type: 'object', properties: { a: { type: 'integer' } }, required: ['z'] }), ['{"z": [1]}', '{"a": 1, "z": "x"}'], ['{}', '{"a": 1}']);
});

test('json_object grammar and empty schemas take any object / value', () => {
  const obj = jsonObjectGrammar();
  check(obj, ['{}', '{"a": [1, {"b": null}], "c": "d"}', '{"k":{"k":{"k":{}}}}'], ['[]', '"s"', '1', 'null', '{"a"}', '{1: 2}', '']);
  for (const schema of [true, {}, { description: 'anything' }]) {
    check(jsonSchemaGrammar(schema), ['{}', '[]', '"s"', '1.5', 'null', 'false', '[{"a": []}]'], ['', 'nope', '[1,]']);
  }
});

test('unsupported and ignored keywords', () => {
  const fails = (schema: unknown, keyword: string, pointer: string): void => {
    assert.throws(() => jsonSchemaGrammar(schema), (err: unknown) => {
      assert.ok(err instanceof UnsupportedSchemaError, String(err));
      assert.equal(err.name, 'UnsupportedSchemaError');
      assert.equal(err.keyword, keyword);
      assert.equal(err.pointer, pointer);
      assert.ok(err.message.includes(keyword) && err.message.includes(pointer), err.message);
      return true;
    });
  };
  fails({ type: 'string', pattern: '^a$' }, 'pattern', '#/pattern');
  fails({ type: 'object', properties: { 'a/b': { type: 'string', pattern: 'x' } } }, 'pattern', '#/properties/a~1b/pattern');
  fails({ type: 'object', patternProperties: { '^x': {} } }, 'patternProperties', '#/patternProperties');
  fails({ allOf: [{ type: 'string' }, { minLength: 1 }] }, 'allOf', '#/allOf');
  fails({ $ref: 'https://example.com/schema.json' }, '$ref', '#/$ref');
  fails({ $ref: '#/$defs/missing' }, '$ref', '#/$ref');
  fails({ $ref: '#/$defs/a', $defs: { a: { anyOf: [{ $ref: '#/$defs/a' }, { type: 'null' }] } } }, '$ref', '#');
  fails(false, 'false', '#');
  fails({ type: 'date' }, 'type', '#/type');

  const lax = jsonSchemaGrammar({
    type: 'object',
    properties: {
      n: { type: 'integer', minimum: 0, maximum: 10, multipleOf: 2 },
      s: { type: 'string', format: 'date-time', title: 'S', default: 'x', examples: ['y'] },
      l: { type: 'array', uniqueItems: true, items: { not: { type: 'null' } } },
    },
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'urn:x',
  });
  check(lax, ['{"n": 99, "s": "whenever", "l": [1, 1]}'], ['{"n": "1"}']);
});

// ── fuzz: random values of a schema must match; mutations that break JSON must not ─────────────

const FUZZ_SCHEMA = {
  $defs: {
    node: {
      type: 'object',
      properties: { label: { type: 'string', maxLength: 6 }, children: { type: 'array', items: { $ref: '#/$defs/node' }, maxItems: 3 } },
      required: ['label'],
    },
  },
  type: 'object',
  properties: {
    id: { type: 'integer' },
    name: { type: 'string', minLength: 1, maxLength: 12 },
    score: { type: 'number' },
    active: { type: 'boolean' },
    tags: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 4 },
    kind: { enum: ['a', 'b c', 3, null] },
    note: { type: ['string', 'null'] },
    point: { type: 'array', prefixItems: [{ type: 'number' }, { type: 'number' }], items: false, minItems: 2 },
    shape: {
      anyOf: [
        { type: 'object', properties: { circle: { type: 'number' } }, required: ['circle'] },
        { type: 'object', properties: { w: { type: 'integer' }, h: { type: 'integer' } }, required: ['w', 'h'] },
      ],
    },
    tree: { $ref: '#/$defs/node' },
    meta: { type: 'object', additionalProperties: { type: 'integer' } },
  },
  required: ['id', 'name', 'tree'],
} as const;

type S = Record<string, any>;

class ValueGen {
  constructor(private readonly rng: Xoshiro128StarStar, private readonly root: S) {}
  private int(n: number): number { return this.rng.nextUint32() % n; }
  private chance(p: number): boolean { return this.rng.nextFloat() < p; }

  value(s: S, depth = 0): unknown {
    if (s.$ref) return this.value(this.root.$defs[s.$ref.split('/').pop()], depth + 1);
    if (s.enum) return s.enum[this.int(s.enum.length)];
    if (s.anyOf) return this.value(s.anyOf[this.int(s.anyOf.length)], depth);
    const type = Array.isArray(s.type) ? s.type[this.int(s.type.length)] : s.type;
    switch (type) {
      case 'integer': return (this.int(2) ? -1 : 1) * this.int(10 ** (1 + this.int(9)));
      case 'number': {
        // Built from text so that JSON.stringify prints few digits (float products print 17), and
        // below 1e12 (JSON.stringify writes integers up to 1e21 digit by digit; runs are ≤ 15).
        const mantissa = ((this.rng.nextFloat() - 0.5) * 20).toFixed(this.int(4));
        return Number(this.chance(0.3) ? `${mantissa}e${this.int(42) - 30}` : mantissa);
      }
      case 'boolean': return this.chance(0.5);
      case 'null': return null;
      case 'string': return this.string(s.minLength ?? 0, s.maxLength ?? 10);
      case 'array': {
        const prefix: S[] = s.prefixItems ?? [];
        const max = Math.min(s.maxItems ?? 5, depth > 3 ? 0 : 5);
        const n = prefix.length > 0 && s.items === false ? prefix.length : (s.minItems ?? 0) + this.int(Math.max(1, max - (s.minItems ?? 0) + 1));
        return Array.from({ length: Math.max(n, s.minItems ?? 0) }, (_, i) => this.value(prefix[i] ?? s.items, depth + 1));
      }
      case 'object': {
        const out: Record<string, unknown> = {};
        for (const [k, sub] of Object.entries<S>(s.properties ?? {})) {
          if ((s.required ?? []).includes(k) || this.chance(0.5)) out[k] = this.value(sub, depth + 1);
        }
        if (s.additionalProperties) for (let i = this.int(3); i > 0; i--) out[this.string(1, 5)] = this.value(s.additionalProperties, depth + 1);
        return out;
      }
      default: throw new Error(`generator: ${JSON.stringify(s)}`);
    }
  }

  private string(min: number, max: number): string {
    const pool = ['a', 'Z', '0', ' ', '"', '\\', '\n', '\t', '/', 'é', '☃', '😀', '\u0007', '\u007f', '<', '}'];
    let s = '';
    for (let n = min + this.int(max - min + 1); n > 0; n--) s += pool[this.int(pool.length)];
    return s;
  }
}

/** JSON with one space after ':' and ',' (the other layout the grammar allows). */
function spaced(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(spaced).join(', ')}]`;
  if (typeof v === 'object' && v !== null) return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${spaced(x)}`).join(', ')}}`;
  return JSON.stringify(v);
}

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

test('fuzz: 200 random values of a schema match; mutations that break the JSON do not', () => {
  const g = jsonSchemaGrammar(FUZZ_SCHEMA);
  const rng = Xoshiro128StarStar.fromSeed(2024);
  const gen = new ValueGen(rng, FUZZ_SCHEMA as S);
  const mutationChars = [...'{}[]",:0123456789.-eE ntrufalsx\\'];
  let invalidMutants = 0;
  for (let i = 0; i < 200; i++) {
    const v = gen.value(FUZZ_SCHEMA as S);
    const compact = JSON.stringify(v);
    assert.ok(matches(g, compact), `value ${i}: ${compact}`);
    assert.ok(matches(g, spaced(v)), `value ${i} spaced: ${spaced(v)}`);
    for (let k = 0; k < 5; k++) {
      const at = rng.nextUint32() % compact.length;
      const c = mutationChars[rng.nextUint32() % mutationChars.length];
      const op = rng.nextUint32() % 3;
      const mutant = op === 0 ? compact.slice(0, at) + c + compact.slice(at + 1)
        : op === 1 ? compact.slice(0, at) + compact.slice(at + 1)
          : compact.slice(0, at) + c + compact.slice(at);
      const ok = matches(g, mutant);
      if (!parses(mutant)) {
        invalidMutants++;
        assert.ok(!ok, `invalid JSON matched: ${mutant}`);
      } else if (ok) {
        assert.ok(parses(mutant)); // whatever the grammar takes is JSON
      }
    }
  }
  assert.ok(invalidMutants > 300, `only ${invalidMutants} invalid mutants were tried`);
});

// ── speed (printed, not asserted: timings depend on the machine) ──────────────────────────────

function walk(base: Matcher, strings: Uint8Array[], feed: (m: Matcher, b: number) => Matcher | null): { feeds: number; us: number } {
  let feeds = 0;
  const t0 = process.hrtime.bigint();
  for (const s of strings) {
    let m: Matcher | null = base;
    for (let i = 0; i < s.length && m !== null; i++, feeds++) m = feed(m, s[i]);
  }
  const us = Number(process.hrtime.bigint() - t0) / 1000;
  return { feeds, us: us / feeds };
}

test('timing: µs per feed() walking 100,000 random ASCII strings (printed)', () => {
  const rng = Xoshiro128StarStar.fromSeed(7);
  const strings = Array.from({ length: 100_000 }, () =>
    Uint8Array.from({ length: 1 + (rng.nextUint32() % 8) }, () => 0x20 + (rng.nextUint32() % 95)));
  const schema = {
    type: 'object',
    properties: { name: { type: 'string' }, age: { type: 'integer' }, email: { type: 'string' }, tags: { type: 'array', items: { type: 'string' } } },
    additionalProperties: true,
  };
  const states: [string, string][] = [['string content', '{"name": "ab'], ['object key', '{"']];
  // Round 0 only warms up the JIT; each round compiles fresh grammars, so caches start empty.
  for (const [round, label, prefix] of [0, 1].flatMap((r) => states.map(([l, p]) => [r, l, p] as const))) {
    const g = jsonSchemaGrammar(schema);
    const base = feedBytes(startMatcher(g), enc(prefix));
    assert.ok(base !== null);
    const cold = walk(base, strings, (m, b) => m.feed(b));
    const warm = walk(base, strings, (m, b) => m.feed(b));
    const uncached = walk(base, strings, feedUncached);
    if (round === 1) console.log(`grammar feed, ${label} state: ${cold.us.toFixed(3)} µs/feed on the first walk (filling the transition cache), `
      + `${warm.us.toFixed(3)} cached, ${uncached.us.toFixed(3)} uncached (${warm.feeds} feeds)`);
  }
});
