/**
 * Tool calls in a model's reply → OpenAI `tool_calls` (spec §7.4). Llama 4 answers in one of two
 * shapes, and a server must take both:
 *
 *   pythonic (Meta's format):  [get_weather(city="Paris", days=3), get_time(tz=None)]
 *                              optionally wrapped in <|python_start|> … <|python_end|>
 *   JSON (Llama 3.1 style):    {"name": "get_weather", "parameters": {"city": "Paris"}}
 *                              ("arguments" instead of "parameters", an optional "type":
 *                              "function", several objects separated by ";" or in a JSON list)
 *
 * The reply must *start* with the call (after whitespace); text after a complete call list is
 * returned as `rest` (ordinary content). Anything else — prose, a list of numbers, a call with a
 * positional argument — is not a tool call, and the caller keeps the text as content.
 *
 * The parser is a small recursive-descent parser for the subset of Python these replies use:
 * keyword-argument calls (dotted names allowed) whose values are literals — strings (single,
 * double or triple quotes, Python escapes), numbers (ints with `_`, hex/octal/binary, floats,
 * exponents, signs), True/False/None (and JSON's true/false/null), lists, tuples, dicts and sets.
 * JSON is parsed by the same literal grammar (a JSON object is a Python dict literal).
 *
 * Streaming: {@link parseToolCalls} with `final = false` says `incomplete` when the text so far
 * is a prefix of a call that could still complete, and {@link ToolCallStream} turns a token-by-
 * token reply into content and tool-call events, holding text back only while it may still be a
 * call.
 */

/** One call as the model wrote it. */
export interface ParsedToolCall {
  readonly name: string;
  readonly arguments: Record<string, unknown>;
}

export type ToolCallParse =
  /** The reply starts with one or more complete calls; `rest` is the text after them. */
  | { readonly status: 'calls'; readonly calls: ParsedToolCall[]; readonly rest: string }
  /** A prefix of a call that more text could complete (only when `final` is false). */
  | { readonly status: 'incomplete' }
  /** Not a tool call. */
  | { readonly status: 'invalid'; readonly reason: string };

export const PYTHON_START = '<|python_start|>';
export const PYTHON_END = '<|python_end|>';

/** Thrown when the text ends where the grammar needs more. */
class Incomplete extends Error {}
/** Thrown at text that no call can contain. */
class Invalid extends Error {}

/**
 * Parses a reply that may begin with tool calls.
 * @param final true when the reply is complete (then a cut-off call is `invalid`).
 */
export function parseToolCalls(text: string, final: boolean): ToolCallParse {
  const p = new Parser(text);
  try {
    p.ws();
    if (p.peekIs(PYTHON_START)) { p.i += PYTHON_START.length; p.ws(); }
    const c = p.peek();
    let calls: ParsedToolCall[];
    if (c === '[') {
      const save = p.i;
      p.i++;
      p.ws();
      const next = p.peek();
      p.i = save;
      calls = next === '{' ? p.jsonCallList() : p.pythonCallList();
    } else if (c === '{') {
      calls = p.jsonCallSequence(final);
    } else {
      throw new Invalid('the reply does not start with "[" or "{"');
    }
    if (calls.length === 0) throw new Invalid('an empty list is not a tool call');
    // After the calls: whitespace and an optional <|python_end|> belong to them.
    p.ws();
    if (p.s.startsWith(PYTHON_END, p.i)) { p.i += PYTHON_END.length; p.ws(); }
    return { status: 'calls', calls, rest: p.s.slice(p.i) };
  } catch (err) {
    if (err instanceof Incomplete) return final ? { status: 'invalid', reason: 'the reply ends inside a tool call' } : { status: 'incomplete' };
    if (err instanceof Invalid) return { status: 'invalid', reason: err.message };
    throw err;
  }
}

/** Parses one Python literal (the whole text); throws on anything else. For tests and tools. */
export function parsePythonLiteral(text: string): unknown {
  const p = new Parser(text);
  try {
    p.ws();
    const v = p.literal();
    p.ws();
    if (!p.atEnd()) throw new Invalid(`unexpected ${JSON.stringify(p.peek())} after the literal`);
    return v;
  } catch (err) {
    if (err instanceof Incomplete) throw new Error('the literal is incomplete');
    if (err instanceof Invalid) throw new Error(err.message);
    throw err;
  }
}

