/**
 * `llama4 inspect`: the layer plan and parameter counts of every fixture (HF folder and every GGUF
 * type) against numbers computed here from the config rules and the tensor shapes; the tensor
 * table; the licence; and the weight audit (`--stats`) on clean fixtures and on copies with a NaN,
 * an Inf, a NaN block scale and an all-zero row planted in them.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGguf, readGgufHeader } from '../../src/io/gguf.js';
import { ggufMetadataEntries, writeGguf } from '../../src/io/gguf-writer.js';
import { openModelFiles } from '../../src/inspect/model-files.js';
import { summarizeModel, type ModelSummary } from '../../src/inspect/model-summary.js';
import { tensorStats } from '../../src/inspect/weight-stats.js';
import { CLI } from '../cli/helpers.js';
import { FIXTURES, MODELS, ROOT, ggufTypes, modelDir, type FixtureModel } from '../support/fixtures.js';
import { spawn } from 'node:child_process';

const scratch = mkdtempSync(join(tmpdir(), 'llama4-inspect-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

interface Run { status: number | null; stdout: string; stderr: string }
function cli(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HF_HUB_OFFLINE: '1', LLAMA4_DEBUG: '' } });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}
const json = (r: Run): ModelSummary => {
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as ModelSummary;
};

// ---------------------------------------------------------------------------------------------
// Expected values, computed here without the inspect code.

type Json = Record<string, unknown>;
const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Tensor shapes of a safetensors file, from its JSON header. */
function safetensorsShapes(path: string): Map<string, number[]> {
  const b = readFileSync(path);
  const n = Number(b.readBigUInt64LE(0));
  const h = JSON.parse(b.subarray(8, 8 + n).toString('utf8')) as Record<string, { shape: number[] }>;
  return new Map(Object.entries(h).filter(([k]) => k !== '__metadata__').map(([k, v]) => [k, v.shape]));
}

interface Expected { total: number; active: number; layers: { index: number; ffn: string; rope: boolean; chunked: boolean }[]; context: number }

/** From config.json: the layer rules of HF's modelling code, and counts from the safetensors shapes. */
function expectedFromHf(model: FixtureModel): Expected {
  const top = JSON.parse(readFileSync(join(modelDir(model), 'config.json'), 'utf8')) as Json;
  const llama4 = top.model_type === 'llama4';
  const c = (llama4 ? top.text_config : top) as Json;
  const L = c.num_hidden_layers as number;
  const layers = Array.from({ length: L }, (_, i) => {
    if (!llama4) return { index: i, ffn: 'dense', rope: true, chunked: false };
    const step = c.interleave_moe_layer_step as number;
    const rope = (c.no_rope_layers as number[] | undefined)?.[i] === 1 || ((c.no_rope_layers === undefined) && (i + 1) % 4 !== 0);
    return { index: i, ffn: (i + 1) % step === 0 ? 'moe' : 'dense', rope, chunked: rope && c.attention_chunk_size != null };
  });
  const shapes = safetensorsShapes(join(modelDir(model), 'model.safetensors'));
  let total = 0, routed = 0;
  for (const [name, shape] of shapes) {
    total += prod(shape);
    if (name.includes('feed_forward.experts.')) routed += prod(shape);
  }
  const E = llama4 ? (c.num_local_experts as number) : 0, k = llama4 ? (c.num_experts_per_tok as number) : 0;
  return { total, active: E > 0 ? total - (routed / E) * (E - k) : total, layers, context: c.max_position_embeddings as number };
}

/** From GGUF metadata and tensor shapes (llama.cpp's rules: MoE every step-th layer, NoPE every 4th). */
function expectedFromGguf(path: string): Expected {
  const h = readGgufHeader(path);
  const arch = h.metadata.get('general.architecture') as string;
  const L = h.metadata.get(`${arch}.block_count`) as number;
  const E = (h.metadata.get(`${arch}.expert_count`) as number | undefined) ?? 0;
  const k = (h.metadata.get(`${arch}.expert_used_count`) as number | undefined) ?? 0;
  const step = (h.metadata.get(`${arch}.interleave_moe_layer_step`) as number | undefined) ?? 1;
  const layers = Array.from({ length: L }, (_, i) => arch === 'llama4'
    ? { index: i, ffn: E > 0 && (i + 1) % step === 0 ? 'moe' : 'dense', rope: (i + 1) % 4 !== 0, chunked: (i + 1) % 4 !== 0 }
    : { index: i, ffn: 'dense', rope: true, chunked: false });
  let total = 0, routed = 0;
  for (const t of h.tensorInfos) {
    if (t.name === 'rope_freqs.weight') continue; // a constant table, not a parameter
    total += prod(t.shape);
    if (/_exps\.weight$/.test(t.name)) routed += prod(t.shape);
  }
  return { total, active: E > 0 ? total - (routed / E) * (E - k) : total, layers, context: h.metadata.get(`${arch}.context_length`) as number };
}

