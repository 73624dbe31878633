/**
 * `loadModel` at the API level: every fixture folder and one GGUF per model give the expected
 * normalized config and layer plan, the HF and GGUF sources of a model agree on it, and every
 * failure is a Llama4Error that names its source.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, type LoadedModel } from '../../src/load.js';
import { Llama4Error } from '../../src/errors.js';
import { modelConfigFromHf } from '../../src/config/hf-config.js';
import { modelConfigFromGguf } from '../../src/config/gguf-config.js';
import { buildModelConfig, type LayerPlan, type ModelConfig, type ModelConfigInput } from '../../src/config/model-config.js';
import { readGguf } from '../../src/io/gguf.js';
import { readSafetensorsFolder } from '../../src/io/safetensors.js';
import { loadLlamaWeights } from '../../src/model/weights.js';
import { RefBackend } from '../../src/backend/ref/ref-backend.js';
import { Session } from '../../src/model/session.js';
import { MODELS, modelDir, type FixtureModel } from '../support/fixtures.js';

/** The GGUF loaded for each model (a different type each, so several readers are covered). */
const GGUF_TYPE: Record<FixtureModel, string> = {
  'llama4-tiny-moe': 'q8_0',
  'llama4-tiny-interleaved': 'f16',
  'llama3-tiny': 'q4_k_m',
  'llama3-small-kq': 'q6_k',
};
const ggufPath = (model: FixtureModel) => join(modelDir(model), `${model}-${GGUF_TYPE[model]}.gguf`);

type Plan = Omit<LayerPlan, 'index'>;
const L4_ROPE: Omit<Plan, 'ffn'> = { rope: true, chunked: true, qkNorm: true, temperatureTuning: false };
const L4_NOPE: Omit<Plan, 'ffn'> = { rope: false, chunked: false, qkNorm: false, temperatureTuning: true };
const L3_LAYER: Plan = { rope: true, chunked: false, qkNorm: false, temperatureTuning: false, ffn: 'dense' };

interface Expected {
  family: 'llama4' | 'llama3';
  vocabSize: number; hiddenSize: number; nLayers: number; nHeads: number; nKvHeads: number; headDim: number;
  denseFfnSize: number; expertFfnSize: number; nExperts: number; nExpertsPerToken: number; sharedExpert: boolean;
  attentionChunkSize: number | null; attnTemperature: { floorScale: number; attnScale: number } | null;
  tieWordEmbeddings: boolean; maxContext: number; theta: number;
  /** llama3 RoPE scaling of the checkpoint: factor, low, high, original context. */
  scaling: [number, number, number, number];
  layers: Plan[];
}

const EXPECTED: Record<FixtureModel, Expected> = {
  'llama4-tiny-moe': {
    family: 'llama4', vocabSize: 832, hiddenSize: 64, nLayers: 4, nHeads: 4, nKvHeads: 2, headDim: 16,
    denseFfnSize: 256, expertFfnSize: 128, nExperts: 4, nExpertsPerToken: 1, sharedExpert: true,
    attentionChunkSize: 8192, attnTemperature: { floorScale: 8192, attnScale: 0.1 },
    tieWordEmbeddings: false, maxContext: 16384, theta: 500000, scaling: [16, 1, 1, 8192],
    layers: [{ ...L4_ROPE, ffn: 'moe' }, { ...L4_ROPE, ffn: 'moe' }, { ...L4_ROPE, ffn: 'moe' }, { ...L4_NOPE, ffn: 'moe' }],
  },
  'llama4-tiny-interleaved': {
    family: 'llama4', vocabSize: 832, hiddenSize: 64, nLayers: 4, nHeads: 4, nKvHeads: 2, headDim: 16,
    denseFfnSize: 256, expertFfnSize: 128, nExperts: 4, nExpertsPerToken: 1, sharedExpert: true,
    attentionChunkSize: 8192, attnTemperature: { floorScale: 8192, attnScale: 0.1 },
    tieWordEmbeddings: false, maxContext: 16384, theta: 500000, scaling: [16, 1, 1, 8192],
    layers: [{ ...L4_ROPE, ffn: 'dense' }, { ...L4_ROPE, ffn: 'moe' }, { ...L4_ROPE, ffn: 'dense' }, { ...L4_NOPE, ffn: 'moe' }],
  },
  'llama3-tiny': {
    family: 'llama3', vocabSize: 671, hiddenSize: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 16,
    denseFfnSize: 128, expertFfnSize: 0, nExperts: 0, nExpertsPerToken: 0, sharedExpert: false,
    attentionChunkSize: null, attnTemperature: null,
    tieWordEmbeddings: true, maxContext: 8192, theta: 500000, scaling: [8, 1, 4, 8192],
    layers: [L3_LAYER, L3_LAYER],
  },
  'llama3-small-kq': {
    family: 'llama3', vocabSize: 671, hiddenSize: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 64,
    denseFfnSize: 512, expertFfnSize: 0, nExperts: 0, nExpertsPerToken: 0, sharedExpert: false,
    attentionChunkSize: null, attnTemperature: null,
    tieWordEmbeddings: true, maxContext: 8192, theta: 500000, scaling: [8, 1, 4, 8192],
    layers: [L3_LAYER, L3_LAYER],
  },
};

