/**
 * A minimal safetensors writer for tests: u64 little-endian header length, the JSON header
 * ({name: {dtype, shape, data_offsets}}, optional `__metadata__`), then the tensors' bytes in
 * the order given. The header is padded with spaces to a multiple of 8 bytes, as the Rust
 * `safetensors` crate does.
 */
import { writeFileSync } from 'node:fs';

export type SafetensorsDType = 'F32' | 'F16' | 'BF16';

export interface SafetensorsTensor {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  /** Outermost dimension first. */
  readonly shape: readonly number[];
  /** Exactly the tensor's bytes (little-endian). */
  readonly bytes: Uint8Array;
}

const ELEMENT_BYTES: Record<SafetensorsDType, number> = { F32: 4, F16: 2, BF16: 2 };

/** The file's bytes. Throws when a tensor's byte count does not match its dtype and shape. */
export function encodeSafetensors(tensors: readonly SafetensorsTensor[], metadata?: Readonly<Record<string, string>>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const need = t.shape.reduce((a, b) => a * b, 1) * ELEMENT_BYTES[t.dtype];
    if (need !== t.bytes.byteLength) throw new Error(`tensor '${t.name}': ${t.dtype} [${t.shape.join(', ')}] needs ${need} bytes, got ${t.bytes.byteLength}`);
    if (t.name in header) throw new Error(`duplicate tensor '${t.name}'`);
    header[t.name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + need] };
    offset += need;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad > 0) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of tensors) { out.set(t.bytes, at); at += t.bytes.byteLength; }
  return out;
}

/** Writes `tensors` to `path` as one safetensors file. */
export function writeSafetensors(path: string, tensors: readonly SafetensorsTensor[], metadata?: Readonly<Record<string, string>>): void {
  writeFileSync(path, encodeSafetensors(tensors, metadata));
}
