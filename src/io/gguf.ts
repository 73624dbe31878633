/**
 * GGUF v2/v3 reader (llama.cpp's weight format).
 *
 * Layout: magic "GGUF", u32 version, u64 tensor count, u64 metadata count, the metadata
 * key/value pairs, the tensor infos (name, dims, ggml type, offset), padding to the alignment,
 * then the tensor data. The header is parsed through a bounded 1 MiB window; afterwards each
 * tensor is read into its own buffer, so memory use is about the file size, never twice it.
 * Every inconsistency is reported as a Llama4Error naming the file and the offending item.
 */
import { Llama4Error } from '../errors.js';
import { blockSize, rowBytes } from '../quant/layout.js';
import { BufferedFileReader, closeFile, openFile, readFileRange, readRange, type OpenFile } from './file-read.js';
import {
  GGUF_TYPE_CODES, SCALAR_SIZES, describeGgmlType, describeGgufType, dtypeOfGgmlType, scalarTypeOfCode,
  type GgufScalarType, type GgufValue, type GgufValueType,
} from './gguf-types.js';
import type { DType, TensorData, TensorSource } from './tensor.js';

export * from './gguf-metadata.js';
export type { GgufScalarType, GgufTypedValue, GgufValue, GgufValueType } from './gguf-types.js';

/** Where and how one tensor is stored. */
export interface GgufTensorInfo {
  readonly name: string;
  readonly dtype: DType;
  /** ggml's type id as stored (GGML_TYPE_IDS[dtype]). */
  readonly ggmlType: number;
  /** ggml's `ne`: innermost dimension first. */
  readonly ne: readonly number[];
  /** `ne` reversed: outermost first, as in TensorData. */
  readonly shape: readonly number[];
  /** Byte offset relative to the start of the data section (as stored). */
  readonly offset: number;
  /** Absolute byte offset in the file. */
  readonly fileOffset: number;
  readonly byteSize: number;
}

/** Everything before the tensor data. */
export interface GgufHeader {
  readonly path: string;
  readonly version: number;
  readonly alignment: number;
  /** Metadata in file order. */
  readonly metadata: ReadonlyMap<string, GgufValue>;
  /** The stored GGUF type of every metadata value (to copy metadata to another file exactly). */
  readonly metadataTypes: ReadonlyMap<string, GgufValueType>;
  readonly tensorInfos: readonly GgufTensorInfo[];
  /** Absolute offset of the data section. */
  readonly dataOffset: number;
  readonly fileSize: number;
}

/** A parsed GGUF file with every tensor's bytes loaded. */
export interface GgufFile extends GgufHeader, TensorSource {}

const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
const DEFAULT_ALIGNMENT = 32;
const MAX_DIMS = 4; // GGML_MAX_DIMS
/** Smallest possible encodings, used to reject absurd counts before looping over them. */
const MIN_KV_BYTES = 8 + 4 + 1;
const MIN_TENSOR_INFO_BYTES = 8 + 4 + 8 + 4 + 8;

/** Converts a u64 to a number when it is a safe integer, or reports `what` as too large. */
function safeU64(v: bigint, what: string, path: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Llama4Error(`${what} is ${v}, which is far too large (corrupt header?)`, { source: path });
  return Number(v);
}

function readString(r: BufferedFileReader, path: string): string {
  const len = r.u64();
  if (len > BigInt(r.remaining())) {
    throw new Llama4Error(`${r.context}: string length ${len} at byte ${r.pos - 8} runs past the end of the file (${r.remaining()} bytes left)`, { source: path });
  }
  return r.utf8(Number(len));
}

function scalarSize(t: GgufScalarType): number {
  return t === 'string' ? 8 : SCALAR_SIZES[t];
}

