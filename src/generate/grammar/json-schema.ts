/**
 * JSON Schema (a draft 2020-12 subset) → {@link Grammar} of the text a model may write for it,
 * in one of two literal dialects that share everything but their keywords:
 *   json    true / false / null, objects {"k": v}
 *   python  True / False / None, dicts {"k": v}   (Llama 4's pythonic tool-call arguments)
 *
 * Layout is fixed so that generation is short and cannot wander: at most one optional space
 * between structural tokens (`{"a": 1, "b": [1, 2]}` and `{"a":1,"b":[1,2]}` both match, a
 * newline never does), declared properties in the schema's order, digit runs of at most
 * {@link MAX_DIGITS} digits.
 *
 *   const g = jsonSchemaGrammar({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] });
 *   matches(g, '{"city": "Paris"}');   // true
 */
import {
  GrammarBuilder, GrammarError, EMPTY, alt, bytes, bytesExcept, chars, lit, opt, rep, seq, star,
  type BytesExpr, type Expr, type Grammar, type Rule,
} from './grammar.js';

/** A schema feature this compiler does not support, and where it is. */
export class UnsupportedSchemaError extends Error {
  constructor(readonly keyword: string, readonly pointer: string, detail = '') {
    super(`unsupported JSON Schema keyword "${keyword}" at ${pointer}${detail ? `: ${detail}` : ''}`);
    this.name = 'UnsupportedSchemaError';
  }
}

export type LiteralDialect = 'json' | 'python';

/** Longest digit run in a number: enough for any float's significant digits, and finite. */
export const MAX_DIGITS = 15;
/** Bounds above this (maxItems, maxLength) are treated as unbounded; minimums above it fail. */
export const MAX_BOUND = 256;

const KEYWORDS: Record<LiteralDialect, { true: string; false: string; null: string }> = {
  json: { true: 'true', false: 'false', null: 'null' },
  python: { true: 'True', false: 'False', null: 'None' },
};

// ── lexical pieces (shared expression objects, compiled once per grammar) ─────────────────────

/** At most one optional space between structural tokens. */
export const WS = opt(lit(' '));
const COMMA = seq(WS, lit(','), WS);
const COLON = seq(WS, lit(':'), WS);

const DIGIT = bytes([0x30, 0x39]);
const NONZERO = bytes([0x31, 0x39]);
const HEX = bytes([0x30, 0x39], [0x41, 0x46], [0x61, 0x66]);
const MINUS = opt(lit('-'));

export const INTEGER = seq(MINUS, alt(lit('0'), seq(NONZERO, rep(DIGIT, 0, MAX_DIGITS))));
export const NUMBER = seq(
  MINUS,
  alt(lit('0'), seq(NONZERO, rep(DIGIT, 0, MAX_DIGITS - 1))),
  opt(seq(lit('.'), rep(DIGIT, 1, MAX_DIGITS))),
  opt(seq(chars('eE'), opt(chars('+-')), rep(DIGIT, 1, MAX_DIGITS))),
);

const CONT = bytes([0x80, 0xbf]);
/**
 * One string character, by its first byte: unescaped printable ASCII, a well-formed UTF-8
 * sequence (so a constrained model can never write broken UTF-8), or an escape. Kept as a list
 * so that key exclusion ({@link stringExcept}) can drop branches by first byte.
 */
const CHAR_BRANCHES: readonly { first: BytesExpr; rest: Expr }[] = [
  { first: bytesExcept(bytes([0x20, 0x7f]), [0x22, 0x5c]), rest: EMPTY },
  { first: bytes([0xc2, 0xdf]), rest: CONT },
  { first: bytes(0xe0), rest: seq(bytes([0xa0, 0xbf]), CONT) },
  { first: bytes([0xe1, 0xec], [0xee, 0xef]), rest: seq(CONT, CONT) },
  { first: bytes(0xed), rest: seq(bytes([0x80, 0x9f]), CONT) },
  { first: bytes(0xf0), rest: seq(bytes([0x90, 0xbf]), CONT, CONT) },
  { first: bytes([0xf1, 0xf3]), rest: seq(CONT, CONT, CONT) },
  { first: bytes(0xf4), rest: seq(bytes([0x80, 0x8f]), CONT, CONT) },
  { first: bytes(0x5c), rest: alt(chars('"\\/bfnrt'), seq(lit('u'), HEX, HEX, HEX, HEX)) },
];
const STRING_CHAR = alt(...CHAR_BRANCHES.map((b) => seq(b.first, b.rest)));
const QUOTE = lit('"');
export const STRING = seq(QUOTE, star(STRING_CHAR), QUOTE);