/** Meta's llama3 RoPE scaling, written out independently: the divisor of each frequency pair. */
function llama3Divisors(theta: number, dims: number, [factor, low, high, orig]: Expected['scaling']): number[] {
  return Array.from({ length: dims / 2 }, (_, j) => {
    const wavelen = 2 * Math.PI * Math.pow(theta, (2 * j) / dims);
    if (wavelen < orig / high) return 1;
    if (wavelen > orig / low) return factor;
    const smooth = (orig / wavelen - low) / (high - low);
    return 1 / ((1 - smooth) / factor + smooth);
  });
}

const plan = (c: ModelConfig): Plan[] => c.layers.map(({ index: _i, ...p }) => p);

function checkConfig(c: ModelConfig, e: Expected, label: string): void {
  const scalar = {
    family: c.family, vocabSize: c.vocabSize, hiddenSize: c.hiddenSize, nLayers: c.nLayers, nHeads: c.nHeads,
    nKvHeads: c.nKvHeads, headDim: c.headDim, denseFfnSize: c.denseFfnSize, expertFfnSize: c.expertFfnSize,
    nExperts: c.nExperts, nExpertsPerToken: c.nExpertsPerToken, sharedExpert: c.sharedExpert,
    attentionChunkSize: c.attentionChunkSize, attnTemperature: c.attnTemperature,
    tieWordEmbeddings: c.tieWordEmbeddings, maxContext: c.maxContext, theta: c.rope.theta,
  };
  const { scaling: _s, layers: _l, ...want } = e;
  assert.deepEqual(scalar, want, `${label}: sizes and constants`);
  assert.deepEqual(plan(c), e.layers, `${label}: layer plan`);
  c.layers.forEach((l, i) => assert.equal(l.index, i, `${label}: layer ${i} index`));
  assert.equal(c.rope.dims, e.headDim);
  assert.equal(c.attentionScale, 1 / Math.sqrt(e.headDim));
  assert.ok(Math.abs(c.rmsNormEps - 1e-5) < 1e-12, `${label}: rms_norm_eps ${c.rmsNormEps}`);
  const div = llama3Divisors(e.theta, e.headDim, e.scaling);
  assert.equal(c.rope.freqDivisors.length, div.length, `${label}: one RoPE divisor per pair`);
  div.forEach((d, j) => assert.ok(Math.abs(c.rope.freqDivisors[j] - d) <= 1e-6 * d, `${label}: RoPE divisor ${j} is ${c.rope.freqDivisors[j]}, expected ${d}`));
}

const loaded = new Map<string, LoadedModel>();
before(async () => {
  for (const model of MODELS) {
    loaded.set(`${model} hf`, await loadModel(modelDir(model)));
    loaded.set(`${model} gguf`, await loadModel(ggufPath(model)));
  }
});

