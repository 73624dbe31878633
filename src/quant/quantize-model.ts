/**
 * Quantizing a whole model: which ggml type each tensor gets (llama.cpp's llama-quantize rules,
 * src/llama-quant.cpp `llama_tensor_get_type`, without an importance matrix), and a TensorSource
 * wrapper that quantizes F32/F16/BF16 matrices as they are read. Used by `loadModel(…, { quant })`
 * and by `llama4 quantize`, so a model quantized at load and the GGUF written for the same type
 * hold the same bytes.
 *
 * Speed (one thread): Q8_0/Q4_0/Q5_0 quantize at 30–90M elements/s; the K-quants emulate ggml's
 * float32 candidate search and manage about 3M (Q4_K) and 7M (Q6_K) elements/s, so a q4_k_m of
 * an 8B model takes most of an hour. Memory: the source weights stay loaded while quantizing.
 */
import type { ModelConfig } from '../config/model-config.js';
import { Llama4Error } from '../errors.js';
import type { DType, TensorData, TensorSource } from '../io/tensor.js';
import type { WeightOrigin } from '../model/weights.js';
import { blockSize, dequantizeRow, quantizeRow, rowBytes } from './formats.js';
import { compareGgufNames, ggufLayout } from './gguf-layout.js';

/** Model-wide quantization types ("file types"), named as llama-quantize names them. */
export type QuantType = 'f32' | 'f16' | 'q8_0' | 'q4_0' | 'q4_k_m' | 'q6_k';

/** The types `llama4 quantize --type` writes. */
export const QUANT_TYPES: readonly QuantType[] = ['q8_0', 'q4_0', 'q4_k_m', 'q6_k', 'f16', 'f32'];
/** The types `--quant` / `loadModel({ quant })` accept; `q4_k` is llama.cpp's Q4_K_M mix. */
export const LOAD_QUANT_TYPES = ['q8_0', 'q4_0', 'q4_k', 'q4_k_m', 'q6_k'] as const;
export type LoadQuantType = (typeof LOAD_QUANT_TYPES)[number];

/** `general.file_type` (llama_ftype) of each type. */
export const FILE_TYPES: Readonly<Record<QuantType, number>> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, q4_k_m: 15, q6_k: 18 };

/** The tensor type a file type starts from (llama_ftype_get_default_type). */
const DEFAULT_TYPE: Readonly<Record<QuantType, DType>> = { f32: 'F32', f16: 'F16', q8_0: 'Q8_0', q4_0: 'Q4_0', q4_k_m: 'Q4_K', q6_k: 'Q6_K' };
const QUANTIZED = new Set<QuantType>(['q8_0', 'q4_0', 'q4_k_m', 'q6_k']);

/**
 * A type name from the command line or the API (case-insensitive; `q4_k` means `q4_k_m`).
 * @throws Llama4Error naming the accepted types.
 */
export function parseQuantType(name: string, accepted: readonly string[] = LOAD_QUANT_TYPES): QuantType {
  const n = String(name).toLowerCase();
  if (!accepted.includes(n)) throw new Llama4Error(`unknown quantization type '${name}' (supported: ${accepted.join(', ')})`);
  return n === 'q4_k' ? 'q4_k_m' : (n as QuantType);
}

const UNQUANTIZED: ReadonlySet<DType> = new Set(['F32', 'F16', 'BF16']);

/** ggml_n_dims: dimensions up to the last one above 1 (our shapes are outermost first). */
function nDims(shape: readonly number[]): number {
  let i = 0;
  while (i < shape.length - 1 && shape[i] === 1) i++;
  return shape.length - i;
}

/** llama.cpp's tensor_allows_quantization for the tensors a Llama model has. */
export function allowsQuantization(name: string, shape: readonly number[]): boolean {
  return nDims(shape) >= 2 && name.endsWith('weight') && !name.includes('_norm.weight') && !name.includes('ffn_gate_inp.weight');
}