function readValueType(r: BufferedFileReader, path: string): GgufValueType {
  const at = r.pos;
  const code = r.u32();
  if (code === GGUF_TYPE_CODES.array) {
    const elemCode = r.u32();
    if (elemCode === GGUF_TYPE_CODES.array) {
      throw new Llama4Error(`${r.context} is an array of arrays, which GGUF readers (llama.cpp included) do not support`, { source: path });
    }
    const elem = scalarTypeOfCode(elemCode);
    if (elem === undefined) throw new Llama4Error(`${r.context}: unknown array element type ${elemCode} at byte ${at + 4}`, { source: path });
    return { array: elem };
  }
  const t = scalarTypeOfCode(code);
  if (t === undefined) throw new Llama4Error(`${r.context}: unknown value type ${code} at byte ${at}`, { source: path });
  return t;
}

function readScalar(r: BufferedFileReader, t: GgufScalarType, path: string): number | bigint | boolean | string {
  switch (t) {
    case 'uint8': return r.u8();
    case 'int8': return r.i8();
    case 'uint16': return r.u16();
    case 'int16': return r.i16();
    case 'uint32': return r.u32();
    case 'int32': return r.i32();
    case 'float32': return r.f32();
    case 'float64': return r.f64();
    case 'bool': return r.u8() !== 0;
    case 'string': return readString(r, path);
    case 'uint64': case 'int64': {
      const v = t === 'uint64' ? r.u64() : r.i64();
      return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
    }
  }
}

/** Reads a value whose type was just read; arrays bound their count by the bytes left first. */
function readValue(r: BufferedFileReader, t: GgufValueType, path: string): GgufValue {
  if (typeof t === 'string') return readScalar(r, t, path);
  const count = r.u64();
  const minBytes = count * BigInt(scalarSize(t.array));
  if (minBytes > BigInt(r.remaining())) {
    throw new Llama4Error(
      `${r.context}: array of ${count} ${t.array} elements at byte ${r.pos - 8} needs at least ${minBytes} bytes, but only ${r.remaining()} remain`,
      { source: path },
    );
  }
  const n = Number(count);
  const out = new Array<GgufValue>(n);
  for (let i = 0; i < n; i++) out[i] = readScalar(r, t.array, path);
  return out;
}

