/**
 * Weights are held once: loading a ~195 MB synthetic Llama-3-shaped Q8_0 GGUF in a fresh Node
 * process raises its peak RSS by at most 1.2× the file size, and the weight matrices reference
 * exactly one buffer per tensor, totalling the tensors' stored bytes (no dequantized or second
 * copy).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readGguf } from '../../src/io/gguf.js';
import { ggufMetadataEntries, writeGguf, type GgufMetadataEntry, type GgufTensorToWrite } from '../../src/io/gguf-writer.js';
import { rowBytes } from '../../src/quant/layout.js';
import { f32ToF16 } from '../../src/quant/fp16.js';
import { ROOT, modelDir } from '../support/fixtures.js';

const HIDDEN = 1024, LAYERS = 12, FFN = 4096, HEADS = 16, KV_HEADS = 4, HEAD_DIM = 64;
const VOCAB = 671; // llama3-tiny's tokenizer
const MAX_RATIO = 1.2;

/** Q8_0 bytes of a [rows, cols] matrix: random int8 quants, every block scale 1/256 (valid f16). */
function q8Matrix(rows: number, cols: number): Uint8Array {
  const bytes = new Uint8Array(rows * rowBytes('Q8_0', cols));
  randomFillSync(bytes);
  const scale = f32ToF16(1 / 256);
  for (let b = 0; b < bytes.length; b += 34) { bytes[b] = scale & 0xff; bytes[b + 1] = scale >> 8; }
  return bytes;
}

function f32Vector(n: number, value: number): Uint8Array {
  return new Uint8Array(new Float32Array(n).fill(value).buffer);
}

/** Writes the synthetic model; returns the total bytes of its matrix tensors. */
function writeSyntheticGguf(path: string): number {
  const tiny = readGguf(join(modelDir('llama3-tiny'), 'llama3-tiny-f32.gguf'));
  const overrides: Record<string, number> = {
    'llama.block_count': LAYERS, 'llama.embedding_length': HIDDEN, 'llama.feed_forward_length': FFN,
    'llama.attention.head_count': HEADS, 'llama.attention.head_count_kv': KV_HEADS,
    'llama.attention.key_length': HEAD_DIM, 'llama.attention.value_length': HEAD_DIM,
    'llama.rope.dimension_count': HEAD_DIM, 'llama.vocab_size': VOCAB, 'general.file_type': 7,
  };
  const metadata: GgufMetadataEntry[] = ggufMetadataEntries(tiny).map(([k, v, t]) => [k, overrides[k] ?? v, t]);
  for (const k of Object.keys(overrides)) assert.ok(tiny.metadata.has(k), `llama3-tiny GGUF lacks ${k}`);
  assert.equal((tiny.metadata.get('tokenizer.ggml.tokens') as unknown[]).length, VOCAB);

  // One random buffer per shape, shared by every tensor of that shape (keeps this process small).
  const shapes = new Map<string, Uint8Array>();
  const q8 = (rows: number, cols: number) => {
    const key = `${rows}x${cols}`;
    if (!shapes.has(key)) shapes.set(key, q8Matrix(rows, cols));
    return shapes.get(key)!;
  };
  const tensors: GgufTensorToWrite[] = [];
  let matrixBytes = 0;
  const mat = (name: string, rows: number, cols: number) => {
    const bytes = q8(rows, cols);
    matrixBytes += bytes.length;
    tensors.push({ name, dtype: 'Q8_0', shape: [rows, cols], bytes });
  };
  const norm = (name: string) => tensors.push({ name, dtype: 'F32', shape: [HIDDEN], bytes: f32Vector(HIDDEN, 1) });
  mat('token_embd.weight', VOCAB, HIDDEN);
  for (let i = 0; i < LAYERS; i++) {
    norm(`blk.${i}.attn_norm.weight`);
    mat(`blk.${i}.attn_q.weight`, HEADS * HEAD_DIM, HIDDEN);
    mat(`blk.${i}.attn_k.weight`, KV_HEADS * HEAD_DIM, HIDDEN);
    mat(`blk.${i}.attn_v.weight`, KV_HEADS * HEAD_DIM, HIDDEN);
    mat(`blk.${i}.attn_output.weight`, HIDDEN, HEADS * HEAD_DIM);
    norm(`blk.${i}.ffn_norm.weight`);
    mat(`blk.${i}.ffn_gate.weight`, FFN, HIDDEN);
    mat(`blk.${i}.ffn_up.weight`, FFN, HIDDEN);
    mat(`blk.${i}.ffn_down.weight`, HIDDEN, FFN);
  }
  norm('output_norm.weight');
  mat('output.weight', VOCAB, HIDDEN);
  writeGguf(path, { metadata, tensors });
  return matrixBytes;
}

