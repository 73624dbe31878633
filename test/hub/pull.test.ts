/**
 * `llama4 pull` and repo ids in the model commands, end to end against a fake hub on 127.0.0.1:
 * the Hugging Face cache layout, resuming after a cut connection and from an earlier `.incomplete`,
 * a corrupted byte detected and re-fetched (and never used when it stays wrong), gated repos, the
 * offline mode, revisions, `ls`/`rm`, and a pulled model generating exactly like its source folder.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { FakeHub, commitOf, gitBlobId, sha256hex } from './fake-hub.js';
import { spawn } from 'node:child_process';
import { CLI } from '../cli/helpers.js';
import { ROOT } from '../support/fixtures.js';
import { MOE_DIR, cleanEnv, describeRun, ggufRepo, hfRepo, runHub, shardedRepo, splitGguf, tempHome, type Run } from './helpers.js';

const REPO = 'test/llama4-tiny-moe';
const GGUF_REPO = 'test/llama4-tiny-moe-GGUF';
const SPLIT_REPO = 'test/llama4-tiny-moe-split-GGUF';
const SHARDED = 'test/llama4-tiny-moe-sharded';
const GATED = 'test/gated-llama';
const GATED_API = 'test/gated-llama-api';
const TOKEN = 'hf_test_token_with_access';
const PROMPT = ['--prompt', 'Everyone is permitted to copy this license.', '--max-tokens', '8', '--json', '--backend', 'ref'];

const hub = new FakeHub();
const homes: (() => void)[] = [];
const scratch = tempHome('hub-scratch');

before(async () => {
  hub.addRepo(hfRepo(REPO, { branches: ['v2'] }));
  hub.addRepo(ggufRepo());
  hub.addRepo({ id: SPLIT_REPO, files: splitGguf(scratch.dir) });
  hub.addRepo(shardedRepo());
  hub.addRepo(hfRepo(GATED, { gatedTokens: [TOKEN] }));
  hub.addRepo(hfRepo(GATED_API, { gatedTokens: [TOKEN], gatedApi: true }));
  await hub.start();
  // The references, computed while the first tests run.
  for (const p of [MOE_DIR, join(MOE_DIR, 'llama4-tiny-moe-q4_k_m.gguf'), join(MOE_DIR, 'llama4-tiny-moe-q8_0.gguf')]) void baseline(p).catch(() => {});
});
after(async () => {
  await hub.close();
  for (const c of homes) c();
  scratch.cleanup();
});

/** A fresh HF_HOME; its env; its hub cache folder. */
function home(label: string): { env: Record<string, string>; cache: string } {
  const h = tempHome(`hub-${label}`);
  homes.push(h.cleanup);
  // A getter: hub.url is known only once the server started (describe bodies run before that).
  return { get env() { return { HF_ENDPOINT: hub.url, HF_HOME: h.dir }; }, cache: join(h.dir, 'hub') };
}

const repoFolder = (cache: string, repo: string) => join(cache, `models--${repo.replace('/', '--')}`);
const sha256File = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

function ok(r: Run): Run {
  assert.equal(r.status, 0, describeRun(r));
  return r;
}

