/**
 * GGUF v3 writer. Produces files llama.cpp loads: typed metadata, tensor infos with ggml's `ne`
 * order, every tensor's data aligned (and padded) to the alignment. Used by tests (synthetic and
 * malformed files), the quantize command and benchmarks.
 *
 * Metadata types are explicit because llama.cpp checks them (a uint32 key written as int32 is
 * rejected). Entries may omit the type; it is then inferred (see inferGgufType), which suits
 * strings, booleans and unsigned counts but not float keys that happen to hold whole numbers.
 */
import * as fs from 'node:fs';
import { Llama4Error } from '../errors.js';
import { blockSize, rowBytes } from '../quant/layout.js';
import {
  GGML_TYPE_IDS, GGUF_TYPE_CODES, describeGgufType,
  type GgufScalarType, type GgufTypedValue, type GgufValue, type GgufValueType,
} from './gguf-types.js';
import type { GgufHeader } from './gguf.js';
import type { DType } from './tensor.js';

/** One metadata entry: key, value and (optionally) its GGUF type. */
export type GgufMetadataEntry = readonly [key: string, value: GgufValue, type?: GgufValueType];

/** Metadata in file order: entries, or a map whose values carry their types. */
export type GgufMetadataInput = Iterable<GgufMetadataEntry> | ReadonlyMap<string, GgufTypedValue>;

export interface GgufTensorToWrite {
  readonly name: string;
  readonly dtype: DType;
  /** Outermost dimension first (as TensorData); written reversed as ggml's `ne`. */
  readonly shape: readonly number[];
  /** Exactly the tensor's bytes for its dtype and shape. */
  readonly bytes: Uint8Array;
}

export interface GgufWriteOptions {
  readonly metadata: GgufMetadataInput;
  readonly tensors: readonly GgufTensorToWrite[];
  /** Data alignment, a power of two (default 32, or `general.alignment` when given). */
  readonly alignment?: number;
}

const MAX_NAME_BYTES = 63; // GGML_MAX_NAME (64) including the terminating NUL

/**
 * The type a value is written as when its entry gives none: string → string, boolean → bool,
 * non-negative integer → uint32 (uint64 beyond 32 bits), negative integer → int32 (int64 beyond),
 * other number → float32, bigint → uint64/int64, array → array of the type inferred from its
 * elements (integers → int32, any fraction → float32). Empty arrays need an explicit type.
 */
export function inferGgufType(value: GgufValue, key = '?'): GgufValueType {
  if (Array.isArray(value)) {
    const arr = value as readonly GgufValue[];
    if (arr.length === 0) throw new Llama4Error(`metadata key '${key}': give an explicit type for an empty array`);
    if (arr.every((v) => typeof v === 'string')) return { array: 'string' };
    if (arr.every((v) => typeof v === 'boolean')) return { array: 'bool' };
    if (arr.every((v) => typeof v === 'number')) {
      return { array: arr.every((v) => Number.isInteger(v) && (v as number) >= -2147483648 && (v as number) <= 2147483647) ? 'int32' : 'float32' };
    }
    throw new Llama4Error(`metadata key '${key}': cannot infer one element type for a mixed array; give an explicit type`);
  }
  return inferScalar(value as Exclude<GgufValue, readonly GgufValue[]>);
}

function inferScalar(v: number | bigint | boolean | string): GgufScalarType {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'bigint') return v < 0n ? 'int64' : 'uint64';
  if (!Number.isInteger(v)) return 'float32';
  if (v >= 0) return v <= 0xffffffff ? 'uint32' : 'uint64';
  return v >= -2147483648 ? 'int32' : 'int64';
}

/** Metadata of a parsed file as typed entries, ready to be written to another file unchanged. */
export function ggufMetadataEntries(header: Pick<GgufHeader, 'metadata' | 'metadataTypes'>): GgufMetadataEntry[] {
  return [...header.metadata].map(([k, v]): GgufMetadataEntry => [k, v, header.metadataTypes.get(k)]);
}

const INT_RANGES: Readonly<Partial<Record<GgufScalarType, readonly [bigint, bigint]>>> = {
  uint8: [0n, 0xffn], int8: [-0x80n, 0x7fn], uint16: [0n, 0xffffn], int16: [-0x8000n, 0x7fffn],
  uint32: [0n, 0xffffffffn], int32: [-0x80000000n, 0x7fffffffn],
  uint64: [0n, 0xffffffffffffffffn], int64: [-0x8000000000000000n, 0x7fffffffffffffffn],
};

