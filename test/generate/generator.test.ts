/**
 * The streaming generator on the tiny Llama 4 fixture (llama4-tiny-moe f32 GGUF): greedy output
 * equals llama.cpp's golden continuation; streamed text (pieces + tail) equals the result text and
 * the tokenizer's decoding, also when UTF-8 characters are split across tokens; maxTokens, stop
 * strings, end-of-generation ids, seeds, AbortSignal, logprobs and the context limit.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadModel, type LoadedModel } from '../../src/load.js';
import { Session } from '../../src/model/session.js';
import { generate, type GenerateOptions, type GeneratedToken, type GenerationResult } from '../../src/generate/generator.js';
import { Llama4Error } from '../../src/errors.js';
import { modelDir, readGolden, type Golden } from '../support/fixtures.js';

interface Run { steps: GeneratedToken[]; result: GenerationResult }

async function collect(it: AsyncGenerator<GeneratedToken, GenerationResult>, onStep?: (t: GeneratedToken, n: number) => void): Promise<Run> {
  const steps: GeneratedToken[] = [];
  for (let r = await it.next(); ; r = await it.next()) {
    if (r.done) return { steps, result: r.value };
    steps.push(r.value);
    onStep?.(r.value, steps.length);
  }
}

/** Every streamed piece, then the tail: what a streaming consumer prints. */
const streamed = (r: Run) => r.steps.map((s) => s.text).join('') + r.result.tail;

function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

function logSoftmaxAt(x: ArrayLike<number>, id: number): number {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) max = Math.max(max, x[i]);
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += Math.exp(x[i] - max);
  return x[id] - max - Math.log(sum);
}

