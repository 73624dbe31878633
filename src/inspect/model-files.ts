/**
 * What `llama4 inspect` reads: a model's config and the index of its tensors (name, type, shape,
 * bytes and where they lie on disk), from headers only. Nothing is loaded, so a 200 GB checkpoint
 * is described in milliseconds; weight statistics then stream each tensor from its file range.
 *
 * Sources: a Hugging Face folder (sharded through `model.safetensors.index.json`, a single
 * `model.safetensors`, or every `*.safetensors`), a `.safetensors` file next to its `config.json`,
 * a GGUF file, or a split GGUF (`name-00001-of-00003.gguf`: all parts, metadata from the first).
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { modelConfigFromGguf } from '../config/gguf-config.js';
import { modelConfigFromHf } from '../config/hf-config.js';
import type { ModelConfig } from '../config/model-config.js';
import { Llama4Error } from '../errors.js';
import { closeFile, openFile, readFileRange, readRange } from '../io/file-read.js';
import type { GgufValue } from '../io/gguf.js';
import type { DType, TensorData } from '../io/tensor.js';
import { readGgufHeaders } from '../io/gguf-split.js';

export interface TensorEntry {
  readonly name: string;
  /** The stored type as its format names it (`BF16`, `Q4_K`, `F8_E4M3` …). */
  readonly type: string;
  /** The type as llama4.ts decodes it; null when it cannot (no statistics then). */
  readonly dtype: DType | null;
  /** Outermost dimension first. */
  readonly shape: readonly number[];
  readonly elements: number;
  readonly bytes: number;
  readonly file: string;
  /** Absolute byte offset of the data in `file`. */
  readonly offset: number;
}

export interface ModelFiles {
  readonly path: string;
  readonly format: 'hf' | 'gguf';
  readonly files: readonly string[];
  readonly tensors: readonly TensorEntry[];
  readonly config: ModelConfig;
  readonly ggufMetadata: ReadonlyMap<string, GgufValue> | null;
  readonly hfConfig: Record<string, unknown> | null;
  /** The GGUF file type (`Q4_K_M`) or the checkpoint's torch dtype (`BF16`). */
  readonly quant: string | null;
  /** Folder holding the model (for its licence files). */
  readonly dir: string;
}

/** Bytes per element of safetensors dtypes; only F32/F16/BF16 are decoded. */
const ST_SIZES: Readonly<Record<string, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, U64: 8, I32: 4, U32: 4, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1,
  F8_E4M3: 1, F8_E5M2: 1, F8_E8M0: 1,
};
const ST_DECODED: Readonly<Record<string, DType>> = { F32: 'F32', F16: 'F16', BF16: 'BF16' };

/** llama.cpp's `general.file_type` (enum llama_ftype) names. */
const GGUF_FILE_TYPES: Readonly<Record<number, string>> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 7: 'Q8_0', 8: 'Q5_0', 9: 'Q5_1', 10: 'Q2_K', 11: 'Q3_K_S', 12: 'Q3_K_M',
  13: 'Q3_K_L', 14: 'Q4_K_S', 15: 'Q4_K_M', 16: 'Q5_K_S', 17: 'Q5_K_M', 18: 'Q6_K', 19: 'IQ2_XXS', 20: 'IQ2_XS',
  21: 'Q2_K_S', 22: 'IQ3_XS', 23: 'IQ3_XXS', 24: 'IQ1_S', 25: 'IQ4_NL', 26: 'IQ3_S', 27: 'IQ3_M', 28: 'IQ2_S',
  29: 'IQ2_M', 30: 'IQ4_XS', 31: 'IQ1_M', 32: 'BF16', 36: 'TQ1_0', 37: 'TQ2_0', 38: 'MXFP4_MOE',
};

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Llama4Error(existsSync(path) ? `invalid JSON: ${(e as Error).message}` : 'file not found', { source: path });
  }
}

/** The tensor entries of one safetensors file, from its header alone. */
export function safetensorsEntries(path: string): TensorEntry[] {
  const f = openFile(path);
  try {
    if (f.size < 8) throw new Llama4Error(`file is ${f.size} bytes, too small to be a safetensors file`, { source: path });
    const len = new DataView(readRange(f, 0, 8, 'the header length').buffer).getBigUint64(0, true);
    if (len > BigInt(Math.min(f.size - 8, 100 * 1024 * 1024))) throw new Llama4Error(`header length ${len} does not fit the file (${f.size} bytes)`, { source: path });
    const n = Number(len);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(readRange(f, 8, n, 'the JSON header').buffer).toString('utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new Llama4Error(`header is not valid JSON (${(e as Error).message})`, { source: path });
    }
    const out: TensorEntry[] = [];
    for (const [name, raw] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const { dtype, shape, data_offsets: off } = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof dtype !== 'string' || !Array.isArray(shape) || !Array.isArray(off) || off.length !== 2) {
        throw new Llama4Error(`tensor '${name}' has a malformed header entry`, { source: path });
      }
      const dims = shape as number[];
      const [b, e] = off as [number, number];
      const elements = product(dims);
      if (ST_SIZES[dtype] !== undefined && elements * ST_SIZES[dtype] !== e - b) {
        throw new Llama4Error(`tensor '${name}': ${dtype} [${dims.join(', ')}] needs ${elements * ST_SIZES[dtype]} bytes, data_offsets span ${e - b}`, { source: path });
      }
      if (8 + n + e > f.size) throw new Llama4Error(`tensor '${name}' runs past the end of the file (truncated?)`, { source: path });
      out.push({ name, type: dtype, dtype: ST_DECODED[dtype] ?? null, shape: dims, elements, bytes: e - b, file: path, offset: 8 + n + b });
    }
    return out;
  } finally {
    closeFile(f);
  }
}