// ── the compiler ──────────────────────────────────────────────────────────────────────────────

/** One declared property (or keyword argument): its rendered key-value expression. */
export interface Member {
  readonly name: string;
  readonly required: boolean;
  readonly value: Expr;
}

type Schema = Record<string, unknown>;

/** Keywords that change nothing about the text (annotations and identifiers). */
const ANNOTATIONS = new Set([
  'description', 'title', 'default', 'examples', 'example', '$schema', '$id', '$comment', '$defs', 'definitions',
  'deprecated', 'readOnly', 'writeOnly', 'format', '$anchor',
]);
/** Keywords that constrain values but that a grammar cannot express: failing beats ignoring. */
const UNSUPPORTED = ['pattern', 'patternProperties'];

/**
 * Compiles schemas of one root document (for `$ref`) into expressions of one builder.
 * `where` prefixes the JSON pointers in error messages (e.g. which tool's parameters).
 */
export class SchemaCompiler {
  private readonly refs = new Map<string, Rule>();
  private anyRule: Rule | undefined;
  private readonly kw: { true: string; false: string; null: string };

  constructor(
    private readonly b: GrammarBuilder,
    private readonly root: unknown,
    readonly dialect: LiteralDialect,
    private readonly where = '',
  ) {
    this.kw = KEYWORDS[dialect];
  }

  /** The text of one value valid for `schema`, at JSON pointer `ptr` of the root. */
  value(schema: unknown, ptr: string): Expr {
    if (schema === true) return this.any();
    if (schema === false) throw this.unsupported('false', ptr, 'a schema that matches nothing');
    if (!isObject(schema)) throw this.unsupported('(schema)', ptr, `expected an object or boolean, got ${JSON.stringify(schema)}`);
    for (const k of UNSUPPORTED) if (k in schema) throw this.unsupported(k, `${ptr}/${k}`);
    const nullable = schema.nullable === true;
    const withNull = (e: Expr): Expr => (nullable ? alt(e, lit(this.kw.null)) : e);

    if (typeof schema.$ref === 'string') return withNull(this.ref(schema.$ref, `${ptr}/$ref`));
    if ('const' in schema) return withNull(this.literal(schema.const, `${ptr}/const`));
    if ('enum' in schema) {
      const values = schema.enum;
      if (!Array.isArray(values) || values.length === 0) throw this.unsupported('enum', `${ptr}/enum`, 'expected a non-empty array');
      return withNull(alt(...values.map((v, i) => this.literal(v, `${ptr}/enum/${i}`))));
    }
    for (const key of ['anyOf', 'oneOf'] as const) {
      if (key in schema) {
        const branches = schema[key];
        if (!Array.isArray(branches) || branches.length === 0) throw this.unsupported(key, `${ptr}/${key}`, 'expected a non-empty array');
        const rest = without(without(schema, key), 'nullable'); // applied once, below
        return withNull(alt(...branches.map((br, i) => this.value(this.merge(rest, br, `${ptr}/${key}/${i}`), `${ptr}/${key}/${i}`))));
      }
    }
    if ('allOf' in schema) {
      const parts = schema.allOf;
      if (!Array.isArray(parts) || parts.length !== 1) throw this.unsupported('allOf', `${ptr}/allOf`, 'only a single-element allOf is supported');
      return withNull(this.value(this.merge(without(without(schema, 'allOf'), 'nullable'), parts[0], `${ptr}/allOf/0`), `${ptr}/allOf/0`));
    }

    const types = typesOf(schema, ptr, (p, d) => this.unsupported('type', p, d));
    if (types === null) return withNull(this.any());
    if (nullable) types.add('null');
    if (types.has('number')) types.delete('integer');
    return alt(...[...types].map((t) => this.typed(t, schema, ptr)));
  }

