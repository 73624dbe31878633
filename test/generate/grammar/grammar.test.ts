import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  GrammarBuilder, GrammarError, alt, bytes, chars, describeMatcher, feedBytes, feedUncached, lit, matches, opt,
  plus, rep, seq, star, startMatcher, type Expr, type Grammar, type Matcher,
} from '../../../src/generate/grammar/grammar.js';
import { Xoshiro128StarStar } from '../../../src/generate/rng.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const code = (c: string): number => c.charCodeAt(0);

function grammarOf(e: Expr): Grammar {
  return new GrammarBuilder().build(e);
}

function check(g: Grammar, yes: string[], no: string[]): void {
  for (const s of yes) assert.ok(matches(g, s), `should match ${JSON.stringify(s)}`);
  for (const s of no) assert.ok(!matches(g, s), `should not match ${JSON.stringify(s)}`);
}

/** Balanced brackets of two kinds: S ::= ("(" S ")" | "[" S "]")*. */
function brackets(): Grammar {
  const b = new GrammarBuilder();
  const s = b.rule('S');
  b.define(s, star(alt(seq(lit('('), s, lit(')')), seq(lit('['), s, lit(']')))));
  return b.build(s);
}

test('sequences, alternation and optional parts', () => {
  check(grammarOf(seq(lit('ab'), alt(lit('c'), lit('de')), opt(lit('!')))),
    ['abc', 'abde', 'abc!', 'abde!'],
    ['', 'ab', 'abd', 'abcde', 'abc!!', 'xabc', 'abc ']);
  check(grammarOf(seq(chars('ab'), chars('ab', true))), ['ax', 'b0', 'a~'], ['aa', 'ab', 'x0', 'a']);
  check(grammarOf(bytes([0x30, 0x39], 0x2e)), ['0', '9', '.'], ['a', '/', ':', '00']);
  check(grammarOf(lit('héllo ☃')), ['héllo ☃'], ['hello ☃', 'héllo', 'héllo ☃☃']);
  check(grammarOf(alt()), [], ['', 'a']);
  check(grammarOf(seq()), [''], ['a']);
});

test('bounded and unbounded repetition', () => {
  const x = lit('x');
  check(grammarOf(rep(x, 2, 4)), ['xx', 'xxx', 'xxxx'], ['', 'x', 'xxxxx']);
  check(grammarOf(rep(x, 3, 3)), ['xxx'], ['xx', 'xxxx']);
  check(grammarOf(star(x)), ['', 'x', 'x'.repeat(500)], ['y', 'xxy']);
  check(grammarOf(plus(seq(lit('ab'), opt(lit(','))))), ['ab', 'ab,ab', 'abab,', 'ab,ab,ab,'], ['', ',', 'a', 'ab,,']);
  check(grammarOf(rep(seq(lit('a'), opt(lit('b'))), 1, 3)), ['a', 'ab', 'aba', 'ababab'], ['', 'abababa', 'b']);
  assert.throws(() => rep(x, 3, 2), GrammarError);
});

test('a large bounded repetition stays linear and never deepens the stacks', () => {
  const g = grammarOf(rep(lit('ab'), 0, 5000));
  assert.ok(g.stats.rules < 5010, `rules ${g.stats.rules}`);
  assert.ok(g.stats.positions < 30_000, `positions ${g.stats.positions}`);
  let m: Matcher | null = startMatcher(g);
  for (let i = 0; i < 5000 && m !== null; i++) {
    m = feedBytes(m, enc('ab'));
    if (i === 10) assert.equal(describeMatcher(m!).length, 1);
  }
  assert.ok(m?.finished, 'after 5000 repetitions nothing may follow');
  assert.equal(m!.feed(code('a')), null);
});

test('recursion: balanced brackets', () => {
  check(brackets(), ['', '()', '[]', '([])', '()[]', '[([])()]', '('.repeat(200) + ')'.repeat(200)],
    ['(', ')', '(]', '([)]', '(()', '[[]', '())']);
});