function checkSummary(s: ModelSummary, e: Expected, label: string): void {
  assert.equal(s.params_total, e.total, `${label}: params_total`);
  assert.equal(s.params_active, e.active, `${label}: params_active`);
  assert.equal(s.context_length, e.context, `${label}: context`);
  assert.deepEqual(s.layers.map((l) => ({ index: l.index, ffn: l.ffn, rope: l.rope, chunked: l.chunked })), e.layers, `${label}: layer plan`);
}

describe('inspect: layer plan and parameter counts of every fixture', () => {
  it('CLI --json on every HF folder and its q4_k_m GGUF (the keys machines rely on)', async () => {
    const runs = await Promise.all(MODELS.flatMap((m) => [
      cli(['inspect', modelDir(m), '--json']),
      cli(['inspect', join(modelDir(m), `${m}-q4_k_m.gguf`), '--json']),
    ]));
    MODELS.forEach((m, i) => {
      const hf = json(runs[2 * i]), gguf = json(runs[2 * i + 1]);
      for (const key of ['arch', 'params_total', 'params_active', 'layers']) assert.ok(key in hf, `${m}: key ${key}`);
      checkSummary(hf, expectedFromHf(m), `${m} (HF)`);
      checkSummary(gguf, expectedFromGguf(join(modelDir(m), `${m}-q4_k_m.gguf`)), `${m} (q4_k_m)`);
      // The same model from both sources: the same counts and plan.
      assert.equal(gguf.params_total, hf.params_total, `${m}: GGUF and HF totals agree`);
      assert.equal(gguf.params_active, hf.params_active, `${m}: GGUF and HF active counts agree`);
      assert.deepEqual(gguf.layers, hf.layers, `${m}: GGUF and HF layer plans agree`);
    });
  });

  it('every GGUF type of every fixture', () => {
    for (const m of MODELS) {
      const hf = expectedFromHf(m);
      for (const type of ggufTypes(m)) {
        const path = join(modelDir(m), `${m}-${type}.gguf`);
        const s = summarizeModel(openModelFiles(path));
        checkSummary(s, expectedFromGguf(path), `${m}-${type}`);
        assert.equal(s.params_total, hf.total, `${m}-${type}: total equals the HF checkpoint's`);
        assert.equal(s.params_active, hf.active, `${m}-${type}: active equals the HF checkpoint's`);
      }
    }
  });

  it('MoE fixtures: active < total by exactly the unused routed experts', () => {
    const s = summarizeModel(openModelFiles(modelDir('llama4-tiny-moe')));
    // 4 MoE layers × 3 unused experts × 3 matrices of 64×128.
    assert.equal(s.params_total - s.params_active, 4 * 3 * 3 * 64 * 128);
    assert.equal(s.experts.count, 4);
    assert.equal(s.experts.per_token, 1);
    assert.equal(s.chunk_size, 8192);
    const l3 = summarizeModel(openModelFiles(modelDir('llama3-tiny')));
    assert.equal(l3.params_active, l3.params_total);
    assert.ok(l3.tie_word_embeddings);
  });

  it('text output: the summary, the layer table and --tensors', async () => {
    const r = await cli(['inspect', join(FIXTURES, 'llama4-tiny-interleaved/llama4-tiny-interleaved-q4_k_m.gguf'), '--tensors']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^architecture\s+llama4 \(Llama 4 family\)$/m);
    assert.match(r.stdout, /^parameters\s+500\.8 K total, 353\.3 K active per token \(500800 \/ 353344\)$/m);
    assert.match(r.stdout, /^ {2}0\s+dense\s+RoPE, chunked 8192, QK-norm$/m);
    assert.match(r.stdout, /^ {2}3\s+moe\s+NoPE, full attention, temperature tuning$/m);
    const h = readGgufHeader(join(FIXTURES, 'llama4-tiny-interleaved/llama4-tiny-interleaved-q4_k_m.gguf'));
    assert.match(r.stdout, new RegExp(`^tensors \\(${h.tensorInfos.length}\\)$`, 'm'));
    for (const t of h.tensorInfos) {
      assert.match(r.stdout, new RegExp(`^ {2}${t.name.replace(/\./g, '\\.')}\\s+${t.dtype}\\s+\\[${t.shape.join(', ')}\\]\\s+${t.byteSize}$`, 'm'), t.name);
    }
  });
});

