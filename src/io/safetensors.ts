/**
 * Hugging Face safetensors reader: one file, or a model folder (sharded through
 * `model.safetensors.index.json`, or a single `model.safetensors`, or every `*.safetensors`).
 *
 * Format: u64 little-endian header length N, N bytes of JSON mapping each tensor name to
 * {dtype, shape, data_offsets: [begin, end]} (offsets relative to the data region that follows
 * the header) plus an optional "__metadata__" string map. Each tensor is read into its own buffer,
 * so memory use is about the size of the weights.
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { Llama4Error } from '../errors.js';
import { closeFile, openFile, readRange, type OpenFile } from './file-read.js';
import type { DType, TensorData, TensorSource } from './tensor.js';

/** A parsed safetensors file (or folder) with its `__metadata__` strings. */
export interface SafetensorsSource extends TensorSource {
  readonly metadata: ReadonlyMap<string, string>;
  /** The files the tensors came from. */
  readonly files: readonly string[];
}

/** Bytes per element of the dtypes llama4.ts accepts from safetensors. */
const SUPPORTED: Readonly<Record<string, { dtype: DType; size: number }>> = {
  F32: { dtype: 'F32', size: 4 },
  F16: { dtype: 'F16', size: 2 },
  BF16: { dtype: 'BF16', size: 2 },
};
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const INDEX_FILE = 'model.safetensors.index.json';
const SINGLE_FILE = 'model.safetensors';

interface Entry {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function parseEntry(name: string, raw: unknown, dataBytes: number, path: string): Entry {
  const fail = (why: string): Llama4Error => new Llama4Error(`tensor '${name}': ${why}`, { source: path });
  if (!isRecord(raw)) throw fail('header entry is not an object');
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== 'string') throw fail("header entry has no 'dtype' string");
  const known = SUPPORTED[dtype];
  if (known === undefined) {
    throw new Llama4Error(`tensor '${name}' has dtype '${dtype}', which llama4.ts does not support (supported: ${Object.keys(SUPPORTED).join(', ')})`, { source: path });
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) throw fail(`'shape' must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
    throw fail(`'data_offsets' must be [begin, end] with 0 <= begin <= end, got ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  let elements = 1;
  for (const d of shape as number[]) elements *= d;
  const need = elements * known.size;
  if (!Number.isSafeInteger(need) || need !== end - begin) {
    throw fail(`data_offsets [${begin}, ${end}] span ${end - begin} bytes, but ${dtype} [${shape.join(', ')}] needs ${need} bytes`);
  }
  if (end > dataBytes) {
    throw new Llama4Error(`tensor '${name}' data ends at byte ${end} of the data region, but the file holds only ${dataBytes} bytes of data (truncated?)`, { source: path });
  }
  return { name, dtype: known.dtype, shape: shape as number[], begin, end };
}

function parseHeader(f: OpenFile): { entries: Entry[]; metadata: Map<string, string>; dataStart: number } {
  const path = f.path;
  if (f.size < 8) throw new Llama4Error(`file is ${f.size} bytes, too small to be a safetensors file`, { source: path });
  const lenBytes = readRange(f, 0, 8, 'the header length');
  const len = new DataView(lenBytes.buffer).getBigUint64(0, true);
  if (len > BigInt(f.size - 8)) {
    throw new Llama4Error(`header length ${len} runs past the end of the file (${f.size} bytes; truncated or not a safetensors file?)`, { source: path });
  }
  if (len > BigInt(MAX_HEADER_BYTES)) {
    throw new Llama4Error(`header length ${len} exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupt file?)`, { source: path });
  }
  const n = Number(len);
  const text = Buffer.from(readRange(f, 8, n, 'the JSON header').buffer).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Llama4Error(`header is not valid JSON (${e instanceof Error ? e.message : String(e)})`, { source: path, cause: e });
  }
  if (!isRecord(json)) throw new Llama4Error('header JSON is not an object', { source: path });
  const dataStart = 8 + n;
  const dataBytes = f.size - dataStart;
  const metadata = new Map<string, string>();
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isRecord(raw)) throw new Llama4Error("'__metadata__' is not an object", { source: path });
      // The format defines string values; anything else carries no meaning for us and is skipped.
      for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') metadata.set(k, v);
      continue;
    }
    entries.push(parseEntry(name, raw, dataBytes, path));
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].begin < sorted[i - 1].end) {
      throw new Llama4Error(`tensors '${sorted[i - 1].name}' and '${sorted[i].name}' overlap in the data region`, { source: path });
    }
  }
  return { entries, metadata, dataStart };
}

/**
 * Reads one `.safetensors` file (F32, F16 and BF16 tensors).
 * @throws Llama4Error naming the file and the problem for anything malformed or unsupported.
 */