  /** Declared properties of an object schema, in declared order, then required-but-undeclared. */
  members(schema: Schema, ptr: string): Member[] {
    const props = schema.properties;
    if (props !== undefined && !isObject(props)) throw this.unsupported('properties', `${ptr}/properties`, 'expected an object');
    const requiredList = schema.required ?? [];
    if (!Array.isArray(requiredList) || !requiredList.every((r) => typeof r === 'string')) {
      throw this.unsupported('required', `${ptr}/required`, 'expected an array of strings');
    }
    const required = new Set<string>(requiredList);
    const out: Member[] = [];
    for (const [name, sub] of Object.entries(props ?? {})) {
      const at = `${ptr}/properties/${escapePointer(name)}`;
      if (sub === false) {
        // A property that may not appear: omit it (unless it is also required: unsatisfiable).
        if (required.has(name)) throw this.unsupported('required', at, `"${name}" is required but its schema is false`);
        continue;
      }
      out.push({ name, required: required.has(name), value: this.value(sub, at) });
    }
    const extra = schema.additionalProperties;
    for (const name of required) {
      if (props !== undefined && Object.hasOwn(props, name)) continue;
      const value = isObject(extra) ? this.value(extra, `${ptr}/additionalProperties`) : this.any();
      out.push({ name, required: true, value });
    }
    return out;
  }

  private typed(type: string, schema: Schema, ptr: string): Expr {
    switch (type) {
      case 'string': return this.string(schema, ptr);
      case 'number': return NUMBER;
      case 'integer': return INTEGER;
      case 'boolean': return alt(lit(this.kw.true), lit(this.kw.false));
      case 'null': return lit(this.kw.null);
      case 'object': return this.object(schema, ptr);
      case 'array': return this.array(schema, ptr);
      default: throw this.unsupported('type', `${ptr}/type`, `unknown type ${JSON.stringify(type)}`);
    }
  }

  private string(schema: Schema, ptr: string): Expr {
    const min = this.bound(schema, 'minLength', ptr) ?? 0;
    const max = this.bound(schema, 'maxLength', ptr) ?? Infinity;
    if (min > max) throw this.unsupported('minLength', `${ptr}/minLength`, `minLength ${min} > maxLength ${max}`);
    if (min === 0 && max === Infinity) return STRING;
    return seq(QUOTE, rep(STRING_CHAR, min, max), QUOTE);
  }

  private object(schema: Schema, ptr: string): Expr {
    const members = this.members(schema, ptr);
    const declared = schema.properties !== undefined;
    const extra = schema.additionalProperties;
    let extraValue: Expr | null;
    if (extra === false) extraValue = null;
    else if (extra === true) extraValue = this.any();
    else if (extra === undefined) extraValue = declared ? null : this.any();
    else extraValue = this.value(extra, `${ptr}/additionalProperties`);
    const extraMember = extraValue === null
      ? null
      : seq(members.length === 0 ? STRING : stringExcept(members.map((m) => m.name)), COLON, extraValue);
    const pairs = members.map((m) => ({ ...m, value: seq(lit(JSON.stringify(m.name)), COLON, m.value) }));
    return bracketed('{', memberList(this.b, pairs, COMMA, extraMember, ptr), '}');
  }