/** The one-line error contract: exit 1, one line on stderr starting with `llama4: `. */
function oneLineError(r: Run, pattern: RegExp): string {
  assert.equal(r.status, 1, describeRun(r));
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr:\n${r.stderr}`);
  assert.match(lines[0], /^llama4: /);
  assert.match(lines[0], pattern);
  return lines[0];
}

/** `generate --json` of a local model, run once per path (the reference the pulled copies must match). */
const baselines = new Map<string, Promise<number[]>>();
function baseline(path: string): Promise<number[]> {
  if (!baselines.has(path)) baselines.set(path, runHub(['generate', path, ...PROMPT], {}).then(generated));
  return baselines.get(path)!;
}

function generated(r: Run): number[] {
  ok(r);
  return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { ids: number[] }).ids;
}

describe('llama4 pull: Hugging Face repositories', () => {
  const h = home('hf');

  it('downloads config, tokenizer, licence files and weights into the HF cache layout', async () => {
    const r = ok(await runHub(['pull', REPO], h.env));
    const dir = repoFolder(h.cache, REPO);
    const commit = commitOf(REPO, 'main');
    const snapshot = join(dir, 'snapshots', commit);
    assert.equal(r.stdout.trim(), snapshot, 'stdout is the model path');
    assert.equal(readFileSync(join(dir, 'refs', 'main'), 'utf8'), commit, 'refs/main holds the commit (no newline)');
    const expected = ['LICENSE', 'README.md', 'USE_POLICY.md', 'config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
    assert.deepEqual(readdirSync(snapshot).sort(), expected, 'only what the model needs (no original/, no .gitattributes)');
    for (const name of expected) {
      const link = join(snapshot, name);
      assert.ok(lstatSync(link).isSymbolicLink(), `${name} is a symlink`);
      const data = readFileSync(link);
      const etag = name === 'model.safetensors' ? sha256hex(data) : gitBlobId(data);
      assert.equal(readlinkSync(link), join('..', '..', 'blobs', etag), `${name} → ../../blobs/<etag> (relative, as huggingface_hub writes it)`);
    }
    assert.equal(sha256File(join(snapshot, 'model.safetensors')), sha256File(join(MOE_DIR, 'model.safetensors')));
    assert.ok(!readdirSync(join(dir, 'blobs')).some((b) => b.endsWith('.incomplete')), 'no partial files left');
    assert.equal(hub.requestsFor('original/').length, 0, 'original/ was never requested');
    assert.match(r.stderr, /700 million monthly active users/);
    assert.match(r.stderr, /Acceptable Use Policy/);
    assert.match(r.stderr, /Built with Llama/);
    assert.match(r.stderr, /licence: other \(llama4\)/);
  });

  it('downloads nothing the second time', async () => {
    const before = hub.requests.filter((x) => x.url.startsWith('/lfs-cdn/') || x.url.includes('/resolve/')).length;
    const r = ok(await runHub(['pull', REPO], h.env));
    assert.match(r.stderr, /already up to date/);
    assert.equal(hub.requests.filter((x) => x.url.startsWith('/lfs-cdn/') || x.url.includes('/resolve/')).length, before);
  });

  it('generates exactly as the same model loaded from its folder, without touching the network', async () => {
    const n = hub.requests.length;
    const fromRepo = await runHub(['generate', REPO, ...PROMPT], h.env);
    assert.equal(hub.requests.length, n, 'a cached model needs no request');
    assert.equal(fromRepo.stderr, '', 'nothing on stderr for a cached model');
    const fromFolder = await runHub(['generate', MOE_DIR, ...PROMPT], h.env);
    assert.deepEqual(generated(fromRepo), generated(fromFolder));
  });

  it('serve takes a repo id too', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', REPO, '--port', '0', '--backend', 'ref', '--parallel', '1'], { cwd: ROOT, env: { ...cleanEnv(), ...h.env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`serve did not get ready:\n${stderr}`)), 20_000);
        child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; if (/ready on/.test(stderr)) { clearTimeout(timer); resolve(); } });
        child.on('close', () => { clearTimeout(timer); reject(new Error(`serve exited:\n${stderr}`)); });
      });
      assert.match(stderr, new RegExp(`loading ${join(repoFolder(h.cache, REPO), 'snapshots', commitOf(REPO, 'main'))}`));
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('pulls every shard an index names and generates like the single-file folder', async () => {
    const r = ok(await runHub(['pull', SHARDED, '--json'], h.env));
    const out = JSON.parse(r.stdout) as { path: string; format: string; fetched_files: number };
    assert.equal(out.format, 'hf');
    const names = readdirSync(out.path).sort();
    for (const s of ['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors', 'model.safetensors.index.json']) assert.ok(names.includes(s), s);
    const [sharded, folder] = await Promise.all([runHub(['generate', SHARDED, ...PROMPT], h.env), baseline(MOE_DIR)]);
    assert.deepEqual(generated(sharded), folder);
  });

  it('honours --revision: refs/<rev> and its own snapshot, blobs shared', async () => {
    const cdn = hub.requests.filter((x) => x.url.startsWith('/lfs-cdn/')).length;
    const r = ok(await runHub(['pull', REPO, '--revision', 'v2'], h.env));
    const dir = repoFolder(h.cache, REPO);
    assert.equal(readFileSync(join(dir, 'refs', 'v2'), 'utf8'), commitOf(REPO, 'v2'));
    assert.equal(r.stdout.trim(), join(dir, 'snapshots', commitOf(REPO, 'v2')));
    assert.equal(hub.requests.filter((x) => x.url.startsWith('/lfs-cdn/')).length, cdn, 'blobs already cached are not fetched again');
  });

  it('ls lists the cached models; rm deletes them', async () => {
    const ls = ok(await runHub(['ls', '--json'], h.env));
    const rows = JSON.parse(ls.stdout) as { name: string; revision: string; format: string; quant: string; size_bytes: number; last_used: string | null; complete: boolean }[];
    const main = rows.find((x) => x.name === REPO && x.revision === 'main');
    assert.ok(main, ls.stdout);
    assert.equal(main.format, 'safetensors');
    assert.equal(main.quant, 'BF16');
    assert.ok(main.complete);
    assert.ok(main.last_used !== null);
    const expectedSize = ['model.safetensors', 'config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'README.md', 'LICENSE', 'USE_POLICY.md']
      .reduce((n, f) => n + readFileSync(join(repoFolder(h.cache, REPO), 'snapshots', commitOf(REPO, 'main'), f)).length, 0);
    assert.equal(main.size_bytes, expectedSize);
    assert.ok(rows.some((x) => x.name === REPO && x.revision === 'v2'));
    const text = ok(await runHub(['ls'], h.env)).stdout;
    assert.match(text.split('\n')[0], /^NAME\s+REVISION\s+FORMAT\s+QUANT\s+SIZE\s+LAST USED$/);
    assert.match(text, new RegExp(`${SHARDED}\\s+main\\s+safetensors\\s+BF16`));

    ok(await runHub(['rm', SHARDED], h.env));
    assert.ok(!existsSync(repoFolder(h.cache, SHARDED)));
    oneLineError(await runHub(['rm', SHARDED], h.env), /not in the cache/);
  });
});

describe('llama4 pull: GGUF repositories', () => {
  const h = home('gguf');

  it('picks one GGUF by quant name (no other weights, no vision projector)', async () => {
    const r = ok(await runHub(['pull', `${GGUF_REPO}:Q4_K_M`], h.env));
    const snapshot = join(repoFolder(h.cache, GGUF_REPO), 'snapshots', commitOf(GGUF_REPO, 'main'));
    assert.equal(r.stdout.trim(), join(snapshot, 'llama4-tiny-moe-q4_k_m.gguf'));
    assert.deepEqual(readdirSync(snapshot).sort(), ['README.md', 'llama4-tiny-moe-q4_k_m.gguf']);
    assert.match(r.stderr, /licence: llama4/);
    assert.match(r.stderr, /Built with Llama/);
    const [gen, inspect] = await Promise.all([runHub(['generate', `${GGUF_REPO}:q4_k_m`, ...PROMPT], h.env), runHub(['inspect', `${GGUF_REPO}:Q4_K_M`, '--json'], h.env)]);
    assert.equal(gen.stderr, '');
    const lic = (JSON.parse(ok(inspect).stdout) as { license: { id: string; source: string; llama4_terms: string[] | null } }).license;
    assert.deepEqual([lic.id, lic.source], ['llama4', 'README.md'], 'the model card in the snapshot');
    assert.ok(lic.llama4_terms);
    assert.deepEqual(generated(gen), await baseline(join(MOE_DIR, 'llama4-tiny-moe-q4_k_m.gguf')));
  });

  it('pulls a missing model when a command names it, with progress on stderr', async () => {
    const gen = await runHub(['generate', `hf.co/${GGUF_REPO}:Q8_0`, ...PROMPT], h.env);
    assert.match(gen.stderr, /pulling .*Q8_0/);
    assert.match(gen.stderr, /pulled llama4-tiny-moe-q8_0\.gguf/);
    assert.deepEqual(generated(gen), await baseline(join(MOE_DIR, 'llama4-tiny-moe-q8_0.gguf')));
  });

  it('defaults to Q4_K_M, names the choices for an unknown quant, and skips mmproj files', async () => {
    const r = ok(await runHub(['pull', GGUF_REPO, '--json', '--quiet'], h.env));
    assert.match((JSON.parse(r.stdout) as { path: string }).path, /q4_k_m\.gguf$/);
    assert.equal(r.stderr, '', '--quiet');
    oneLineError(await runHub(['pull', `${GGUF_REPO}:Q3_K_S`], h.env), /no Q3_K_S GGUF \(available: BF16, F16, F32, Q4_0, Q4_K_M, Q8_0\)/);
    assert.equal(hub.requestsFor('mmproj').length, 0);
  });

  it('pulls every part of a split GGUF; inspect reads it and it generates exactly as the single file', async () => {
    const r = ok(await runHub(['pull', SPLIT_REPO], h.env));
    const dir = join(repoFolder(h.cache, SPLIT_REPO), 'snapshots', commitOf(SPLIT_REPO, 'main'), 'F32');
    assert.deepEqual(readdirSync(dir).sort(), ['llama4-tiny-moe-F32-00001-of-00002.gguf', 'llama4-tiny-moe-F32-00002-of-00002.gguf']);
    assert.equal(r.stdout.trim(), join(dir, 'llama4-tiny-moe-F32-00001-of-00002.gguf'));
    assert.equal(readlinkSync(join(dir, 'llama4-tiny-moe-F32-00002-of-00002.gguf')).split('/').slice(0, 4).join('/'), '../../../blobs', 'nested files link three levels up');
    const split = JSON.parse(ok(await runHub(['inspect', SPLIT_REPO, '--json'], h.env)).stdout) as { params_total: number; params_active: number; files: string[] };
    const single = JSON.parse(ok(await runHub(['inspect', join(MOE_DIR, 'llama4-tiny-moe-f32.gguf'), '--json'], h.env)).stdout) as { params_total: number; params_active: number };
    assert.equal(split.files.length, 2);
    assert.equal(split.params_total, single.params_total);
    assert.equal(split.params_active, single.params_active);
    assert.deepEqual(generated(await runHub(['generate', SPLIT_REPO, ...PROMPT], h.env)), await baseline(join(MOE_DIR, 'llama4-tiny-moe-f32.gguf')));
    // Any part names the whole model.
    assert.deepEqual(generated(await runHub(['generate', join(dir, 'llama4-tiny-moe-F32-00002-of-00002.gguf'), ...PROMPT], h.env)), await baseline(join(MOE_DIR, 'llama4-tiny-moe-f32.gguf')));
  });

  it('uses a cache that Python (huggingface_hub) wrote, offline', async () => {
    // The layout hf_hub_download leaves: blobs/<sha256>, snapshots/<commit>/<file> → ../../blobs/<sha256>, refs/main.
    const py = home('python');
    const repo = 'someone/python-downloaded-GGUF';
    const commit = 'a'.repeat(40);
    const data = readFileSync(join(MOE_DIR, 'llama4-tiny-moe-q8_0.gguf'));
    const dir = repoFolder(py.cache, repo);
    mkdirSync(join(dir, 'blobs'), { recursive: true });
    mkdirSync(join(dir, 'snapshots', commit), { recursive: true });
    mkdirSync(join(dir, 'refs'), { recursive: true });
    writeFileSync(join(dir, 'blobs', sha256hex(data)), data);
    symlinkSync(relative(join(dir, 'snapshots', commit), join(dir, 'blobs', sha256hex(data))), join(dir, 'snapshots', commit, 'model-Q8_0.gguf'));
    writeFileSync(join(dir, 'refs', 'main'), commit);
    const n = hub.requests.length;
    const gen = await runHub(['--offline', 'generate', `${repo}:Q8_0`, ...PROMPT], py.env);
    assert.deepEqual(generated(gen), await baseline(join(MOE_DIR, 'llama4-tiny-moe-q8_0.gguf')));
    assert.equal(hub.requests.length, n);
    const ls = JSON.parse(ok(await runHub(['ls', '--json'], py.env)).stdout) as { name: string; quant: string; format: string }[];
    assert.deepEqual(ls.map((x) => [x.name, x.format, x.quant]), [[`${repo}:Q8_0`, 'gguf', 'Q8_0']]);
  });

  it('rm of one quant keeps the others', async () => {
    ok(await runHub(['rm', `${GGUF_REPO}:Q8_0`], h.env));
    const names = (JSON.parse(ok(await runHub(['ls', '--json'], h.env)).stdout) as { name: string }[]).map((x) => x.name);
    assert.ok(names.includes(`${GGUF_REPO}:Q4_K_M`), names.join(','));
    assert.ok(!names.includes(`${GGUF_REPO}:Q8_0`), names.join(','));
    const blobs = readdirSync(join(repoFolder(h.cache, GGUF_REPO), 'blobs'));
    assert.ok(!blobs.includes(sha256hex(readFileSync(join(MOE_DIR, 'llama4-tiny-moe-q8_0.gguf')))), 'its blob is deleted');
  });
});

describe('llama4 pull: interrupted and corrupted downloads', () => {
  const weights = `${REPO}/model.safetensors`;
  const sha = sha256hex(readFileSync(join(MOE_DIR, 'model.safetensors')));
  const size = readFileSync(join(MOE_DIR, 'model.safetensors')).length;

  it('resumes with a Range request after the server cuts the connection mid-file', async () => {
    const h = home('drop');
    assert.ok(size > 1_000_000, 'the cut is mid-file');
    hub.dropOnce.set(weights, 500_000);
    const before = hub.downloadsOf(REPO, 'model.safetensors').length;
    const r = ok(await runHub(['pull', REPO], h.env));
    const gets = hub.downloadsOf(REPO, 'model.safetensors').slice(before);
    assert.equal(gets.length, 2, 'one cut download, one resumed');
    assert.equal(gets[0].range, null);
    const m = /^bytes=(\d+)-$/.exec(gets[1].range ?? '');
    assert.ok(m && Number(m[1]) > 0 && Number(m[1]) <= 500_000, `resumed from the bytes already there (${gets[1].range})`);
    assert.match(r.stderr, /retrying from/);
    assert.equal(sha256File(join(repoFolder(h.cache, REPO), 'blobs', sha)), sha);
  });

  it('continues an earlier run\'s .incomplete file', async () => {
    const h = home('incomplete');
    const blobs = join(repoFolder(h.cache, REPO), 'blobs');
    mkdirSync(blobs, { recursive: true });
    writeFileSync(join(blobs, `${sha}.incomplete`), readFileSync(join(MOE_DIR, 'model.safetensors')).subarray(0, 300_000));
    const before = hub.downloadsOf(REPO, 'model.safetensors').length;
    const r = ok(await runHub(['pull', REPO], h.env));
    const gets = hub.downloadsOf(REPO, 'model.safetensors').slice(before);
    assert.deepEqual(gets.map((g) => g.range), ['bytes=300000-']);
    assert.match(r.stderr, /resuming model\.safetensors at 300 kB/);
    assert.equal(sha256File(join(blobs, sha)), sha);
    assert.ok(!existsSync(join(blobs, `${sha}.incomplete`)));
  });

  it('detects a corrupted byte (sha256 for LFS files, the git blob id for others) and fetches the file again', async () => {
    const h = home('corrupt');
    hub.corruptOnce.set(weights, 12_345);
    hub.corruptOnce.set(`${REPO}/config.json`, 10);
    const before = hub.downloadsOf(REPO, 'model.safetensors').length;
    const r = ok(await runHub(['pull', REPO], h.env));
    assert.equal(hub.downloadsOf(REPO, 'model.safetensors').length - before, 2, 'fetched twice');
    assert.match(r.stderr, /model\.safetensors: sha256 mismatch/);
    assert.match(r.stderr, /config\.json: git blob id mismatch/);
    const snapshot = join(repoFolder(h.cache, REPO), 'snapshots', commitOf(REPO, 'main'));
    assert.equal(sha256File(join(snapshot, 'model.safetensors')), sha);
    assert.deepEqual(readFileSync(join(snapshot, 'config.json')), readFileSync(join(MOE_DIR, 'config.json')));
  });

  it('never uses a file that keeps failing verification', async () => {
    const h = home('bad');
    hub.corruptAlways.set(weights, 99);
    try {
      const r = await runHub(['pull', REPO], h.env);
      assert.equal(r.status, 1, describeRun(r));
      assert.match(r.stderr.trimEnd().split('\n').pop()!, /^llama4: .*model\.safetensors: sha256 mismatch .*discarded/);
    } finally {
      hub.corruptAlways.delete(weights);
    }
    const dir = repoFolder(h.cache, REPO);
    assert.ok(!existsSync(join(dir, 'blobs', sha)), 'no blob');
    assert.ok(!existsSync(join(dir, 'blobs', `${sha}.incomplete`)), 'no partial file');
    assert.ok(!existsSync(join(dir, 'snapshots', commitOf(REPO, 'main'), 'model.safetensors')), 'no snapshot link');
    assert.ok(!existsSync(join(dir, 'refs', 'main')), 'no ref to an incomplete snapshot');
    oneLineError(await runHub(['--offline', 'generate', REPO, ...PROMPT], h.env), /not in the Hugging Face cache/);
  });

  it('honours HF_HUB_CACHE', async () => {
    const h = tempHome('hub-cache-var');
    homes.push(h.cleanup);
    ok(await runHub(['pull', `${GGUF_REPO}:Q4_0`, '--quiet'], { HF_ENDPOINT: hub.url, HF_HUB_CACHE: join(h.dir, 'elsewhere') }));
    assert.ok(existsSync(join(h.dir, 'elsewhere', `models--test--llama4-tiny-moe-GGUF`, 'refs', 'main')));
  });
});

describe('gated repositories and offline mode', () => {
  const h = home('gated');

  it('a 401 explains the licence and HF_TOKEN in one line', async () => {
    const [pull, api, run, wrongToken] = await Promise.all([
      runHub(['pull', GATED], h.env), runHub(['pull', GATED_API], h.env), runHub(['run', GATED, '-p', 'hi'], h.env),
      runHub(['pull', GATED], { ...h.env, HF_TOKEN: 'hf_not_accepted' }),
    ]);
    const line = oneLineError(pull, /gated/);
    assert.match(line, /accept the licence on http:\/\/127\.0\.0\.1:\d+\/test\/gated-llama/);
    assert.match(line, /HF_TOKEN/);
    oneLineError(api, /gated: accept the licence .*HF_TOKEN/);
    oneLineError(run, /gated: accept the licence .*HF_TOKEN/);
    oneLineError(wrongToken, /HF_TOKEN's account has no access/);
    assert.ok(!existsSync(join(repoFolder(h.cache, GATED), 'blobs')) || readdirSync(join(repoFolder(h.cache, GATED), 'blobs')).length === 0, 'nothing downloaded');
  });

  it('HF_TOKEN (or the token file) opens it', async () => {
    const r = ok(await runHub(['pull', GATED_API, '--quiet'], { ...h.env, HF_TOKEN: TOKEN }));
    assert.ok(existsSync(r.stdout.trim()));
    assert.ok(hub.requestsFor('gated-llama-api/resolve/').some((x) => x.auth === `Bearer ${TOKEN}`), 'the token is sent');
    writeFileSync(join(h.env.HF_HOME, 'token'), `${TOKEN}\n`);
    ok(await runHub(['pull', GATED, '--quiet'], h.env));
  });

  it('a missing repository is one line too', async () => {
    oneLineError(await runHub(['pull', 'test/does-not-exist'], h.env), /repository not found/);
  });

  it('--offline and HF_HUB_OFFLINE=1 never touch the network', async () => {
    const n = hub.requests.length;
    oneLineError(await runHub(['--offline', 'pull', REPO], h.env), /not in the Hugging Face cache.*offline/);
    oneLineError(await runHub(['generate', REPO, ...PROMPT], { ...h.env, HF_HUB_OFFLINE: '1' }), /offline/);
    oneLineError(await runHub(['run', REPO, '-p', 'hi', '--offline'], h.env), /offline/);
    // A cached model runs offline.
    const r = ok(await runHub(['generate', GATED, ...PROMPT, '--offline'], h.env));
    assert.deepEqual(generated(r), await baseline(MOE_DIR));
    assert.equal(hub.requests.length, n, 'no request at all');
  });

  it('a missing local path fails as one (asking the hub only when it reads like a repo id)', async () => {
    const n = hub.requests.length;
    oneLineError(await runHub(['generate', './fixtures/no-such-model', ...PROMPT], h.env), /no such file or folder/);
    oneLineError(await runHub(['generate', 'fixtures/no-such-model.gguf', ...PROMPT], h.env), /no such file or folder/);
    assert.equal(hub.requests.length, n, 'paths never go to the hub');
    oneLineError(await runHub(['generate', 'fixtures/no-such-model', ...PROMPT], h.env), /fixtures\/no-such-model: no such file or folder, and no such repository on the hub/);
  });
});