describe('inspect: licence', () => {
  it('from the model card, from GGUF general.license, and the Llama 4 terms', () => {
    const dir = join(scratch, 'card');
    copyDir(modelDir('llama4-tiny-moe'), dir);
    writeFileSync(join(dir, 'README.md'), '---\nlicense: other\nlicense_name: llama4\nlicense_link: LICENSE\n---\n# x\n');
    writeFileSync(join(dir, 'LICENSE'), 'LLAMA 4 COMMUNITY LICENSE AGREEMENT\n...\n');
    const s = summarizeModel(openModelFiles(dir));
    assert.equal(s.license.id, 'other');
    assert.equal(s.license.name, 'llama4');
    assert.equal(s.license.title, 'LLAMA 4 COMMUNITY LICENSE AGREEMENT');
    assert.deepEqual(s.license.files, ['LICENSE']);
    const terms = (s.license.llama4_terms ?? []).join('\n');
    assert.match(terms, /700 million monthly active users/);
    assert.match(terms, /Acceptable Use Policy/);
    assert.match(terms, /Built with Llama/);

    const src = readGguf(join(modelDir('llama3-tiny'), 'llama3-tiny-q8_0.gguf'));
    const path = join(scratch, 'licensed.gguf');
    writeGguf(path, { metadata: [...ggufMetadataEntries(src), ['general.license', 'llama3.1', 'string']], tensors: [...src.tensors.values()] });
    const g = summarizeModel(openModelFiles(path));
    assert.equal(g.license.id, 'llama3.1');
    assert.equal(g.license.source, 'GGUF general.license');
    assert.equal(g.license.llama4_terms, null, 'not a Llama 4 model');
  });
});

/** A copy of a fixture's HF files (no GGUFs, no goldens). */
function copyDir(from: string, to: string): void {
  rmSync(to, { recursive: true, force: true });
  mkdirSync(to, { recursive: true });
  for (const n of readdirSync(from).filter((x) => !x.endsWith('.gguf') && x !== 'golden')) copyFileSync(join(from, n), join(to, n));
}