export function readSafetensors(path: string): SafetensorsSource {
  const f = openFile(path);
  try {
    const { entries, metadata, dataStart } = parseHeader(f);
    const tensors = new Map<string, TensorData>();
    for (const e of [...entries].sort((a, b) => a.begin - b.begin)) {
      const bytes = readRange(f, dataStart + e.begin, e.end - e.begin, `tensor '${e.name}'`);
      tensors.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, bytes, byteLength: bytes.byteLength });
    }
    // Keep the header's order for callers that list tensors.
    const ordered = new Map<string, TensorData>();
    for (const e of entries) ordered.set(e.name, tensors.get(e.name) as TensorData);
    return { path, tensors: ordered, metadata, files: [path] };
  } finally {
    closeFile(f);
  }
}

/** Reads the shard list of an index file: weight_map tensor → shard file name. */
function readIndex(indexPath: string): Map<string, string> {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
  } catch (e) {
    const why = e instanceof SyntaxError ? `is not valid JSON (${e.message})` : 'cannot be read';
    throw new Llama4Error(`index ${why}`, { source: indexPath, cause: e });
  }
  if (!isRecord(json) || !isRecord(json.weight_map)) {
    throw new Llama4Error("index has no 'weight_map' object", { source: indexPath });
  }
  const map = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(json.weight_map)) {
    // Shards must be plain file names inside the folder: no paths that could escape it.
    if (typeof shard !== 'string' || shard.length === 0 || nodePath.basename(shard) !== shard || shard === '.' || shard === '..') {
      throw new Llama4Error(`weight_map entry for '${tensor}' is not a shard file name: ${JSON.stringify(shard)}`, { source: indexPath });
    }
    map.set(tensor, shard);
  }
  return map;
}

function mergeShards(folder: string, files: readonly string[]): { tensors: Map<string, TensorData>; metadata: Map<string, string>; shards: Map<string, SafetensorsSource> } {
  const tensors = new Map<string, TensorData>();
  const origin = new Map<string, string>();
  const metadata = new Map<string, string>();
  const shards = new Map<string, SafetensorsSource>();
  for (const file of files) {
    const shard = readSafetensors(nodePath.join(folder, file));
    shards.set(file, shard);
    for (const [k, v] of shard.metadata) if (!metadata.has(k)) metadata.set(k, v);
    for (const [name, t] of shard.tensors) {
      const prev = origin.get(name);
      if (prev !== undefined) {
        throw new Llama4Error(`tensor '${name}' appears in both '${prev}' and '${file}'`, { source: folder });
      }
      origin.set(name, file);
      tensors.set(name, t);
    }
  }
  return { tensors, metadata, shards };
}

/**
 * Reads a model folder's weights: the shards named by `model.safetensors.index.json` when it
 * exists, else `model.safetensors`, else every `*.safetensors` file (in name order).
 * @throws Llama4Error for a missing shard, a tensor the index lists but its shard lacks, a tensor
 * in two shards, or any problem of a single file.
 */
export function readSafetensorsFolder(folder: string): SafetensorsSource {
  let names: string[];
  try {
    if (!fs.statSync(folder).isDirectory()) throw new Llama4Error('not a folder', { source: folder });
    names = fs.readdirSync(folder);
  } catch (e) {
    if (e instanceof Llama4Error) throw e;
    throw new Llama4Error('cannot read the model folder', { source: folder, cause: e });
  }
  const indexPath = nodePath.join(folder, INDEX_FILE);
  if (names.includes(INDEX_FILE)) {
    const index = readIndex(indexPath);
    const files = [...new Set(index.values())];
    for (const file of files) {
      if (!names.includes(file)) {
        throw new Llama4Error(`shard '${file}' listed in ${INDEX_FILE} is missing`, { source: folder });
      }
    }
    const { tensors, metadata, shards } = mergeShards(folder, files);
    for (const [name, file] of index) {
      if (!(shards.get(file) as SafetensorsSource).tensors.has(name)) {
        throw new Llama4Error(`tensor '${name}' is listed in ${INDEX_FILE} under shard '${file}', but that shard does not contain it`, { source: folder });
      }
    }
    return { path: folder, tensors, metadata, files: files.map((f) => nodePath.join(folder, f)) };
  }
  const files = names.includes(SINGLE_FILE) ? [SINGLE_FILE] : names.filter((n) => n.endsWith('.safetensors')).sort();
  if (files.length === 0) throw new Llama4Error('no .safetensors files in the model folder', { source: folder });
  const { tensors, metadata } = mergeShards(folder, files);
  return { path: folder, tensors, metadata, files: files.map((f) => nodePath.join(folder, f)) };
}
