/**
 * KV cache and Session on the tiny Llama 4 (llama4-tiny-moe f32 weights) rebuilt with a 16-token
 * attention chunk, so that ~70 tokens cross several chunk boundaries:
 *  - chunked layers hold at most one chunk (rows and allocation) and forget earlier chunks;
 *  - batched, one-token and random-sized runs give the same logits;
 *  - a chunked query sees no key of the previous chunk;
 *  - KvCache.truncate and Session.evaluate's prefix reuse (and its fallback when the prefix lies
 *    in a forgotten chunk);
 *  - the context limit is a Llama4Error naming the sizes.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadModel, type LoadedModel } from '../../src/load.js';
import { LlamaModel } from '../../src/model/llama.js';
import { KvCache, LayerKvCache } from '../../src/model/kv-cache.js';
import { Session } from '../../src/model/session.js';
import { buildModelConfig, type ModelConfig, type ModelConfigInput } from '../../src/config/model-config.js';
import { Llama4Error } from '../../src/errors.js';
import { modelDir } from '../support/fixtures.js';

const C = 16; // attention chunk of the rebuilt models
const N = 70; // tokens: chunks [0,16) [16,32) [32,48) [48,64) [64,70)
const TOL = 1e-5;

/** Deterministic pseudo-random token ids in [0, 756) (ordinary tokens of the fixture vocab). */
function tokenIds(n: number, seed: number): number[] {
  const out: number[] = [];
  let s = seed;
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) % 2147483648; out.push(s % 756); }
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

function row(all: Float32Array, r: number, V: number): Float32Array {
  return all.subarray(r * V, (r + 1) * V);
}