function parseHeader(f: OpenFile): GgufHeader {
  const path = f.path;
  if (f.size < 4 + 4 + 8 + 8) {
    throw new Llama4Error(`file is ${f.size} bytes, too small to be a GGUF file (a GGUF header alone is 24 bytes)`, { source: path });
  }
  const r = new BufferedFileReader(f);
  r.context = 'the magic';
  const magic = r.u32();
  if (magic !== GGUF_MAGIC) {
    const bytes = [magic & 0xff, (magic >>> 8) & 0xff, (magic >>> 16) & 0xff, magic >>> 24];
    const text = bytes.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    const hex = bytes.map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new Llama4Error(`not a GGUF file: it starts with '${text}' (${hex}), expected 'GGUF'`, { source: path });
  }
  r.context = 'the version';
  const version = r.u32();
  if (version !== 2 && version !== 3) {
    if (version === 0x02000000 || version === 0x03000000) {
      throw new Llama4Error('big-endian GGUF files are not supported', { source: path });
    }
    const hint = version === 1 ? ' (version 1 is obsolete; re-convert the model)' : '';
    throw new Llama4Error(`unsupported GGUF version ${version}: only versions 2 and 3 are supported${hint}`, { source: path });
  }
  r.context = 'the tensor count';
  const tensorCount64 = r.u64();
  r.context = 'the metadata count';
  const kvCount64 = r.u64();
  // Bound the counts by the bytes left before looping over them, so a corrupted count can never
  // drive a huge allocation or a near-endless loop.
  const room = BigInt(r.remaining());
  if (tensorCount64 * BigInt(MIN_TENSOR_INFO_BYTES) > room) {
    throw new Llama4Error(`header claims ${tensorCount64} tensors, which cannot fit in the ${room} bytes that follow (truncated or corrupt file?)`, { source: path });
  }
  const minHeader = kvCount64 * BigInt(MIN_KV_BYTES) + tensorCount64 * BigInt(MIN_TENSOR_INFO_BYTES);
  if (minHeader > room) {
    throw new Llama4Error(`header claims ${kvCount64} metadata entries and ${tensorCount64} tensors, which need at least ${minHeader} bytes, but only ${room} follow (truncated or corrupt file?)`, { source: path });
  }
  const tensorCount = Number(tensorCount64);
  const kvCount = Number(kvCount64);

  const metadata = new Map<string, GgufValue>();
  const metadataTypes = new Map<string, GgufValueType>();
  for (let i = 0; i < kvCount; i++) {
    r.context = `the key of metadata entry #${i}`;
    const key = readString(r, path);
    if (metadata.has(key)) throw new Llama4Error(`duplicate metadata key '${key}'`, { source: path });
    r.context = `metadata key '${key}'`;
    const type = readValueType(r, path);
    metadata.set(key, readValue(r, type, path));
    metadataTypes.set(key, type);
  }

  const alignment = readAlignment(metadata, metadataTypes, path);

  const infos: { name: string; dtype: DType; ggmlType: number; ne: number[]; offset: number; byteSize: number }[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    r.context = `the name of tensor #${i}`;
    const name = readString(r, path);
    if (seen.has(name)) throw new Llama4Error(`duplicate tensor name '${name}'`, { source: path });
    seen.add(name);
    r.context = `tensor '${name}'`;
    const nDims = r.u32();
    if (nDims < 1 || nDims > MAX_DIMS) {
      throw new Llama4Error(`tensor '${name}' has ${nDims} dimensions; GGUF tensors have 1 to ${MAX_DIMS}`, { source: path });
    }
    const ne: number[] = [];
    let elements = 1;
    for (let d = 0; d < nDims; d++) {
      const v = r.i64(); // ggml stores int64_t; a negative value here is corruption
      if (v < 1n) throw new Llama4Error(`tensor '${name}' has dimension ${d} of size ${v}; every dimension must be at least 1`, { source: path });
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Llama4Error(`tensor '${name}' has dimension ${d} of size ${v}, which is far too large`, { source: path });
      ne.push(Number(v));
      elements *= Number(v);
      if (elements > Number.MAX_SAFE_INTEGER) {
        throw new Llama4Error(`tensor '${name}' has dimensions [${ne.join(', ')}…] whose element count overflows`, { source: path });
      }
    }
    const ggmlType = r.u32();
    const dtype = dtypeOfGgmlType(ggmlType);
    if (dtype === undefined) {
      throw new Llama4Error(`tensor '${name}' has ggml ${describeGgmlType(ggmlType)}, which llama4.ts does not support`, { source: path });
    }
    const offset = safeU64(r.u64(), `the data offset of tensor '${name}'`, path);
    if (ne[0] % blockSize(dtype) !== 0) {
      throw new Llama4Error(`tensor '${name}' is ${dtype} with rows of ${ne[0]} elements, not a multiple of the ${blockSize(dtype)}-element block`, { source: path });
    }
    if (offset % alignment !== 0) {
      throw new Llama4Error(`tensor '${name}' has data offset ${offset}, which is not a multiple of the alignment ${alignment}`, { source: path });
    }
    const byteSize = rowBytes(dtype, ne[0]) * (elements / ne[0]);
    infos.push({ name, dtype, ggmlType, ne, offset, byteSize });
  }

  const dataOffset = Math.ceil(r.pos / alignment) * alignment;
  const tensorInfos = infos.map((t): GgufTensorInfo => {
    const fileOffset = dataOffset + t.offset;
    const end = fileOffset + t.byteSize;
    if (end > f.size) {
      throw new Llama4Error(`tensor '${t.name}' data ends at byte ${end} but the file has ${f.size} bytes (truncated?)`, { source: path });
    }
    return { ...t, shape: [...t.ne].reverse(), fileOffset };
  });
  checkOverlaps(tensorInfos, path);
  return { path, version, alignment, metadata, metadataTypes, tensorInfos, dataOffset, fileSize: f.size };
}

