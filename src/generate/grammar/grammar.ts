/**
 * A byte-level context-free grammar engine for constrained decoding, in the manner of llama.cpp's
 * GBNF engine: a grammar is a set of rules, each a list of alternatives, each a sequence of
 * byte-set terminals and rule references; a recognizer state is the set of *stacks* of grammar
 * positions that the bytes so far can continue from.
 *
 *   const b = new GrammarBuilder();
 *   const list = b.rule('list');                       // forward-declared, so rules may recurse
 *   b.define(list, seq(lit('['), opt(seq(list, star(seq(lit(','), list)))), lit(']')));
 *   const g = b.build(list);
 *   matches(g, '[[],[[]]]');                            // true
 *
 * Speed comes from four things, because a full vocabulary mask feeds ~10^5–10^6 bytes a step:
 *  - stacks are persistent linked lists, hash-consed per grammar, so equal stacks are the same
 *    object (dedupe is an identity check) and a byte that loops (a string character) allocates
 *    no stack at all;
 *  - each stack caches its expansion (the stacks with a terminal on top that it reaches without
 *    consuming a byte), so a step is a bitmap test per stack and a union of cached lists;
 *  - a reference at the end of an alternative pushes no return position (tail call), so `x*`
 *    and bounded `x{m,n}` chains never deepen the stack;
 *  - recognizer states are interned per grammar and each caches its transitions, so the states
 *    reached while walking a vocabulary form a lazily built DFA and most feeds are one array read.
 */

/** A grammar that cannot be compiled (an undefined rule, left recursion, a bad repetition). */
export class GrammarError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GrammarError';
  }
}

// ── expressions: what callers build grammars from ─────────────────────────────────────────────

/** One byte out of a set (a 256-bit bitmap, 8 × 32-bit words). */
export interface BytesExpr { readonly kind: 'bytes'; readonly bits: Uint32Array }
export interface SeqExpr { readonly kind: 'seq'; readonly items: readonly Expr[] }
export interface AltExpr { readonly kind: 'alt'; readonly options: readonly Expr[] }
/** `item{min,max}`; `max` may be Infinity. */
export interface RepExpr { readonly kind: 'rep'; readonly item: Expr; readonly min: number; readonly max: number }
/** A named rule of a {@link GrammarBuilder}; usable before it is defined (recursion). */
export interface Rule { readonly kind: 'rule'; readonly id: number; readonly name: string; readonly owner: GrammarBuilder }
export type Expr = BytesExpr | SeqExpr | AltExpr | RepExpr | Rule;

/** Expressions are immutable and compiled once per builder by identity, so share them freely. */
export const EMPTY: Expr = { kind: 'seq', items: [] };

const SINGLE_BYTES: BytesExpr[] = Array.from({ length: 256 }, (_, b) => bytesOf([b]));

function bytesOf(members: Iterable<number>): BytesExpr {
  const bits = new Uint32Array(8);
  for (const b of members) {
    if ((b & 255) !== b) throw new GrammarError(`byte ${b} is outside 0..255`);
    bits[b >>> 5] |= 1 << (b & 31);
  }
  return { kind: 'bytes', bits };
}

/** One byte in any of the inclusive `[lo, hi]` ranges (single numbers are one-byte ranges). */
export function bytes(...ranges: readonly (number | readonly [number, number])[]): BytesExpr {
  const members: number[] = [];
  for (const r of ranges) {
    const [lo, hi] = typeof r === 'number' ? [r, r] : r;
    for (let b = lo; b <= hi; b++) members.push(b);
  }
  return bytesOf(members);
}

/** One byte out of the given ASCII characters (or, with `negate`, any byte but them). */
export function chars(ascii: string, negate = false): BytesExpr {
  const members = new Set<number>();
  for (let i = 0; i < ascii.length; i++) {
    const c = ascii.charCodeAt(i);
    if (c > 0x7f) throw new GrammarError(`chars() takes ASCII only, got ${JSON.stringify(ascii[i])}`);
    members.add(c);
  }
  return bytesOf(negate ? range256().filter((b) => !members.has(b)) : members);
}