  private array(schema: Schema, ptr: string): Expr {
    let prefix: unknown[] = [];
    let items: unknown = schema.items;
    if (Array.isArray(schema.prefixItems)) prefix = schema.prefixItems;
    else if (schema.prefixItems !== undefined) throw this.unsupported('prefixItems', `${ptr}/prefixItems`, 'expected an array');
    if (Array.isArray(items)) {
      // Draft 4–2019 tuple form: items: [...], additionalItems.
      prefix = items;
      items = schema.additionalItems;
    }
    const min = this.bound(schema, 'minItems', ptr) ?? 0;
    const max = Math.min(this.bound(schema, 'maxItems', ptr) ?? Infinity, items === false ? prefix.length : Infinity);
    if (min > max) throw this.unsupported('minItems', `${ptr}/minItems`, `at least ${min} items, but at most ${max} are possible`);
    const itemPtr = Array.isArray(schema.items) ? `${ptr}/additionalItems` : `${ptr}/items`;
    const prefixPtr = Array.isArray(schema.items) ? `${ptr}/items` : `${ptr}/prefixItems`;
    const element = (i: number): Expr =>
      i < prefix.length ? this.value(prefix[i], `${prefixPtr}/${i}`) : this.value(items ?? true, itemPtr);
    // Elements from position i on, each after a comma (positions ≥ min may be absent).
    const tail = (i: number): Expr => {
      if (i >= max) return EMPTY;
      if (i >= prefix.length) return rep(seq(COMMA, element(i)), Math.max(0, min - i), max - i);
      const part = seq(COMMA, element(i), tail(i + 1));
      return i >= min ? opt(part) : part;
    };
    if (max === 0) return seq(lit('['), WS, lit(']'));
    const body = { nonEmpty: seq(element(0), tail(1)), canBeEmpty: min === 0 };
    return bracketed('[', body, ']');
  }