describe('loadModel: config and layer plan', () => {
  for (const model of MODELS) {
    it(`${model} HF folder`, () => {
      const m = loaded.get(`${model} hf`)!;
      assert.equal(m.format, 'hf');
      assert.equal(m.path, modelDir(model));
      assert.equal(m.config.arch, model.startsWith('llama4') ? 'Llama4ForConditionalGeneration' : 'LlamaForCausalLM');
      checkConfig(m.config, EXPECTED[model], `${model} hf`);
    });
    it(`${model} GGUF ${GGUF_TYPE[model]}`, () => {
      const m = loaded.get(`${model} gguf`)!;
      assert.equal(m.format, 'gguf');
      assert.equal(m.path, ggufPath(model));
      assert.equal(m.config.arch, model.startsWith('llama4') ? 'llama4' : 'llama');
      checkConfig(m.config, EXPECTED[model], `${model} gguf`);
    });
    it(`${model}: HF and GGUF give the same config`, () => {
      const a = loaded.get(`${model} hf`)!.config;
      const b = loaded.get(`${model} gguf`)!.config;
      const pick = (c: ModelConfig) => ({
        family: c.family, vocabSize: c.vocabSize, hiddenSize: c.hiddenSize, nLayers: c.nLayers, nHeads: c.nHeads,
        nKvHeads: c.nKvHeads, headDim: c.headDim, denseFfnSize: c.denseFfnSize, expertFfnSize: c.expertFfnSize,
        nExperts: c.nExperts, nExpertsPerToken: c.nExpertsPerToken, sharedExpert: c.sharedExpert,
        attentionChunkSize: c.attentionChunkSize, attnTemperature: c.attnTemperature, attentionScale: c.attentionScale,
        tieWordEmbeddings: c.tieWordEmbeddings, maxContext: c.maxContext, theta: c.rope.theta, ropeDims: c.rope.dims,
        layers: c.layers,
      });
      assert.deepEqual(pick(b), pick(a));
      assert.equal(b.rope.freqDivisors.length, a.rope.freqDivisors.length);
      for (let j = 0; j < a.rope.freqDivisors.length; j++) {
        assert.ok(Math.abs(a.rope.freqDivisors[j] - b.rope.freqDivisors[j]) <= 1e-6, `RoPE divisor ${j}: hf ${a.rope.freqDivisors[j]}, gguf ${b.rope.freqDivisors[j]}`);
      }
      // GGUF stores eps as float32.
      assert.ok(Math.abs(a.rmsNormEps - b.rmsNormEps) <= 1e-12);
    });
  }

  it('the llama3 RoPE scaling of the fixtures covers all three bands', () => {
    const d = llama3Divisors(500000, 16, [8, 1, 4, 8192]);
    assert.equal(d[0], 1);
    assert.equal(d[7], 8);
    assert.ok(d.some((x) => x > 1 && x < 8));
  });

  it('HF and GGUF tokenizers and sampling defaults agree', () => {
    for (const model of MODELS) {
      const a = loaded.get(`${model} hf`)!, b = loaded.get(`${model} gguf`)!;
      assert.equal(a.tokenizer.bosId, b.tokenizer.bosId, `${model} bos`);
      assert.deepEqual(a.tokenizer.encode('Hello world! <|eot|>'), b.tokenizer.encode('Hello world! <|eot|>'), `${model} encode`);
      assert.deepEqual(a.samplingDefaults, { temperature: 0.6, topP: 0.9 }, `${model} hf sampling defaults`);
      assert.deepEqual(b.samplingDefaults, { temperature: 0.6, topP: 0.9 }, `${model} gguf sampling defaults`);
    }
  });

  it('the config is frozen', () => {
    const c = loaded.get('llama4-tiny-moe hf')!.config;
    assert.ok(Object.isFrozen(c));
    assert.ok(Object.isFrozen(c.layers));
    assert.ok(Object.isFrozen(c.layers[0]));
  });
});

// ---------------------------------------------------------------- errors