describe('inspect --stats: the weight audit', () => {
  it('matches statistics computed directly, and finds nothing wrong in the fixtures', async () => {
    const path = join(modelDir('llama4-tiny-moe'), 'llama4-tiny-moe-f32.gguf');
    const r = await cli(['inspect', path, '--stats', '--json']);
    const s = json(r);
    assert.deepEqual(s.audit?.corrupt, []);
    assert.equal(s.stats?.length, readGgufHeader(path).tensorInfos.length);
    const t = readGguf(path).tensors.get('token_embd.weight')!;
    const v = new Float32Array(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength / 4);
    let sum = 0, min = Infinity, max = -Infinity;
    for (const x of v) { sum += x; min = Math.min(min, x); max = Math.max(max, x); }
    const mean = sum / v.length;
    let ss = 0;
    for (const x of v) ss += (x - mean) ** 2;
    const st = s.stats!.find((x) => x.name === 'token_embd.weight')!;
    assert.ok(Math.abs(st.mean! - mean) < 1e-9, `mean ${st.mean} vs ${mean}`);
    assert.ok(Math.abs(st.std! - Math.sqrt(ss / v.length)) < 1e-9);
    assert.equal(st.min, min);
    assert.equal(st.max, max);
    assert.equal(st.count, v.length);
    assert.equal(st.rows, 832);
    for (const m of MODELS) {
      const clean = summarizeModel(openModelFiles(modelDir(m)), { stats: true });
      assert.deepEqual(clean.audit, { corrupt: [], suspicious: [], skipped: [] }, m);
    }
  });

  it('flags a GGUF copy with a NaN, an Inf and an all-zero row planted in it', async () => {
    const src = readGguf(join(modelDir('llama4-tiny-moe'), 'llama4-tiny-moe-f32.gguf'));
    const tensors = [...src.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: new Uint8Array(t.bytes) }));
    const f32 = (name: string) => { const t = tensors.find((x) => x.name === name)!; return new Float32Array(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength / 4); };
    f32('blk.2.attn_q.weight')[1234] = NaN;
    f32('output_norm.weight')[7] = -Infinity;
    f32('blk.1.ffn_up_shexp.weight').fill(0, 64 * 5, 64 * 6); // row 5 of [128, 64]
    const path = join(scratch, 'planted.gguf');
    writeGguf(path, { metadata: ggufMetadataEntries(src), tensors });

    const r = await cli(['inspect', path, '--stats', '--json']);
    assert.equal(r.status, 1, 'exit status 1 on NaN/Inf');
    assert.equal(r.stderr.trimEnd().split('\n').length, 1);
    assert.match(r.stderr, /^llama4: .*weight audit: NaN\/Inf values in 2 tensors \(blk\.2\.attn_q\.weight, output_norm\.weight\); the checkpoint is corrupt$/m);
    const s = JSON.parse(r.stdout) as ModelSummary;
    const by = new Map(s.stats!.map((x) => [x.name, x]));
    assert.equal(by.get('blk.2.attn_q.weight')!.nan, 1);
    assert.equal(by.get('blk.2.attn_q.weight')!.count, 64 * 64 - 1);
    assert.equal(by.get('output_norm.weight')!.inf, 1);
    assert.equal(by.get('blk.1.ffn_up_shexp.weight')!.zero_rows, 1);
    assert.deepEqual(s.audit!.corrupt, ['blk.2.attn_q.weight', 'output_norm.weight'].sort((a, b) => tensors.findIndex((t) => t.name === a) - tensors.findIndex((t) => t.name === b)));
    assert.deepEqual(s.audit!.suspicious, ['blk.1.ffn_up_shexp.weight']);
    for (const x of s.stats!) if (!['blk.2.attn_q.weight', 'output_norm.weight'].includes(x.name)) assert.equal(x.nan + x.inf, 0, x.name);

    const text = await cli(['inspect', path, '--stats']);
    assert.equal(text.status, 1);
    assert.match(text.stdout, /^ {2}blk\.2\.attn_q\.weight\s.*\s1\s+0\s+0\/64\s+CORRUPT$/m);
    assert.match(text.stdout, /^audit: NaN\/Inf values in 2 tensors/m);
  });

  it('finds a NaN block scale in a quantized tensor and a NaN in bf16 safetensors', () => {
    // Q8_0: each 34-byte block starts with an f16 scale; 0x7e00 is an f16 NaN → 32 NaN weights.
    const src = readGguf(join(modelDir('llama4-tiny-moe'), 'llama4-tiny-moe-q8_0.gguf'));
    const tensors = [...src.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: new Uint8Array(t.bytes) }));
    const q = tensors.find((t) => t.dtype === 'Q8_0' && t.name.startsWith('blk.0.'))!;
    q.bytes[34 * 3] = 0x00; q.bytes[34 * 3 + 1] = 0x7e;
    const path = join(scratch, 'nan-scale.gguf');
    writeGguf(path, { metadata: ggufMetadataEntries(src), tensors });
    const m = openModelFiles(path);
    const st = tensorStats(m.tensors.find((t) => t.name === q.name)!)!;
    assert.equal(st.nan, 32);

    // bf16 safetensors: 0x7fc0 is a bf16 NaN.
    const dir = join(scratch, 'hf-nan');
    copyDir(modelDir('llama4-tiny-moe'), dir);
    const entry = openModelFiles(dir).tensors.find((t) => t.name.endsWith('layers.1.self_attn.k_proj.weight'))!;
    const bytes = readFileSync(join(dir, 'model.safetensors'));
    bytes.writeUInt16LE(0x7fc0, entry.offset + 2 * 17);
    writeFileSync(join(dir, 'model.safetensors'), bytes);
    const s = summarizeModel(openModelFiles(dir), { stats: true });
    assert.deepEqual(s.audit!.corrupt, [entry.name]);
    assert.equal(s.stats!.find((x) => x.name === entry.name)!.nan, 1);
  });
});
