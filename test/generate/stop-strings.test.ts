import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StopStringMatcher } from '../../src/generate/stop-strings.js';
import { Xoshiro128StarStar } from '../../src/generate/rng.js';
import { Llama4Error } from '../../src/errors.js';

interface Run {
  pieces: string[];
  text: string;
  stopped: boolean;
  stop: string | undefined;
}

/** Pushes every chunk, records each emitted piece, flushes at the end. */
function run(stops: string[], chunks: string[]): Run {
  const m = new StopStringMatcher(stops);
  const pieces: string[] = [];
  let stopped = false;
  let stop: string | undefined;
  for (const c of chunks) {
    const r = m.push(c);
    pieces.push(r.text);
    if (r.stopped) {
      stopped = true;
      stop = r.stop;
    }
  }
  pieces.push(m.flush());
  return { pieces, text: pieces.join(''), stopped, stop };
}

test('empty stop list passes text straight through', () => {
  assert.deepEqual(run([], ['Hello', ', ', 'world']).pieces, ['Hello', ', ', 'world', '']);
});

test('a stop string inside one chunk', () => {
  const r = run(['STOP'], ['Hello STOP world']);
  assert.deepEqual(r.pieces, ['Hello ', '']);
  assert.equal(r.stopped, true);
  assert.equal(r.stop, 'STOP');
});

test('a stop string spanning several chunks', () => {
  const r = run(['STOP'], ['Hel', 'lo ST', 'O', 'P more']);
  assert.deepEqual(r.pieces, ['Hel', 'lo ', '', '', '']);
  assert.equal(r.stop, 'STOP');
});

test('held-back text is released when it turns out not to be a stop', () => {
  assert.deepEqual(run(['abc'], ['xab', 'd']).pieces, ['x', 'abd', '']);
  assert.deepEqual(run(['abc'], ['xab']).pieces, ['x', 'ab']); // flush returns the held suffix
  // Suffix "aa" could start "aab"; the match begins one character later.
  const r = run(['aab'], ['aa', 'ab']);
  assert.deepEqual(r.pieces, ['', 'a', '']);
  assert.equal(r.stopped, true);
});

test('a stop string at the very start', () => {
  const r = run(['</s>'], ['</s>after']);
  assert.deepEqual(r.pieces, ['', '']);
  assert.equal(r.stopped, true);
});

test('multiple stops: the first one completed wins', () => {
  assert.equal(run(['world', 'lo'], ['hello world']).text, 'hel');
  const overlap = run(['abc', 'bcd'], ['xabcd']);
  assert.equal(overlap.text, 'x');
  assert.equal(overlap.stop, 'abc');
  // "c" is complete before "abcd" is, so it wins even though "abcd" starts earlier.
  const later = run(['abcd', 'c'], ['ab', 'cd']);
  assert.equal(later.text, 'ab');
  assert.equal(later.stop, 'c');
  // Same end: the longer (earlier-starting) stop is reported.
  assert.equal(run(['b', 'ab'], ['xab']).stop, 'ab');
});

test('after a stop, further chunks emit nothing', () => {
  const m = new StopStringMatcher(['\n']);
  assert.deepEqual(m.push('one\ntwo'), { text: 'one', stopped: true, stop: '\n' });
  assert.equal(m.stopped, true);
  assert.deepEqual(m.push('three'), { text: '', stopped: true, stop: '\n' });
  assert.equal(m.flush(), '');
});

test('empty stop strings are rejected', () => {
  assert.throws(() => new StopStringMatcher(['ok', '']), Llama4Error);
});

test('the result does not depend on how the text is chunked', () => {
  const rng = Xoshiro128StarStar.fromSeed(11);
  const stops = ['aba', 'bb', 'cab'];
  for (let trial = 0; trial < 300; trial++) {
    let text = '';
    const len = 1 + (rng.nextUint32() % 12);
    for (let i = 0; i < len; i++) text += 'abc'[rng.nextUint32() % 3];
    const whole = run(stops, [text]);
    const chunks: string[] = [];
    for (let i = 0; i < text.length; ) {
      const n = 1 + (rng.nextUint32() % 3);
      chunks.push(text.slice(i, i + n));
      i += n;
    }
    const split = run(stops, chunks);
    assert.equal(split.text, whole.text, `${JSON.stringify(chunks)}`);
    assert.equal(split.stop, whole.stop, `${JSON.stringify(chunks)}`);
  }
});