type Category = 'output' | 'token_embd' | 'attn_v' | 'attn_k' | 'attn_q' | 'attn_output' | 'ffn_up' | 'ffn_gate' | 'ffn_down' | 'other';

function category(name: string): Category {
  if (name === 'output.weight') return 'output';
  if (name === 'token_embd.weight') return 'token_embd';
  if (name.includes('attn_qkv.weight') || name.includes('attn_kv_b.weight') || name.includes('attn_v.weight')) return 'attn_v';
  if (name.includes('attn_k.weight')) return 'attn_k';
  if (name.includes('attn_q.weight')) return 'attn_q';
  if (name.includes('attn_output.weight')) return 'attn_output';
  if (name.includes('ffn_up')) return 'ffn_up';
  if (name.includes('ffn_gate')) return 'ffn_gate';
  if (name.includes('ffn_down')) return 'ffn_down';
  return 'other';
}

function useMoreBits(i: number, n: number): boolean {
  const n8 = Math.trunc(n / 8);
  return i < n8 || i >= Math.trunc((7 * n) / 8) || (i - n8) % 3 === 2;
}

/**
 * The type llama.cpp falls back to when rows are not a whole number of blocks (Q4_K → Q5_0,
 * Q5_K → Q5_1, Q6_K → Q8_0, then F16). llama-quantize refuses Q8_0/Q4_0 for such rows;
 * convert_hf_to_gguf.py writes them as F16, and so does this.
 */
function fallback(type: DType, cols: number): DType {
  if (cols % blockSize(type) === 0) return type;
  const next: DType = type === 'Q4_K' ? 'Q5_0' : type === 'Q5_K' ? 'Q5_1' : type === 'Q6_K' ? 'Q8_0' : 'F16';
  return cols % blockSize(next) === 0 ? next : 'F16';
}

/** What the type rules need to know about a tensor. */
export interface TensorShape {
  readonly name: string;
  readonly shape: readonly number[];
}

/**
 * The type of every tensor of a GGUF-named model for `type`, as llama-quantize picks it (no
 * importance matrix, no overrides): null for a tensor that is not quantized (1-D weights, norms,
 * the MoE router `ffn_gate_inp`, `rope_freqs`). For q4_k_m: Q6_K for `output` (or the tied
 * embedding) and for attn_v / ffn_down in llama.cpp's "more bits" layers, Q4_K elsewhere; q4_0 and
 * q6_k also put `output` in Q6_K; then rows that are not a whole number of blocks fall back.
 */
export function planTensorTypes(
  tensors: Iterable<TensorShape>, type: QuantType, config: Pick<ModelConfig, 'family' | 'nLayers' | 'nExperts' | 'nHeads' | 'nKvHeads'>,
): Map<string, DType | null> {
  const list = [...tensors].sort((a, b) => compareGgufNames(a.name, b.name));
  const def = DEFAULT_TYPE[type];
  const plan = new Map<string, DType | null>();
  const tied = !list.some((t) => t.name === 'output.weight');
  const nAttnV = list.filter((t) => category(t.name) === 'attn_v').length;
  const nLayers = config.nLayers;
  const nExpert = config.nExperts;
  // LLM_TYPE_70B (Llama 2/3 70B: 80 layers, grouped-query attention) gets more bits in attn_v.
  const is70B = config.family === 'llama3' && nLayers === 80 && config.nHeads !== config.nKvHeads;
  let iAttnV = 0;
  let iFfnDown = 0;
  for (const { name, shape } of list) {
    if (!allowsQuantization(name, shape)) { plan.set(name, null); continue; }
    const cols = shape[shape.length - 1];
    if (!QUANTIZED.has(type)) { plan.set(name, def); continue; }
    let t: DType = def;
    const cat = category(name);
    if (cat === 'output' || (tied && cat === 'token_embd')) {
      if (cols % blockSize(t) !== 0) t = 'Q8_0';
      else if (t !== 'Q8_0') t = 'Q6_K';
    } else if (cat === 'attn_v') {
      if (type === 'q4_k_m' && useMoreBits(iAttnV, nAttnV)) t = 'Q6_K';
      if (is70B && t === 'Q4_K') t = 'Q5_K';
      if (nExpert === 8) t = 'Q8_0';
      iAttnV++;
    } else if (cat === 'attn_k') {
      if (nExpert === 8) t = 'Q8_0';
    } else if (cat === 'ffn_down') {
      // With experts, llama.cpp takes the layer from the name; otherwise it counts ffn_down tensors.
      const m = /^blk\.(\d+)\./.exec(name);
      const iLayer = nExpert > 1 && m ? Number(m[1]) : iFfnDown;
      if (type === 'q4_k_m' && useMoreBits(iLayer, nLayers)) t = 'Q6_K';
      iFfnDown++;
    } else if (cat === 'attn_output') {
      if (nExpert === 8 && type === 'q4_k_m') t = 'Q5_K';
    }
    plan.set(name, fallback(t, cols));
  }
  return plan;
}

