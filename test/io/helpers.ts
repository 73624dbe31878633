/** Test helpers: fixture paths, temp folders, error assertions and raw file builders. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after } from 'node:test';
import { Llama4Error } from '../../src/errors.js';

export const FIXTURES = path.resolve(import.meta.dirname, '../../../fixtures');

/** Model folders under fixtures/. */
export function fixtureModels(): string[] {
  return fs.readdirSync(FIXTURES).filter((m) => fs.statSync(path.join(FIXTURES, m)).isDirectory()).sort();
}

/** A fresh temporary folder, removed when the test file finishes. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `llama4ts-${prefix}-`));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Asserts that `fn` throws a Llama4Error whose message matches `pattern` and names `source`. */
export function assertLlama4Error(fn: () => unknown, pattern: RegExp, source?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Llama4Error, `expected a Llama4Error, got ${String(e)}`);
    assert.match(e.message, pattern);
    if (source !== undefined) assert.equal(e.source, source);
    return true;
  });
}

/** Little-endian byte builder for hand-made (possibly malformed) files. */
export class Bytes {
  private parts: Buffer[] = [];
  get length(): number {
    return this.parts.reduce((n, p) => n + p.length, 0);
  }
  u8(v: number): this { this.parts.push(Buffer.from([v & 0xff])); return this; }
  u32(v: number): this { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); this.parts.push(b); return this; }
  u64(v: bigint | number): this { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v))); this.parts.push(b); return this; }
  i64(v: bigint | number): this { const b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(v)); this.parts.push(b); return this; }
  f32(v: number): this { const b = Buffer.alloc(4); b.writeFloatLE(v); this.parts.push(b); return this; }
  raw(b: Uint8Array | string): this { this.parts.push(typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b)); return this; }
  str(s: string): this { const b = Buffer.from(s, 'utf8'); return this.u64(b.length).raw(b); }
  pad(alignment: number): this { const r = (alignment - (this.length % alignment)) % alignment; return this.raw(new Uint8Array(r)); }
  build(): Buffer { return Buffer.concat(this.parts); }
}

export interface RawTensor {
  name: string;
  ne: (number | bigint)[];
  type: number;
  offset: number | bigint;
  nDims?: number;
}

/**
 * A GGUF file built field by field, with every count and offset under the test's control.
 * Metadata: [key, typeCode, write-value] triples; `data` is appended after alignment padding.
 */
export function rawGguf(opts: {
  version?: number;
  tensorCount?: number | bigint;
  kvCount?: number | bigint;
  kvs?: [string, number, (b: Bytes) => void][];
  tensors?: RawTensor[];
  data?: Uint8Array;
  alignment?: number;
}): Buffer {
  const kvs = opts.kvs ?? [];
  const tensors = opts.tensors ?? [];
  const b = new Bytes().raw('GGUF').u32(opts.version ?? 3);
  b.u64(opts.tensorCount ?? tensors.length).u64(opts.kvCount ?? kvs.length);
  for (const [key, type, write] of kvs) {
    b.str(key).u32(type);
    write(b);
  }
  for (const t of tensors) {
    b.str(t.name).u32(t.nDims ?? t.ne.length);
    for (const d of t.ne) b.i64(d);
    b.u32(t.type).u64(t.offset);
  }
  b.pad(opts.alignment ?? 32);
  if (opts.data) b.raw(opts.data);
  return b.build();
}

export interface StTensor {
  name: string;
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

/** A safetensors file from tensors (packed in order), with optional header tweaks. */
export function safetensorsBytes(tensors: StTensor[], opts: { metadata?: Record<string, string>; header?: (h: Record<string, unknown>) => void } = {}): Buffer {
  const header: Record<string, unknown> = {};
  if (opts.metadata) header.__metadata__ = opts.metadata;
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  opts.header?.(header);
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, ...tensors.map((t) => Buffer.from(t.bytes))]);
}

/** Parses a safetensors header directly (independently of the reader under test). */
export function safetensorsHeader(file: string): { header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>; dataStart: number } {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  delete header.__metadata__;
  return { header, dataStart: 8 + n };
}
