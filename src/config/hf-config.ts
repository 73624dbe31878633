/**
 * Hugging Face `config.json` → ModelConfig. Accepts Llama4ForConditionalGeneration (text model
 * under `text_config`), Llama4ForCausalLM and LlamaForCausalLM.
 */
import { Llama4Error } from '../errors.js';
import { llama3FreqDivisors } from '../model/rope.js';
import { SIZE_LIMITS, buildModelConfig, checkSizeLimit, type ModelConfig } from './model-config.js';

type Json = Record<string, unknown>;

const LLAMA4_ARCHS = ['Llama4ForConditionalGeneration', 'Llama4ForCausalLM'];
const LLAMA3_ARCHS = ['LlamaForCausalLM'];

/** Typed access to config fields that names the field and the file when something is off. */
class Fields {
  constructor(private readonly obj: Json, private readonly where: string, private readonly source: string) {}
  private fail(key: string, want: string, got: unknown): never {
    throw new Llama4Error(`config field '${this.where}${key}' must be ${want} (got ${JSON.stringify(got)})`, { source: this.source });
  }
  has(key: string): boolean { return this.obj[key] !== undefined; }
  raw(key: string): unknown { return this.obj[key]; }
  int(key: string, fallback?: number): number {
    const v = this.obj[key] ?? fallback;
    if (v === undefined) throw new Llama4Error(`config is missing '${this.where}${key}'`, { source: this.source });
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.fail(key, 'a non-negative integer', v);
    return v;
  }
  num(key: string, fallback?: number): number {
    const v = this.obj[key] ?? fallback;
    if (v === undefined) throw new Llama4Error(`config is missing '${this.where}${key}'`, { source: this.source });
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(key, 'a number', v);
    return v;
  }
  bool(key: string, fallback: boolean): boolean {
    const v = this.obj[key];
    if (v === undefined || v === null) return fallback;
    // Scout ships `attn_temperature_tuning: 4`; HF treats any truthy value as on.
    if (typeof v === 'number') return v !== 0;
    if (typeof v !== 'boolean') this.fail(key, 'a boolean', v);
    return v;
  }
  intList(key: string): number[] | undefined {
    const v = this.obj[key];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isInteger(x))) this.fail(key, 'a list of integers', v);
    return v as number[];
  }
}