/** The bytes of `set` other than `excluded`. */
export function bytesExcept(set: BytesExpr, excluded: Iterable<number>): BytesExpr {
  const out = set.bits.slice();
  for (const b of excluded) out[b >>> 5] &= ~(1 << (b & 31));
  return { kind: 'bytes', bits: out };
}

function range256(): number[] {
  return Array.from({ length: 256 }, (_, b) => b);
}

/** The UTF-8 bytes of `text`, in order. */
export function lit(text: string): Expr {
  const encoded = new TextEncoder().encode(text);
  if (encoded.length === 1) return SINGLE_BYTES[encoded[0]];
  return { kind: 'seq', items: Array.from(encoded, (b) => SINGLE_BYTES[b]) };
}

export function seq(...items: Expr[]): Expr {
  return items.length === 1 ? items[0] : { kind: 'seq', items };
}

/** Any one of `options` (none: matches nothing). */
export function alt(...options: Expr[]): Expr {
  return options.length === 1 ? options[0] : { kind: 'alt', options };
}

export function rep(item: Expr, min: number, max: number): Expr {
  if (!Number.isInteger(min) || min < 0 || !(max === Infinity || Number.isInteger(max)) || max < min) {
    throw new GrammarError(`bad repetition bounds {${min},${max}}`);
  }
  return { kind: 'rep', item, min, max };
}

export const opt = (item: Expr): Expr => rep(item, 0, 1);
export const star = (item: Expr): Expr => rep(item, 0, Infinity);
export const plus = (item: Expr): Expr => rep(item, 1, Infinity);

// ── building: expressions → flat rule table ───────────────────────────────────────────────────

/**
 * Collects named rules, then compiles them. Anonymous alternations and repetitions become
 * auxiliary rules, one per distinct expression object.
 */
export class GrammarBuilder {
  private readonly rules: { name: string; body: Expr | undefined }[] = [];

  /** Declares a rule; give it a body with {@link define} before {@link build}. */
  rule(name: string): Rule {
    this.rules.push({ name, body: undefined });
    return { kind: 'rule', id: this.rules.length - 1, name, owner: this };
  }

  define(rule: Rule, body: Expr): void {
    this.own(rule);
    if (this.rules[rule.id].body !== undefined) throw new GrammarError(`rule ${rule.name} is defined twice`);
    this.rules[rule.id].body = body;
  }

  /** Declares and defines a rule in one go: a way to share a long sequence by reference. */
  named(name: string, body: Expr): Rule {
    const r = this.rule(name);
    this.define(r, body);
    return r;
  }

  /** Compiles the grammar whose sentences are those of `start`. */
  build(start: Expr): Grammar {
    const c = new Compiler(this, this.rules.length);
    for (let id = 0; id < this.rules.length; id++) {
      const { name, body } = this.rules[id];
      if (body === undefined) throw new GrammarError(`rule ${name} is used but never defined`);
      c.defineRule(id, name, body);
    }
    return c.finish(c.ruleFor(start));
  }

  /** @internal */
  own(rule: Rule): void {
    if (rule.owner !== this) throw new GrammarError(`rule ${rule.name} belongs to another builder`);
  }
}

// Code layout: one Int32Array of elements; each alternative is its elements followed by END.
// An element ≥ 0 is a terminal (the index of its byte set); ≤ -2 references rule (-el - 2).
const END = -1;
const refTo = (rule: number): number => -rule - 2;

interface RuleCode { name: string; alts: number[][] }

class Compiler {
  private readonly rules: RuleCode[];
  private readonly setIds = new Map<string, number>();
  private readonly setWords: number[] = [];
  private readonly auxRules = new Map<Expr, number>();
  private readonly itemRules = new Map<Expr, number>();

  constructor(private readonly builder: GrammarBuilder, nNamed: number) {
    this.rules = Array.from({ length: nNamed }, () => ({ name: '', alts: [] }));
  }

  defineRule(id: number, name: string, body: Expr): void {
    this.rules[id].name = name;
    this.rules[id].alts = body.kind === 'alt' ? body.options.map((o) => this.elements(o)) : [this.elements(body)];
  }

