/**
 * Whole-model quantization: llama-quantize's per-tensor type choice, byte identity with the
 * fixtures' llama.cpp GGUFs, quantize-at-load against llama.cpp's dequant-f32 goldens, and
 * quantize-at-load against the GGUF `llama4 quantize` writes for the same type.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { modelConfigFromHf } from '../../src/config/hf-config.js';
import type { ModelConfig } from '../../src/config/model-config.js';
import { Llama4Error } from '../../src/errors.js';
import { readGguf, type GgufFile } from '../../src/io/gguf.js';
import type { DType, TensorSource } from '../../src/io/tensor.js';
import { loadModel, type LoadedModel } from '../../src/load.js';
import { hfGgufLayout, quantizeHfFolder } from '../../src/quant/gguf-export.js';
import { FILE_TYPES, parseQuantType, planTensorTypes, quantizeSource, type QuantType } from '../../src/quant/quantize-model.js';
import { MODELS, modelDir, readGolden, type FixtureModel } from '../support/fixtures.js';
import { scratchDir } from '../cli/helpers.js';

const ATOL = 1e-4;

function hfConfig(model: FixtureModel): ModelConfig {
  const path = join(modelDir(model), 'config.json');
  return modelConfigFromHf(JSON.parse(readFileSync(path, 'utf8')), path);
}

function fixtureGguf(model: FixtureModel, type: string): GgufFile | null {
  const path = join(modelDir(model), `${model}-${type}.gguf`);
  return existsSync(path) ? readGguf(path) : null;
}

/** HF folder → GGUF layout → quantized, as `llama4 quantize` produces it (before writing). */
function quantizedLayout(model: FixtureModel, type: QuantType): TensorSource {
  const config = hfConfig(model);
  const json = JSON.parse(readFileSync(join(modelDir(model), 'config.json'), 'utf8'));
  return quantizeSource(hfGgufLayout(modelDir(model), json, config), type, config);
}

