/**
 * The command-line contracts external checkers rely on, pinned against the fixture goldens:
 * `logits` (one JSON line, llama.cpp's logits within 1e-4), `generate --json` (32 greedy ids
 * identical), `tokenize` (llama-tokenize's ids exactly), `run` (seeded determinism, the chat
 * template) and `chat` (the conversation stays in the KV cache between turns).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, type LoadedModel } from '../../src/load.js';
import { generate } from '../../src/generate/generator.js';
import { Session } from '../../src/model/session.js';
import { encodeChat, type ChatMessage } from '../../src/tokenizer/chat.js';
import { FIXTURES, modelDir, readGolden, type FixtureModel } from '../support/fixtures.js';
import { describeResult, runCli, scratchDir, type CliResult } from './helpers.js';

const ATOL = 1e-4;
const MOE: FixtureModel = 'llama4-tiny-moe';
const L3: FixtureModel = 'llama3-tiny';
const gguf = (model: FixtureModel, type: string) => join(modelDir(model), `${model}-${type}.gguf`);
/** Text of the short golden prompt (its ids are BOS + this text, see the `--prompt` tests). */
const SHORT_TEXT = 'Everyone is permitted to copy this license.';

/** Asserts a successful run whose stdout is exactly one line of JSON, and parses it. */
function oneJsonLine(r: CliResult): unknown {
  assert.equal(r.status, 0, describeResult(r));
  assert.equal(r.stderr, '', 'nothing on stderr');
  assert.ok(r.stdout.endsWith('\n'), 'stdout ends with a newline');
  assert.equal(r.stdout.indexOf('\n'), r.stdout.length - 1, 'stdout is exactly one line');
  return JSON.parse(r.stdout);
}

function checkLogits(out: unknown, positions: number[], goldenRows: number[][], label: string): void {
  const o = out as { positions: number[]; logits: number[][] };
  assert.deepEqual(Object.keys(o), ['positions', 'logits'], `${label}: output keys`);
  assert.deepEqual(o.positions, positions, `${label}: positions`);
  assert.equal(o.logits.length, positions.length, `${label}: one row per position`);
  o.logits.forEach((row, r) => {
    assert.equal(row.length, goldenRows[r].length, `${label}: row ${r} has n_vocab values`);
    for (let i = 0; i < row.length; i++) {
      const d = Math.abs(row[i] - goldenRows[r][i]);
      if (!(d <= ATOL)) assert.fail(`${label}: logit ${i} at position ${positions[r]} is ${row[i]}, golden ${goldenRows[r][i]}`);
    }
  });
}

/** What the generator streams: the UTF-8 decoding of the tokens' concatenated bytes. */
function bytesText(m: LoadedModel, ids: readonly number[]): string {
  return new TextDecoder().decode(Buffer.concat(ids.map((id) => m.tokenizer.tokenBytes(id))));
}

const scratch = scratchDir('cli-contracts');
after(() => scratch.cleanup());

// One in-process load per model, for expected texts and chat prompts.
const loaded = new Map<FixtureModel, LoadedModel>();
before(async () => {
  loaded.set(MOE, await loadModel(modelDir(MOE)));
  loaded.set(L3, await loadModel(modelDir(L3)));
});

describe('llama4 logits', { concurrency: 2 }, () => {
  const g = readGolden(MOE, 'short.f32.json');

  it('HF folder, --ids, default positions = all: one JSON line within 1e-4 of the golden', async () => {
    const r = await runCli(['logits', modelDir(MOE), '--ids', g.prompt_token_ids.join(',')]);
    const all = g.prompt_token_ids.map((_, i) => i);
    assert.deepEqual(g.logits_positions, all);
    checkLogits(oneJsonLine(r), all, g.logits, 'hf --ids');
  });

  it('GGUF file, --ids-file, --positions 15,3: rows in the order asked, within 1e-4', async () => {
    const file = join(scratch.dir, 'ids.json');
    writeFileSync(file, JSON.stringify(g.prompt_token_ids));
    const r = await runCli(['logits', gguf(MOE, 'f32'), '--ids-file', file, '--positions', '15,3']);
    checkLogits(oneJsonLine(r), [15, 3], [g.logits[15], g.logits[3]], 'gguf --ids-file');
  });

  it('GGUF q8_0, --ids-file with {"ids": […]}, default positions: matches the dequant-f32 golden', async () => {
    const gq = readGolden(MOE, 'short.q8_0.dequant-f32.json');
    const file = join(scratch.dir, 'ids-object.json');
    writeFileSync(file, JSON.stringify({ ids: gq.prompt_token_ids }));
    const r = await runCli(['logits', gguf(MOE, 'q8_0'), '--ids-file', file]);
    checkLogits(oneJsonLine(r), gq.prompt_token_ids.map((_, i) => i), gq.logits, 'gguf q8_0');
  });
});