const IDENT_START = /[A-Za-z_]/;
const IDENT_PART = /[A-Za-z0-9_]/;

class Parser {
  i = 0;
  constructor(readonly s: string) {}

  atEnd(): boolean { return this.i >= this.s.length; }

  peek(): string {
    if (this.i >= this.s.length) throw new Incomplete();
    return this.s[this.i];
  }

  /** True when the text at the cursor starts with `word` (Incomplete when it could still). */
  peekIs(word: string): boolean {
    const have = this.s.slice(this.i, this.i + word.length);
    if (have === word) return true;
    if (have.length < word.length && word.startsWith(have) && have.length > 0) throw new Incomplete();
    return false;
  }

  ws(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i])) this.i++;
  }

  expect(ch: string): void {
    const c = this.peek();
    if (c !== ch) throw new Invalid(`expected ${JSON.stringify(ch)} at offset ${this.i}, found ${JSON.stringify(c)}`);
    this.i++;
  }

  identifier(): string {
    const start = this.i;
    if (!IDENT_START.test(this.peek())) throw new Invalid(`expected a name at offset ${this.i}, found ${JSON.stringify(this.peek())}`);
    while (this.i < this.s.length && IDENT_PART.test(this.s[this.i])) this.i++;
    // A name that runs to the end of the text may still grow.
    if (this.atEnd()) throw new Incomplete();
    return this.s.slice(start, this.i);
  }

  // ── pythonic calls ──────────────────────────────────────────────────────────────────────────

  /** `[call, call, …]` (a trailing comma allowed). */
  pythonCallList(): ParsedToolCall[] {
    this.expect('[');
    const calls: ParsedToolCall[] = [];
    this.ws();
    while (this.peek() !== ']') {
      calls.push(this.pythonCall());
      this.ws();
      if (this.peek() === ',') { this.i++; this.ws(); continue; }
      if (this.peek() !== ']') throw new Invalid(`expected "," or "]" at offset ${this.i}, found ${JSON.stringify(this.peek())}`);
    }
    this.i++;
    return calls;
  }

  /** `name(key=literal, …)`, the name possibly dotted (`brave_search.call`). */
  pythonCall(): ParsedToolCall {
    let name = this.identifier();
    while (this.peek() === '.') { this.i++; name += `.${this.identifier()}`; }
    this.ws();
    this.expect('(');
    const args: Record<string, unknown> = {};
    this.ws();
    while (this.peek() !== ')') {
      const key = this.identifier();
      this.ws();
      if (this.peek() !== '=') throw new Invalid(`positional argument at offset ${this.i - key.length}: calls must use keyword arguments`);
      this.i++;
      this.ws();
      if (Object.hasOwn(args, key)) throw new Invalid(`argument ${key} is given twice`);
      args[key] = this.literal();
      this.ws();
      if (this.peek() === ',') { this.i++; this.ws(); continue; }
      if (this.peek() !== ')') throw new Invalid(`expected "," or ")" at offset ${this.i}, found ${JSON.stringify(this.peek())}`);
    }
    this.i++;
    return { name, arguments: args };
  }

  // ── JSON calls ─────────────────────────────────────────────────────────────────────────────

  /** `[{…}, {…}]`: a JSON list of call objects. */
  jsonCallList(): ParsedToolCall[] {
    const where = this.i;
    const list = this.literal();
    if (!Array.isArray(list)) throw new Invalid(`expected a list at offset ${where}`);
    return list.map((o) => jsonCall(o));
  }

  /** `{…}` objects one after another, separated by whitespace, ";" or ",". */
  jsonCallSequence(final: boolean): ParsedToolCall[] {
    const calls: ParsedToolCall[] = [jsonCall(this.literal())];
    for (;;) {
      const save = this.i;
      this.ws();
      if (this.atEnd()) {
        // Another object may follow while the reply is still streaming.
        if (!final) throw new Incomplete();
        this.i = save;
        return calls;
      }
      let c = this.s[this.i];
      if (c === ';' || c === ',') {
        this.i++;
        this.ws();
        if (this.atEnd()) { if (!final) throw new Incomplete(); this.i = save; return calls; }
        c = this.s[this.i];
      }
      if (c !== '{') { this.i = save; return calls; }
      calls.push(jsonCall(this.literal()));
    }
  }

  // ── literals ───────────────────────────────────────────────────────────────────────────────

  literal(): unknown {
    const c = this.peek();
    if (c === '"' || c === "'") return this.string();
    if (c === '[') return this.sequence('[', ']');
    if (c === '(') return this.tuple();
    if (c === '{') return this.dictOrSet();
    if (c === '-' || c === '+' || c === '.' || (c >= '0' && c <= '9')) return this.number();
    if (IDENT_START.test(c)) {
      const start = this.i;
      const word = this.identifier();
      switch (word) {
        case 'True': case 'true': return true;
        case 'False': case 'false': return false;
        case 'None': case 'null': return null;
        default:
          this.i = start;
          throw new Invalid(`${JSON.stringify(word)} at offset ${start} is not a literal`);
      }
    }
    throw new Invalid(`unexpected ${JSON.stringify(c)} at offset ${this.i}`);
  }

  /** `[a, b, …]` with an optional trailing comma. */
  sequence(open: string, close: string): unknown[] {
    this.expect(open);
    const out: unknown[] = [];
    this.ws();
    while (this.peek() !== close) {
      out.push(this.literal());
      this.ws();
      if (this.peek() === ',') { this.i++; this.ws(); continue; }
      if (this.peek() !== close) throw new Invalid(`expected "," or ${JSON.stringify(close)} at offset ${this.i}, found ${JSON.stringify(this.peek())}`);
    }
    this.i++;
    return out;
  }

  /** `()` and `(a,)`/`(a, b)` are tuples (→ arrays); `(a)` is just `a`. */
  tuple(): unknown {
    this.expect('(');
    this.ws();
    if (this.peek() === ')') { this.i++; return []; }
    const first = this.literal();
    this.ws();
    if (this.peek() === ')') { this.i++; return first; }
    this.expect(',');
    this.ws();
    const out = [first];
    while (this.peek() !== ')') {
      out.push(this.literal());
      this.ws();
      if (this.peek() === ',') { this.i++; this.ws(); continue; }
      if (this.peek() !== ')') throw new Invalid(`expected "," or ")" at offset ${this.i}, found ${JSON.stringify(this.peek())}`);
    }
    this.i++;
    return out;
  }

  /** `{k: v, …}` (keys: strings, numbers, True/False/None, written as JSON object keys) or a set `{a, b}` (→ array). */
  dictOrSet(): unknown {
    this.expect('{');
    this.ws();
    if (this.peek() === '}') { this.i++; return {}; }
    const firstKey = this.literal();
    this.ws();
    if (this.peek() !== ':') {
      const items = [firstKey];
      while (this.peek() !== '}') {
        this.expect(',');
        this.ws();
        if (this.peek() === '}') break;
        items.push(this.literal());
        this.ws();
      }
      this.i++;
      return items;
    }
    const out: Record<string, unknown> = {};
    let key: unknown = firstKey;
    for (;;) {
      this.expect(':');
      this.ws();
      const name = dictKey(key, this.i);
      // defineProperty: a "__proto__" key is data, not the prototype.
      Object.defineProperty(out, name, { value: this.literal(), enumerable: true, writable: true, configurable: true });
      this.ws();
      if (this.peek() === '}') { this.i++; return out; }
      this.expect(',');
      this.ws();
      if (this.peek() === '}') { this.i++; return out; }
      key = this.literal();
      this.ws();
    }
  }

  number(): number {
    const start = this.i;
    let sign = 1;
    if (this.peek() === '-' || this.peek() === '+') { if (this.s[this.i] === '-') sign = -1; this.i++; this.ws(); }
    const body = this.i;
    while (this.i < this.s.length && /[0-9A-Za-z_.]/.test(this.s[this.i])) {
      // An exponent sign belongs to the number: 1e-5.
      this.i++;
      if (/[eE]/.test(this.s[this.i - 1]) && /[+-]/.test(this.s[this.i] ?? '') && !/^0[xX]/.test(this.s.slice(body, this.i))) this.i++;
    }
    if (this.atEnd()) throw new Incomplete(); // more digits may follow
    const raw = this.s.slice(body, this.i);
    const text = raw.replace(/(?<=[0-9A-Fa-f])_(?=[0-9A-Fa-f])/g, '');
    let value: number;
    if (/^0[xX][0-9A-Fa-f]+$/.test(text)) value = parseInt(text.slice(2), 16);
    else if (/^0[oO][0-7]+$/.test(text)) value = parseInt(text.slice(2), 8);
    else if (/^0[bB][01]+$/.test(text)) value = parseInt(text.slice(2), 2);
    else if (/^(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/.test(text) && !/_/.test(text)) value = Number(text);
    else throw new Invalid(`${JSON.stringify(this.s.slice(start, this.i))} at offset ${start} is not a number`);
    return sign * value;
  }

  /** A Python (or JSON) string literal: '…', "…", '''…''', """…""". */
  string(): string {
    const q = this.peek();
    let triple = false;
    if (this.s.startsWith(q.repeat(3), this.i)) { triple = true; this.i += 3; } else {
      // Two quotes then the end: an empty string, or the start of a triple-quoted one.
      if (this.s.slice(this.i) === q.repeat(2)) throw new Incomplete();
      this.i += 1;
    }
    let out = '';
    for (;;) {
      if (this.atEnd()) throw new Incomplete();
      const c = this.s[this.i];
      if (c === '\\') { this.i++; out += this.escape(); continue; }
      if (c === q) {
        if (!triple) { this.i++; return out; }
        if (this.s.startsWith(q.repeat(3), this.i)) { this.i += 3; return out; }
        if (this.s.length - this.i < 3 && q.repeat(this.s.length - this.i) === this.s.slice(this.i)) throw new Incomplete();
      }
      out += c;
      this.i++;
    }
  }

  /** The character(s) of an escape sequence; the cursor is after the backslash. */
  escape(): string {
    const c = this.peek();
    this.i++;
    switch (c) {
      case 'n': return '\n';
      case 't': return '\t';
      case 'r': return '\r';
      case 'b': return '\b';
      case 'f': return '\f';
      case 'v': return '\v';
      case 'a': return '\x07';
      case '\\': return '\\';
      case "'": return "'";
      case '"': return '"';
      case '/': return '/'; // JSON
      case '\n': return ''; // line continuation
      case 'x': return String.fromCharCode(this.hex(2));
      case 'u': return String.fromCharCode(this.hex(4));
      case 'U': return String.fromCodePoint(this.hex(8));
      default:
        if (c >= '0' && c <= '7') {
          let digits = c;
          while (digits.length < 3 && this.i < this.s.length && this.s[this.i] >= '0' && this.s[this.i] <= '7') digits += this.s[this.i++];
          return String.fromCharCode(parseInt(digits, 8));
        }
        return `\\${c}`; // Python keeps unknown escapes as written
    }
  }

  hex(n: number): number {
    const digits = this.s.slice(this.i, this.i + n);
    if (!/^[0-9A-Fa-f]*$/.test(digits)) throw new Invalid(`bad escape at offset ${this.i}`);
    if (digits.length < n) throw new Incomplete();
    this.i += n;
    const v = parseInt(digits, 16);
    if (v > 0x10ffff) throw new Invalid(`escape \\U${digits} is out of range`);
    return v;
  }
}