describe('generate() on llama4-tiny-moe', () => {
  let m: LoadedModel;
  let g: Golden;
  let prompt: number[];
  let greedy: number[];
  /** id of the single-byte token for each byte value. */
  const byteToken = new Map<number, number>();
  const session = (nCtx = 256) => new Session(m.model, nCtx);
  const run = (opts: GenerateOptions, ids: readonly number[] = prompt, s = session()) => collect(generate(s, m.tokenizer, ids, opts));

  before(async () => {
    m = await loadModel(join(modelDir('llama4-tiny-moe'), 'llama4-tiny-moe-f32.gguf'));
    g = readGolden('llama4-tiny-moe', 'short.f32.json');
    prompt = g.prompt_token_ids;
    greedy = g.greedy_continuation_ids;
    for (let id = 0; id < m.tokenizer.vocabSize; id++) {
      const b = m.tokenizer.tokenBytes(id);
      if (b.length === 1 && !byteToken.has(b[0])) byteToken.set(b[0], id);
    }
  });

  it('greedy (temperature 0, ignoreEos) reproduces the 32-token golden continuation', async () => {
    const r = await run({ maxTokens: 32, ignoreEos: true, stopIds: m.tokenizer.eogIds, sampling: { temperature: 0 } });
    assert.deepEqual(r.result.ids, greedy);
    assert.deepEqual(r.steps.map((s) => s.id), greedy);
    assert.equal(r.result.finishReason, 'length');
    assert.equal(r.result.promptTokens, prompt.length);
    assert.equal(r.result.reusedTokens, 0);
    assert.equal(r.steps[0].logprob, undefined);
  });

  it('streamed pieces + tail equal the result text and tokenizer.decode(ids)', async () => {
    const r = await run({ maxTokens: 32, ignoreEos: true, sampling: { temperature: 0 } });
    const text = m.tokenizer.decode(greedy);
    assert.equal(r.result.text, text);
    assert.equal(streamed(r), text);
    // The golden continuation holds lone non-ASCII bytes (invalid UTF-8 → U+FFFD).
    assert.ok(text.includes('\uFFFD'));
    // Sampled runs hit byte tokens in every combination; the stream must still decode like decode().
    for (const seed of [1, 2, 3, 4, 5]) {
      const s = await run({ maxTokens: 40, ignoreEos: true, sampling: { temperature: 1.5, seed } });
      assert.equal(streamed(s), s.result.text, `seed ${seed}`);
      assert.equal(s.result.text, m.tokenizer.decode(s.result.ids), `seed ${seed}`);
    }
  });

  it('multi-byte characters split across tokens are streamed whole, once complete', async () => {
    // Biasing the two bytes of 'é' (C3 A9) makes the model produce them in every order.
    const c3 = byteToken.get(0xc3)!, a9 = byteToken.get(0xa9)!;
    const r = await run({ maxTokens: 40, ignoreEos: true, sampling: { temperature: 1, seed: 11, logitBias: { [c3]: 12, [a9]: 12 } } });
    const ids = r.result.ids;
    assert.equal(r.result.text, m.tokenizer.decode(ids));
    assert.equal(streamed(r), r.result.text);
    let pairs = 0;
    for (let i = 0; i + 1 < ids.length; i++) {
      if (ids[i] === c3 && ids[i + 1] === a9) {
        pairs++;
        // The lead byte alone emits nothing (or U+FFFD for a previous lead byte left unfinished) …
        assert.equal(r.steps[i].text, i > 0 && ids[i - 1] === c3 ? '\uFFFD' : '', `step ${i}`);
        // … and the continuation byte completes 'é'.
        assert.equal(r.steps[i + 1].text, 'é', `step ${i + 1}`);
      }
    }
    assert.ok(pairs >= 2, `only ${pairs} C3 A9 pairs in ${ids.join(',')}`);
    assert.ok(r.result.text.includes('é'));
  });

  describe('scripted token streams (a stand-in session that forces each next token)', () => {
    /** A Session look-alike whose logits make `script[k]` the k-th greedy token. */
    function scripted(script: readonly number[], nCtx = 1000): Session {
      const V = m.config.vocabSize;
      let k = 0;
      const cache = { nPast: 0 };
      const next = () => { const l = new Float32Array(V); l[script[Math.min(k++, script.length - 1)]] = 10; return l; };
      return {
        model: { config: m.config }, nCtx, cache,
        evaluate(ids: readonly number[]) { cache.nPast = ids.length; return { logits: next(), reused: 0 }; },
        step() { cache.nPast++; return next(); },
      } as unknown as Session;
    }
    const bytes = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => byteToken.get(b)!);

    it('2-, 3- and 4-byte characters, one byte per token', async () => {
      const text = 'aé€😀b';
      const script = bytes(text);
      assert.equal(script.length, 11);
      const r = await collect(generate(scripted(script), m.tokenizer, [1, 2], { maxTokens: script.length, sampling: { temperature: 0 } }));
      assert.deepEqual(r.result.ids, script);
      assert.deepEqual(r.steps.map((s) => s.text), ['a', '', 'é', '', '', '€', '', '', '', '😀', 'b']);
      assert.equal(r.result.text, text);
      assert.equal(r.result.tail, '');
      assert.equal(m.tokenizer.decode(script), text);
    });

    it('an unfinished character at the end comes out in the tail as U+FFFD, as decode() gives it', async () => {
      const script = [...bytes('x'), ...bytes('😀').slice(0, 3)];
      const r = await collect(generate(scripted(script), m.tokenizer, [1], { maxTokens: 4, sampling: { temperature: 0 } }));
      assert.deepEqual(r.steps.map((s) => s.text), ['x', '', '', '']);
      assert.equal(r.result.tail, '\uFFFD');
      assert.equal(r.result.text, 'x\uFFFD');
      assert.equal(r.result.text, m.tokenizer.decode(script));
    });

    it('a leading U+FEFF the model generated is kept, as decode() keeps it', async () => {
      const script = bytes('\uFEFFhi');
      const r = await collect(generate(scripted(script), m.tokenizer, [1], { maxTokens: script.length, sampling: { temperature: 0 } }));
      assert.equal(m.tokenizer.decode(script), '\uFEFFhi');
      assert.equal(r.result.text, m.tokenizer.decode(script));
      assert.equal(streamed(r), '\uFEFFhi');
    });

    it('a stop string split across tokens and characters', async () => {
      const script = bytes('ab€cd');
      const r = await collect(generate(scripted(script), m.tokenizer, [1], { maxTokens: 20, stop: ['b€c'], sampling: { temperature: 0 } }));
      assert.equal(r.result.finishReason, 'stop');
      assert.equal(r.result.text, 'a');
      assert.equal(streamed(r), 'a');
      assert.deepEqual(r.result.ids, script.slice(0, 6)); // a b E2 82 AC c
    });
  });

  it('maxTokens is respected (finishReason "length"), also 0', async () => {
    const r = await run({ maxTokens: 5, ignoreEos: true, sampling: { temperature: 0 } });
    assert.deepEqual(r.result.ids, greedy.slice(0, 5));
    assert.equal(r.steps.length, 5);
    assert.equal(r.result.finishReason, 'length');
    assert.equal(r.result.text, m.tokenizer.decode(greedy.slice(0, 5)));
    const z = await run({ maxTokens: 0, sampling: { temperature: 0 } });
    assert.deepEqual(z.result.ids, []);
    assert.equal(z.steps.length, 0);
    assert.equal(z.result.text, '');
    assert.equal(z.result.finishReason, 'length');
    await assert.rejects(run({ maxTokens: -1 }), Llama4Error);
    await assert.rejects(run({ maxTokens: 1.5 }), Llama4Error);
  });

  it('a follow-up prompt that extends the conversation reuses the cached prefix', async () => {
    const s = session();
    const first = await run({ maxTokens: 6, ignoreEos: true, sampling: { temperature: 0 } }, prompt, s);
    // The last generated token was never fed back, so the cache holds prompt + 5 tokens.
    assert.deepEqual(s.tokens, [...prompt, ...first.result.ids.slice(0, 5)]);
    const next = [...prompt, ...first.result.ids, 300, 301];
    const second = await run({ maxTokens: 4, ignoreEos: true, sampling: { temperature: 0 } }, next, s);
    assert.equal(second.result.reusedTokens, prompt.length + 5);
    assert.equal(second.result.promptTokens, next.length);
    const freshRun = await run({ maxTokens: 4, ignoreEos: true, sampling: { temperature: 0 } }, next);
    assert.deepEqual(second.result.ids, freshRun.result.ids);
  });

  describe('stop strings', () => {
    it('cut the text before the stop string (straddling two tokens) and finish with "stop"', async () => {
      const full = m.tokenizer.decode(greedy);
      const stop = ' apcl'; // ' ap' + 'claim' (tokens 22 and 23 of the golden continuation)
      const at = full.indexOf(stop);
      assert.ok(at > 0);
      // The first token count whose text contains the stop string.
      let k = 1;
      while (!m.tokenizer.decode(greedy.slice(0, k)).includes(stop)) k++;
      assert.equal(k, 24);
      const r = await run({ maxTokens: 32, ignoreEos: true, stop: [stop, 'never-in-output'], sampling: { temperature: 0 } });
      assert.equal(r.result.finishReason, 'stop');
      assert.equal(r.result.text, full.slice(0, at));
      assert.equal(streamed(r), full.slice(0, at));
      assert.equal(r.result.tail, '');
      assert.deepEqual(r.result.ids, greedy.slice(0, k));
      assert.ok(!r.steps.some((s) => s.text.includes(' ap')), 'the held-back start of the stop string is never emitted');
    });

    it('the earliest of several stop strings wins; a stop string that never occurs changes nothing', async () => {
      const full = m.tokenizer.decode(greedy);
      const r = await run({ maxTokens: 32, ignoreEos: true, stop: ['claim', 'grant'], sampling: { temperature: 0 } });
      assert.equal(r.result.text, full.slice(0, full.indexOf('grant')));
      assert.deepEqual(r.result.ids, greedy.slice(0, 9));
      const none = await run({ maxTokens: 32, ignoreEos: true, stop: ['zzzz'], sampling: { temperature: 0 } });
      assert.equal(none.result.finishReason, 'length');
      assert.equal(none.result.text, full);
      assert.equal(streamed(none), full);
    });
  });

  describe('end-of-generation ids', () => {
    it('an id in stopIds ends generation with "stop" and is not part of the output', async () => {
      const eot = m.tokenizer.eotId!;
      assert.ok(m.tokenizer.eogIds.has(eot));
      const r = await run({ maxTokens: 8, stopIds: m.tokenizer.eogIds, sampling: { temperature: 0, logitBias: { [eot]: 100 } } });
      assert.equal(r.result.finishReason, 'stop');
      assert.deepEqual(r.result.ids, []);
      assert.equal(r.steps.length, 0);
      assert.equal(r.result.text, '');
      // With ignoreEos the same id is generated and kept.
      const kept = await run({ maxTokens: 4, ignoreEos: true, stopIds: m.tokenizer.eogIds, sampling: { temperature: 0, logitBias: { [eot]: 100 } } });
      assert.deepEqual(kept.result.ids, [eot, eot, eot, eot]);
      assert.equal(kept.result.finishReason, 'length');
      // Not in stopIds: an ordinary token.
      const plain = await run({ maxTokens: 2, sampling: { temperature: 0, logitBias: { [eot]: 100 } } });
      assert.deepEqual(plain.result.ids, [eot, eot]);
      assert.equal(plain.result.finishReason, 'length');
    });

    it('stops after the tokens generated before the end-of-generation id', async () => {
      // Margins top − eog along the greedy path; a bias between the running minimum and a new,
      // lower minimum at step s makes the eog id win exactly at step s.
      const cache = m.model.newCache(128);
      const margins = new Map<number, number[]>();
      const eogs = [...m.tokenizer.eogIds];
      let logits = m.model.forward(cache, prompt);
      for (let s = 0; s < greedy.length; s++) {
        const top = logits[argmax(logits)];
        for (const e of eogs) { if (!margins.has(e)) margins.set(e, []); margins.get(e)!.push(top - logits[e]); }
        logits = m.model.forward(cache, [greedy[s]]);
      }
      let found: { eog: number; step: number; bias: number } | undefined;
      for (const e of eogs) {
        const ms = margins.get(e)!;
        let min = ms[0];
        for (let s = 1; s < ms.length && !found; s++) {
          if (ms[s] < min - 0.01 && s >= 3) found = { eog: e, step: s, bias: (ms[s] + min) / 2 };
          min = Math.min(min, ms[s]);
        }
        if (found) break;
      }
      assert.ok(found, 'no end-of-generation id becomes reachable with a constant bias');
      const r = await run({ maxTokens: 32, stopIds: m.tokenizer.eogIds, sampling: { temperature: 0, logitBias: { [found.eog]: found.bias } } });
      assert.equal(r.result.finishReason, 'stop');
      assert.deepEqual(r.result.ids, greedy.slice(0, found.step));
      assert.ok(!r.result.ids.includes(found.eog));
      assert.equal(r.result.text, m.tokenizer.decode(greedy.slice(0, found.step)));
      assert.equal(streamed(r), r.result.text);
    });
  });

  it('same seed → same tokens at temperature 1; different seeds → different tokens', async () => {
    const opts = (seed: number): GenerateOptions => ({ maxTokens: 24, ignoreEos: true, sampling: { temperature: 1, seed } });
    const a = await run(opts(42));
    const b = await run(opts(42));
    const c = await run(opts(43));
    assert.equal(a.result.seed, 42);
    assert.equal(c.result.seed, 43);
    assert.deepEqual(a.result.ids, b.result.ids);
    assert.equal(a.result.text, b.result.text);
    assert.notDeepEqual(a.result.ids, c.result.ids);
    assert.notDeepEqual(a.result.ids, greedy.slice(0, 24), 'temperature 1 should not be greedy on this model');
    // Without a seed, the drawn seed reproduces the run.
    const d = await run({ maxTokens: 24, ignoreEos: true, sampling: { temperature: 1 } });
    const e = await run(opts(d.result.seed));
    assert.deepEqual(e.result.ids, d.result.ids);
  });

  describe('AbortSignal', () => {
    it('aborting after a token ends generation before the next one, with "abort"', async () => {
      const ctrl = new AbortController();
      const r = await collect(generate(session(), m.tokenizer, prompt, { maxTokens: 32, ignoreEos: true, sampling: { temperature: 0 }, signal: ctrl.signal }),
        (_t, n) => { if (n === 3) ctrl.abort(); });
      assert.equal(r.result.finishReason, 'abort');
      assert.deepEqual(r.result.ids, greedy.slice(0, 3));
      assert.equal(r.result.text, m.tokenizer.decode(greedy.slice(0, 3)));
      assert.equal(streamed(r), r.result.text);
    });

    it('an abort from a timer during generation stops within one step', async () => {
      const ctrl = new AbortController();
      let atAbort = -1;
      let count = 0;
      const it = generate(session(4096), m.tokenizer, prompt, { maxTokens: 4000, ignoreEos: true, sampling: { temperature: 1, seed: 5 }, signal: ctrl.signal });
      setTimeout(() => { atAbort = count; ctrl.abort(); }, 30);
      const r = await collect(it, (_t, n) => { count = n; });
      assert.equal(r.result.finishReason, 'abort');
      assert.ok(atAbort >= 0, 'the timer ran during generation');
      assert.ok(r.result.ids.length <= atAbort + 1, `${r.result.ids.length} tokens, ${atAbort} when aborted`);
      assert.ok(r.result.ids.length < 4000);
    });

    it('an already aborted signal rejects before evaluating the prompt', async () => {
      const s = session();
      await assert.rejects(run({ maxTokens: 4, signal: AbortSignal.abort() }, prompt, s), Llama4Error);
      assert.equal(s.cache.nPast, 0);
    });
  });

  describe('logprobs', () => {
    it('greedy: log-softmax of the raw logits, top list sorted, the chosen token is the top-1', async () => {
      const n = 8;
      const r = await run({ maxTokens: n, ignoreEos: true, logprobs: 5, sampling: { temperature: 0 } });
      assert.deepEqual(r.result.ids, greedy.slice(0, n));
      // Reference logits for every step from one batched pass.
      const V = m.config.vocabSize;
      const all = m.model.forward(m.model.newCache(64), [...prompt, ...greedy.slice(0, n - 1)], { logits: 'all' });
      r.steps.forEach((s, i) => {
        const ref = all.subarray((prompt.length - 1 + i) * V, (prompt.length + i) * V);
        assert.ok(s.logprob !== undefined && s.topLogprobs !== undefined);
        assert.ok(s.logprob <= 0);
        assert.ok(Math.abs(s.logprob - logSoftmaxAt(ref, s.id)) <= 1e-5, `step ${i}: ${s.logprob} vs ${logSoftmaxAt(ref, s.id)}`);
        assert.equal(s.topLogprobs.length, 5);
        for (let j = 1; j < 5; j++) assert.ok(s.topLogprobs[j - 1].logprob >= s.topLogprobs[j].logprob, `step ${i}: top list not sorted`);
        assert.equal(s.topLogprobs[0].id, s.id);
        assert.equal(s.topLogprobs[0].logprob, s.logprob);
        for (const t of s.topLogprobs) assert.ok(Math.abs(t.logprob - logSoftmaxAt(ref, t.id)) <= 1e-5);
        assert.ok(s.topLogprobs.reduce((a, t) => a + Math.exp(t.logprob), 0) <= 1 + 1e-9);
        assert.equal(new Set(s.topLogprobs.map((t) => t.id)).size, 5);
      });
    });

    it('sampling: the chosen token\'s logprob is that of the model, not of the tempered distribution; logprobs 0 gives no alternatives', async () => {
      const r = await run({ maxTokens: 6, ignoreEos: true, logprobs: 0, sampling: { temperature: 2, seed: 3 } });
      const V = m.config.vocabSize;
      const all = m.model.forward(m.model.newCache(64), [...prompt, ...r.result.ids.slice(0, 5)], { logits: 'all' });
      r.steps.forEach((s, i) => {
        assert.deepEqual(s.topLogprobs, []);
        const ref = all.subarray((prompt.length - 1 + i) * V, (prompt.length + i) * V);
        assert.ok(Math.abs(s.logprob! - logSoftmaxAt(ref, s.id)) <= 1e-5);
      });
    });
  });

  describe('context limit', () => {
    it('a prompt as long as the context is a Llama4Error naming both sizes', async () => {
      const s = session(prompt.length);
      await assert.rejects(run({ maxTokens: 4 }, prompt, s), (e: unknown) =>
        e instanceof Llama4Error && new RegExp(`\\b${prompt.length}\\b`).test(e.message) && /context/.test(e.message));
      await assert.rejects(run({ maxTokens: 4 }, [...prompt, 5], session(prompt.length)), Llama4Error);
    });

    it('generation that reaches the end of the context finishes with "length"', async () => {
      // nCtx = prompt + 1: the first token is fed back into the last slot, the second cannot be.
      const r = await run({ maxTokens: 10, ignoreEos: true, sampling: { temperature: 0 } }, prompt, session(prompt.length + 1));
      assert.equal(r.result.finishReason, 'length');
      assert.deepEqual(r.result.ids, greedy.slice(0, 2));
    });

    it('an empty prompt is a Llama4Error', async () => {
      await assert.rejects(run({ maxTokens: 4 }, []), Llama4Error);
    });
  });
});