  /** A non-negative integer keyword, with bounds above {@link MAX_BOUND} treated as absent (max) or refused (min). */
  private bound(schema: Schema, key: string, ptr: string): number | undefined {
    const v = schema[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw this.unsupported(key, `${ptr}/${key}`, 'expected a non-negative integer');
    if (v <= MAX_BOUND) return v;
    if (key.startsWith('max')) return undefined;
    throw this.unsupported(key, `${ptr}/${key}`, `bounds above ${MAX_BOUND} are not supported`);
  }

  /** Any value of the dialect (one recursive rule per compiler). */
  any(): Expr {
    if (this.anyRule !== undefined) return this.anyRule;
    const value = this.anyRule = this.b.rule(`any-${this.dialect}`);
    const member = seq(STRING, COLON, value);
    this.b.define(value, alt(
      bracketed('{', { nonEmpty: seq(member, star(seq(COMMA, member))), canBeEmpty: true }, '}'),
      bracketed('[', { nonEmpty: seq(value, star(seq(COMMA, value))), canBeEmpty: true }, ']'),
      STRING, NUMBER, lit(this.kw.true), lit(this.kw.false), lit(this.kw.null),
    ));
    return value;
  }

  /** Any object of the dialect. */
  anyObject(): Expr {
    return this.value({ type: 'object' }, '#');
  }

  /** An `enum`/`const` value written canonically. */
  private literal(v: unknown, ptr: string): Expr {
    const text = this.dialect === 'json' ? JSON.stringify(v) : pythonLiteral(v);
    if (text === undefined) throw this.unsupported(ptr.endsWith('const') ? 'const' : 'enum', ptr, 'not a JSON value');
    return lit(text);
  }

  /** The rule of a local `$ref` (one per target, defined on first use, so refs may recurse). */
  private ref(ref: string, ptr: string): Expr {
    const known = this.refs.get(ref);
    if (known !== undefined) return known;
    if (!ref.startsWith('#')) throw this.unsupported('$ref', ptr, `only local references (#/$defs/…) are supported, got ${JSON.stringify(ref)}`);
    const target = this.resolve(ref, ptr);
    const rule = this.b.rule(`ref ${ref}`);
    this.refs.set(ref, rule);
    this.b.define(rule, this.value(target, ref));
    return rule;
  }

  private resolve(ref: string, ptr: string): unknown {
    let node: unknown = this.root;
    const path = ref.slice(1);
    if (path === '') return node;
    if (!path.startsWith('/')) throw this.unsupported('$ref', ptr, `unsupported reference ${JSON.stringify(ref)}`);
    for (const raw of path.slice(1).split('/')) {
      const part = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      if (!isObject(node) && !Array.isArray(node)) node = undefined;
      else node = Object.hasOwn(node, part) ? (node as Record<string, unknown>)[part] : undefined;
      if (node === undefined) throw this.unsupported('$ref', ptr, `${JSON.stringify(ref)} does not resolve`);
    }
    return node;
  }

  /**
   * `parent` (without the combinator) ∧ `branch`, approximated by a shallow merge: the branch's
   * keywords win, `properties` are merged and `required` united. Exact when they constrain
   * different things, which is how schemas use sibling keywords in practice.
   */
  private merge(parent: Schema, branch: unknown, ptr: string): unknown {
    if (!Object.keys(parent).some((k) => !ANNOTATIONS.has(k) && k !== 'nullable')) return branch;
    let b = branch;
    if (isObject(b) && typeof b.$ref === 'string') b = { ...without(b, '$ref'), ...(this.resolve(b.$ref, `${ptr}/$ref`) as object) };
    if (b === true) return parent;
    if (!isObject(b)) return b;
    const merged: Schema = { ...parent, ...b };
    if (isObject(parent.properties) && isObject(b.properties)) merged.properties = { ...parent.properties, ...b.properties };
    if (Array.isArray(parent.required) && Array.isArray(b.required)) merged.required = [...new Set([...parent.required, ...b.required])];
    return merged;
  }

  private unsupported(keyword: string, ptr: string, detail = ''): UnsupportedSchemaError {
    return new UnsupportedSchemaError(keyword, `${this.where}${ptr}`, detail);
  }
}

/** The set of types a schema allows, or null for any value. Types are inferred from keywords
 * when `type` is absent (a schema with `properties` means an object), as model APIs expect. */
function typesOf(schema: Schema, ptr: string, fail: (ptr: string, detail: string) => Error): Set<string> | null {
  const t = schema.type;
  if (typeof t === 'string') return new Set([t]);
  if (Array.isArray(t)) {
    if (t.length === 0 || !t.every((x) => typeof x === 'string')) throw fail(`${ptr}/type`, 'expected a type name or a non-empty array of them');
    return new Set(t as string[]);
  }
  if (t !== undefined) throw fail(`${ptr}/type`, 'expected a type name or an array of them');
  if (['properties', 'additionalProperties', 'required'].some((k) => k in schema)) return new Set(['object']);
  if (['items', 'prefixItems', 'minItems', 'maxItems'].some((k) => k in schema)) return new Set(['array']);
  if (['minLength', 'maxLength'].some((k) => k in schema)) return new Set(['string']);
  return null;
}

/**
 * Members with separators, for every combination of optional members: declared ones in order
 * (required present, optional skippable), then any number of `extra` members. With F_i = the
 * list from member i on, not empty, starting without a separator, and R_i = the members from i
 * on, each after a separator:
 *   F_i = m_i R_{i+1} | F_{i+1}  (the second only when m_i is optional)
 *   R_i = (sep m_i) R_{i+1}      (the group optional when m_i is)
 *   F_n = extra R_n,  R_n = (sep extra)*   (F_n matches nothing, R_n is empty without extras)
 * Each R_i is one rule, so the grammar stays linear in the number of members.
 */
export function memberList(
  b: GrammarBuilder, members: readonly Member[], sep: Expr, extra: Expr | null, name: string,
): { nonEmpty: Expr | null; canBeEmpty: boolean } {
  let rest: Expr = extra === null ? EMPTY : star(seq(sep, extra));
  let first: Expr | null = extra === null ? null : seq(extra, rest);
  for (let i = members.length - 1; i >= 0; i--) {
    const m = members[i];
    const withFirst = seq(m.value, rest);
    first = m.required || first === null ? withFirst : alt(withFirst, first);
    const part = seq(sep, m.value);
    rest = b.named(`${name} members ${i}…`, seq(m.required ? part : opt(part), rest));
  }
  return { nonEmpty: first, canBeEmpty: members.every((m) => !m.required) };
}

/** `open` body `close` with one optional space inside each bracket; `open close` when empty. */
function bracketed(open: string, body: { nonEmpty: Expr | null; canBeEmpty: boolean }, close: string): Expr {
  if (body.nonEmpty === null) return seq(lit(open), WS, lit(close));
  const inner = seq(body.nonEmpty, WS);
  return seq(lit(open), WS, body.canBeEmpty ? opt(inner) : inner, lit(close));
}

/**
 * A JSON string that is none of `names` (so extra properties cannot repeat a declared key),
 * compared as written: a trie of the names' characters, where each node may close the string
 * (unless it ends a name), continue along a name, or leave the trie with any character whose
 * first byte starts no continuation. Leaving is refused for other characters sharing a first
 * byte with a multi-byte continuation (slightly too strict there), and an escape that spells a
 * name's character (`\u0061` for `a`) is not recognised as one.
 */
export function stringExcept(names: readonly string[]): Expr {
  interface Trie { end: boolean; kids: Map<string, Trie> }
  const root: Trie = { end: false, kids: new Map() };
  for (const name of names) {
    let node = root;
    for (const ch of charTokens(JSON.stringify(name).slice(1, -1))) {
      let next = node.kids.get(ch);
      if (next === undefined) node.kids.set(ch, next = { end: false, kids: new Map() });
      node = next;
    }
    node.end = true;
  }
  const anyRest = seq(star(STRING_CHAR), QUOTE);
  const build = (node: Trie): Expr => {
    const options: Expr[] = [];
    if (!node.end) options.push(QUOTE);
    const firstBytes = new Set<number>();
    for (const [ch, kid] of node.kids) {
      firstBytes.add(new TextEncoder().encode(ch)[0]);
      options.push(seq(lit(ch), build(kid)));
    }
    for (const br of CHAR_BRANCHES) {
      const first = bytesExcept(br.first, firstBytes);
      if (first.bits.some((w) => w !== 0)) options.push(seq(first, br.rest, anyRest));
    }
    return alt(...options);
  };
  return seq(QUOTE, build(root));
}

/** The characters of JSON string content as written: an escape, or one code point. */
function charTokens(content: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < content.length;) {
    if (content[i] === '\\') {
      const n = content[i + 1] === 'u' ? 6 : 2;
      out.push(content.slice(i, i + n));
      i += n;
    } else {
      const cp = content.codePointAt(i)!;
      const n = cp > 0xffff ? 2 : 1;
      out.push(content.slice(i, i + n));
      i += n;
    }
  }
  return out;
}