describe('KV cache and Session with a 16-token attention chunk', () => {
  let m: LoadedModel;
  let V: number;
  /** The fixture's layer plan (layers 0–2 RoPE + chunked, layer 3 NoPE + global) with chunk 16. */
  let chunked: LlamaModel;
  /** Every layer RoPE + chunked (chunk 16). */
  let allChunked: LlamaModel;
  /** Every layer RoPE, no chunking. */
  let allGlobal: LlamaModel;
  const ids = tokenIds(N, 2024);
  /** Logits of all N tokens in one batched forward on `chunked` [N, V]. */
  let batched: Float32Array;
  const measured: string[] = [];

  function rebuild(over: Partial<ModelConfigInput>): ModelConfig {
    const c = m.config;
    return buildModelConfig({
      ...c,
      moeLayers: c.layers.filter((l) => l.ffn === 'moe').map((l) => l.index),
      noRopeInterval: 4, useQkNorm: true,
      ...over,
    }, 'test (rebuilt config)');
  }

  before(async () => {
    m = await loadModel(join(modelDir('llama4-tiny-moe'), 'llama4-tiny-moe-f32.gguf'));
    V = m.config.vocabSize;
    const { weights, backend } = m.model;
    chunked = new LlamaModel(rebuild({ attentionChunkSize: C }), weights, backend);
    allChunked = new LlamaModel(rebuild({ attentionChunkSize: C, ropeLayers: [true, true, true, true] }), weights, backend);
    allGlobal = new LlamaModel(rebuild({ attentionChunkSize: null, ropeLayers: [true, true, true, true] }), weights, backend);
    batched = chunked.forward(chunked.newCache(128), ids, { logits: 'all' });
  });

  it('the rebuilt configs have the intended layer plans', () => {
    assert.deepEqual(chunked.config.layers.map((l) => [l.rope, l.chunked, l.temperatureTuning]),
      [[true, true, false], [true, true, false], [true, true, false], [false, false, true]]);
    assert.equal(chunked.config.attentionChunkSize, C);
    assert.ok(allChunked.config.layers.every((l) => l.rope && l.chunked && !l.temperatureTuning));
    assert.ok(allGlobal.config.layers.every((l) => l.rope && !l.chunked));
  });

  it('chunk 16 changes the logits from position 16 on, and only from there', () => {
    const full = m.model.forward(m.model.newCache(128), ids, { logits: 'all' }); // chunk 8192
    for (let p = 0; p < C; p++) assert.equal(maxAbsDiff(row(full, p, V), row(batched, p, V)), 0, `position ${p}`);
    for (const p of [16, 17, 31, 40, 69]) {
      const d = maxAbsDiff(row(full, p, V), row(batched, p, V));
      assert.ok(d > 1e-3, `position ${p}: chunk 16 vs 8192 differ by only ${d}`);
    }
  });

  it('batched, one-token-at-a-time and random-sized runs give the same logits over 70 tokens', () => {
    // One token at a time, checking the cache after every step.
    const cache = chunked.newCache(128);
    const rowSize = cache.layers[0].rowSize;
    let maxSingle = 0;
    for (let p = 0; p < N; p++) {
      const logits = chunked.forward(cache, [ids[p]]);
      maxSingle = Math.max(maxSingle, maxAbsDiff(logits, row(batched, p, V)));
      assert.equal(cache.nPast, p + 1);
      chunked.config.layers.forEach((plan, i) => {
        const l = cache.layers[i];
        if (plan.chunked) {
          // Holds exactly the chunk of p: ⌊p/16⌋·16 … p.
          assert.equal(l.startPos, Math.floor(p / C) * C, `layer ${i} at p=${p}: startPos`);
          assert.equal(l.length, p % C + 1, `layer ${i} at p=${p}: length`);
          assert.ok(l.k.length <= C * rowSize && l.v.length <= C * rowSize, `layer ${i} at p=${p}: ${l.k.length / rowSize} rows allocated`);
          assert.ok(l.allocatedBytes <= 2 * C * rowSize * 4);
        } else {
          assert.equal(l.startPos, 0);
          assert.equal(l.length, p + 1);
        }
      });
    }
    assert.deepEqual(cache.tokens, ids);

    // Random-sized pieces (1–23 tokens, so some straddle chunk boundaries).
    const pieces = chunked.newCache(128);
    let maxPieces = 0;
    let s = 7;
    const sizes: number[] = [];
    for (let p = 0; p < N;) {
      s = (s * 1103515245 + 12345) % 2147483648;
      const n = Math.min(1 + (s % 23), N - p);
      sizes.push(n);
      const logits = chunked.forward(pieces, ids.slice(p, p + n), { logits: 'all' });
      for (let r = 0; r < n; r++) maxPieces = Math.max(maxPieces, maxAbsDiff(row(logits, r, V), row(batched, p + r, V)));
      p += n;
    }
    assert.ok(sizes.some((n) => n > C / 2), `piece sizes ${sizes.join(',')}`);
    assert.ok(maxSingle <= TOL, `one token at a time: max |Δ| ${maxSingle}`);
    assert.ok(maxPieces <= TOL, `random pieces: max |Δ| ${maxPieces}`);
    measured.push(`chunk 16, 70 tokens: batched vs one-at-a-time max |Δ| = ${maxSingle.toExponential(2)}, vs pieces [${sizes.join(',')}] max |Δ| = ${maxPieces.toExponential(2)}`);

    // All three caches end in the same state: chunked layers hold positions 64..69 only.
    for (const c of [cache, pieces]) {
      chunked.config.layers.forEach((plan, i) => {
        const l = c.layers[i];
        assert.equal(l.startPos, plan.chunked ? 64 : 0);
        assert.equal(l.length, plan.chunked ? 6 : N);
      });
    }
  });

  it('the chunked layers of a batched prefill hold the last chunk only, with the same keys as decoding', () => {
    const a = chunked.newCache(128);
    chunked.forward(a, ids, { logits: 'none' });
    const b = chunked.newCache(128);
    for (const id of ids) chunked.forward(b, [id], { logits: 'none' });
    chunked.config.layers.forEach((plan, i) => {
      const la = a.layers[i], lb = b.layers[i];
      assert.equal(la.startPos, lb.startPos);
      assert.equal(la.length, lb.length);
      const n = la.length * la.rowSize;
      if (plan.chunked) assert.ok(la.k.length <= C * la.rowSize, `layer ${i}: ${la.k.length / la.rowSize} rows allocated`);
      assert.ok(maxAbsDiff(la.k.subarray(0, n), lb.k.subarray(0, n)) <= TOL);
      assert.ok(maxAbsDiff(la.v.subarray(0, n), lb.v.subarray(0, n)) <= TOL);
    });
  });

  it('a chunked query sees no key of the previous chunk (every layer chunked)', () => {
    // Same tokens at positions 16..31, different tokens at 0..15.
    const tail = ids.slice(C, 2 * C);
    const a = [...tokenIds(C, 1), ...tail];
    const b = [...tokenIds(C, 99), ...tail];
    assert.notDeepEqual(a.slice(0, C), b.slice(0, C));
    const la = allChunked.forward(allChunked.newCache(64), a, { logits: 'all' });
    const lb = allChunked.forward(allChunked.newCache(64), b, { logits: 'all' });
    // Positions 0..15 differ (different tokens) …
    assert.ok(maxAbsDiff(row(la, 15, V), row(lb, 15, V)) > 1e-3);
    // … but 16..31 only see 16..p, which are the same tokens at the same positions.
    let maxSame = 0;
    for (let p = C; p < 2 * C; p++) maxSame = Math.max(maxSame, maxAbsDiff(row(la, p, V), row(lb, p, V)));
    assert.ok(maxSame <= 1e-6, `positions 16..31 depend on tokens 0..15: max |Δ| ${maxSame}`);
    // Position 16 sees one key only (itself): its logits are those of the token alone at position 0
    // (with one key the attention output is that key's value, whatever the rotation).
    const alone = allChunked.forward(allChunked.newCache(64), [tail[0]]);
    const dAlone = maxAbsDiff(row(la, C, V), alone);
    assert.ok(dAlone <= 1e-6, `p = 16 vs the token alone: max |Δ| ${dAlone}`);

    // Without chunking the prefix matters at every later position.
    const ga = allGlobal.forward(allGlobal.newCache(64), a, { logits: 'all' });
    const gb = allGlobal.forward(allGlobal.newCache(64), b, { logits: 'all' });
    for (const p of [16, 20, 31]) assert.ok(maxAbsDiff(row(ga, p, V), row(gb, p, V)) > 1e-3, `unchunked, p = ${p}`);
    // With the fixture's plan the NoPE (global) layer 3 still sees the previous chunk.
    const ca = chunked.forward(chunked.newCache(64), a, { logits: 'all' });
    const cb = chunked.forward(chunked.newCache(64), b, { logits: 'all' });
    assert.ok(maxAbsDiff(row(ca, 16, V), row(cb, 16, V)) > 1e-3, 'NoPE layer must see the previous chunk');
    measured.push(`all layers chunked: positions 16..31 with different prefixes max |Δ| = ${maxSame.toExponential(2)}; p=16 vs token alone ${dAlone.toExponential(2)}`);
  });

  describe('KvCache.truncate', () => {
    it('rewinds within the current chunk and to chunk starts, refuses forgotten chunks, leaves state unchanged when refusing', () => {
      const cache = chunked.newCache(64);
      chunked.forward(cache, ids.slice(0, 40), { logits: 'none' });
      const state = () => cache.layers.map((l) => [l.startPos, l.length]);
      assert.deepEqual(state(), [[32, 8], [32, 8], [32, 8], [0, 40]]);

      assert.equal(cache.truncate(41), false, 'beyond nPast');
      assert.equal(cache.nPast, 40);
      assert.equal(cache.truncate(40), true, 'to nPast is a no-op');
      assert.deepEqual(state(), [[32, 8], [32, 8], [32, 8], [0, 40]]);

      assert.equal(cache.truncate(35), true);
      assert.equal(cache.nPast, 35);
      assert.deepEqual(cache.tokens, ids.slice(0, 35));
      assert.deepEqual(state(), [[32, 3], [32, 3], [32, 3], [0, 35]]);

      assert.equal(cache.truncate(32), true, 'to the start of the held chunk');
      assert.deepEqual(state(), [[32, 0], [32, 0], [32, 0], [0, 32]]);

      assert.equal(cache.truncate(20), false, 'chunk 16..31 is forgotten by the chunked layers');
      assert.equal(cache.nPast, 32);
      assert.deepEqual(cache.tokens, ids.slice(0, 32));
      assert.deepEqual(state(), [[32, 0], [32, 0], [32, 0], [0, 32]]);

      assert.equal(cache.truncate(16), true, 'a chunk start needs no key of its chunk');
      assert.equal(cache.nPast, 16);
      assert.deepEqual(state(), [[16, 0], [16, 0], [16, 0], [0, 16]]);

      // Continuing after the rewind gives the logits of a fresh pass.
      const rest = chunked.forward(cache, ids.slice(16, 40), { logits: 'all' });
      let d = 0;
      for (let r = 0; r < 24; r++) d = Math.max(d, maxAbsDiff(row(rest, r, V), row(batched, 16 + r, V)));
      assert.ok(d <= TOL, `after truncate(16): max |Δ| ${d}`);
      assert.deepEqual(state(), [[32, 8], [32, 8], [32, 8], [0, 40]]);

      cache.clear();
      assert.equal(cache.nPast, 0);
      assert.deepEqual(cache.tokens, []);
      assert.ok(cache.layers.every((l) => l.length === 0));
      const again = chunked.forward(cache, ids.slice(0, 20), { logits: 'all' });
      let d2 = 0;
      for (let r = 0; r < 20; r++) d2 = Math.max(d2, maxAbsDiff(row(again, r, V), row(batched, r, V)));
      assert.ok(d2 <= TOL);
    });

    it('rewinding into the middle of the held chunk keeps its start', () => {
      const cache = chunked.newCache(64);
      chunked.forward(cache, ids.slice(0, 30), { logits: 'none' }); // chunked layers hold 16..29
      assert.equal(cache.truncate(17), true);
      assert.deepEqual(cache.layers.map((l) => [l.startPos, l.length]), [[16, 1], [16, 1], [16, 1], [0, 17]]);
      const logits = chunked.forward(cache, ids.slice(17, 30), { logits: 'all' });
      let d = 0;
      for (let r = 0; r < 13; r++) d = Math.max(d, maxAbsDiff(row(logits, r, V), row(batched, 17 + r, V)));
      assert.ok(d <= TOL, `max |Δ| ${d}`);
    });

    it('LayerKvCache: prepare forgets earlier chunks, append refuses more rows than it may hold', () => {
      const l = new LayerKvCache(2, 4, 4);
      const rows = (...xs: number[]) => Float32Array.from(xs.flatMap((x) => [x, -x]));
      l.append(rows(0, 1, 2), rows(10, 11, 12), 3);
      l.prepare(3); // same chunk: nothing forgotten
      l.append(rows(3), rows(13), 1);
      assert.deepEqual([l.startPos, l.length], [0, 4]);
      l.prepare(4); // next chunk
      assert.deepEqual([l.startPos, l.length], [4, 0]);
      l.append(rows(4, 5), rows(14, 15), 2);
      assert.deepEqual([...l.k.subarray(0, 4)], [4, -4, 5, -5]);
      assert.deepEqual([...l.v.subarray(0, 4)], [14, -14, 15, -15]);
      assert.equal(l.endPos, 6);
      assert.ok(l.k.length <= 4 * 2);
      assert.throws(() => l.append(rows(6, 7, 8), rows(6, 7, 8), 3), /KV cache overflow/);

      const g = new LayerKvCache(1, 100, null); // global: never forgets
      g.append(Float32Array.from([1, 2, 3]), Float32Array.from([1, 2, 3]), 3);
      g.prepare(3);
      assert.deepEqual([g.startPos, g.length], [0, 3]);
      g.truncate(1);
      assert.deepEqual([g.startPos, g.length], [0, 1]);
    });

    it('caps the chunked layers at min(nCtx, chunk) rows and rejects a bad context size', () => {
      const small = new KvCache(chunked.config, 10);
      assert.deepEqual(small.layers.map((l) => l.maxRows), [10, 10, 10, 10]);
      const big = new KvCache(chunked.config, 1000);
      assert.deepEqual(big.layers.map((l) => l.maxRows), [C, C, C, 1000]);
      assert.deepEqual(big.layers.map((l) => l.chunk), [C, C, C, null]);
      for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new KvCache(chunked.config, bad), Llama4Error);
    });
  });

  describe('Session.evaluate', () => {
    /** Logits after the last of `seq` from a fresh cache. */
    const fresh = (seq: readonly number[]) => chunked.forward(chunked.newCache(128), seq);

    it('reuses the common prefix and gives the logits of a fresh session', () => {
      const s = new Session(chunked, 128);
      assert.equal(s.nCtx, 128);
      const check = (seq: number[], reused: number, what: string) => {
        const r = s.evaluate(seq);
        assert.equal(r.reused, reused, `${what}: reused`);
        const d = maxAbsDiff(r.logits, fresh(seq));
        assert.ok(d <= TOL, `${what}: max |Δ| ${d}`);
        assert.deepEqual(s.tokens, seq, `${what}: cache tokens`);
        assert.equal(s.cache.nPast, seq.length);
      };
      check(ids.slice(0, 40), 0, 'first prompt');
      check(ids.slice(0, 60), 40, 'extension (next chat turn)');
      check(ids.slice(0, 60), 59, 'identical prompt: the last token runs again');
      check([...ids.slice(0, 52), 700, 701], 52, 'rewind inside the held chunk (48..59)');
      check([...ids.slice(0, 48), 702, 703, 704], 48, 'rewind to the held chunk start');
      const step = s.step(ids[5]);
      assert.ok(maxAbsDiff(step, fresh([...ids.slice(0, 48), 702, 703, 704, ids[5]])) <= TOL, 'step');
      assert.equal(s.cache.nPast, 52);
    });

    it('falls back to a fresh evaluation when the common prefix ends in a forgotten chunk', () => {
      const s = new Session(chunked, 128);
      s.evaluate(ids.slice(0, 50)); // chunked layers hold 48..49
      const seq = [...ids.slice(0, 20), 705, 706, 707]; // shares 20 tokens: 16..19 are forgotten
      const r = s.evaluate(seq);
      // Reusing 20 is impossible; 0 (full re-evaluation) or 16 (the forgotten chunk's start) are correct.
      assert.ok(r.reused === 0 || r.reused === 16, `reused ${r.reused}`);
      const d = maxAbsDiff(r.logits, fresh(seq));
      assert.ok(d <= TOL, `max |Δ| ${d}`);
      assert.deepEqual(s.tokens, seq);
      assert.deepEqual(s.cache.layers.map((l) => [l.startPos, l.length]), [[16, 7], [16, 7], [16, 7], [0, 23]]);

      // The same when the prompt is a prefix of the cache and its last token lies in a forgotten chunk.
      const t = new Session(chunked, 128);
      t.evaluate(ids.slice(0, 33)); // chunked layers hold 32
      const r2 = t.evaluate(ids.slice(0, 16)); // the last token (position 15) must run again
      assert.equal(r2.reused, 0);
      assert.ok(maxAbsDiff(r2.logits, row(batched, 15, V)) <= TOL);
      assert.deepEqual(t.tokens, ids.slice(0, 16));
      // … and after it the session goes on correctly.
      const more = t.evaluate(ids.slice(0, 45));
      assert.equal(more.reused, 16);
      assert.ok(maxAbsDiff(more.logits, row(batched, 44, V)) <= TOL);
    });

    it('rejects an empty prompt', () => {
      assert.throws(() => new Session(chunked, 16).evaluate([]), Llama4Error);
    });
  });

  describe('context limit', () => {
    it('forward past nCtx throws a Llama4Error naming the sizes and changes nothing', () => {
      const cache = chunked.newCache(20);
      chunked.forward(cache, ids.slice(0, 15), { logits: 'none' });
      assert.throws(() => chunked.forward(cache, ids.slice(15, 21)), (e: unknown) => {
        assert.ok(e instanceof Llama4Error);
        assert.match(e.message, /\b6 new tokens\b/);
        assert.match(e.message, /\bafter 15\b/);
        assert.match(e.message, /\b20 tokens\b/);
        return true;
      });
      assert.equal(cache.nPast, 15);
      assert.deepEqual(cache.tokens, ids.slice(0, 15));
      // Exactly filling the context works, and then nothing more fits.
      const last = chunked.forward(cache, ids.slice(15, 20));
      assert.ok(maxAbsDiff(last, row(batched, 19, V)) <= TOL);
      assert.equal(cache.nPast, 20);
      assert.throws(() => chunked.forward(cache, [ids[20]]), (e: unknown) => e instanceof Llama4Error && /context size of 20/.test(e.message));
      assert.throws(() => new Session(chunked, 10).evaluate(ids.slice(0, 11)), (e: unknown) => e instanceof Llama4Error && /\b11\b/.test(e.message) && /\b10\b/.test(e.message));
    });

    it('rejects out-of-range token ids before touching the cache', () => {
      const cache = chunked.newCache(20);
      assert.throws(() => chunked.forward(cache, [1, V]), (e: unknown) => e instanceof Llama4Error && new RegExp(`\\b${V}\\b`).test(e.message));
      assert.throws(() => chunked.forward(cache, [-1]), Llama4Error);
      assert.equal(cache.nPast, 0);
    });
  });

  it('prints the measured differences', () => {
    process.stdout.write(`${measured.join('\n')}\n`);
    assert.equal(measured.length, 2);
  });
});