/** Runs in a fresh Node process: baseline RSS, load, peak RSS, and the bytes the weights hold. */
const CHILD = `
const [loadUrl, path] = process.argv.slice(2);
const { loadModel } = await import(loadUrl);
globalThis.gc?.();
const baseline = process.memoryUsage().rss;
const t0 = performance.now();
const m = await loadModel(path);
const loadMs = performance.now() - t0;
const peak = process.resourceUsage().maxRSS * 1024; // KiB on Linux
const buffers = new Set();
let matrices = 0;
const add = (mat) => { matrices++; buffers.add(mat.bytes.buffer); };
const w = m.model.weights;
add(w.tokenEmbedding);
if (w.output !== w.tokenEmbedding) add(w.output);
for (const l of w.layers) {
  for (const k of ['q', 'k', 'v', 'o']) add(l.attention[k]);
  for (const k of ['gate', 'up', 'down']) add(l.ffn[k]);
}
let held = 0;
for (const b of buffers) held += b.byteLength;
process.stdout.write(JSON.stringify({ baseline, peak, loadMs, held, matrices, buffers: buffers.size,
  layers: m.config.nLayers, hidden: m.config.hiddenSize, dtype: w.layers[0].attention.q.dtype }));
`;

/** The same load into the wasm backend: weights stream from the file straight into wasm memory. */
const CHILD_WASM = `
const [loadUrl, backendUrl, path] = process.argv.slice(2);
const { loadModel } = await import(loadUrl);
const { WasmBackend } = await import(backendUrl);
const backend = await WasmBackend.create({ threads: 2 });
globalThis.gc?.();
const baseline = process.memoryUsage().rss;
const t0 = performance.now();
const m = await loadModel(path, { backend });
const loadMs = performance.now() - t0;
const peak = process.resourceUsage().maxRSS * 1024;
process.stdout.write(JSON.stringify({ baseline, peak, loadMs, wasmBytes: backend.memoryBytes, dtype: m.model.weights.layers[0].attention.q.dtype }));
process.exit(0);
`;
const MAX_RATIO_WASM = 1.15;

describe('loading memory', () => {
  let tmp: string;
  let gguf: string;
  let matrixBytes: number;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'llama4-mem-'));
    gguf = join(tmp, 'synthetic-q8_0.gguf');
    matrixBytes = writeSyntheticGguf(gguf);
    writeFileSync(join(tmp, 'child.mjs'), CHILD);
    writeFileSync(join(tmp, 'child-wasm.mjs'), CHILD_WASM);
  });
  after(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

  it(`weights are held once; peak RSS while loading a GGUF stays under ${MAX_RATIO}× its size`, () => {
    const size = statSync(gguf).size;
    assert.ok(size > 150e6 && size < 250e6, `synthetic GGUF is ${size} bytes`);
    const loadUrl = pathToFileURL(join(ROOT, 'dist', 'src', 'load.js')).href;
    const child = spawnSync(process.execPath, ['--expose-gc', join(tmp, 'child.mjs'), loadUrl, gguf], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(child.status, 0, `child failed: ${child.stderr}`);
    const r = JSON.parse(child.stdout) as { baseline: number; peak: number; loadMs: number; held: number; matrices: number; buffers: number; layers: number; hidden: number; dtype: string };
    assert.equal(r.layers, LAYERS);
    assert.equal(r.hidden, HIDDEN);
    assert.equal(r.dtype, 'Q8_0', 'quantized blocks stay quantized');
    // One buffer per matrix tensor, exactly its stored bytes.
    assert.equal(r.matrices, 2 + 7 * LAYERS);
    assert.equal(r.buffers, r.matrices);
    assert.equal(r.held, matrixBytes);
    const ratio = (r.peak - r.baseline) / size;
    process.stdout.write(`GGUF ${(size / 1e6).toFixed(1)} MB (Q8_0), loaded in ${r.loadMs.toFixed(0)} ms: baseline RSS ${(r.baseline / 1e6).toFixed(1)} MB, `
      + `peak ${(r.peak / 1e6).toFixed(1)} MB → (peak − baseline) / size = ${ratio.toFixed(3)}; weights hold ${(r.held / size).toFixed(4)}× the file\n`);
    assert.ok(ratio <= MAX_RATIO, `peak RSS grew by ${(ratio).toFixed(3)}× the file size`);
    assert.ok(r.peak - r.baseline >= 0.9 * matrixBytes, 'the weights must actually have been read');
  });

  it(`wasm backend: weights stream into wasm memory; peak RSS stays under ${MAX_RATIO_WASM}× the file`, () => {
    const size = statSync(gguf).size;
    const loadUrl = pathToFileURL(join(ROOT, 'dist', 'src', 'load.js')).href;
    const backendUrl = pathToFileURL(join(ROOT, 'dist', 'src', 'backend', 'wasm', 'wasm-backend.js')).href;
    const child = spawnSync(process.execPath, ['--expose-gc', join(tmp, 'child-wasm.mjs'), loadUrl, backendUrl, gguf], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(child.status, 0, `child failed: ${child.stderr}`);
    const r = JSON.parse(child.stdout) as { baseline: number; peak: number; loadMs: number; wasmBytes: number; dtype: string };
    assert.equal(r.dtype, 'Q8_0');
    assert.ok(r.wasmBytes >= matrixBytes, 'the weights are in wasm memory');
    const ratio = (r.peak - r.baseline) / size;
    process.stdout.write(`wasm: GGUF ${(size / 1e6).toFixed(1)} MB loaded in ${r.loadMs.toFixed(0)} ms: (peak − baseline) / size = ${ratio.toFixed(3)}\n`);
    assert.ok(ratio <= MAX_RATIO_WASM, `peak RSS grew by ${ratio.toFixed(3)}× the file size`);
    assert.ok(r.peak - r.baseline >= 0.9 * matrixBytes, 'the weights must actually have been read');
  });
});