describe('llama4 generate --json', { concurrency: 2 }, () => {
  const cases: { model: FixtureModel; source: string; golden: string; label: string }[] = [
    { model: MOE, source: modelDir(MOE), golden: 'short.f32.json', label: `${MOE} HF` },
    { model: MOE, source: gguf(MOE, 'q4_0'), golden: 'short.q4_0.dequant-f32.json', label: `${MOE} GGUF q4_0` },
    { model: L3, source: modelDir(L3), golden: 'short.f32.json', label: `${L3} HF` },
    { model: L3, source: gguf(L3, 'q8_0'), golden: 'short.q8_0.dequant-f32.json', label: `${L3} GGUF q8_0` },
  ];

  const checkGenerate = (r: CliResult, model: FixtureModel, want: number[], label: string) => {
    const out = oneJsonLine(r) as { ids: number[]; text: string; finish_reason: string };
    assert.deepEqual(Object.keys(out).slice(0, 2), ['ids', 'text'], `${label}: {"ids":…,"text":…} first`);
    assert.deepEqual(out.ids, want, `${label}: greedy ids`);
    assert.equal(out.finish_reason, 'length', `${label}: finish_reason`);
    const m = loaded.get(model)!;
    assert.equal(out.text, m.tokenizer.decode(out.ids), `${label}: text is the decoding of the ids`);
    assert.equal(out.text, bytesText(m, out.ids), `${label}: text is the UTF-8 of the token bytes`);
  };

  for (const c of cases) {
    it(`${c.label}: --ids, 32 greedy ids equal the golden continuation`, async () => {
      const g = readGolden(c.model, c.golden);
      const r = await runCli(['generate', c.source, '--ids', g.prompt_token_ids.join(','),
        '--max-tokens', '32', '--temperature', '0', '--ignore-eos', '--json']);
      checkGenerate(r, c.model, g.greedy_continuation_ids, c.label);
    });
  }

  for (const c of [cases[0], cases[3]]) {
    it(`${c.label}: --prompt TEXT is tokenized with BOS (same continuation as the golden's BOS + TEXT)`, async () => {
      const g = readGolden(c.model, c.golden);
      const m = loaded.get(c.model)!;
      // The golden prompt is exactly BOS + SHORT_TEXT.
      assert.equal(g.prompt_token_ids[0], m.tokenizer.bosId);
      assert.deepEqual(m.tokenizer.encode(SHORT_TEXT, { addBos: false }), g.prompt_token_ids.slice(1));
      const r = await runCli(['generate', c.source, '--prompt', SHORT_TEXT,
        '--max-tokens', '32', '--temperature', '0', '--ignore-eos', '--json']);
      checkGenerate(r, c.model, g.greedy_continuation_ids, `${c.label} --prompt`);
    });
  }
});

describe('llama4 tokenize', { concurrency: 4 }, () => {
  interface TokGolden { strings: { text: string; ids: number[]; ids_no_bos: number[]; ids_no_parse_special: number[] }[] }
  const sources: { model: FixtureModel; source: string; label: string }[] = [
    { model: MOE, source: modelDir(MOE), label: `${MOE} HF` },
    { model: L3, source: gguf(L3, 'f32'), label: `${L3} GGUF f32` },
  ];
  const variants = [
    { flags: [] as string[], key: 'ids' },
    { flags: ['--no-bos'], key: 'ids_no_bos' },
    { flags: ['--no-parse-special'], key: 'ids_no_parse_special' },
  ] as const;
  for (const s of sources) {
    const golden = JSON.parse(readFileSync(join(FIXTURES, s.model, 'golden', 'tokenizer.json'), 'utf8')) as TokGolden;
    assert.equal(golden.strings.length, 3);
    golden.strings.forEach((str, n) => {
      for (const v of variants) {
        it(`${s.label}: string ${n} ${v.flags.join(' ') || '(default)'} → golden ${v.key}`, async () => {
          const r = await runCli(['tokenize', s.source, str.text, ...v.flags]);
          assert.deepEqual(oneJsonLine(r), str[v.key]);
        });
      }
    });
  }
  it('the goldens distinguish the flags (special-token text in string 2)', () => {
    const golden = JSON.parse(readFileSync(join(FIXTURES, MOE, 'golden', 'tokenizer.json'), 'utf8')) as TokGolden;
    assert.notDeepEqual(golden.strings[2].ids, golden.strings[2].ids_no_parse_special);
    assert.notDeepEqual(golden.strings[0].ids, golden.strings[0].ids_no_bos);
  });
});