/** Encodes an F32/F16/BF16 tensor as `dtype`, one row at a time. */
export function convertTensor(t: TensorData, dtype: DType): Uint8Array {
  const cols = t.shape[t.shape.length - 1];
  const rows = t.shape.reduce((a, b) => a * b, 1) / cols;
  const src = t.bytes;
  if (t.dtype === dtype) return src;
  const srcRow = rowBytes(t.dtype, cols);
  const dstRow = rowBytes(dtype, cols);
  const out = new Uint8Array(dstRow * rows);
  const row = new Float32Array(cols);
  for (let r = 0; r < rows; r++) {
    dequantizeRow(t.dtype, src, r * srcRow, row, 0, cols);
    quantizeRow(dtype, row, 0, cols, out, r * dstRow);
  }
  return out;
}

export interface QuantizeSourceOptions {
  /** Called as each tensor is quantized (after it is done), e.g. for progress. */
  readonly onTensor?: (t: TensorData, dtype: DType) => void;
}

/**
 * `src` (GGUF names and layout) with every quantizable matrix encoded as `planTensorTypes` says,
 * lazily: a tensor is quantized each time its `bytes` are read (read them once). Tensors that stay
 * unquantized pass through unchanged.
 * @throws Llama4Error naming the file when a tensor to quantize is already quantized.
 */
export function quantizeSource(src: TensorSource, type: QuantType, config: ModelConfig, options: QuantizeSourceOptions = {}): TensorSource {
  const plan = planTensorTypes(src.tensors.values(), type, config);
  const tensors = new Map<string, TensorData>();
  for (const t of src.tensors.values()) {
    const dtype = plan.get(t.name) ?? null;
    if (dtype !== null && !UNQUANTIZED.has(t.dtype)) {
      throw new Llama4Error(`tensor '${t.name}' is already ${t.dtype}; quantizing to ${type} needs an F32, F16 or BF16 model`, { source: src.path });
    }
    if (dtype === null || dtype === t.dtype) { tensors.set(t.name, t); continue; }
    const cols = t.shape[t.shape.length - 1];
    const byteLength = rowBytes(dtype, cols) * (t.shape.reduce((a, b) => a * b, 1) / cols);
    const read = (): Uint8Array => {
      const bytes = convertTensor(t, dtype);
      options.onTensor?.(t, dtype);
      return bytes;
    };
    tensors.set(t.name, {
      name: t.name, dtype, shape: t.shape, byteLength,
      get bytes() { return read(); },
      readInto(dst: Uint8Array) { dst.set(read()); },
    });
  }
  return { path: src.path, tensors };
}

/**
 * The weights of a model quantized at load: an HF source is first put in GGUF layout (the same
 * tensors `llama4 quantize` writes); a GGUF source must hold F32/F16/BF16 weights. Load the result
 * with origin 'gguf'.
 */
export function quantizeForLoad(src: TensorSource, origin: WeightOrigin, config: ModelConfig, quant: string): TensorSource {
  const type = parseQuantType(quant);
  return quantizeSource(origin === 'hf' ? ggufLayout(src, 'hf', config) : src, type, config);
}
