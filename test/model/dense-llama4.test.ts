/**
 * Llama 3 dense is the special case, and so is a Llama 4 config with no routed experts and
 * `attention_chunk_size: null` (Llama Guard 4, spec §1.4): llama3-tiny's weights, renamed to
 * Llama 4 HF names with q/k rows in Llama 4's adjacent-pair order, under a
 * `Llama4ForConditionalGeneration` config, load as an all-dense, unchunked, un-normed Llama 4 and
 * reproduce llama3-tiny's llama.cpp goldens.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, type LoadedModel } from '../../src/load.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { modelDir, readGolden } from '../support/fixtures.js';
import { writeSafetensors, type SafetensorsTensor } from '../support/safetensors-writer.js';

const SRC = modelDir('llama3-tiny');
const ATOL = 1e-4;

/**
 * HF Llama 3 permutes q/k rows for rotate-half RoPE; Llama 4 checkpoints are in Meta's
 * adjacent-pair order. New row h·d + 2j + part = old row h·d + part·d/2 + j.
 */
function rotateHalfToAdjacent(bytes: Uint8Array, nHeads: number, headDim: number, rowBytes: number): Uint8Array {
  const out = new Uint8Array(bytes.byteLength);
  const half = headDim / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let j = 0; j < half; j++) {
      for (let part = 0; part < 2; part++) {
        const from = h * headDim + part * half + j;
        const to = h * headDim + 2 * j + part;
        out.set(bytes.subarray(from * rowBytes, (from + 1) * rowBytes), to * rowBytes);
      }
    }
  }
  return out;
}

/** Writes the Llama Guard 4-style folder; `permute` false keeps HF Llama 3's rotate-half rows. */
function writeDenseLlama4(dir: string, permute: boolean): void {
  mkdirSync(dir, { recursive: true });
  const l3 = JSON.parse(readFileSync(join(SRC, 'config.json'), 'utf8')) as Record<string, unknown>;
  const nHeads = l3.num_attention_heads as number, nKv = l3.num_key_value_heads as number, d = l3.head_dim as number;
  const nLayers = l3.num_hidden_layers as number;
  const textConfig = {
    model_type: 'llama4_text',
    hidden_size: l3.hidden_size, num_hidden_layers: nLayers,
    num_attention_heads: nHeads, num_key_value_heads: nKv, head_dim: d,
    vocab_size: l3.vocab_size, rms_norm_eps: l3.rms_norm_eps,
    rope_theta: l3.rope_theta, rope_scaling: l3.rope_scaling,
    max_position_embeddings: l3.max_position_embeddings,
    bos_token_id: l3.bos_token_id, eos_token_id: l3.eos_token_id,
    hidden_act: 'silu', attention_bias: false,
    // Llama Guard 4: routed experts removed, dense FFN of intermediate_size_mlp.
    num_local_experts: 0, num_experts_per_tok: 1, interleave_moe_layer_step: 1,
    intermediate_size: l3.intermediate_size, intermediate_size_mlp: l3.intermediate_size,
    attention_chunk_size: null,
    use_qk_norm: false,
    attn_temperature_tuning: false,
    no_rope_layers: Array.from({ length: nLayers }, () => 1),
    tie_word_embeddings: true,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    architectures: ['Llama4ForConditionalGeneration'], model_type: 'llama4',
    tie_word_embeddings: true, text_config: textConfig,
  }, null, 2));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) copyFileSync(join(SRC, f), join(dir, f));

  const src = readSafetensors(join(SRC, 'model.safetensors'));
  const tensors: SafetensorsTensor[] = [];
  for (const t of src.tensors.values()) {
    assert.ok(t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16');
    assert.ok(t.name.startsWith('model.'), t.name);
    const name = `language_model.${t.name.replace('.mlp.', '.feed_forward.')}`;
    let bytes = t.bytes;
    const m = /\.self_attn\.([qk])_proj\.weight$/.exec(t.name);
    if (m && permute) {
      const rowBytes = t.bytes.byteLength / t.shape[0];
      bytes = rotateHalfToAdjacent(t.bytes, m[1] === 'q' ? nHeads : nKv, d, rowBytes);
    }
    tensors.push({ name, dtype: t.dtype, shape: t.shape, bytes });
  }
  assert.ok(!src.tensors.has('lm_head.weight'), 'llama3-tiny ties its embeddings');
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
}