function readAlignment(metadata: ReadonlyMap<string, GgufValue>, types: ReadonlyMap<string, GgufValueType>, path: string): number {
  const v = metadata.get('general.alignment');
  if (v === undefined) return DEFAULT_ALIGNMENT;
  const t = types.get('general.alignment');
  if (t !== 'uint32' || typeof v !== 'number') {
    throw new Llama4Error(`metadata key 'general.alignment' must be a uint32, but it is ${describeGgufType(t ?? 'uint32')}`, { source: path });
  }
  if (v === 0 || (v & (v - 1)) !== 0) {
    throw new Llama4Error(`metadata key 'general.alignment' is ${v}; it must be a power of two`, { source: path });
  }
  return v;
}

function checkOverlaps(infos: readonly GgufTensorInfo[], path: string): void {
  const sorted = [...infos].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    if (sorted[i].offset < prev.offset + prev.byteSize) {
      throw new Llama4Error(`tensors '${prev.name}' and '${sorted[i].name}' overlap in the data section (offsets ${prev.offset} and ${sorted[i].offset})`, { source: path });
    }
  }
}

/** Parses only the header of a GGUF file (metadata and tensor infos); loads no tensor data. */
export function readGgufHeader(path: string): GgufHeader {
  const f = openFile(path);
  try {
    return parseHeader(f);
  } finally {
    closeFile(f);
  }
}

/**
 * Reads a GGUF v2/v3 file: its metadata and every tensor's bytes (each in its own ArrayBuffer).
 * Tensor shapes are ggml's `ne` reversed (outermost first).
 * @throws Llama4Error for anything malformed, naming the file and the problem.
 */
export function readGguf(path: string, options: { lazy?: boolean } = {}): GgufFile {
  if (options.lazy) return readGgufLazy(path);
  const f = openFile(path);
  try {
    const header = parseHeader(f);
    const tensors = new Map<string, TensorData>();
    // Read in file order so the disk sees one sequential pass.
    const byOffset = [...header.tensorInfos].sort((a, b) => a.offset - b.offset);
    const bytesByName = new Map<string, Uint8Array>();
    for (const t of byOffset) bytesByName.set(t.name, readRange(f, t.fileOffset, t.byteSize, `tensor '${t.name}'`));
    for (const t of header.tensorInfos) {
      const bytes = bytesByName.get(t.name) as Uint8Array;
      tensors.set(t.name, { name: t.name, dtype: t.dtype, shape: t.shape, bytes, byteLength: bytes.byteLength });
    }
    return { ...header, tensors };
  } finally {
    closeFile(f);
  }
}

/**
 * Reads a GGUF header now and each tensor's bytes only when asked (`bytes`, `readInto`), so a
 * backend can stream weights into its own memory and the file is never held twice.
 */
function readGgufLazy(path: string): GgufFile {
  return lazyGguf(readGgufHeader(path));
}

/** A parsed header as a GgufFile whose tensors read their bytes from the file when asked. */
export function lazyGguf(header: GgufHeader): GgufFile {
  const tensors = new Map<string, TensorData>();
  for (const t of header.tensorInfos) {
    const what = `tensor '${t.name}'`;
    tensors.set(t.name, {
      name: t.name, dtype: t.dtype, shape: t.shape, byteLength: t.byteSize,
      get bytes() { return readFileRange(header.path, t.fileOffset, t.byteSize, what); },
      readInto(dst: Uint8Array) { readFileRange(header.path, t.fileOffset, t.byteSize, what, dst); },
    });
  }
  return { ...header, tensors };
}