  /** A rule whose body is `e` (a named rule stays itself). */
  ruleFor(e: Expr): number {
    if (e.kind === 'rule') { this.builder.own(e); return e.id; }
    const id = this.newRule('start');
    this.rules[id].alts = e.kind === 'alt' ? e.options.map((o) => this.elements(o)) : [this.elements(e)];
    return id;
  }

  private newRule(name: string): number {
    this.rules.push({ name, alts: [] });
    return this.rules.length - 1;
  }

  private elements(e: Expr, out: number[] = []): number[] {
    switch (e.kind) {
      case 'bytes': out.push(this.setId(e)); break;
      case 'seq': for (const it of e.items) this.elements(it, out); break;
      case 'rule': this.builder.own(e); out.push(refTo(e.id)); break;
      case 'alt':
        if (e.options.length === 1) this.elements(e.options[0], out);
        else out.push(refTo(this.aux(e)));
        break;
      case 'rep':
        if (e.max === 0) break;
        if (e.min === 1 && e.max === 1) this.elements(e.item, out);
        else out.push(refTo(this.aux(e)));
        break;
    }
    return out;
  }

  /** The auxiliary rule of an alternation or repetition, compiled once per expression object. */
  private aux(e: AltExpr | RepExpr): number {
    const known = this.auxRules.get(e);
    if (known !== undefined) return known;
    const id = this.newRule(`${e.kind}#${this.rules.length}`);
    this.auxRules.set(e, id);
    if (e.kind === 'alt') {
      this.rules[id].alts = e.options.map((o) => this.elements(o));
      return id;
    }
    // item{min,max} = item × min, then a tail: item* (S ::= item S | ε) or a chain of
    // optionals (O_k ::= item O_{k-1} | ε). Every reference sits at the end of its alternative,
    // so matching never deepens the stack, and the size is linear in max - min.
    const item = this.itemElements(e);
    const head: number[] = [];
    for (let i = 0; i < e.min; i++) head.push(...item);
    if (e.max === Infinity) {
      const loop = this.newRule(`star#${id}`);
      this.rules[loop].alts = [[...item, refTo(loop)], []];
      head.push(refTo(loop));
    } else if (e.max > e.min) {
      let prev = -1;
      for (let k = 1; k <= e.max - e.min; k++) {
        const r = this.newRule(`opt${k}#${id}`);
        this.rules[r].alts = [prev < 0 ? [...item] : [...item, refTo(prev)], []];
        prev = r;
      }
      head.push(refTo(prev));
    }
    this.rules[id].alts = [head];
    return id;
  }

  /** The elements of a repeated item: a single reference when the item is longer than one. */
  private itemElements(e: RepExpr): number[] {
    const els = this.elements(e.item);
    if (els.length <= 1) return els;
    let id = this.itemRules.get(e.item);
    if (id === undefined) {
      id = this.newRule(`item#${this.rules.length}`);
      this.itemRules.set(e.item, id);
      this.rules[id].alts = [els];
    }
    return [refTo(id)];
  }

  private setId(e: BytesExpr): number {
    const key = e.bits.join(',');
    let id = this.setIds.get(key);
    if (id === undefined) {
      id = this.setIds.size;
      this.setIds.set(key, id);
      this.setWords.push(...e.bits);
    }
    return id;
  }

  finish(startRule: number): CompiledGrammar {
    checkNoLeftRecursion(this.rules);
    const code: number[] = [];
    const ruleAlts: Int32Array[] = [];
    for (const r of this.rules) {
      ruleAlts.push(Int32Array.from(r.alts, (els) => {
        const at = code.length;
        code.push(...els, END);
        return at;
      }));
    }
    const entry = code.length;
    code.push(refTo(startRule), END);
    return new CompiledGrammar(
      Int32Array.from(code), Uint32Array.from(this.setWords), ruleAlts, this.rules.map((r) => r.name), entry);
  }
}

/**
 * Expansion follows every reference that can be reached without consuming a byte; a cycle of
 * such references (left recursion, possibly through rules that match the empty string) would
 * never end, so it is rejected when building.
 */