/** Logits of the golden's prompt at its stored positions, plus the 32-token greedy continuation. */
function run(m: LoadedModel, ids: readonly number[], positions: readonly number[], steps: number): { logits: ArrayLike<number>; greedy: number[] } {
  const V = m.config.vocabSize;
  const cache = m.model.newCache(ids.length + steps);
  const logits = m.model.forward(cache, [...ids], { logits: [...positions] }).slice();
  const last = positions.indexOf(ids.length - 1);
  let next: Float32Array = logits.subarray(last * V, (last + 1) * V);
  const greedy: number[] = [];
  for (let s = 0; s < steps; s++) {
    let best = 0;
    for (let i = 1; i < V; i++) if (next[i] > next[best]) best = i;
    greedy.push(best);
    next = m.model.forward(cache, [best]);
  }
  return { logits, greedy };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

describe('planTensorTypes (llama-quantize rules)', () => {
  // Every fixture GGUF made by llama.cpp: our plan gives each tensor the type llama.cpp chose.
  for (const model of MODELS) {
    for (const type of ['q8_0', 'q4_0', 'q4_k_m', 'q6_k'] as const) {
      const g = fixtureGguf(model, type);
      if (!g) continue;
      it(`${model} ${type}: the same type for every tensor as llama.cpp`, () => {
        const plan = planTensorTypes(g.tensorInfos, type, hfConfig(model));
        for (const t of g.tensorInfos) assert.equal(plan.get(t.name) ?? 'F32', t.dtype, t.name);
      });
    }
  }

  const synthetic = (nLayers: number, extra: Partial<ModelConfig> = {}) => {
    const tensors = [{ name: 'token_embd.weight', shape: [32000, 4096] }, { name: 'output.weight', shape: [32000, 4096] }];
    for (let i = 0; i < nLayers; i++) {
      for (const n of ['attn_q', 'attn_k', 'attn_v', 'attn_output']) tensors.push({ name: `blk.${i}.${n}.weight`, shape: [4096, 4096] });
      tensors.push({ name: `blk.${i}.ffn_down.weight`, shape: [4096, 14336] }, { name: `blk.${i}.attn_norm.weight`, shape: [4096] });
    }
    return { tensors, config: { family: 'llama3' as const, nLayers, nExperts: 0, nHeads: 32, nKvHeads: 8, ...extra } };
  };

  it('q4_k_m: Q6_K in attn_v / ffn_down of the first and last eighth and every third layer between (32 layers)', () => {
    const { tensors, config } = synthetic(32);
    const plan = planTensorTypes(tensors, 'q4_k_m', config);
    const six = (n: string) => [...Array(32).keys()].filter((i) => plan.get(`blk.${i}.${n}.weight`) === 'Q6_K');
    const expected = [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31];
    assert.deepEqual(six('attn_v'), expected);
    assert.deepEqual(six('ffn_down'), expected);
    assert.equal(plan.get('output.weight'), 'Q6_K');
    assert.equal(plan.get('token_embd.weight'), 'Q4_K');
    assert.equal(plan.get('blk.5.attn_q.weight'), 'Q4_K');
    assert.equal(plan.get('blk.0.attn_norm.weight'), null);
  });

  it('q4_k_m: 70B-style models get Q5_K attn_v; 8-expert models Q8_0 attn_v/attn_k and Q5_K attn_output', () => {
    const big = synthetic(80);
    const plan70 = planTensorTypes(big.tensors, 'q4_k_m', big.config);
    assert.equal(plan70.get('blk.10.attn_v.weight'), 'Q5_K');
    assert.equal(plan70.get('blk.12.attn_v.weight'), 'Q6_K');
    const moe = synthetic(8, { nExperts: 8 });
    const plan8 = planTensorTypes(moe.tensors, 'q4_k_m', moe.config);
    assert.equal(plan8.get('blk.3.attn_v.weight'), 'Q8_0');
    assert.equal(plan8.get('blk.3.attn_k.weight'), 'Q8_0');
    assert.equal(plan8.get('blk.3.attn_output.weight'), 'Q5_K');
  });

  it('falls back for rows that are not whole blocks: Q4_K → Q5_0, Q6_K → Q8_0, then F16; tied embeddings take the output type', () => {
    const config = { family: 'llama3' as const, nLayers: 1, nExperts: 0, nHeads: 1, nKvHeads: 1 };
    const tensors = [
      { name: 'token_embd.weight', shape: [10, 96] },
      { name: 'blk.0.attn_q.weight', shape: [96, 96] },
      { name: 'blk.0.ffn_down.weight', shape: [96, 48] },
      { name: 'blk.0.ffn_up.weight', shape: [48, 100] },
    ];
    const km = planTensorTypes(tensors, 'q4_k_m', config);
    assert.equal(km.get('token_embd.weight'), 'Q8_0'); // tied: output rule, 96 % 256 ≠ 0
    assert.equal(km.get('blk.0.attn_q.weight'), 'Q5_0');
    assert.equal(km.get('blk.0.ffn_down.weight'), 'F16'); // Q6_K → Q8_0 needs 48 % 32 = 0: no
    assert.equal(km.get('blk.0.ffn_up.weight'), 'F16');
    const q8 = planTensorTypes(tensors, 'q8_0', config);
    assert.equal(q8.get('blk.0.ffn_down.weight'), 'F16');
    assert.equal(q8.get('blk.0.attn_q.weight'), 'Q8_0');
    // q4_0 puts the output (here the tied embedding) in Q6_K, which falls back to Q8_0 for 96-element rows.
    assert.equal(planTensorTypes(tensors, 'q4_0', config).get('token_embd.weight'), 'Q8_0');
  });

  it('parseQuantType: q4_k means q4_k_m; anything else is a Llama4Error naming the choices', () => {
    assert.equal(parseQuantType('q4_k'), 'q4_k_m');
    assert.equal(parseQuantType('Q8_0'), 'q8_0');
    assert.throws(() => parseQuantType('q3_k'), (e: unknown) => e instanceof Llama4Error && /q3_k.*q8_0, q4_0, q4_k/.test(e.message));
  });
});

describe('quantized tensors are byte-identical to llama.cpp\'s GGUFs', () => {
  for (const model of MODELS) {
    for (const type of ['f32', 'f16', 'q8_0', 'q4_0', 'q6_k', 'q4_k_m'] as const) {
      const g = fixtureGguf(model, type);
      if (!g) continue;
      // Q4_K: ggml's reference quantizer, which picks other (scale, min) candidates than the
      // fixtures' llama.cpp build in some super-blocks (see src/quant/quantize-k.ts).
      it(`${model} ${type}: same names, shapes, types${type === 'q4_k_m' ? ', and bytes except Q4_K tensors' : ' and bytes'}`, () => {
        const ours = quantizedLayout(model, type);
        assert.deepEqual([...ours.tensors.keys()].sort(), [...g.tensors.keys()].sort());
        for (const [name, t] of g.tensors) {
          const o = ours.tensors.get(name)!;
          assert.equal(o.dtype, t.dtype, name);
          assert.deepEqual(o.shape, t.shape, name);
          const bytes = o.bytes;
          assert.equal(bytes.length, t.bytes.length, name);
          if (t.dtype !== 'Q4_K') assert.ok(Buffer.from(bytes).equals(Buffer.from(t.bytes)), `${name}: bytes differ`);
        }
      });
    }
  }
});

describe('quantize at load', () => {
  // Where our bytes equal llama.cpp's, the model must match llama.cpp's dequant-f32 golden.
  const goldenCases: [FixtureModel, 'q8_0' | 'q4_0' | 'q6_k' | 'q4_k_m'][] = [];
  for (const model of MODELS) {
    for (const type of ['q8_0', 'q4_0', 'q6_k'] as const) if (fixtureGguf(model, type)) goldenCases.push([model, type]);
  }
  goldenCases.push(['llama4-tiny-moe', 'q4_k_m'], ['llama3-tiny', 'q4_k_m']); // all fallbacks: no Q4_K tensor
  for (const [model, type] of goldenCases) {
    it(`${model} HF + quant ${type === 'q4_k_m' ? 'q4_k' : type}: short.${type}.dequant-f32 logits within ${ATOL}, greedy identical`, async () => {
      const g = readGolden(model, `short.${type}.dequant-f32.json`);
      const m = await loadModel(modelDir(model), { quant: type === 'q4_k_m' ? 'q4_k' : type });
      const r = run(m, g.prompt_token_ids, g.logits_positions, g.greedy_continuation_ids.length);
      assert.ok(maxDiff(r.logits, g.logits.flat()) <= ATOL, `max |Δ| ${maxDiff(r.logits, g.logits.flat())}`);
      assert.deepEqual(r.greedy, g.greedy_continuation_ids);
    });
  }

  const scratch = scratchDir('quantize-model');
  after(() => scratch.cleanup());
  for (const model of MODELS) {
    for (const type of ['q8_0', 'q4_0', 'q4_k_m'] as const) {
      it(`${model}: HF + quant ${type} equals the GGUF written by llama4 quantize --type ${type} (logits within ${ATOL})`, async () => {
        const out = join(scratch.dir, `${model}-${type}.gguf`);
        await quantizeHfFolder(modelDir(model), out, type);
        const g = readGolden(model, 'short.f32.json');
        const atLoad = run(await loadModel(modelDir(model), { quant: type }), g.prompt_token_ids, g.logits_positions, 8);
        const fromFile = run(await loadModel(out), g.prompt_token_ids, g.logits_positions, 8);
        assert.ok(maxDiff(atLoad.logits, fromFile.logits) <= ATOL, `max |Δ| ${maxDiff(atLoad.logits, fromFile.logits)}`);
        assert.deepEqual(atLoad.greedy, fromFile.greedy);
      });
    }
  }

  it('an F32/F16 GGUF can be quantized at load (same bytes as from the HF folder)', async () => {
    const model = 'llama3-small-kq';
    const g = readGolden(model, 'short.q4_0.dequant-f32.json');
    for (const src of ['f32', 'f16'] as const) {
      const m = await loadModel(join(modelDir(model), `${model}-${src}.gguf`), { quant: 'q4_0' });
      const r = run(m, g.prompt_token_ids, g.logits_positions, 0);
      if (src === 'f32') assert.ok(maxDiff(r.logits, g.logits.flat()) <= ATOL, `max |Δ| ${maxDiff(r.logits, g.logits.flat())}`);
      else assert.ok(maxDiff(r.logits, g.logits.flat()) < 0.5, 'f16 weights quantize close to the f32 ones');
    }
  });

  it('a quantized GGUF with quant is an error naming the file; an unknown type is an error', async () => {
    const path = join(modelDir('llama3-tiny'), 'llama3-tiny-q8_0.gguf');
    await assert.rejects(loadModel(path, { quant: 'q8_0' }), (e: unknown) => e instanceof Llama4Error && e.message.includes(path) && /already Q8_0/.test(e.message));
    await assert.rejects(loadModel(modelDir('llama3-tiny'), { quant: 'q2_k' as never }), (e: unknown) => e instanceof Llama4Error && /unknown quantization type 'q2_k'/.test(e.message));
  });
});

describe('llama4 quantize output', () => {
  const scratch = scratchDir('quantize-export');
  after(() => scratch.cleanup());
  const written = new Map<string, GgufFile>();
  before(async () => {
    for (const model of MODELS) {
      const out = join(scratch.dir, `${model}.gguf`);
      await quantizeHfFolder(modelDir(model), out, 'q8_0');
      written.set(model, readGguf(out));
    }
  });

  // Keys convert_hf_to_gguf.py derives from the model card / folder name heuristics, not the model.
  const NAMING = new Set(['general.size_label', 'general.basename', 'general.finetune']);
  for (const model of MODELS) {
    it(`${model}: every metadata key of llama.cpp's q8_0 GGUF, with the same value and type`, () => {
      const ours = written.get(model)!;
      const ref = fixtureGguf(model, 'q8_0')!;
      for (const [key, value] of ref.metadata) {
        if (NAMING.has(key)) continue;
        assert.ok(ours.metadata.has(key), `missing ${key}`);
        assert.deepEqual(ours.metadataTypes.get(key), ref.metadataTypes.get(key), `type of ${key}`);
        assert.deepEqual(ours.metadata.get(key), value, key);
      }
      assert.equal(ours.metadata.get('general.file_type'), FILE_TYPES.q8_0);
      assert.equal(ours.metadata.get('general.quantization_version'), 2);
      const arch = ours.metadata.get('general.architecture');
      assert.equal(arch, model.startsWith('llama4') ? 'llama4' : 'llama');
      for (const k of ['block_count', 'context_length', 'embedding_length', 'feed_forward_length', 'attention.head_count', 'attention.head_count_kv',
        'attention.key_length', 'attention.value_length', 'attention.layer_norm_rms_epsilon', 'rope.freq_base', 'rope.dimension_count', 'vocab_size']) {
        assert.ok(ours.metadata.has(`${arch}.${k}`), `${arch}.${k}`);
      }
      if (arch === 'llama4') for (const k of ['expert_count', 'expert_used_count', 'expert_feed_forward_length', 'interleave_moe_layer_step']) assert.ok(ours.metadata.has(`llama4.${k}`), k);
    });

    it(`${model}: tensors in GGUF naming and layout, ggml row order, F32 norms/router/rope_freqs`, () => {
      const ours = written.get(model)!;
      const types: Record<string, DType> = {};
      for (const t of ours.tensorInfos) types[t.name] = t.dtype;
      assert.equal(types['rope_freqs.weight'], 'F32');
      assert.equal(types['token_embd.weight'], 'Q8_0');
      for (const t of ours.tensorInfos) {
        assert.match(t.name, /^(token_embd|output|output_norm|rope_freqs)\.weight$|^blk\.\d+\.(attn_(norm|q|k|v|output)|ffn_(norm|gate|up|down|gate_inp|gate_exps|up_exps|down_exps|gate_shexp|up_shexp|down_shexp))\.weight$/);
        if (/norm|gate_inp|rope_freqs/.test(t.name)) assert.equal(t.dtype, 'F32', t.name);
      }
      const config = hfConfig(model);
      if (config.nExperts > 0) {
        const i = config.layers.findIndex((l) => l.ffn === 'moe');
        const E = config.nExperts, F = config.expertFfnSize, D = config.hiddenSize;
        const shape = (n: string) => ours.tensors.get(`blk.${i}.${n}.weight`)!.shape;
        assert.deepEqual(shape('ffn_gate_exps'), [E, F, D]);
        assert.deepEqual(shape('ffn_up_exps'), [E, F, D]);
        assert.deepEqual(shape('ffn_down_exps'), [E, D, F]);
      }
    });
  }

  it('refuses a checkpoint llama.cpp would run differently (a chunk size GGUF cannot carry)', async () => {
    const src = modelDir('llama4-tiny-moe');
    const dir = join(scratch.dir, 'chunk-4096');
    mkdirSync(dir);
    for (const f of readdirSync(src)) if (!f.endsWith('.gguf') && f !== 'golden' && f !== 'config.json') copyFileSync(join(src, f), join(dir, f));
    const config = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8'));
    config.text_config.attention_chunk_size = 4096;
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    await assert.rejects(quantizeHfFolder(dir, join(scratch.dir, 'chunk.gguf'), 'q8_0'),
      (e: unknown) => e instanceof Llama4Error && /cannot be written as a GGUF that llama.cpp runs the same way: attention chunk size 4096 would read back as 8192/.test(e.message));
    assert.equal(existsSync(join(scratch.dir, 'chunk.gguf')), false);
  });
});