/** Growable little-endian byte buffer for the header. */
class ByteSink {
  private buf = Buffer.alloc(4096);
  length = 0;
  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
      this.buf.copy(next, 0, 0, this.length);
      this.buf = next;
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  // Reserve first, then write: `this.buf` may be replaced by the reservation.
  u8(v: number): void { const at = this.room(1); this.buf.writeUInt8(v, at); }
  i8(v: number): void { const at = this.room(1); this.buf.writeInt8(v, at); }
  u16(v: number): void { const at = this.room(2); this.buf.writeUInt16LE(v, at); }
  i16(v: number): void { const at = this.room(2); this.buf.writeInt16LE(v, at); }
  u32(v: number): void { const at = this.room(4); this.buf.writeUInt32LE(v, at); }
  i32(v: number): void { const at = this.room(4); this.buf.writeInt32LE(v, at); }
  f32(v: number): void { const at = this.room(4); this.buf.writeFloatLE(v, at); }
  f64(v: number): void { const at = this.room(8); this.buf.writeDoubleLE(v, at); }
  u64(v: bigint): void { const at = this.room(8); this.buf.writeBigUInt64LE(v, at); }
  i64(v: bigint): void { const at = this.room(8); this.buf.writeBigInt64LE(v, at); }
  str(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    this.u64(BigInt(n));
    const at = this.room(n);
    this.buf.write(s, at, n, 'utf8');
  }
  zeros(n: number): void { const at = this.room(n); this.buf.fill(0, at, at + n); }
  bytes(): Uint8Array { return this.buf.subarray(0, this.length); }
}

function writeScalar(out: ByteSink, t: GgufScalarType, v: GgufValue, key: string): void {
  const bad = (): Llama4Error => new Llama4Error(`metadata key '${key}': value ${String(v)} is not a valid ${t}`);
  switch (t) {
    case 'string':
      if (typeof v !== 'string') throw bad();
      return out.str(v);
    case 'bool':
      if (typeof v !== 'boolean') throw bad();
      return out.u8(v ? 1 : 0);
    case 'float32':
    case 'float64':
      if (typeof v !== 'number') throw bad();
      return t === 'float32' ? out.f32(v) : out.f64(v);
    default: {
      if (typeof v !== 'number' && typeof v !== 'bigint') throw bad();
      if (typeof v === 'number' && !Number.isSafeInteger(v)) throw bad();
      const b = BigInt(v);
      const [lo, hi] = INT_RANGES[t] as readonly [bigint, bigint];
      if (b < lo || b > hi) throw bad();
      const n = Number(b);
      switch (t) {
        case 'uint8': return out.u8(n);
        case 'int8': return out.i8(n);
        case 'uint16': return out.u16(n);
        case 'int16': return out.i16(n);
        case 'uint32': return out.u32(n);
        case 'int32': return out.i32(n);
        case 'uint64': return out.u64(b);
        case 'int64': return out.i64(b);
      }
    }
  }
}

function writeValue(out: ByteSink, t: GgufValueType, v: GgufValue, key: string): void {
  if (typeof t === 'string') return writeScalar(out, t, v, key);
  if (!Array.isArray(v)) throw new Llama4Error(`metadata key '${key}': type ${describeGgufType(t)} needs an array value`);
  const arr = v as readonly GgufValue[];
  out.u32(GGUF_TYPE_CODES[t.array]);
  out.u64(BigInt(arr.length));
  for (const e of arr) writeScalar(out, t.array, e, key);
}

function normalizeMetadata(input: GgufMetadataInput): [string, GgufValue, GgufValueType][] {
  const entries: [string, GgufValue, GgufValueType][] = [];
  const seen = new Set<string>();
  const add = (key: string, value: GgufValue, type: GgufValueType | undefined): void => {
    if (key.length === 0) throw new Llama4Error('metadata keys must not be empty');
    if (seen.has(key)) throw new Llama4Error(`duplicate metadata key '${key}'`);
    seen.add(key);
    entries.push([key, value, type ?? inferGgufType(value, key)]);
  };
  if (input instanceof Map) {
    for (const [key, tv] of input as ReadonlyMap<string, GgufTypedValue>) add(key, tv.value, tv.type);
  } else {
    for (const [key, value, type] of input as Iterable<GgufMetadataEntry>) add(key, value, type);
  }
  return entries;
}