function checkNoLeftRecursion(rules: readonly RuleCode[]): void {
  const nullable = new Array<boolean>(rules.length).fill(false);
  for (let changed = true; changed;) {
    changed = false;
    rules.forEach((r, id) => {
      if (!nullable[id] && r.alts.some((els) => els.every((el) => el <= -2 && nullable[-el - 2]))) {
        nullable[id] = changed = true;
      }
    });
  }
  const firstRefs = rules.map((r) => {
    const refs: number[] = [];
    for (const els of r.alts) {
      for (const el of els) {
        if (el >= 0) break;
        refs.push(-el - 2);
        if (!nullable[-el - 2]) break;
      }
    }
    return refs;
  });
  const color = new Uint8Array(rules.length); // 0 unseen, 1 on the path, 2 done
  const path: number[] = [];
  const visit = (id: number): void => {
    color[id] = 1;
    path.push(id);
    for (const next of firstRefs[id]) {
      if (color[next] === 1) {
        const cycle = path.slice(path.indexOf(next)).concat(next).map((r) => rules[r].name);
        throw new GrammarError(`left recursion: ${cycle.join(' → ')}`);
      }
      if (color[next] === 0) visit(next);
    }
    path.pop();
    color[id] = 2;
  };
  for (let id = 0; id < rules.length; id++) if (color[id] === 0) visit(id);
}

// ── recognizing ───────────────────────────────────────────────────────────────────────────────

/** A compiled context-free grammar over bytes (no left recursion). Opaque to callers. */
export interface Grammar {
  /** Sizes, for diagnostics: rules (named and auxiliary), code positions, distinct byte sets. */
  readonly stats: { readonly rules: number; readonly positions: number; readonly byteSets: number };
}

/**
 * An immutable recognizer state: the set of ways the bytes fed so far can continue.
 * States are interned, so `feed` may return an existing (equal, equally immutable) matcher —
 * for a byte that loops, such as a plain string character, often the matcher itself.
 */
export interface Matcher {
  /** The state after `byte`, or null when the byte cannot continue any parse. */
  feed(byte: number): Matcher | null;
  /** The bytes fed so far form a complete sentence of the grammar. */
  readonly accepting: boolean;
  /** No byte can follow (accepting and nothing may continue) — generation must end here. */
  readonly finished: boolean;
}

/**
 * One stack: `pos` on top, `next` below (null: the bottom). Hash-consed per grammar (a node's
 * children are interned in `kids`), so two equal stacks are one object, and each stack
 * caches what a step needs from it.
 */
class StackNode {
  /** The stacks one position taller: a short list (most nodes have a few), a Map past {@link KIDS_LIST_MAX}. */
  kids: StackNode[] | Map<number, StackNode> | undefined = undefined;
  /** For a stack with a terminal on top: the stack after that terminal matched (pos + 1). */
  after: StackNode | undefined = undefined;
  /** The stacks with a terminal on top that this one expands to without consuming a byte. */
  closure: readonly StackNode[] | undefined = undefined;
  /** Whether this stack can also end the sentence without consuming a byte. */
  accepts = false;
  /** The step (or closure computation) that last collected this node: dedupe without a Set. */
  stepMark = 0;
  closureMark = 0;
  constructor(readonly pos: number, readonly next: StackNode | null, readonly id: number) {}
}

/** Past this many interned stacks or states the tables start over (bounds a long session;
 * everything made before stays valid, only sharing with it is lost). */
const INTERN_LIMIT = 1 << 20;
/** Kids kept in a list up to this many (a scan beats a Map's hashing and allocation there). */
const KIDS_LIST_MAX = 8;

/** An order-independent hash of a set of stacks (a sum of mixed ids), so heads need no sort. */
const mixId = (id: number): number => Math.imul(id ^ (id >>> 16), 0x45d9f3b) ^ id;

class CompiledGrammar implements Grammar {
  private roots = new Map<number, StackNode>();
  /** Interned states by set hash; equal hashes chain through `State.sameHash`. */
  private states = new Map<number, State>();
  private nodeCount = 0;
  private stateCount = 0;
  private stepStamp = 0;
  private closureStamp = 0;
  // Scratch of the closure computation and the step in progress (neither nests).
  private closureOut: StackNode[] = [];
  private closureAcc = false;
  private readonly heads: StackNode[] = [];
  readonly start: State;

