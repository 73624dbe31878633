/**
 * Low-level file access for the weight readers: opening with readable errors, a small buffered
 * reader for headers that never reads past the end of the file, and reading one byte range into
 * its own ArrayBuffer (so weights are held exactly once and F32 data can be viewed as a
 * Float32Array at offset 0).
 */
import * as fs from 'node:fs';
import { Llama4Error } from '../errors.js';

/** An open file and its size. Close it with closeFile. */
export interface OpenFile {
  readonly fd: number;
  readonly size: number;
  readonly path: string;
}

function errnoCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}

/** Opens a regular file for reading. @throws Llama4Error (missing, a directory, unreadable). */
export function openFile(path: string): OpenFile {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (e) {
    const code = errnoCode(e);
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : `cannot open (${code ?? String(e)})`;
    throw new Llama4Error(why, { source: path, cause: e });
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new Llama4Error('not a regular file', { source: path });
    return { fd, size: st.size, path };
  } catch (e) {
    fs.closeSync(fd);
    if (e instanceof Llama4Error) throw e;
    throw new Llama4Error(`cannot stat (${errnoCode(e) ?? String(e)})`, { source: path, cause: e });
  }
}

export function closeFile(f: OpenFile): void {
  fs.closeSync(f.fd);
}

/** readSync that reports I/O failures as Llama4Error. */
function readAt(f: OpenFile, buf: Uint8Array, off: number, len: number, pos: number): number {
  try {
    return fs.readSync(f.fd, buf, off, len, pos);
  } catch (e) {
    throw new Llama4Error(`read error at byte ${pos} (${errnoCode(e) ?? String(e)})`, { source: f.path, cause: e });
  }
}

// One read() may move at most ~2 GiB; stay well below.
const MAX_READ = 1 << 30;

/**
 * Reads `length` bytes at `offset` into a fresh Uint8Array with its own ArrayBuffer.
 * The caller has already checked that the range lies inside the file; `what` names the data for
 * messages (e.g. "tensor 'x'").
 */
export function readRange(f: OpenFile, offset: number, length: number, what: string): Uint8Array {
  let out: Uint8Array;
  try {
    out = new Uint8Array(length);
  } catch (e) {
    throw new Llama4Error(`cannot allocate ${length} bytes for ${what}`, { source: f.path, cause: e });
  }
  readRangeInto(f, offset, length, what, out);
  return out;
}

/** Reads `length` bytes at `offset` into `dst` (e.g. straight into wasm memory). */
export function readRangeInto(f: OpenFile, offset: number, length: number, what: string, dst: Uint8Array): void {
  if (dst.byteLength < length) throw new Llama4Error(`${what}: destination holds ${dst.byteLength} bytes, ${length} needed`, { source: f.path });
  const out = dst;
  let done = 0;
  while (done < length) {
    const n = readAt(f, out, done, Math.min(MAX_READ, length - done), offset + done);
    if (n === 0) {
      throw new Llama4Error(`${what}: file ended at byte ${offset + done} while reading ${length} bytes from byte ${offset} (was it truncated while being read?)`, { source: f.path });
    }
    done += n;
  }
}

/**
 * Reads `length` bytes at `offset` of the file at `path`, opening it for just this read: lazy
 * tensors use it so nothing stays in memory between reads.
 */
export function readFileRange(path: string, offset: number, length: number, what: string, dst?: Uint8Array): Uint8Array {
  const f = openFile(path);
  try {
    if (dst) { readRangeInto(f, offset, length, what, dst); return dst; }
    return readRange(f, offset, length, what);
  } finally {
    closeFile(f);
  }
}

const CHUNK = 1 << 20;

/**
 * Sequential little-endian reader over a file through a 1 MiB window. Every read first checks
 * that the bytes exist, so a corrupted length or count produces a Llama4Error naming `context`
 * (which the parser keeps up to date) instead of an out-of-range access.
 */
export class BufferedFileReader {
  /** Position of the next byte to read. */
  pos: number;
  /** What is being read, for error messages (e.g. "metadata key 'general.name'"). */
  context = 'the header';
  private buf: Buffer;
  private bufStart = 0;
  private bufEnd = 0;

  constructor(private readonly file: OpenFile, start = 0) {
    this.pos = start;
    this.buf = Buffer.alloc(Math.max(16, Math.min(CHUNK, file.size)));
  }

  /** Bytes left between the position and the end of the file. */
  remaining(): number {
    return this.file.size - this.pos;
  }

  /** Ensures `n` bytes at pos are buffered, or throws the truncation error. Returns their index in buf. */
  private need(n: number): number {
    if (n > this.file.size - this.pos) {
      throw new Llama4Error(
        `truncated header: ${this.context} needs ${n} bytes at byte ${this.pos}, but the file has only ${this.file.size} bytes`,
        { source: this.file.path },
      );
    }
    if (this.pos < this.bufStart || this.pos + n > this.bufEnd) {
      if (n > this.buf.length) this.buf = Buffer.alloc(Math.max(n, this.buf.length * 2));
      const want = Math.min(this.buf.length, this.file.size - this.pos);
      let got = 0;
      while (got < n) {
        const r = readAt(this.file, this.buf, got, want - got, this.pos + got);
        if (r === 0) {
          throw new Llama4Error(`unexpected end of file at byte ${this.pos + got} while reading ${this.context}`, { source: this.file.path });
        }
        got += r;
      }
      this.bufStart = this.pos;
      this.bufEnd = this.pos + got;
    }
    const at = this.pos - this.bufStart;
    this.pos += n;
    return at;
  }

  // need() first, then read: need() may replace `this.buf` with a larger window.
  u8(): number { const at = this.need(1); return this.buf[at]; }
  i8(): number { const at = this.need(1); return this.buf.readInt8(at); }
  u16(): number { const at = this.need(2); return this.buf.readUInt16LE(at); }
  i16(): number { const at = this.need(2); return this.buf.readInt16LE(at); }
  u32(): number { const at = this.need(4); return this.buf.readUInt32LE(at); }
  i32(): number { const at = this.need(4); return this.buf.readInt32LE(at); }
  f32(): number { const at = this.need(4); return this.buf.readFloatLE(at); }
  f64(): number { const at = this.need(8); return this.buf.readDoubleLE(at); }
  u64(): bigint { const at = this.need(8); return this.buf.readBigUInt64LE(at); }
  i64(): bigint { const at = this.need(8); return this.buf.readBigInt64LE(at); }

  /** `n` bytes decoded as UTF-8 (invalid sequences become U+FFFD, as TextDecoder does). */
  utf8(n: number): string {
    const at = this.need(n);
    return this.buf.toString('utf8', at, at + n);
  }
}