function safetensorsFilesOf(folder: string): string[] {
  const index = join(folder, 'model.safetensors.index.json');
  if (existsSync(index)) {
    const map = (readJson(index) as { weight_map?: Record<string, unknown> })?.weight_map;
    if (typeof map !== 'object' || map === null) throw new Llama4Error("index has no 'weight_map' object", { source: index });
    const shards = [...new Set(Object.values(map).map(String))].sort();
    for (const s of shards) {
      if (basename(s) !== s) throw new Llama4Error(`weight_map names an invalid shard '${s}'`, { source: index });
      if (!existsSync(join(folder, s))) throw new Llama4Error(`shard '${s}' listed in the index is missing`, { source: folder });
    }
    return shards.map((s) => join(folder, s));
  }
  if (existsSync(join(folder, 'model.safetensors'))) return [join(folder, 'model.safetensors')];
  const all = readdirSync(folder).filter((n) => n.endsWith('.safetensors')).sort();
  if (all.length === 0) throw new Llama4Error('no .safetensors files in the model folder', { source: folder });
  return all.map((n) => join(folder, n));
}

/** Lazy TensorData over an entry (for the config builder, which reads `rope_freqs`). */
function lazyTensor(t: TensorEntry): TensorData {
  return {
    name: t.name, dtype: t.dtype ?? 'F32', shape: t.shape, byteLength: t.bytes,
    get bytes() { return readFileRange(t.file, t.offset, t.bytes, `tensor '${t.name}'`); },
  };
}

function openGguf(path: string): ModelFiles {
  const headers = readGgufHeaders(path);
  const parts = headers.map((h) => h.path);
  const metadata = headers[0].metadata;
  const tensors: TensorEntry[] = [];
  for (const h of headers) {
    for (const t of h.tensorInfos) {
      tensors.push({ name: t.name, type: t.dtype, dtype: t.dtype, shape: t.shape, elements: product(t.shape), bytes: t.byteSize, file: h.path, offset: t.fileOffset });
    }
  }
  const map = new Map<string, TensorData>(tensors.map((t) => [t.name, lazyTensor(t)]));
  const config = modelConfigFromGguf(metadata, map, parts[0]);
  const ft = metadata.get('general.file_type');
  const quant = typeof ft === 'number' ? GGUF_FILE_TYPES[ft] ?? `file type ${ft}` : null;
  return { path: parts[0], format: 'gguf', files: parts, tensors, config, ggufMetadata: metadata, hfConfig: null, quant, dir: dirname(parts[0]) };
}

function openHf(folder: string, files: string[]): ModelFiles {
  const configPath = join(folder, 'config.json');
  const hfConfig = readJson(configPath) as Record<string, unknown>;
  const config = modelConfigFromHf(hfConfig, configPath);
  const tensors = files.flatMap((f) => safetensorsEntries(f));
  const text = hfConfig.text_config as Record<string, unknown> | undefined;
  const dt = (hfConfig.torch_dtype ?? text?.torch_dtype ?? hfConfig.dtype) as unknown;
  const quant = typeof dt === 'string' ? ({ bfloat16: 'BF16', float16: 'F16', float32: 'F32' } as Record<string, string>)[dt] ?? dt : null;
  return { path: folder, format: 'hf', files, tensors, config, ggufMetadata: null, hfConfig, quant, dir: folder };
}

/**
 * Reads a model's config and tensor index from a folder, a `.safetensors` file (its folder's
 * config.json), a GGUF file or any part of a split GGUF.
 * @throws Llama4Error for a missing or malformed source.
 */
export function openModelFiles(path: string): ModelFiles {
  if (!existsSync(path)) throw new Llama4Error('no such file or folder', { source: path });
  if (statSync(path).isDirectory()) return openHf(path, safetensorsFilesOf(path));
  if (path.endsWith('.safetensors')) return openHf(dirname(path), [path]);
  return openGguf(path);
}
