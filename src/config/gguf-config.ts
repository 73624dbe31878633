/**
 * GGUF metadata → ModelConfig for archs `llama4` and `llama`. A GGUF carries only llama.cpp's
 * generic keys; Llama 4 constants it lacks (chunk 8192, NoPE every 4th layer, temperature
 * floor 8192 / scale 0.1, QK-norm unless 128 experts) take the values llama.cpp builds in.
 */
import { Llama4Error } from '../errors.js';
import type { TensorData } from '../io/tensor.js';
import { SIZE_LIMITS, buildModelConfig, checkSizeLimit, type ModelConfig } from './model-config.js';
import { dequantizeRow } from '../quant/formats.js';

const SUPPORTED = ['llama4', 'llama'];

/** llama.cpp's built-in Llama 4 constants (not stored in GGUF files). */
export const LLAMA4_GGUF_DEFAULTS = {
  chunkSize: 8192,
  noRopeInterval: 4,
  floorScale: 8192,
  attnScale: 0.1,
  /** Maverick (128 experts) has no QK-norm; llama.cpp decides by expert count. */
  expertsWithoutQkNorm: 128,
} as const;

export function modelConfigFromGguf(meta: ReadonlyMap<string, unknown>, tensors: ReadonlyMap<string, TensorData>, source: string): ModelConfig {
  const arch = meta.get('general.architecture');
  if (typeof arch !== 'string') throw new Llama4Error("GGUF has no 'general.architecture'", { source });
  if (!SUPPORTED.includes(arch)) throw new Llama4Error(`unsupported architecture '${arch}' (supported: ${SUPPORTED.join(', ')})`, { source });

  const num = (key: string, fallback?: number): number => {
    const v = meta.get(`${arch}.${key}`) ?? fallback;
    if (v === undefined) throw new Llama4Error(`GGUF is missing '${arch}.${key}'`, { source });
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n)) throw new Llama4Error(`GGUF key '${arch}.${key}' must be a number (got ${Array.isArray(v) ? 'an array' : JSON.stringify(v)})`, { source });
    return n;
  };
  const int = (key: string, fallback?: number): number => {
    const n = num(key, fallback);
    if (!Number.isInteger(n) || n < 0) throw new Llama4Error(`GGUF key '${arch}.${key}' must be a non-negative integer (got ${n})`, { source });
    return n;
  };

  const nLayers = int('block_count');
  const hiddenSize = int('embedding_length');
  const nHeads = int('attention.head_count');
  const headDim = int('attention.key_length', nHeads > 0 ? hiddenSize / nHeads : 0);
  const tokens = meta.get('tokenizer.ggml.tokens');
  const vocabSize = int('vocab_size', Array.isArray(tokens) ? tokens.length : undefined);
  // Before anything is sized by them (the RoPE table, the layer plan).
  checkSizeLimit(`${arch}.block_count`, nLayers, SIZE_LIMITS.layers, source);
  checkSizeLimit(`${arch}.embedding_length`, hiddenSize, SIZE_LIMITS.hiddenSize, source);
  checkSizeLimit(`${arch}.attention.head_count`, nHeads, SIZE_LIMITS.heads, source);
  checkSizeLimit(`${arch}.attention.key_length`, headDim, SIZE_LIMITS.headDim, source);
  checkSizeLimit(`${arch}.vocab_size`, vocabSize, SIZE_LIMITS.vocabSize, source);

  // llama3-style RoPE scaling travels as the per-pair divisor tensor `rope_freqs.weight`.
  const freqDivisors = new Float64Array(headDim / 2).fill(1);
  const ropeFreqs = tensors.get('rope_freqs.weight');
  if (ropeFreqs) {
    const n = ropeFreqs.shape.reduce((a, b) => a * b, 1);
    if (n !== headDim / 2) throw new Llama4Error(`tensor 'rope_freqs.weight' has ${n} entries, expected ${headDim / 2}`, { source });
    const f = new Float32Array(n);
    dequantizeRow(ropeFreqs.dtype, ropeFreqs.bytes, 0, f, 0, n);
    freqDivisors.set(f);
  }

  const common = {
    arch, vocabSize, hiddenSize, nLayers, nHeads, headDim,
    nKvHeads: int('attention.head_count_kv', nHeads),
    rmsNormEps: num('attention.layer_norm_rms_epsilon', 1e-5),
    rope: { theta: num('rope.freq_base', 10000), dims: headDim, freqDivisors },
    tieWordEmbeddings: !tensors.has('output.weight'),
    maxContext: int('context_length', 4096),
  };
  if (arch === 'llama') {
    const nExperts = int('expert_count', 0);
    if (nExperts > 0) throw new Llama4Error(`'llama' GGUF with ${nExperts} experts (Mixtral-style) is not supported`, { source });
    return buildModelConfig({
      ...common, family: 'llama3',
      denseFfnSize: int('feed_forward_length'), expertFfnSize: 0, nExperts: 0, nExpertsPerToken: 0,
      moeLayers: [], noRopeInterval: 0, useQkNorm: false, attentionChunkSize: null, attnTemperature: null,
    }, source);
  }

  const D = LLAMA4_GGUF_DEFAULTS;
  const nExperts = int('expert_count', 0);
  const step = int('interleave_moe_layer_step', 1);
  const moeLayers = nExperts === 0 ? [] : Array.from({ length: nLayers }, (_, i) => i).filter((i) => step > 0 && (i + 1) % step === 0);
  return buildModelConfig({
    ...common, family: 'llama4',
    denseFfnSize: int('feed_forward_length', 0),
    expertFfnSize: int('expert_feed_forward_length', 0),
    nExperts,
    nExpertsPerToken: int('expert_used_count', 1),
    moeLayers,
    noRopeInterval: D.noRopeInterval,
    useQkNorm: nExperts !== D.expertsWithoutQkNorm,
    attentionChunkSize: D.chunkSize,
    attnTemperature: { floorScale: D.floorScale, attnScale: D.attnScale },
  }, source);
}