/** Max |Δ| against the golden (every stored position) and the 32 greedy ids. */
function runGolden(m: LoadedModel): { maxDiff: number; ids: number[] } {
  const g = readGolden('llama3-tiny', 'short.f32.json');
  const V = m.config.vocabSize;
  assert.equal(V, g.n_vocab);
  const cache = m.model.newCache(g.prompt_token_ids.length + g.greedy_continuation_ids.length);
  const logits = m.model.forward(cache, g.prompt_token_ids, { logits: g.logits_positions });
  let maxDiff = 0;
  g.logits_positions.forEach((_p, r) => {
    for (let i = 0; i < V; i++) maxDiff = Math.max(maxDiff, Math.abs(logits[r * V + i] - g.logits[r][i]));
  });
  const lastRow = g.logits_positions.indexOf(g.prompt_token_ids.length - 1);
  let next = logits.subarray(lastRow * V, (lastRow + 1) * V);
  const ids: number[] = [];
  for (let s = 0; s < g.greedy_continuation_ids.length; s++) {
    let best = 0;
    for (let i = 1; i < V; i++) if (next[i] > next[best]) best = i;
    ids.push(best);
    next = m.model.forward(cache, [best]);
  }
  return { maxDiff, ids };
}

describe('dense Llama 4 (Llama Guard 4 style) is Llama 3 under another name', () => {
  let tmp: string;
  let m: LoadedModel;
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'llama4-dense-'));
    writeDenseLlama4(join(tmp, 'guard'), true);
    writeDenseLlama4(join(tmp, 'unpermuted'), false);
    m = await loadModel(join(tmp, 'guard'));
  });
  after(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

  it('loads as Llama 4 with an all-dense, unchunked plan: no QK-norm, no temperature tuning, no experts', () => {
    const c = m.config;
    assert.equal(m.format, 'hf');
    assert.equal(c.family, 'llama4');
    assert.equal(c.arch, 'Llama4ForConditionalGeneration');
    assert.equal(c.nLayers, 2);
    assert.equal(c.attentionChunkSize, null);
    assert.equal(c.attnTemperature, null);
    assert.equal(c.nExperts, 0);
    assert.equal(c.sharedExpert, false);
    assert.equal(c.denseFfnSize, 128);
    assert.equal(c.tieWordEmbeddings, true);
    assert.deepEqual(c.layers.map((l) => ({ ...l })), [0, 1].map((index) => ({
      index, rope: true, chunked: false, qkNorm: false, temperatureTuning: false, ffn: 'dense',
    })));
    assert.ok(m.model.weights.layers.every((l) => l.ffn.kind === 'dense'));
    assert.equal(m.model.weights.output, m.model.weights.tokenEmbedding, 'tied output head');
    // No layer caches only a chunk.
    const cache = m.model.newCache(100);
    assert.ok(cache.layers.every((l) => l.chunk === null && l.maxRows === 100));
  });

  it(`matches llama3-tiny's f32 golden (logits within ${ATOL}, 32 greedy ids identical)`, () => {
    const g = readGolden('llama3-tiny', 'short.f32.json');
    const { maxDiff, ids } = runGolden(m);
    assert.ok(maxDiff <= ATOL, `max |Δlogit| ${maxDiff}`);
    assert.deepEqual(ids, g.greedy_continuation_ids);
    process.stdout.write(`dense Llama 4 (Guard-style) vs llama3-tiny short.f32 golden: max |Δlogit| = ${maxDiff.toExponential(2)}\n`);
  });

  it('gives the same logits as llama3-tiny loaded as Llama 3 (HF folder)', async () => {
    const l3 = await loadModel(SRC);
    assert.equal(l3.config.family, 'llama3');
    const ids = readGolden('llama3-tiny', 'medium.f32.json').prompt_token_ids;
    const a = m.model.forward(m.model.newCache(ids.length), ids, { logits: 'all' });
    const b = l3.model.forward(l3.model.newCache(ids.length), ids, { logits: 'all' });
    let d = 0;
    for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
    assert.ok(d <= 1e-6, `max |Δ| ${d}`);
  });

  it('the q/k row order matters: Llama 3 rotate-half rows under a Llama 4 config do not match', async () => {
    const bad = await loadModel(join(tmp, 'unpermuted'));
    const { maxDiff } = runGolden(bad);
    assert.ok(maxDiff > 1e-2, `max |Δlogit| only ${maxDiff}`);
  });
});