  constructor(
    private readonly code: Int32Array,
    private readonly sets: Uint32Array,
    private readonly ruleAlts: readonly Int32Array[],
    private readonly ruleNames: readonly string[],
    entry: number,
  ) {
    const top = this.node(entry, null);
    const closure = this.closure(top);
    this.stepStamp++;
    for (const n of closure) n.stepMark = this.stepStamp;
    this.start = this.intern(closure.slice(), closure.length, top.accepts);
  }

  get stats() {
    return { rules: this.ruleAlts.length, positions: this.code.length, byteSets: this.sets.length >>> 3 };
  }

  /**
   * The state after `byte` from `from` (no cache): every stack whose top terminal admits the
   * byte moves past it, and the union of what those moved stacks expand to is the new state.
   */
  step(from: State, byte: number): State | null {
    const { code, sets, heads } = this;
    const stamp = ++this.stepStamp;
    const word = byte >>> 5, bit = byte & 31;
    let n = 0;
    let acc = false;
    for (const h of from.heads) {
      if (((sets[(code[h.pos] << 3) | word] >>> bit) & 1) === 0) continue;
      const moved = h.after ??= this.node(h.pos + 1, h.next);
      const closure = moved.closure ?? this.closure(moved);
      if (moved.accepts) acc = true;
      for (const c of closure) {
        if (c.stepMark !== stamp) {
          c.stepMark = stamp;
          heads[n++] = c;
        }
      }
    }
    if (n === 0 && !acc) return null;
    return this.intern(heads, n, acc);
  }

  /** The (cached) expansion of stack `s`: see {@link expand}. */
  private closure(s: StackNode): readonly StackNode[] {
    if (s.closure !== undefined) return s.closure;
    this.closureStamp++;
    this.closureOut = [];
    this.closureAcc = false;
    this.expand(s.pos, s.next);
    s.accepts = this.closureAcc;
    return s.closure = this.closureOut;
  }

  /**
   * Adds to `closureOut` every stack with a terminal on top that `pos` over `rest` leads to
   * without consuming a byte; sets `closureAcc` if the whole grammar can end here.
   */
  private expand(pos: number, rest: StackNode | null): void {
    const code = this.code;
    for (;;) {
      const el = code[pos];
      if (el >= 0) {
        const n = this.node(pos, rest);
        if (n.closureMark !== this.closureStamp) {
          n.closureMark = this.closureStamp;
          this.closureOut.push(n);
        }
        return;
      }
      if (el === END) {
        if (rest === null) { this.closureAcc = true; return; }
        pos = rest.pos;
        rest = rest.next;
        continue;
      }
      const alts = this.ruleAlts[-el - 2];
      if (alts.length === 0) return;
      // Tail call: a reference that ends its alternative leaves nothing to return to.
      const cont = code[pos + 1] === END ? rest : this.node(pos + 1, rest);
      const last = alts.length - 1;
      for (let i = 0; i < last; i++) this.expand(alts[i], cont);
      pos = alts[last];
      rest = cont;
    }
  }

  private node(pos: number, next: StackNode | null): StackNode {
    if (next === null) {
      let n = this.roots.get(pos);
      if (n === undefined) this.roots.set(pos, n = this.newNode(pos, null));
      return n;
    }
    const kids = next.kids;
    if (kids === undefined) {
      const n = this.newNode(pos, next);
      next.kids = [n];
      return n;
    }
    if (Array.isArray(kids)) {
      for (let i = 0; i < kids.length; i++) if (kids[i].pos === pos) return kids[i];
      const n = this.newNode(pos, next);
      if (kids.length < KIDS_LIST_MAX) kids.push(n);
      else next.kids = new Map([...kids, n].map((k) => [k.pos, k]));
      return n;
    }
    let n = kids.get(pos);
    if (n === undefined) kids.set(pos, n = this.newNode(pos, next));
    return n;
  }

  private newNode(pos: number, next: StackNode | null): StackNode {
    if (++this.nodeCount % INTERN_LIMIT === 0) this.roots = new Map();
    return new StackNode(pos, next, this.nodeCount);
  }

