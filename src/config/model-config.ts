import { Llama4Error } from '../errors.js';

/**
 * One normalized description of a Llama-family text model, built once at load from either a
 * Hugging Face `config.json` or GGUF metadata. Every architectural constant the model code uses
 * comes from here; nothing is hard-coded in the model.
 */

/** Per-layer plan, derived from the config so the model never recomputes layer rules. */
export interface LayerPlan {
  readonly index: number;
  /** RoPE layer (true) or NoPE layer (false, Llama 4 every `noRopeInterval`-th layer). */
  readonly rope: boolean;
  /** Chunked causal attention (only RoPE layers of Llama 4 with a chunk size). */
  readonly chunked: boolean;
  /** RMS-normalise q and k per head (no weight) after RoPE. */
  readonly qkNorm: boolean;
  /** Scale q by the attention temperature (NoPE layers of Llama 4). */
  readonly temperatureTuning: boolean;
  /** Feed-forward kind: routed experts (+ shared expert) or a dense SwiGLU. */
  readonly ffn: 'moe' | 'dense';
}

export interface RopeConfig {
  /** Base θ. */
  readonly theta: number;
  /** Rotated dimensions per head (= headDim for every Llama). */
  readonly dims: number;
  /**
   * Per-pair divisors of the base frequency (length dims/2): 1 = unscaled. Llama 3-style
   * scaling is expressed this way (as llama.cpp's `rope_freqs` tensor does).
   */
  readonly freqDivisors: Float64Array;
}

export interface ModelConfig {
  /** Family of the source checkpoint; decides tokenizer defaults and the chat format. */
  readonly family: 'llama4' | 'llama3';
  /** The source's architecture string (HF `architectures[0]` or GGUF `general.architecture`). */
  readonly arch: string;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly nLayers: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
  readonly rmsNormEps: number;
  /** Width of dense SwiGLU layers. */
  readonly denseFfnSize: number;
  /** Width of each routed expert and of the shared expert. */
  readonly expertFfnSize: number;
  readonly nExperts: number;
  readonly nExpertsPerToken: number;
  /** Llama 4: a shared expert runs beside the routed ones. */
  readonly sharedExpert: boolean;
  readonly rope: RopeConfig;
  /** Chunk length of chunked attention; null = no chunking (Llama 3, Llama Guard 4). */
  readonly attentionChunkSize: number | null;
  /** Attention temperature tuning (NoPE layers): q *= 1 + attnScale·ln(1 + ⌊(p+1)/floorScale⌋). */
  readonly attnTemperature: { readonly floorScale: number; readonly attnScale: number } | null;
  /** Softmax scale; 1/sqrt(headDim) for every released Llama. */
  readonly attentionScale: number;
  readonly tieWordEmbeddings: boolean;
  /** Longest context the checkpoint declares (a default for the KV cache, not a hard limit). */
  readonly maxContext: number;
  readonly layers: readonly LayerPlan[];
}

/** Settings a source builder hands to `buildModelConfig`; the layer plan is derived from them. */
export interface ModelConfigInput {
  family: 'llama4' | 'llama3';
  arch: string;
  vocabSize: number;
  hiddenSize: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  denseFfnSize: number;
  expertFfnSize: number;
  nExperts: number;
  nExpertsPerToken: number;
  /** Layers whose FFN is MoE. */
  moeLayers: readonly number[];
  /** NoPE every N-th layer ((i+1) % N == 0); 0 = every layer uses RoPE. */
  noRopeInterval: number;
  /** Explicit per-layer RoPE flags (HF `no_rope_layers`: 1 = RoPE); overrides the interval. */
  ropeLayers?: readonly boolean[];
  useQkNorm: boolean;
  rope: RopeConfig;
  attentionChunkSize: number | null;
  attnTemperature: { floorScale: number; attnScale: number } | null;
  tieWordEmbeddings: boolean;
  maxContext: number;
}

/**
 * Upper bounds far above any released Llama (Llama 4 Maverick: 48 layers, head_dim 128, hidden 5120,
 * 202 048 tokens). A corrupt count beyond them is reported instead of driving a huge allocation
 * (a per-layer plan, a RoPE table, a padded vocabulary) into a crash or an out-of-memory abort.
 */