function dictKey(key: unknown, where: number): string {
  if (typeof key === 'string') return key;
  if (typeof key === 'number') return String(key);
  if (key === true) return 'true';
  if (key === false) return 'false';
  if (key === null) return 'null';
  throw new Invalid(`a dict key at offset ${where} must be a string, number, boolean or None`);
}

/** `{"name": …, "parameters"|"arguments": …}`, also `{"type": "function", …}` and `{"function": {…}}`. */
function jsonCall(value: unknown): ParsedToolCall {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Invalid('a JSON tool call must be an object');
  let o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!['type', 'name', 'parameters', 'arguments', 'function', 'id'].includes(key)) throw new Invalid(`a JSON tool call has no key ${JSON.stringify(key)}`);
  }
  if (o.type !== undefined && o.type !== 'function') throw new Invalid('a JSON tool call\'s "type" must be "function"');
  if (typeof o.function === 'object' && o.function !== null && !Array.isArray(o.function) && o.name === undefined) o = o.function as Record<string, unknown>;
  if (typeof o.name !== 'string' || o.name.length === 0) throw new Invalid('a JSON tool call needs a "name" string');
  if (o.parameters !== undefined && o.arguments !== undefined) throw new Invalid('a JSON tool call has both "parameters" and "arguments"');
  let args = o.parameters ?? o.arguments ?? {};
  if (typeof args === 'string') {
    try { args = args.trim() === '' ? {} : JSON.parse(args); } catch { throw new Invalid('the "arguments" string is not JSON'); }
  }
  if (typeof args !== 'object' || args === null || Array.isArray(args)) throw new Invalid('a JSON tool call\'s arguments must be an object');
  return { name: o.name, arguments: args as Record<string, unknown> };
}