  /** The state of the first `n` of `heads` (all carrying the current step's mark), interned. */
  private intern(heads: StackNode[], n: number, accepting: boolean): State {
    let hash = accepting ? 1 : 0;
    for (let i = 0; i < n; i++) hash = (hash + mixId(heads[i].id)) | 0;
    const first = this.states.get(hash);
    // Equal sets: same size, and every head of the candidate was collected by this step.
    for (let s = first; s !== undefined; s = s.sameHash) {
      if (s.accepting !== accepting || s.heads.length !== n) continue;
      let same = true;
      for (const h of s.heads) if (h.stepMark !== this.stepStamp) { same = false; break; }
      if (same) return s;
    }
    if (++this.stateCount % INTERN_LIMIT === 0) this.states = new Map();
    const s = new State(this, heads.slice(0, n), accepting, this.states.get(hash));
    this.states.set(hash, s);
    return s;
  }

  /** The rule names at the stack tops, for debugging. */
  describe(s: State): string[] {
    return s.heads.map((h) => {
      // Rules are laid out in id order: the owner of a position is the last rule starting at or before it.
      let owner = 0;
      this.ruleAlts.forEach((alts, id) => { if (alts.length > 0 && alts[0] <= h.pos) owner = id; });
      return `${this.ruleNames[owner]}@${h.pos}`;
    });
  }
}

class State implements Matcher {
  readonly finished: boolean;
  // Transitions computed so far (undefined = not yet, null = dead). The first one is kept in a
  // single slot, and the 256-entry table is made only when a second byte is fed: decoding feeds
  // most states once, and a table for each would be most of the garbage.
  private firstByte = -1;
  private firstNext: State | null = null;
  private table: (State | null | undefined)[] | undefined = undefined;

  constructor(
    readonly grammar: CompiledGrammar,
    readonly heads: readonly StackNode[],
    readonly accepting: boolean,
    /** Another interned state with the same hash. */
    readonly sameHash: State | undefined,
  ) {
    this.finished = accepting && heads.length === 0;
  }

  feed(byte: number): Matcher | null {
    if ((byte & 255) !== byte) throw new RangeError(`feed() takes a byte (0..255), got ${byte}`);
    if (byte === this.firstByte) return this.firstNext;
    const t = this.table;
    if (t !== undefined) {
      const s = t[byte];
      if (s !== undefined) return s;
      return t[byte] = this.grammar.step(this, byte);
    }
    const s = this.grammar.step(this, byte);
    if (this.firstByte < 0) {
      this.firstByte = byte;
      this.firstNext = s;
    } else {
      (this.table = new Array<State | null | undefined>(256))[byte] = s;
    }
    return s;
  }
}

function compiled(g: Grammar): CompiledGrammar {
  if (!(g instanceof CompiledGrammar)) throw new TypeError('not a grammar built by GrammarBuilder');
  return g;
}

export function startMatcher(g: Grammar): Matcher {
  return compiled(g).start;
}

/** The state after `byte`, computed afresh without reading or filling the transition cache
 * (benchmarks of the uncached path, and tests that the cache changes nothing). */
export function feedUncached(m: Matcher, byte: number): Matcher | null {
  if (!(m instanceof State)) throw new TypeError('not a matcher from startMatcher');
  if ((byte & 255) !== byte) throw new RangeError(`feed() takes a byte (0..255), got ${byte}`);
  return m.grammar.step(m, byte);
}

/** Feeds every byte of `bytes`; null as soon as one cannot continue. */
export function feedBytes(m: Matcher, bytes: Uint8Array): Matcher | null {
  let cur: Matcher | null = m;
  for (let i = 0; i < bytes.length && cur !== null; i++) cur = cur.feed(bytes[i]);
  return cur;
}

/** Convenience for tests: does `text` (UTF-8 encoded) match the whole grammar? */
export function matches(g: Grammar, text: string): boolean {
  return feedBytes(startMatcher(g), new TextEncoder().encode(text))?.accepting ?? false;
}

/** Which rules the matcher's stacks are inside (debugging aid; format not stable). */
export function describeMatcher(m: Matcher): string[] {
  if (!(m instanceof State)) throw new TypeError('not a matcher from startMatcher');
  return m.grammar.describe(m);
}
