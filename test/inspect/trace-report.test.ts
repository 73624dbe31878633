/**
 * The trace report in a real browser: headless Debian Chromium driven by playwright-core opens the
 * HTML written by `llama4 trace`, counts the rendered cells of the heatmap, histograms and
 * attention maps, checks that nothing was fetched, and saves a screenshot (its path is printed).
 * Compare, dense-model and large-prompt (PNG) reports are checked the same way.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { loadModel } from '../../src/load.js';
import { RefBackend } from '../../src/backend/ref/ref-backend.js';
import { compareTraces, renderReport, traceTokens } from '../../src/inspect/index.js';
import { runCli, describeResult } from '../cli/helpers.js';
import { modelDir } from '../support/fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PROMPT = 'Hello, Llama! Tell me about mixtures of experts.';
/** The one browser global used here (the tests compile without the DOM library). */
interface Window { getComputedStyle(e: unknown): { backgroundColor: string } }

describe('trace report in headless Chromium', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium)` }, () => {
  let dir: string;
  let ctx: BrowserContext;
  const external: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'llama4-trace-report-'));
    ctx = await chromium.launchPersistentContext(join(dir, 'profile'), { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1400, height: 1000 } });
    // Anything but the report's own file is a failure to be self-contained.
    await ctx.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file:') || url.startsWith('data:')) return route.continue();
      external.push(url);
      return route.abort();
    });
  });
  after(async () => {
    await ctx?.close();
    // The screenshots stay for a look; the browser profile does not.
    rmSync(join(dir, 'profile'), { recursive: true, force: true });
  });

  async function open(file: string): Promise<Page> {
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.goto(`file://${file}`, { waitUntil: 'load' });
    assert.deepEqual(errors, []);
    return page;
  }
  const count = (page: Page, selector: string) => page.locator(selector).count();

  it('the report of `llama4 trace --out` renders the heatmap, histograms, attention maps and lens with the right cell counts', async (t) => {
    const html = join(dir, 'report.html'), json = join(dir, 'trace.json');
    const r = await runCli(['trace', modelDir('llama4-tiny-moe'), '--prompt', PROMPT, '--layers', '0,3', '--out', html, '--json', json]);
    assert.equal(r.status, 0, describeResult(r));
    const data = JSON.parse(readFileSync(json, 'utf8')) as { tokens: number[]; routing: { layer: number; position: number; experts: number[]; weights: number[] }[]; expertLoad: { counts: number[] }[] };
    const T = data.tokens.length, layers = 4, experts = 4, heads = 4;
    const page = await open(html);

    assert.equal(await count(page, '.tok'), T);
    assert.equal(await count(page, '.routing-heatmap .route-cell'), layers * T);
    assert.equal(await count(page, '.legend-expert'), experts);
    assert.equal(await count(page, '.load-hist'), layers);
    assert.equal(await count(page, '.load-bar'), layers * experts);
    assert.equal(await count(page, '.attn-map'), 2 * heads);
    for (const map of await page.locator('.attn-map').all()) assert.equal(await map.locator('.attn-cell').count(), (T * (T + 1)) / 2);
    assert.equal(await count(page, '.lens-cell'), layers * T);
    assert.equal(await count(page, '.next-bar'), 20);

    // The cells carry the data: routing matches the JSON, bar counts sum to the tokens, rows of attention to 1.
    const cells = await page.$$eval('.route-cell', (els) => els.map((e) => ({ layer: Number(e.getAttribute('data-layer')), position: Number(e.getAttribute('data-position')), experts: e.getAttribute('data-experts'), fill: e.querySelector('rect')!.getAttribute('fill'), title: e.querySelector('title')!.textContent })));
    cells.forEach((c, i) => {
      assert.deepEqual([c.layer, c.position, c.experts], [data.routing[i].layer, data.routing[i].position, data.routing[i].experts.join(',')]);
      assert.match(c.title!, /expert \d: weight 0\.\d{3}/);
    });
    const legend = await page.$$eval('.legend-expert i', (els) => els.map((e) => (globalThis as unknown as Window).getComputedStyle(e).backgroundColor));
    assert.equal(new Set(legend).size, experts, 'one colour per expert');
    const bars = await page.$$eval('.load-bar', (els) => els.map((e) => Number(e.getAttribute('data-count'))));
    assert.deepEqual(bars, data.expertLoad.flatMap((l) => l.counts));
    const rowSums = await page.$$eval('.attn-map[data-layer="3"][data-head="2"] .attn-cell', (els) => {
      const sums: number[] = [];
      for (const e of els) { const q = Number(e.getAttribute('data-q')); sums[q] = (sums[q] ?? 0) + Number(e.getAttribute('data-p')); }
      return sums;
    });
    rowSums.forEach((s, q) => assert.ok(Math.abs(s - 1) < 1e-2, `attention row ${q} sums to ${s}`));

    // Really drawn: every plot has a size on screen.
    for (const sel of ['.routing-heatmap', '.load-hist svg', '.attn-map svg', 'table.lens', '.next-chart']) {
      const box = await page.locator(sel).first().boundingBox();
      assert.ok(box && box.width > 50 && box.height > 20, `${sel} is drawn (${JSON.stringify(box)})`);
    }
    const cellBox = await page.locator('.route-cell rect').first().boundingBox();
    assert.ok(cellBox && cellBox.width >= 8 && cellBox.height >= 8, 'heatmap cells are big enough to read');

    const shot = join(dir, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(readFileSync(shot).length > 10_000);
    t.diagnostic(`screenshot: ${shot}`);
    console.log(`trace report screenshot: ${shot}`);
    assert.deepEqual(external, [], 'no network requests');
    await page.close();
  });

  it('a comparison report, a dense model and a long prompt (PNG plots) render too', async (t) => {
    const moe = await loadModel(modelDir('llama4-tiny-moe'), { backend: new RefBackend() });
    const enc = (s: string) => moe.tokenizer.encode(s);
    const spec = { attention: { layers: [1], heads: [0, 1] } };
    const a = traceTokens(moe.model, enc(PROMPT), spec, { tokenizer: moe.tokenizer, prompt: PROMPT });
    const b = traceTokens(moe.model, enc('Hello, Llama! Tell me about dense layers.'), spec, { tokenizer: moe.tokenizer });
    const c = compareTraces(a, b, ['A', 'B']);
    const cmpFile = join(dir, 'compare.html');
    writeFileSync(cmpFile, renderReport({ traces: [{ label: 'A', trace: a }, { label: 'B', trace: b }], comparison: c }));
    let page = await open(cmpFile);
    const T = c.positions;
    assert.equal(await count(page, 'section.trace'), 2);
    assert.equal(await count(page, '.routing-diff .diff-cell'), 4 * T);
    assert.equal(await count(page, '.diff-cell.differs'), c.routing.filter((r) => !r.same).length);
    assert.equal(await count(page, '.lens-diff-cell'), 4 * T);
    assert.equal(await count(page, 'section.trace[data-trace="1"] .route-cell'), 4 * b.tokens.length);
    assert.equal(await count(page, '.next-bar-a'), 20);
    const shot = join(dir, 'compare.png');
    await page.screenshot({ path: shot, fullPage: true });
    t.diagnostic(`screenshot: ${shot}`);
    await page.close();

    const dense = await loadModel(modelDir('llama3-tiny'), { backend: new RefBackend() });
    const d = traceTokens(dense.model, dense.tokenizer.encode(PROMPT), { attention: { layers: [0, 1], heads: [3] } }, { tokenizer: dense.tokenizer });
    const denseFile = join(dir, 'dense.html');
    writeFileSync(denseFile, renderReport({ traces: [{ label: 'llama3-tiny', trace: d }] }));
    page = await open(denseFile);
    assert.equal(await count(page, '.route-cell'), 0);
    assert.equal(await count(page, '.attn-map'), 2);
    assert.equal(await count(page, '.lens-cell'), 2 * d.tokens.length);
    await page.close();

    // 300 tokens: the attention map (45 150 cells) becomes one PNG pixel per cell.
    const ids = Array.from({ length: 300 }, (_, i) => (i * 53 + 7) % 800);
    const long = traceTokens(moe.model, ids, { attention: { layers: [0], heads: [0] }, lens: { positions: [299] } }, { tokenizer: moe.tokenizer });
    const longFile = join(dir, 'long.html');
    writeFileSync(longFile, renderReport({ traces: [{ label: 'long', trace: long }] }));
    page = await open(longFile);
    assert.equal(await count(page, '.attn-cell'), 0);
    assert.equal(await count(page, '.attn-raster'), 1);
    assert.equal(await count(page, '.route-cell'), 4 * 300);
    const size = await page.$eval('.attn-raster', (img) => new Promise<number[]>((resolve, reject) => {
      const probe = new (globalThis as unknown as { Image: new () => { onload: () => void; onerror: () => void; src: string; naturalWidth: number; naturalHeight: number } }).Image();
      probe.onload = () => resolve([probe.naturalWidth, probe.naturalHeight]);
      probe.onerror = () => reject(new Error('the PNG does not decode'));
      probe.src = img.getAttribute('href')!;
    }));
    assert.deepEqual(size, [300, 300]);
    await page.close();
    assert.deepEqual(external, [], 'no network requests');
  });
});