// ── streaming ─────────────────────────────────────────────────────────────────────────────────

export type ToolStreamEvent =
  | { readonly type: 'content'; readonly text: string }
  | { readonly type: 'calls'; readonly calls: readonly ParsedToolCall[] };

/**
 * Splits a streamed reply into content and tool calls. Text that may begin a call (`[`, `{`,
 * `<|python_start|>` after leading whitespace) is held back until the parser decides: then the
 * calls come out as one event (and text after them as content), or the held text comes out as
 * content. Anything else streams through at once. Feeding the whole reply in one `push` gives the
 * same events, so streamed and non-streamed responses agree.
 */
export class ToolCallStream {
  private mode: 'start' | 'candidate' | 'content' | 'after';
  private buf: string;
  private sawCalls = false;

  /**
   * @param enabled false: everything is content (no tools in the request).
   * @param prefill text the server put at the start of the reply in the prompt (the model
   *   continues it); it is part of the call, never content.
   */
  constructor(enabled: boolean, prefill = '') {
    this.mode = !enabled ? 'content' : prefill ? 'candidate' : 'start';
    this.buf = prefill;
  }

  /** Whether any calls were emitted. */
  get called(): boolean { return this.sawCalls; }

  push(text: string): ToolStreamEvent[] {
    const out: ToolStreamEvent[] = [];
    if (this.mode === 'content') { if (text) out.push({ type: 'content', text }); return out; }
    this.buf += text;
    this.advance(false, out);
    return out;
  }