/** Asserts that `fn` throws (or rejects with) a Llama4Error whose message matches and names `source`. */
async function rejectsLlama4(fn: () => unknown, message: RegExp, source?: string): Promise<void> {
  let caught: unknown;
  try { await fn(); } catch (err) { caught = err; }
  assert.ok(caught !== undefined, `expected a Llama4Error matching ${message}, but nothing was thrown`);
  assert.ok(caught instanceof Llama4Error, `expected a Llama4Error, got ${(caught as Error)?.constructor?.name}: ${(caught as Error)?.message}`);
  assert.equal(caught.name, 'Llama4Error');
  assert.match(caught.message, message);
  if (source !== undefined) {
    assert.equal(caught.source, source);
    assert.ok(caught.message.startsWith(`${source}: `), `message names ${source}: ${caught.message}`);
  }
}

describe('API-level errors are Llama4Error', () => {
  let dir: string;
  const MOE = modelDir('llama4-tiny-moe');
  before(() => { dir = mkdtempSync(join(tmpdir(), 'llama4-load-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A copy of the llama4-tiny-moe HF folder with `edit` applied to its config.json. */
  const hfWithConfig = (name: string, edit: (cfg: Record<string, any>) => void): string => {
    const d = join(dir, name);
    mkdirSync(d);
    for (const f of readdirSync(MOE)) if (f.endsWith('.json') || f.endsWith('.safetensors')) copyFileSync(join(MOE, f), join(d, f));
    const cfg = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')) as Record<string, any>;
    edit(cfg);
    writeFileSync(join(d, 'config.json'), JSON.stringify(cfg));
    return d;
  };

  it('a path that does not exist', async () => {
    const p = join(dir, 'nothing-here');
    await rejectsLlama4(() => loadModel(p), /no such file or folder/, p);
  });

  it('a file that is not GGUF', async () => {
    const p = join(dir, 'text.gguf');
    writeFileSync(p, 'this is not a model, just some text');
    await rejectsLlama4(() => loadModel(p), /not a GGUF file: it starts with 'this'/, p);
  });

  it('a GGUF of an unsupported architecture', async () => {
    const g = readGguf(ggufPath('llama3-tiny'));
    const meta = new Map(g.metadata);
    meta.set('general.architecture', 'gpt2');
    await rejectsLlama4(() => modelConfigFromGguf(meta, g.tensors, 'x.gguf'), /unsupported architecture 'gpt2'/, 'x.gguf');
  });

  it('a GGUF missing a required key', async () => {
    const g = readGguf(ggufPath('llama4-tiny-moe'));
    const meta = new Map(g.metadata);
    meta.delete('llama4.embedding_length');
    await rejectsLlama4(() => modelConfigFromGguf(meta, g.tensors, 'x.gguf'), /GGUF is missing 'llama4\.embedding_length'/, 'x.gguf');
  });

  it('an implausibly large GGUF block count (no huge allocation)', async () => {
    const g = readGguf(ggufPath('llama3-tiny'));
    const meta = new Map(g.metadata);
    meta.set('llama.block_count', 2 ** 40);
    await rejectsLlama4(() => modelConfigFromGguf(meta, g.tensors, 'x.gguf'), /'llama\.block_count' is 1099511627776, which is implausibly large/, 'x.gguf');
  });

  it('HF config: unsupported architecture, wrong type, missing field, bad layer lists', async () => {
    const base = JSON.parse(readFileSync(join(MOE, 'config.json'), 'utf8')) as Record<string, any>;
    const variant = (edit: (c: Record<string, any>) => void) => { const c = structuredClone(base); edit(c); return c; };
    await rejectsLlama4(() => modelConfigFromHf(variant((c) => { c.architectures = ['MistralForCausalLM']; }), 'c.json'), /unsupported architecture 'MistralForCausalLM'/, 'c.json');
    await rejectsLlama4(() => modelConfigFromHf(variant((c) => { c.text_config.num_hidden_layers = 'four'; }), 'c.json'), /config field 'text_config\.num_hidden_layers' must be a non-negative integer \(got "four"\)/, 'c.json');
    await rejectsLlama4(() => modelConfigFromHf(variant((c) => { delete c.text_config.hidden_size; }), 'c.json'), /config is missing 'text_config\.hidden_size'/, 'c.json');
    await rejectsLlama4(() => modelConfigFromHf(variant((c) => { c.text_config.moe_layers = [0, 7]; }), 'c.json'), /MoE layer index 7 is outside 0\.\.3/, 'c.json');
    await rejectsLlama4(() => modelConfigFromHf(variant((c) => { c.text_config.no_rope_layers = [1, 1, 0]; }), 'c.json'), /no_rope_layers has 3 entries for 4 layers/, 'c.json');
    await rejectsLlama4(() => modelConfigFromHf(variant((c) => { c.text_config.rope_scaling.rope_type = 'yarn'; }), 'c.json'), /unsupported rope_scaling type "yarn"/, 'c.json');
    await rejectsLlama4(() => modelConfigFromHf(variant((c) => { c.text_config.num_attention_heads = 0; delete c.text_config.head_dim; }), 'c.json'), /nHeads must be a positive integer \(got 0\)/, 'c.json');
    await rejectsLlama4(() => modelConfigFromHf(variant((c) => { c.text_config.head_dim = 2 ** 40; }), 'c.json'), /'text_config\.head_dim' is 1099511627776, which is implausibly large/, 'c.json');
    await rejectsLlama4(() => modelConfigFromHf([1, 2], 'c.json'), /config\.json is not a JSON object/, 'c.json');
  });

  it('buildModelConfig: inconsistent heads', async () => {
    const c = loaded.get('llama3-tiny hf')!.config;
    const input: ModelConfigInput = {
      ...c, nKvHeads: 3, moeLayers: [], noRopeInterval: 0, useQkNorm: false,
      rope: { theta: c.rope.theta, dims: c.headDim, freqDivisors: c.rope.freqDivisors },
    };
    await rejectsLlama4(() => buildModelConfig(input, 'src'), /invalid model config: nHeads \(4\) is not a multiple of nKvHeads \(3\)/, 'src');
  });

  it('loadModel on HF folders with a bad config.json', async () => {
    const mistral = hfWithConfig('mistral', (c) => { c.architectures = ['MistralForCausalLM']; });
    await rejectsLlama4(() => loadModel(mistral), /unsupported architecture 'MistralForCausalLM'/, join(mistral, 'config.json'));
    const broken = join(dir, 'broken');
    mkdirSync(broken);
    writeFileSync(join(broken, 'config.json'), '{"architectures": [');
    await rejectsLlama4(() => loadModel(broken), /invalid JSON/, join(broken, 'config.json'));
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    await rejectsLlama4(() => loadModel(empty), /file not found/, join(empty, 'config.json'));
  });

  it('loadLlamaWeights: a missing tensor and a wrong shape name the tensor and the source', async () => {
    const c = loaded.get('llama4-tiny-moe hf')!.config;
    const src = readSafetensorsFolder(MOE);
    const q1 = 'language_model.model.layers.1.self_attn.q_proj.weight';
    const without = new Map(src.tensors);
    without.delete(q1);
    await rejectsLlama4(() => loadLlamaWeights({ path: MOE, tensors: without }, 'hf', c, new RefBackend()), new RegExp(`missing tensor '${q1.replace(/\./g, '\\.')}'`), MOE);
    const reshaped = new Map(src.tensors);
    const q0 = 'language_model.model.layers.0.self_attn.q_proj.weight';
    reshaped.set(q0, { ...src.tensors.get(q0)!, shape: [32, 128] });
    await rejectsLlama4(() => loadLlamaWeights({ path: MOE, tensors: reshaped }, 'hf', c, new RefBackend()), /has shape \[32, 128\], expected \[64, 64\]/, MOE);
  });

  it('forward and Session: token id out of range, context overflow, empty prompt', async () => {
    const m = loaded.get('llama4-tiny-moe gguf')!;
    await rejectsLlama4(() => m.model.forward(m.model.newCache(8), [1, 832]), /token id 832 is out of range \(vocabulary has 832 tokens\)/);
    await rejectsLlama4(() => m.model.forward(m.model.newCache(2), [1, 2, 3]), /exceed the context size of 2 tokens/);
    await rejectsLlama4(() => new Session(m.model, 8).evaluate([]), /the prompt is empty/);
    await rejectsLlama4(() => m.model.forward(m.model.newCache(8), [1, 2], { logits: [2] }), /logits requested for position 2, but only 2 tokens were given/);
  });
});
