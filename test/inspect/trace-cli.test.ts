/**
 * `llama4 trace` end to end: the JSON contract, the HTML file, --compare across prompts and
 * models, interventions on the command line, a dense model, and usage errors.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, scratchDir, describeResult } from '../cli/helpers.js';
import { modelDir } from '../support/fixtures.js';

const MOE = modelDir('llama4-tiny-moe');
const PROMPT = 'The quick brown fox jumps over the lazy dog.';

interface RoutingJson { layer: number; position: number; experts: number[]; weights: number[]; logits?: number[] }
interface TraceJson {
  tokens: number[]; pieces: string[]; routing: RoutingJson[]; expertLoad: { layer: number; counts: number[] }[];
  attention: { layer: number; head: number; probs: number[][] }[]; lens: { layer: number; position: number; top: { id: number; piece: string; prob: number }[] }[];
  next: { id: number; piece: string; prob: number; logit: number }[]; model: { nLayers: number; moeLayers: number[] };
}
interface CompareJson { a: TraceJson; b: TraceJson; labels: string[]; comparison: { positions: number; firstTokenDifference: number | null; firstRoutingDivergence: { layer: number; position: number } | null; routing: { same: boolean }[]; next: { totalVariation: number | null; sameTop: boolean } } }

async function ok(args: string[]): Promise<string> {
  const r = await runCli(args, { timeoutMs: 60_000 });
  assert.equal(r.status, 0, describeResult(r));
  return r.stdout;
}

describe('llama4 trace', () => {
  let scratch: { dir: string; cleanup: () => void };
  before(() => { scratch = scratchDir('trace-cli'); });
  after(() => scratch.cleanup());

  it('--json prints tokens, routing, expert load, attention, logit lens and next token', async () => {
    const t = JSON.parse(await ok(['trace', MOE, '--prompt', PROMPT, '--json', '--router-logits'])) as TraceJson;
    const ids = JSON.parse(await ok(['tokenize', MOE, PROMPT])) as number[];
    assert.deepEqual(t.tokens, ids);
    const T = ids.length;
    assert.equal(t.pieces.length, T);
    assert.equal(t.routing.length, 4 * T);
    for (const r of t.routing) {
      assert.deepEqual(Object.keys(r).slice(0, 4), ['layer', 'position', 'experts', 'weights']);
      assert.equal(r.experts.length, 1);
      assert.ok(r.weights[0] > 0 && r.weights[0] < 1);
      assert.equal(r.logits!.length, 4);
      assert.equal(r.experts[0], r.logits!.indexOf(Math.max(...r.logits!)));
    }
    assert.deepEqual(t.expertLoad.map((l) => l.counts.reduce((a, b) => a + b, 0)), [T, T, T, T]);
    assert.equal(t.attention.length, 16, 'every layer and head of a small model');
    assert.equal(t.attention[0].probs[T - 1].length, T);
    assert.equal(t.lens.length, 4 * T);
    assert.equal(t.next.length, 20);
    assert.ok(t.next[0].prob >= t.next[1].prob);
    // The wasm and ref backends route the same.
    const ref = JSON.parse(await ok(['trace', MOE, '--prompt', PROMPT, '--json', '--backend', 'ref', '--layers', '3', '--heads', '1'])) as TraceJson;
    assert.deepEqual(ref.routing.map((r) => r.experts), t.routing.map((r) => r.experts));
    assert.deepEqual(ref.attention.map((a) => [a.layer, a.head]), [[3, 1]]);
  });

  it('--out writes one self-contained HTML file, --json FILE the same data', async () => {
    const html = join(scratch.dir, 'report.html'), json = join(scratch.dir, 'trace.json');
    const r = await runCli(['trace', MOE, '--prompt', PROMPT, '--out', html, '--json', json]);
    assert.equal(r.status, 0, describeResult(r));
    assert.equal(r.stdout, '');
    const page = readFileSync(html, 'utf8');
    assert.match(page, /^<!DOCTYPE html>/);
    assert.doesNotMatch(page, /<script|<link|@import|url\(|(src|href)="(https?:)?\/\//i, 'no scripts and nothing fetched');
    assert.match(page, /class="route-cell"/);
    const t = JSON.parse(readFileSync(json, 'utf8')) as TraceJson;
    assert.equal((page.match(/class="route-cell"/g) ?? []).length, t.routing.length);
  });

  it('--compare of two prompts shows where routing and predictions diverge', async () => {
    const c = JSON.parse(await ok(['trace', MOE, '--compare', '--prompt', PROMPT, '--prompt', 'The quick brown cat sleeps.', '--json'])) as CompareJson;
    assert.equal(c.labels.length, 2);
    const T = Math.min(c.a.tokens.length, c.b.tokens.length);
    assert.equal(c.comparison.positions, T);
    assert.ok(c.comparison.firstTokenDifference !== null && c.comparison.firstTokenDifference > 0);
    assert.equal(c.comparison.routing.length, 4 * T);
    // The shared prefix routes identically: nothing diverges before the first differing token.
    assert.ok(c.comparison.firstRoutingDivergence === null || c.comparison.firstRoutingDivergence.position >= c.comparison.firstTokenDifference!);
  });

  it('--compare of two models (f32 and its q4_0 GGUF) with one prompt', async () => {
    const html = join(scratch.dir, 'models.html');
    const c = JSON.parse(await ok(['trace', MOE, join(MOE, 'llama4-tiny-moe-q4_0.gguf'), '--compare', '--prompt', PROMPT, '--json', '--out', html])) as CompareJson;
    assert.deepEqual(c.a.tokens, c.b.tokens);
    assert.equal(c.comparison.firstTokenDifference, null);
    assert.ok(c.comparison.next.totalVariation! > 0, 'quantization moves the distribution');
    assert.match(readFileSync(html, 'utf8'), /class="diff-cell/);
  });

  it('interventions trace the prompt clean and intervened and compare the two', async () => {
    const zeros = join(scratch.dir, 'zeros.json');
    writeFileSync(zeros, JSON.stringify(new Array(64).fill(0)));
    const steered = JSON.parse(await ok(['trace', MOE, '--prompt', PROMPT, '--json', '--steer', `1:${zeros}`])) as CompareJson;
    assert.deepEqual(steered.labels, ['clean', 'intervened']);
    assert.equal(steered.comparison.next.totalVariation, 0, 'a zero vector changes nothing');
    assert.equal(steered.comparison.firstRoutingDivergence, null);

    const html = join(scratch.dir, 'ablated.html');
    const ablated = JSON.parse(await ok(['trace', MOE, '--prompt', PROMPT, '--json', '--out', html, '--ablate-expert', '1:2', '--force-route', '2:3:1'])) as CompareJson;
    const page = readFileSync(html, 'utf8');
    assert.match(page, /Interventions: <code>disable expert 1:2; force layer 2 position 3 → 1<\/code>/);
    assert.match(page, /Where clean and intervened diverge/);
    assert.ok(ablated.b.routing.filter((r) => r.layer === 1).every((r) => !r.experts.includes(2)));
    assert.deepEqual(ablated.b.routing.find((r) => r.layer === 2 && r.position === 3)!.experts, [1]);
    assert.ok(ablated.comparison.next.totalVariation! > 0);
  });

  it('a dense Llama 3 model traces without routing', async () => {
    const html = join(scratch.dir, 'dense.html');
    const t = JSON.parse(await ok(['trace', modelDir('llama3-tiny'), '--prompt', PROMPT, '--json', '--out', html])) as TraceJson;
    assert.deepEqual(t.routing, []);
    assert.equal(t.attention.length, 2 * 4);
    assert.equal(t.lens.length, 2 * t.tokens.length);
    assert.match(readFileSync(html, 'utf8'), /no mixture-of-experts layers/);
  });

  it('usage errors are one line and exit 1', async () => {
    for (const [args, msg] of [
      [['trace', MOE, '--prompt', 'a', '--compare'], /--compare takes two prompts/],
      [['trace', MOE, '--prompt', 'a', '--prompt', 'b'], /need --compare/],
      [['trace', MOE, '--prompt', 'a', '--ablate-expert', '9:0'], /layer 9 is out of range/],
      [['trace', MOE, '--prompt', 'a', '--ablate-expert', 'x'], /--ablate-expert takes 2 colon-separated fields/],
      [['trace', MOE, '--prompt', 'a', '--layers', '7'], /layer 7 is out of range/],
      [['trace', MOE], /give the prompt/],
    ] as const) {
      const r = await runCli([...args]);
      assert.equal(r.status, 1, describeResult(r));
      assert.match(r.stderr, /^llama4: /);
      assert.match(r.stderr, msg);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
  });
});