  /** The reply is complete: settle whatever is held back. */
  end(): ToolStreamEvent[] {
    const out: ToolStreamEvent[] = [];
    if (this.mode !== 'content') this.advance(true, out);
    if (this.buf) out.push({ type: 'content', text: this.buf });
    this.buf = '';
    this.mode = 'content';
    return out;
  }

  private advance(final: boolean, out: ToolStreamEvent[]): void {
    if (this.mode === 'start') {
      const t = this.buf.trimStart();
      if (t === '' && !final) return;
      if (t.startsWith('[') || t.startsWith('{') || t.startsWith(PYTHON_START)) this.mode = 'candidate';
      else if (!final && t.length < PYTHON_START.length && PYTHON_START.startsWith(t)) return;
      else { this.toContent(out); return; }
    }
    if (this.mode === 'candidate') {
      const r = parseToolCalls(this.buf, final);
      if (r.status === 'incomplete') return;
      if (r.status === 'invalid') { this.toContent(out); return; }
      out.push({ type: 'calls', calls: r.calls });
      this.sawCalls = true;
      this.mode = 'after';
      this.buf = r.rest;
    }
    if (this.mode === 'after') {
      // After the calls: drop whitespace and a <|python_end|>; the rest is content.
      let t = this.buf.trimStart();
      if (t.startsWith(PYTHON_END)) t = t.slice(PYTHON_END.length).trimStart();
      else if (!final && t.length > 0 && PYTHON_END.startsWith(t)) return;
      if (t === '') { if (final) this.buf = ''; return; }
      this.buf = t;
      this.toContent(out);
    }
  }

  private toContent(out: ToolStreamEvent[]): void {
    if (this.buf) out.push({ type: 'content', text: this.buf });
    this.buf = '';
    this.mode = 'content';
  }
}