describe('llama4 run', { concurrency: 2 }, () => {
  const args = ['-p', 'Hello', '--max-tokens', '8', '--seed', '1'];
  let first: CliResult;
  before(async () => { first = await runCli(['run', ...args]); });

  it('default model: exits 0 and prints text', () => {
    assert.equal(first.status, 0, describeResult(first));
    assert.equal(first.stderr, '');
    assert.ok(first.stdout.endsWith('\n'));
    assert.ok(first.stdout.trim().length > 0, 'non-empty reply');
  });

  it('same seed → identical stdout', async () => {
    const again = await runCli(['run', ...args]);
    assert.equal(again.status, 0, describeResult(again));
    assert.equal(again.stdout, first.stdout);
  });

  it('the default model is the built-in fixtures/llama4-tiny-moe', async () => {
    const explicit = await runCli(['run', modelDir(MOE), ...args]);
    assert.equal(explicit.status, 0, describeResult(explicit));
    assert.equal(explicit.stdout, first.stdout);
  });

  it('--temperature 0 prints what generate prints for the chat-rendered prompt', async () => {
    const rendered = '<|header_start|>user<|header_end|>\n\nHello<|eot|><|header_start|>assistant<|header_end|>\n\n';
    assert.equal(loaded.get(MOE)!.chat.render([{ role: 'user', content: 'Hello' }]), `<|begin_of_text|>${rendered}`);
    const [run, gen] = await Promise.all([
      runCli(['run', modelDir(MOE), '-p', 'Hello', '--max-tokens', '8', '--temperature', '0', '--ignore-eos']),
      runCli(['generate', modelDir(MOE), '--prompt', rendered, '--max-tokens', '8', '--ignore-eos']),
    ]);
    assert.equal(run.status, 0, describeResult(run));
    assert.equal(gen.status, 0, describeResult(gen));
    assert.ok(gen.stdout.trim().length > 0);
    assert.equal(run.stdout, gen.stdout);
  });
});

describe('llama4 chat', () => {
  it('keeps the conversation in the KV cache between turns (--verbose reports the reuse)', async () => {
    const m = loaded.get(MOE)!;
    const turns = ['hello', 'how are you?'];
    const r = await runCli(['chat', modelDir(MOE), '--verbose', '--max-tokens', '5', '--temperature', '0'],
      { input: `${turns.join('\n')}\n/exit\n` });
    assert.equal(r.status, 0, describeResult(r));

    // The same conversation in-process: one session, the same greedy settings.
    const session = new Session(m.model, Math.min(4096, m.config.maxContext));
    const messages: ChatMessage[] = [];
    const expected: { line: string; promptLen: number; reused: number; text: string }[] = [];
    for (const t of turns) {
      messages.push({ role: 'user', content: t });
      const ids = encodeChat(m.tokenizer, m.chat, messages);
      const it = generate(session, m.tokenizer, ids, { maxTokens: 5, stopIds: m.tokenizer.stopIds, sampling: { temperature: 0 } });
      let res = await it.next();
      while (!res.done) res = await it.next();
      const v = res.value;
      messages.push({ role: 'assistant', content: v.text });
      expected.push({
        line: `[${v.reusedTokens} prompt tokens reused from the cache, ${ids.length - v.reusedTokens} evaluated, ${v.ids.length} generated, ${v.finishReason}]`,
        promptLen: ids.length, reused: v.reusedTokens, text: v.text,
      });
    }
    // The requirement itself: the second turn reuses the whole first prompt (and more).
    assert.equal(expected[0].reused, 0);
    assert.ok(expected[1].reused >= expected[0].promptLen, `second turn reuses ${expected[1].reused} of the first prompt's ${expected[0].promptLen} tokens`);

    const lines = r.stderr.split('\n').filter((l) => l.length > 0);
    assert.deepEqual(lines, expected.map((e) => e.line), 'one --verbose line per turn');
    const m2 = /^\[(\d+) prompt tokens reused from the cache/.exec(lines[1]);
    assert.ok(m2 && Number(m2[1]) >= expected[0].promptLen);
    for (const e of expected) assert.ok(r.stdout.includes(`${e.text}\n`), `stdout holds the reply ${JSON.stringify(e.text)}`);
  });
});
