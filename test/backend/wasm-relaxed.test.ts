/**
 * The relaxed-SIMD build of the wasm kernels (kernels-relaxed.wasm: i8 dot products, one AVX-VNNI
 * instruction per sixteen multiply-adds) must give the baseline build's results bit for bit: every
 * kernel path that reads 8-bit activations (one-token rows, four-token groups, repacked layouts,
 * ragged groups and rows) and the row decoder are run through both builds and compared. The
 * baseline build is checked against the scalar ggml mirror in wasm-q8.test.ts. This runs in this
 * Node.js where it supports relaxed SIMD (22 and newer), and always in headless Chromium, which
 * does — so CI on Node 20 still checks the relaxed kernels.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { KERNELS_PATH, RELAXED_KERNELS_PATH, kernelModule, resolveKernelBuild } from '../../src/backend/wasm/kernels.js';
import { WasmBackend } from '../../src/backend/wasm/wasm-backend.js';
import { Llama4Error } from '../../src/errors.js';
import { compareBuilds, defaultCases, selfTest } from './kernel-builds.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function relaxedHere(): boolean {
  try { kernelModule('relaxed'); return true; } catch { return false; }
}

describe('relaxed-SIMD kernels', () => {
  const here = relaxedHere();

  it(`auto picks the relaxed build exactly where it compiles and passes its self-test (here: ${here ? 'it does' : 'it does not'})`, async () => {
    const want = here && selfTest(kernelModule('relaxed')) === 1 ? 'relaxed' : 'baseline';
    assert.equal(resolveKernelBuild('auto'), want);
    const be = await WasmBackend.create({ threads: 1, kernels: 'auto' });
    try { assert.equal(be.kernels, want); } finally { await be.dispose(); }
    const base = await WasmBackend.create({ threads: 1, kernels: 'baseline' });
    try { assert.equal(base.kernels, 'baseline'); } finally { await base.dispose(); }
    assert.throws(() => resolveKernelBuild('fastest' as never), (e: unknown) => e instanceof Llama4Error && /unknown kernel build 'fastest'/.test(e.message));
    assert.equal(selfTest(kernelModule('baseline')), 1, 'the baseline build reports no relaxed dot to fail');
  });

  it('asking for the relaxed build where the engine lacks relaxed SIMD is a clear error', { skip: here ? 'this engine supports relaxed SIMD' : false }, async () => {
    await assert.rejects(WasmBackend.create({ threads: 1, kernels: 'relaxed' }), (e: unknown) => e instanceof Llama4Error && /does not support WebAssembly relaxed SIMD/.test(e.message));
  });

  it('in this Node.js: bit-identical to the baseline build on every kernel path', { skip: here ? false : `Node.js ${process.versions.node} has no relaxed SIMD (the Chromium test below covers the build)` }, () => {
    assert.equal(selfTest(kernelModule('relaxed')), 1);
    const { differences, values } = compareBuilds(kernelModule('baseline'), kernelModule('relaxed'));
    assert.deepEqual(differences, []);
    assert.ok(values > 100_000, `${values} values compared`);
  });

  describe('in headless Chromium', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium)` }, () => {
    let dir: string;
    let browser: Browser;
    let server: Server;
    let origin: string;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'llama4-relaxed-'));
      // SharedArrayBuffer (the kernels' shared memory) needs a cross-origin isolated page.
      const files: Record<string, [string, string]> = {
        '/kernel-builds.js': [resolve(import.meta.dirname, 'kernel-builds.js'), 'text/javascript'],
        '/kernels.wasm': [KERNELS_PATH, 'application/wasm'],
        '/kernels-relaxed.wasm': [RELAXED_KERNELS_PATH, 'application/wasm'],
        '/': ['', 'text/html'],
      };
      server = createServer((req, res) => {
        const f = files[req.url ?? ''];
        res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
        res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
        res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
        if (!f) { res.statusCode = 404; res.end(); return; }
        res.setHeader('Content-Type', f[1]);
        res.end(f[0] ? readFileSync(f[0]) : '<!doctype html><title>kernels</title>');
      });
      await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
      origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
    });
    after(async () => {
      await browser?.close();
      server?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('relaxed SIMD validates, passes the self-test, and gives the baseline build\'s results bit for bit', async () => {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${origin}/`);
      const r = await page.evaluate(`(async () => {
        const m = await import('/kernel-builds.js');
        const compile = async (p) => new WebAssembly.Module(await (await fetch(p)).arrayBuffer());
        const relaxedBytes = await (await fetch('/kernels-relaxed.wasm')).arrayBuffer();
        const validates = WebAssembly.validate(relaxedBytes);
        const base = await compile('/kernels.wasm'), relaxed = new WebAssembly.Module(relaxedBytes);
        return { isolated: crossOriginIsolated, validates, selfTest: m.selfTest(relaxed), cases: m.defaultCases().length, ...m.compareBuilds(base, relaxed) };
      })()`) as { isolated: boolean; validates: boolean; selfTest: number; cases: number; differences: string[]; values: number };
      assert.deepEqual(errors, []);
      assert.equal(r.isolated, true, 'the page is cross-origin isolated');
      assert.equal(r.validates, true, 'Chromium validates the relaxed build');
      assert.equal(r.selfTest, 1);
      assert.equal(r.cases, defaultCases().length);
      assert.deepEqual(r.differences, []);
      assert.ok(r.values > 100_000, `${r.values} values compared`);
      await page.close();
    });
  });
});