function resolveAlignment(entries: [string, GgufValue, GgufValueType][], requested: number | undefined): number {
  const existing = entries.find((e) => e[0] === 'general.alignment');
  if (existing !== undefined) {
    const [, v, t] = existing;
    if (t !== 'uint32' || typeof v !== 'number') throw new Llama4Error("metadata key 'general.alignment' must be a uint32");
    if (requested !== undefined && requested !== v) {
      throw new Llama4Error(`alignment ${requested} contradicts metadata 'general.alignment' = ${v}`);
    }
    requested = v;
  }
  const alignment = requested ?? 32;
  if (!Number.isInteger(alignment) || alignment < 1 || alignment > 0x80000000 || (alignment & (alignment - 1)) !== 0) {
    throw new Llama4Error(`alignment ${alignment} is not a power of two`);
  }
  if (existing === undefined && alignment !== 32) entries.push(['general.alignment', alignment, 'uint32']);
  return alignment;
}

interface PlacedTensor {
  readonly t: GgufTensorToWrite;
  readonly offset: number;
}

function placeTensors(tensors: readonly GgufTensorToWrite[], alignment: number): PlacedTensor[] {
  const names = new Set<string>();
  let offset = 0;
  return tensors.map((t) => {
    const nameBytes = Buffer.byteLength(t.name, 'utf8');
    if (nameBytes === 0 || nameBytes > MAX_NAME_BYTES) {
      throw new Llama4Error(`tensor name '${t.name}' is ${nameBytes} bytes; GGUF names must be 1 to ${MAX_NAME_BYTES} bytes`);
    }
    if (names.has(t.name)) throw new Llama4Error(`duplicate tensor name '${t.name}'`);
    names.add(t.name);
    if (t.shape.length < 1 || t.shape.length > 4) {
      throw new Llama4Error(`tensor '${t.name}' has ${t.shape.length} dimensions; GGUF tensors have 1 to 4`);
    }
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 1)) {
      throw new Llama4Error(`tensor '${t.name}' has shape [${t.shape.join(', ')}]; every dimension must be a positive integer`);
    }
    const cols = t.shape[t.shape.length - 1];
    if (cols % blockSize(t.dtype) !== 0) {
      throw new Llama4Error(`tensor '${t.name}' is ${t.dtype} with rows of ${cols} elements, not a multiple of the ${blockSize(t.dtype)}-element block`);
    }
    const size = rowBytes(t.dtype, cols) * (t.shape.reduce((a, b) => a * b, 1) / cols);
    if (t.bytes.length !== size) {
      throw new Llama4Error(`tensor '${t.name}' (${t.dtype} [${t.shape.join(', ')}]) needs ${size} bytes but was given ${t.bytes.length}`);
    }
    const placed = { t, offset };
    offset += Math.ceil(size / alignment) * alignment;
    return placed;
  });
}

function writeAll(fd: number, data: Uint8Array): void {
  let done = 0;
  while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done);
}

/**
 * Writes a GGUF v3 file. The data goes to a temporary file next to `path` that is renamed into
 * place at the end, so a failure never leaves a half-written model behind.
 * @throws Llama4Error for invalid metadata or tensors, or I/O failures.
 */
export function writeGguf(path: string, options: GgufWriteOptions): void {
  const entries = normalizeMetadata(options.metadata);
  const alignment = resolveAlignment(entries, options.alignment);
  const placed = placeTensors(options.tensors, alignment);

  const head = new ByteSink();
  head.u32(0x46554747); // "GGUF"
  head.u32(3);
  head.u64(BigInt(placed.length));
  head.u64(BigInt(entries.length));
  for (const [key, value, type] of entries) {
    head.str(key);
    if (typeof type === 'string') {
      head.u32(GGUF_TYPE_CODES[type]);
    } else {
      head.u32(GGUF_TYPE_CODES.array);
    }
    writeValue(head, type, value, key);
  }
  for (const { t, offset } of placed) {
    head.str(t.name);
    head.u32(t.shape.length);
    for (let d = t.shape.length - 1; d >= 0; d--) head.u64(BigInt(t.shape[d]));
    head.u32(GGML_TYPE_IDS[t.dtype]);
    head.u64(BigInt(offset));
  }
  head.zeros((alignment - (head.length % alignment)) % alignment);

  const tmp = `${path}.tmp-${process.pid}`;
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'w');
    writeAll(fd, head.bytes());
    const pad = new Uint8Array(alignment);
    for (const { t } of placed) {
      writeAll(fd, t.bytes);
      const rest = (alignment - (t.bytes.length % alignment)) % alignment;
      if (rest > 0) writeAll(fd, pad.subarray(0, rest));
    }
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    if (e instanceof Llama4Error) throw e;
    const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : String(e);
    throw new Llama4Error(`cannot write GGUF file (${code})`, { source: path, cause: e });
  }
}