/** Parses the `config.json` object of an HF checkpoint. `source` names the file for errors. */
export function modelConfigFromHf(json: unknown, source: string): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Llama4Error('config.json is not a JSON object', { source });
  const top = json as Json;
  const archs = top.architectures;
  const arch = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : undefined;
  const modelType = typeof top.model_type === 'string' ? top.model_type : undefined;
  const family = arch ? (LLAMA4_ARCHS.includes(arch) ? 'llama4' : LLAMA3_ARCHS.includes(arch) ? 'llama3' : null)
    : modelType === 'llama4' || modelType === 'llama4_text' ? 'llama4' : modelType === 'llama' ? 'llama3' : null;
  if (!family) {
    throw new Llama4Error(`unsupported architecture '${arch ?? modelType ?? 'unknown'}' (supported: ${[...LLAMA4_ARCHS, ...LLAMA3_ARCHS].join(', ')})`, { source });
  }
  let text = top;
  let where = '';
  if (family === 'llama4' && top.text_config !== undefined) {
    if (typeof top.text_config !== 'object' || top.text_config === null) throw new Llama4Error("config field 'text_config' must be an object", { source });
    text = top.text_config as Json;
    where = 'text_config.';
  }
  const f = new Fields(text, where, source);
  const nLayers = f.int('num_hidden_layers');
  const hiddenSize = f.int('hidden_size');
  const nHeads = f.int('num_attention_heads');
  const headDim = f.has('head_dim') ? f.int('head_dim') : nHeads > 0 ? hiddenSize / nHeads : 0;
  const vocabSize = f.int('vocab_size');
  // Before anything is sized by them (the RoPE table, the layer plan, the padded vocabulary).
  checkSizeLimit(`${where}num_hidden_layers`, nLayers, SIZE_LIMITS.layers, source);
  checkSizeLimit(`${where}hidden_size`, hiddenSize, SIZE_LIMITS.hiddenSize, source);
  checkSizeLimit(`${where}num_attention_heads`, nHeads, SIZE_LIMITS.heads, source);
  checkSizeLimit(`${where}head_dim`, headDim, SIZE_LIMITS.headDim, source);
  checkSizeLimit(`${where}vocab_size`, vocabSize, SIZE_LIMITS.vocabSize, source);
  const theta = f.num('rope_theta', 10000);

  let freqDivisors: Float64Array = new Float64Array(headDim / 2).fill(1);
  const scaling = f.raw('rope_scaling');
  if (scaling !== undefined && scaling !== null) {
    const s = new Fields(scaling as Json, `${where}rope_scaling.`, source);
    const type = s.raw('rope_type') ?? s.raw('type');
    if (type !== 'llama3') throw new Llama4Error(`unsupported rope_scaling type ${JSON.stringify(type)} (supported: llama3)`, { source });
    freqDivisors = llama3FreqDivisors(theta, headDim, {
      factor: s.num('factor'),
      lowFreqFactor: s.num('low_freq_factor'),
      highFreqFactor: s.num('high_freq_factor'),
      originalMaxPositions: s.num('original_max_position_embeddings'),
    });
  }
  const tie = f.has('tie_word_embeddings') ? f.bool('tie_word_embeddings', false) : top.tie_word_embeddings === true;
  const common = {
    arch: arch ?? modelType ?? family,
    vocabSize,
    hiddenSize, nLayers, nHeads, headDim,
    nKvHeads: f.int('num_key_value_heads', nHeads),
    rmsNormEps: f.num('rms_norm_eps', 1e-5),
    rope: { theta, dims: headDim, freqDivisors },
    tieWordEmbeddings: tie,
    maxContext: f.int('max_position_embeddings', 4096),
  };

  if (family === 'llama3') {
    return buildModelConfig({
      ...common, family,
      denseFfnSize: f.int('intermediate_size'), expertFfnSize: 0, nExperts: 0, nExpertsPerToken: 0,
      moeLayers: [], noRopeInterval: 0, useQkNorm: false, attentionChunkSize: null, attnTemperature: null,
    }, source);
  }

  const nExperts = f.int('num_local_experts', 16);
  const step = f.int('interleave_moe_layer_step', 1);
  // Llama Guard 4 (no routed experts) is all-dense; otherwise HF's interleave rule applies.
  const moeLayers = nExperts === 0 ? [] : f.intList('moe_layers')
    ?? (step > 0 ? Array.from({ length: nLayers }, (_, i) => i).filter((i) => (i + 1) % step === 0) : []);
  const noRope = f.intList('no_rope_layers');
  const chunkRaw = f.raw('attention_chunk_size');
  return buildModelConfig({
    ...common, family,
    denseFfnSize: f.int('intermediate_size_mlp', 0),
    expertFfnSize: f.int('intermediate_size', 0),
    nExperts,
    nExpertsPerToken: f.int('num_experts_per_tok', 1),
    moeLayers,
    noRopeInterval: f.int('no_rope_layer_interval', 4),
    ropeLayers: noRope?.map((x) => x !== 0),
    useQkNorm: f.bool('use_qk_norm', true),
    // `null` (Llama Guard 4) means no chunking; an absent key takes HF's default of 8192.
    attentionChunkSize: chunkRaw === null ? null : f.int('attention_chunk_size', 8192),
    attnTemperature: f.bool('attn_temperature_tuning', true)
      ? { floorScale: f.num('floor_scale', 8192), attnScale: f.num('attn_scale', 0.1) }
      : null,
  }, source);
}