test('matchers are immutable: feeding one twice gives independent results', () => {
  const g = brackets();
  const m = startMatcher(g).feed(code('('))!;
  const a = m.feed(code(')'))!;
  const b = m.feed(code('['))!;
  assert.ok(a.accepting);
  assert.ok(!b.accepting);
  // m itself is unchanged: it still needs its ')' and still takes either byte.
  assert.ok(!m.accepting);
  assert.ok(m.feed(code(')'))!.accepting);
  assert.ok(!m.feed(code('['))!.accepting);
  assert.equal(b.feed(code(')')), null);
  assert.ok(feedBytes(b, enc('])'))!.accepting);
  assert.ok(a.feed(code('(')) !== null);
});

test('accepting, finished and rejected bytes', () => {
  const g = grammarOf(seq(lit('a'), opt(lit('b'))));
  const s = startMatcher(g);
  assert.ok(!s.accepting && !s.finished);
  assert.equal(s.feed(code('b')), null);
  const a = s.feed(code('a'))!;
  assert.ok(a.accepting, 'a is a sentence');
  assert.ok(!a.finished, 'b may still follow');
  const ab = a.feed(code('b'))!;
  assert.ok(ab.accepting && ab.finished);
  assert.equal(ab.feed(code('b')), null);
  assert.throws(() => s.feed(256), RangeError);
  assert.throws(() => s.feed(-1), RangeError);
});

test('building rejects left recursion, undefined rules and foreign rules', () => {
  const b = new GrammarBuilder();
  const e = b.rule('E');
  b.define(e, alt(seq(e, lit('+'), lit('1')), lit('1')));
  assert.throws(() => b.build(e), /left recursion: E → E/);

  // Hidden left recursion: through a rule that matches the empty string.
  const b2 = new GrammarBuilder();
  const a = b2.rule('A');
  b2.define(a, alt(seq(opt(lit('x')), a, lit('y')), lit('z')));
  assert.throws(() => b2.build(a), GrammarError);

  const b3 = new GrammarBuilder();
  const missing = b3.rule('missing');
  assert.throws(() => b3.build(seq(lit('a'), missing)), /missing is used but never defined/);

  const b4 = new GrammarBuilder();
  assert.throws(() => b4.build(seq(lit('a'), b3.rule('other'))), /another builder/);
});

test('ambiguous grammars do not multiply stacks (equal stacks are deduplicated)', () => {
  // (a|a)* and  "a"* B "c" with B ::= "a"*: each 'a' could be parsed many ways.
  const g1 = grammarOf(star(alt(lit('a'), seq(lit('a')))));
  const b = new GrammarBuilder();
  const inner = b.named('B', star(lit('a')));
  const g2 = b.build(seq(star(lit('a')), inner, lit('c')));
  for (const g of [g1, g2]) {
    const m3 = feedBytes(startMatcher(g), enc('aaa'))!;
    const m300 = feedBytes(startMatcher(g), enc('a'.repeat(300)))!;
    assert.equal(describeMatcher(m300).length, describeMatcher(m3).length);
  }
  assert.ok(matches(g2, 'aaac') && matches(g2, 'c') && !matches(g2, 'aca'));
});

test('cached transitions agree with fresh ones on random walks', () => {
  const g = brackets();
  const rng = Xoshiro128StarStar.fromSeed(11);
  const alphabet = [...'()[]x'].map(code);
  for (let walk = 0; walk < 300; walk++) {
    let m: Matcher | null = startMatcher(g);
    for (let i = 0; i < 20 && m !== null; i++) {
      const byte = alphabet[rng.nextUint32() % alphabet.length];
      const fresh = feedUncached(m, byte);
      const cached: Matcher | null = m.feed(byte);
      assert.equal(cached === null, fresh === null);
      if (cached !== null && fresh !== null) {
        assert.equal(cached.accepting, fresh.accepting);
        assert.equal(cached.finished, fresh.finished);
        // States are interned: the fresh computation finds the same state object.
        assert.equal(cached, fresh);
      }
      m = cached;
    }
  }
});