export const SIZE_LIMITS = { layers: 1 << 12, headDim: 1 << 14, hiddenSize: 1 << 20, heads: 1 << 12, vocabSize: 1 << 22 } as const;

/** Throws a Llama4Error naming the field when a size read from a source exceeds its limit. */
export function checkSizeLimit(field: string, value: number, limit: number, source: string): void {
  if (value > limit) throw new Llama4Error(`'${field}' is ${value}, which is implausibly large (at most ${limit}; corrupt config?)`, { source });
}

/** Derives the per-layer plan and freezes the config. Validates cross-field consistency. */
export function buildModelConfig(input: ModelConfigInput, source: string): ModelConfig {
  const problems: string[] = [];
  const positive = (name: keyof ModelConfigInput) => {
    const v = input[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) problems.push(`${name} must be a positive integer (got ${String(v)})`);
  };
  for (const k of ['vocabSize', 'hiddenSize', 'nLayers', 'nHeads', 'nKvHeads', 'headDim'] as const) positive(k);
  if (problems.length === 0) {
    if (input.nHeads % input.nKvHeads !== 0) problems.push(`nHeads (${input.nHeads}) is not a multiple of nKvHeads (${input.nKvHeads})`);
    if (input.headDim % 2 !== 0) problems.push(`headDim (${input.headDim}) must be even for RoPE`);
    if (input.rope.freqDivisors.length !== input.headDim / 2) problems.push(`RoPE frequency factors have ${input.rope.freqDivisors.length} entries, expected headDim/2 = ${input.headDim / 2}`);
    if (!(input.rmsNormEps > 0)) problems.push(`rms_norm_eps must be > 0 (got ${input.rmsNormEps})`);
    if (input.attentionChunkSize !== null && !(Number.isInteger(input.attentionChunkSize) && input.attentionChunkSize > 0)) problems.push(`attention chunk size must be a positive integer or null (got ${input.attentionChunkSize})`);
    for (const l of input.moeLayers) if (!(Number.isInteger(l) && l >= 0 && l < input.nLayers)) problems.push(`MoE layer index ${l} is outside 0..${input.nLayers - 1}`);
    if (input.moeLayers.length > 0) {
      if (!(input.nExperts > 0)) problems.push('MoE layers are declared but the model has no experts');
      if (!(input.nExpertsPerToken >= 1 && input.nExpertsPerToken <= input.nExperts)) problems.push(`experts per token (${input.nExpertsPerToken}) must be between 1 and the expert count (${input.nExperts})`);
      if (!(input.expertFfnSize > 0)) problems.push('expert FFN size must be positive');
    }
    if (input.moeLayers.length < input.nLayers && !(input.denseFfnSize > 0)) problems.push('dense FFN size must be positive');
    if (input.ropeLayers && input.ropeLayers.length !== input.nLayers) problems.push(`no_rope_layers has ${input.ropeLayers.length} entries for ${input.nLayers} layers`);
  }
  if (problems.length > 0) throw new Llama4Error(`invalid model config: ${problems.join('; ')}`, { source });

  const moe = new Set(input.moeLayers);
  const layers: LayerPlan[] = [];
  for (let i = 0; i < input.nLayers; i++) {
    const rope = input.ropeLayers ? input.ropeLayers[i] : !(input.noRopeInterval > 0 && (i + 1) % input.noRopeInterval === 0);
    // iRoPE: only the RoPE layers are local (chunked); NoPE layers see the whole context.
    const chunked = rope && input.attentionChunkSize !== null && input.family === 'llama4';
    layers.push(Object.freeze({
      index: i,
      rope,
      chunked,
      qkNorm: rope && input.useQkNorm,
      temperatureTuning: !rope && input.attnTemperature !== null,
      ffn: moe.has(i) ? 'moe' : 'dense',
    }));
  }
  const { moeLayers: _m, noRopeInterval: _n, ropeLayers: _r, useQkNorm: _q, ...rest } = input;
  return Object.freeze({
    ...rest,
    sharedExpert: input.family === 'llama4' && input.nExperts > 0,
    attentionScale: 1 / Math.sqrt(input.headDim),
    layers: Object.freeze(layers),
  });
}