/** A JSON value as a Python literal, the way Llama 4 writes tool arguments. */
export function pythonLiteral(v: unknown): string | undefined {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return Number.isFinite(v) ? JSON.stringify(v) : undefined;
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) {
    const parts = v.map(pythonLiteral);
    return parts.includes(undefined) ? undefined : `[${parts.join(', ')}]`;
  }
  if (isObject(v)) {
    const parts = Object.entries(v).map(([k, x]) => {
      const s = pythonLiteral(x);
      return s === undefined ? undefined : `${JSON.stringify(k)}: ${s}`;
    });
    return parts.includes(undefined) ? undefined : `{${parts.join(', ')}}`;
  }
  return undefined;
}

function isObject(v: unknown): v is Schema {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function without(schema: Schema, key: string): Schema {
  const { [key]: _, ...rest } = schema;
  return rest;
}

function escapePointer(name: string): string {
  return name.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Builds `start` and turns left recursion (a `$ref` cycle that consumes nothing) into a schema error. */
export function buildSchemaGrammar(b: GrammarBuilder, start: Expr, where = '#'): Grammar {
  try {
    return b.build(start);
  } catch (err) {
    if (err instanceof GrammarError) throw new UnsupportedSchemaError('$ref', where, `recursion that consumes no text (${err.message})`);
    throw err;
  }
}

/** The grammar of JSON text valid for `schema` (a JSON Schema object, draft 2020-12 subset). `true`/{} = any JSON value. */
export function jsonSchemaGrammar(schema: unknown): Grammar {
  const b = new GrammarBuilder();
  const c = new SchemaCompiler(b, schema, 'json');
  return buildSchemaGrammar(b, c.value(schema, '#'));
}

/** Any JSON object (OpenAI response_format {"type": "json_object"}). */
export function jsonObjectGrammar(): Grammar {
  const b = new GrammarBuilder();
  return b.build(new SchemaCompiler(b, {}, 'json').anyObject());
}
