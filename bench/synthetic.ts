/**
 * Random-weight GGUF models of real shapes for benchmarks, written with the project's own GGUF
 * writer. Quantized blocks get random quants with a fixed, sensible scale instead of going
 * through the quantizer (which would take minutes at these sizes): the kernels do the same work
 * either way, and activations stay finite.
 */
import { blockBytes, blockSize, f32ToF16, rowBytes } from '../src/quant/formats.js';
import { writeGguf, type GgufMetadataEntry, type GgufTensorToWrite } from '../src/io/gguf-writer.js';
import type { DType } from '../src/io/tensor.js';

export interface SyntheticShape {
  name: string;
  arch: 'llama' | 'llama4';
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  ffn: number;
  vocab: number;
  experts?: number;
  expertFfn?: number;
}

/** Llama 3.2 1B. */
export const LLAMA_1B: SyntheticShape = { name: 'llama-1b', arch: 'llama', hidden: 2048, layers: 16, heads: 32, kvHeads: 8, ffn: 8192, vocab: 128256 };
/** A Llama-4-shaped MoE: every layer 16 experts of width 1024 plus a shared expert. */
export const LLAMA4_MOE: SyntheticShape = { name: 'llama4-moe', arch: 'llama4', hidden: 2048, layers: 16, heads: 32, kvHeads: 8, ffn: 4096, vocab: 32768, experts: 16, expertFfn: 1024 };

/** Weight type of each tensor for a llama.cpp-style file type. */
export type FileType = 'q8_0' | 'q4_0' | 'q4_k_m' | 'f16';
function typeFor(ft: FileType, tensor: string): DType {
  switch (ft) {
    case 'q8_0': return 'Q8_0';
    case 'q4_0': return tensor === 'output.weight' ? 'Q6_K' : 'Q4_0';
    case 'f16': return 'F16';
    case 'q4_k_m':
      // Q4_K_M keeps the most sensitive tensors at Q6_K (output, attn_v, ffn_down).
      return /output\.weight$|attn_v|ffn_down/.test(tensor) ? 'Q6_K' : 'Q4_K';
  }
}

/** xorshift32: fast reproducible bytes. */
function fillRandom(bytes: Uint8Array, seed: number): void {
  const u32 = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < u32.length; i++) { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; u32[i] = s; }
}

/** Random quantized weights whose values have a std of about `std`. */
function randomTensor(dtype: DType, rows: number, cols: number, seed: number, std: number): Uint8Array {
  const bytes = new Uint8Array(rowBytes(dtype, cols) * rows);
  fillRandom(bytes, seed);
  const bb = blockBytes(dtype), n = bytes.byteLength / bb;
  const view = new DataView(bytes.buffer);
  const f16 = (x: number) => f32ToF16(x);
  switch (dtype) {
    case 'F16': for (let i = 0; i < bytes.byteLength; i += 2) view.setUint16(i, f16(((view.getUint16(i, true) / 65535) * 2 - 1) * std * 1.7), true); break;
    case 'Q8_0': for (let b = 0; b < n; b++) view.setUint16(b * bb, f16(std / 73), true); break;
    case 'Q4_0': for (let b = 0; b < n; b++) view.setUint16(b * bb, f16(std / 4.6), true); break;
    case 'Q4_K': for (let b = 0; b < n; b++) { view.setUint16(b * bb, f16(std / 200), true); view.setUint16(b * bb + 2, f16(std / 50), true); } break;
    case 'Q6_K': for (let b = 0; b < n; b++) {
      for (let i = 0; i < 16; i++) view.setInt8(b * bb + 192 + i, 8 + (view.getUint8(b * bb + 192 + i) & 7));
      view.setUint16(b * bb + 208, f16(std / 180), true);
    } break;
    default: throw new Error(`no synthetic generator for ${dtype}`);
  }
  void blockSize;
  return bytes;
}

/** A vocabulary of `n` tokens: the 256 byte tokens, fillers, then BOS/EOS at the end. */
function tokenizerMetadata(n: number): GgufMetadataEntry[] {
  const bytes = Array.from({ length: 256 }, (_, b) => {
    // GPT-2 byte-level alphabet: printable bytes map to themselves, the rest above U+0100.
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    return printable ? b : -1;
  });
  let next = 256;
  const tokens = bytes.map((c) => String.fromCodePoint(c >= 0 ? c : next++));
  tokens.push('Ġt'); // the one merge below needs its result in the vocabulary
  const specials = ['<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>', '<|begin_of_text|>', '<|end_of_text|>'];
  for (let i = tokens.length; i < n - specials.length; i++) tokens.push(`<tok${i}>`);
  tokens.push(...specials);
  const types = tokens.map((_, i) => (i >= n - specials.length ? 3 : 1));
  return [
    ['tokenizer.ggml.model', 'gpt2'],
    ['tokenizer.ggml.pre', 'llama-bpe'],
    ['tokenizer.ggml.tokens', tokens, { array: 'string' }],
    ['tokenizer.ggml.token_type', types, { array: 'int32' }],
    ['tokenizer.ggml.merges', ['Ġ t'], { array: 'string' }],
    ['tokenizer.ggml.bos_token_id', n - 2, 'uint32'],
    ['tokenizer.ggml.eos_token_id', n - 1, 'uint32'],
  ];
}

