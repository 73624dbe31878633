/**
 * The pure parts of pulling: repo ids, GGUF quant names and split parts, which files a model
 * needs; the progress bars on a (fake) terminal; the downloader against a server that ignores
 * Range requests; and the cache helpers.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Llama4Error } from '../../src/errors.js';
import { downloadBlob } from '../../src/hub/download.js';
import { frontMatter } from '../../src/hub/license.js';
import { createProgress } from '../../src/hub/progress.js';
import { chooseGguf, ggufChoices, ggufQuantLabel, looksLikeRepoSpec, parseRepoSpec, selectFiles, type RepoFile } from '../../src/hub/repo-spec.js';
import { hubSettings } from '../../src/hub/settings.js';
import { FakeHub, sha256hex } from './fake-hub.js';
import { tempHome } from './helpers.js';

const f = (path: string, size = 10): RepoFile => ({ path, size, oid: '0'.repeat(40) });

describe('repo ids', () => {
  it('parses org/repo[:tag] with hf.co and URL prefixes', () => {
    assert.deepEqual(parseRepoSpec('meta-llama/Llama-4-Scout-17B-16E-Instruct'), { repo: 'meta-llama/Llama-4-Scout-17B-16E-Instruct', tag: null });
    assert.deepEqual(parseRepoSpec('unsloth/Llama-4-Scout-17B-16E-Instruct-GGUF:Q4_K_M'), { repo: 'unsloth/Llama-4-Scout-17B-16E-Instruct-GGUF', tag: 'Q4_K_M' });
    assert.deepEqual(parseRepoSpec('hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:q8_0'), { repo: 'bartowski/Llama-3.2-1B-Instruct-GGUF', tag: 'q8_0' });
    assert.deepEqual(parseRepoSpec('https://huggingface.co/org/name'), { repo: 'org/name', tag: null });
    assert.deepEqual(parseRepoSpec('org/name:latest'), { repo: 'org/name', tag: null });
    assert.deepEqual(parseRepoSpec('org/name:sub/dir/file.gguf'), { repo: 'org/name', tag: 'sub/dir/file.gguf' });
    for (const bad of ['name', 'a/b/c', '/abs/x', 'org/-bad', 'org/na--me', 'org/na..me']) assert.equal(parseRepoSpec(bad), null, bad);
  });

  it('never takes a path for a repo id', () => {
    assert.ok(looksLikeRepoSpec('org/name'));
    for (const p of ['fixtures/llama4-tiny-moe', './org/name', '/org/name', '~/org/name', 'org/model.gguf', 'org\\name']) assert.ok(!looksLikeRepoSpec(p), p);
  });
});

describe('GGUF files', () => {
  it('reads quant names from file names', () => {
    const cases: [string, string | null][] = [
      ['Llama-4-Scout-17B-16E-Instruct-Q4_K_M.gguf', 'Q4_K_M'],
      ['UD-Q4_K_XL/Llama-4-Scout-17B-16E-Instruct-UD-Q4_K_XL-00001-of-00002.gguf', 'UD-Q4_K_XL'],
      ['llama4-tiny-moe-bf16.gguf', 'BF16'],
      ['Meta-Llama-3.1-8B-Instruct.Q8_0.gguf', 'Q8_0'],
      ['Llama-3.2-1B-Instruct-IQ4_XS.gguf', 'IQ4_XS'],
      ['model.gguf', null],
    ];
    for (const [name, q] of cases) assert.equal(ggufQuantLabel(name), q, name);
  });

  const listing = [
    f('README.md'), f('Llama-4-Scout-Q4_K_M.gguf'), f('Llama-4-Scout-UD-Q4_K_M.gguf'), f('Llama-4-Scout-Q8_0.gguf'),
    f('UD-Q4_K_XL/Llama-4-Scout-UD-Q4_K_XL-00002-of-00002.gguf'), f('UD-Q4_K_XL/Llama-4-Scout-UD-Q4_K_XL-00001-of-00002.gguf'),
    f('mmproj-F16.gguf'),
  ];

  it('groups split parts, leaves out vision projectors, and picks by quant or file', () => {
    const choices = ggufChoices(listing);
    assert.deepEqual(choices.map((c) => c.label).sort(), ['Q4_K_M', 'Q8_0', 'UD-Q4_K_M', 'UD-Q4_K_XL']);
    assert.equal(chooseGguf(choices, null, 'r').files[0].path, 'Llama-4-Scout-Q4_K_M.gguf', 'Q4_K_M by default, as Ollama');
    assert.equal(chooseGguf(choices, 'q4_k_m', 'r').files[0].path, 'Llama-4-Scout-Q4_K_M.gguf', 'exact label first');
    assert.equal(chooseGguf(choices, 'UD-Q4_K_M', 'r').files[0].path, 'Llama-4-Scout-UD-Q4_K_M.gguf');
    const xl = chooseGguf(choices, 'Q4_K_XL', 'r');
    assert.deepEqual(xl.files.map((x) => x.path), ['UD-Q4_K_XL/Llama-4-Scout-UD-Q4_K_XL-00001-of-00002.gguf', 'UD-Q4_K_XL/Llama-4-Scout-UD-Q4_K_XL-00002-of-00002.gguf']);
    assert.equal(xl.partCount, 2);
    assert.equal(chooseGguf(choices, 'UD-Q4_K_XL/Llama-4-Scout-UD-Q4_K_XL-00002-of-00002.gguf', 'r'), xl, 'any part names the whole split file');
    assert.throws(() => chooseGguf(choices, 'Q5_K_M', 'r'), (e: unknown) => e instanceof Llama4Error && /no Q5_K_M GGUF \(available: Q4_K_M, Q8_0, UD-Q4_K_M, UD-Q4_K_XL\)/.test(e.message));
    assert.throws(() => chooseGguf(ggufChoices([f('a-Q8_0.gguf'), f('b-Q4_0.gguf')]), null, 'r'), /several GGUF models; pick one with r:QUANT/);
  });

  it('selects what an HF model needs', () => {
    const repo = [
      f('.gitattributes'), f('config.json'), f('generation_config.json'), f('tokenizer.json'), f('tokenizer_config.json'), f('special_tokens_map.json'),
      f('chat_template.jinja'), f('LICENSE'), f('USE_POLICY.md'), f('README.md'), f('model.safetensors.index.json'),
      f('model-00001-of-00002.safetensors'), f('model-00002-of-00002.safetensors'), f('original/consolidated.00.pth'), f('original/tokenizer.model'),
      f('assets/diagram.png'), f('pytorch_model.bin'),
    ];
    const sel = selectFiles(repo, { repo: 'r', tag: null });
    assert.equal(sel.format, 'hf');
    assert.equal(sel.index?.path, 'model.safetensors.index.json');
    assert.deepEqual(sel.files.map((x) => x.path).sort(), ['LICENSE', 'README.md', 'USE_POLICY.md', 'chat_template.jinja', 'config.json', 'generation_config.json', 'model.safetensors.index.json', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']);
    assert.throws(() => selectFiles(repo, { repo: 'r', tag: 'Q4_K_M' }), /has no GGUF files/);
    assert.throws(() => selectFiles([f('README.md')], { repo: 'r', tag: null }), /holds no model/);
  });

  it('reads licence keys from YAML front matter', () => {
    assert.deepEqual(frontMatter('---\nlicense: other\nlicense_name: "llama4"\nextra_gated_fields:\n  Name: text\n---\n# x\n'), { license: 'other', license_name: 'llama4' });
    assert.deepEqual(frontMatter('# no front matter'), {});
  });
});

describe('settings', () => {
  it('reads the huggingface_hub environment', () => {
    const s = hubSettings({ HF_ENDPOINT: 'http://127.0.0.1:1/', HF_HOME: '/x/hf', HF_TOKEN: ' hf_abc ', HF_HUB_OFFLINE: 'true' });
    assert.deepEqual({ ...s }, { endpoint: 'http://127.0.0.1:1', token: 'hf_abc', cacheDir: '/x/hf/hub', offline: true, progressBars: true });
    assert.equal(hubSettings({ HF_HUB_CACHE: '/c', HF_HOME: '/x' }).cacheDir, '/c');
    assert.equal(hubSettings({ XDG_CACHE_HOME: '/xdg' }).cacheDir, '/xdg/huggingface/hub');
    assert.equal(hubSettings({}).endpoint, 'https://huggingface.co');
  });
});

describe('progress', () => {
  it('draws bars with bytes, speed and ETA on a terminal', async () => {
    const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 120, rows: 40, cursorTo: () => true, moveCursor: () => true, clearLine: () => true, clearScreenDown: () => true }) as unknown as NodeJS.WriteStream;
    let out = '';
    (stream as unknown as PassThrough).on('data', (d: Buffer) => { out += d.toString(); });
    const p = await createProgress({ stream, totalBytes: 3_000_000, totalFiles: 2 });
    p.start('model-00001-of-00002.safetensors', 2_000_000, 500_000);
    p.start('config.json', 1_000_000, 0);
    for (let i = 0; i < 10; i++) { p.advance('model-00001-of-00002.safetensors', 150_000); p.advance('config.json', 100_000); await new Promise((r) => setTimeout(r, 15)); }
    p.note('model-00001-of-00002.safetensors: a note');
    p.done('model-00001-of-00002.safetensors');
    p.done('config.json');
    p.finish();
    assert.match(out, / total +\|/);
    assert.match(out, /model-00001-of-00002\.safetensors/);
    assert.match(out, /pulled model-00001-of-00002\.safetensors \(2\.0 MB\)/);
    assert.match(out, /\d+% [\d.]+ [kM]B\/2\.0 MB/);
    assert.match(out, /[\d.]+ [kM]B\/s ETA \d+s/);
    assert.match(out, /a note/);
  });

  it('prints plain lines elsewhere', async () => {
    const stream = new PassThrough() as unknown as NodeJS.WriteStream;
    let out = '';
    (stream as unknown as PassThrough).on('data', (d: Buffer) => { out += d.toString(); });
    const p = await createProgress({ stream, totalBytes: 100, totalFiles: 1 });
    p.start('a.gguf', 100, 40);
    p.advance('a.gguf', 60);
    p.done('a.gguf');
    p.finish();
    assert.match(out, /^pulling a\.gguf \(100 B, 40 B already there\)\npulled a\.gguf \(100 B in \d+\.\d s/);
  });
});

describe('downloader', () => {
  const home = tempHome('dl');
  after(() => home.cleanup());

  it('starts over when the server ignores the Range header', async () => {
    const data = Buffer.alloc(200_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    const hub = new FakeHub();
    hub.addRepo({ id: 'a/b', files: [{ path: 'w.gguf', data }] });
    await hub.start();
    try {
      const blob = join(home.dir, 'blobs', sha256hex(data));
      mkdirSync(join(home.dir, 'blobs'), { recursive: true });
      writeFileSync(`${blob}.incomplete`, data.subarray(0, 1000));
      const notes: string[] = [];
      const s = { ...hubSettings({ HF_ENDPOINT: hub.url, HF_HOME: home.dir }) };
      // The CDN URL without its Range support: ask for the bytes through a URL the fake serves whole.
      const origFetch = globalThis.fetch;
      globalThis.fetch = ((input: Parameters<typeof fetch>[0], init?: RequestInit) => {
        const h = new Headers(init?.headers);
        h.delete('range');
        return origFetch(input, { ...init, headers: h });
      }) as typeof fetch;
      try {
        const fetched = await downloadBlob(
          { repo: 'a/b', file: { path: 'w.gguf', size: data.length, lfsSha256: sha256hex(data) }, url: `${hub.url}/a/b/resolve/main/w.gguf`, blob },
          s, { start() {}, advance() {}, restart: () => notes.push('restart'), done() {}, note: (l) => notes.push(l) },
        );
        assert.ok(fetched);
      } finally {
        globalThis.fetch = origFetch;
      }
      assert.deepEqual(readFileSync(blob), data);
      assert.ok(notes.includes('restart'), notes.join('\n'));
    } finally {
      await hub.close();
    }
  });
});