/** Writes the model and returns its size in bytes. */
export function writeSyntheticGguf(path: string, shape: SyntheticShape, ft: FileType): void {
  const { arch, hidden: D, layers: L, heads: H, kvHeads: Hkv, ffn: F, vocab: V } = shape;
  const d = D / H;
  const tensors: GgufTensorToWrite[] = [];
  let seed = 1;
  const mat = (name: string, rows: number, cols: number, lead: number[] = []) => {
    const dtype = typeFor(ft, name);
    const count = lead.reduce((a, b) => a * b, 1);
    tensors.push({ name, dtype, shape: [...lead, rows, cols], bytes: randomTensor(dtype, rows * count, cols, seed++, 1 / Math.sqrt(cols)) });
  };
  const ones = (name: string, n: number) => tensors.push({ name, dtype: 'F32', shape: [n], bytes: new Uint8Array(new Float32Array(n).fill(1).buffer) });

  mat('token_embd.weight', V, D);
  for (let i = 0; i < L; i++) {
    ones(`blk.${i}.attn_norm.weight`, D);
    mat(`blk.${i}.attn_q.weight`, H * d, D);
    mat(`blk.${i}.attn_k.weight`, Hkv * d, D);
    mat(`blk.${i}.attn_v.weight`, Hkv * d, D);
    mat(`blk.${i}.attn_output.weight`, D, H * d);
    ones(`blk.${i}.ffn_norm.weight`, D);
    if (shape.experts) {
      const E = shape.experts, Fe = shape.expertFfn!;
      tensors.push({ name: `blk.${i}.ffn_gate_inp.weight`, dtype: 'F32', shape: [E, D], bytes: randomF32(E * D, seed++, 1 / Math.sqrt(D)) });
      mat(`blk.${i}.ffn_gate_exps.weight`, Fe, D, [E]);
      mat(`blk.${i}.ffn_up_exps.weight`, Fe, D, [E]);
      mat(`blk.${i}.ffn_down_exps.weight`, D, Fe, [E]);
      mat(`blk.${i}.ffn_gate_shexp.weight`, Fe, D);
      mat(`blk.${i}.ffn_up_shexp.weight`, Fe, D);
      mat(`blk.${i}.ffn_down_shexp.weight`, D, Fe);
    } else {
      mat(`blk.${i}.ffn_gate.weight`, F, D);
      mat(`blk.${i}.ffn_up.weight`, F, D);
      mat(`blk.${i}.ffn_down.weight`, D, F);
    }
  }
  ones('output_norm.weight', D);
  mat('output.weight', V, D);

  const k = (key: string) => `${arch}.${key}`;
  const metadata: GgufMetadataEntry[] = [
    ['general.architecture', arch],
    ['general.name', `synthetic ${shape.name} ${ft} (random weights)`],
    [k('block_count'), L, 'uint32'],
    [k('context_length'), 8192, 'uint32'],
    [k('embedding_length'), D, 'uint32'],
    [k('feed_forward_length'), F, 'uint32'],
    [k('attention.head_count'), H, 'uint32'],
    [k('attention.head_count_kv'), Hkv, 'uint32'],
    [k('rope.freq_base'), 500000, 'float32'],
    [k('attention.layer_norm_rms_epsilon'), 1e-5, 'float32'],
    [k('rope.dimension_count'), d, 'uint32'],
    [k('vocab_size'), V, 'uint32'],
    ...(shape.experts ? [
      [k('expert_count'), shape.experts, 'uint32'],
      [k('expert_used_count'), 1, 'uint32'],
      [k('expert_feed_forward_length'), shape.expertFfn!, 'uint32'],
      [k('interleave_moe_layer_step'), 1, 'uint32'],
    ] as GgufMetadataEntry[] : []),
    ...tokenizerMetadata(V),
  ];
  writeGguf(path, { metadata, tensors });
}

function randomF32(n: number, seed: number, std: number): Uint8Array {
  const f = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; f[i] = ((s >>> 0) / 4294967296 * 2 - 1) * std * 1.7; }
  return new Uint8Array(f.buffer);
}
