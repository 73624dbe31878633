/**
 * The WebAssembly SIMD backend: weights live in one shared wasm memory in their stored format,
 * matmuls and attention run as SIMD kernels split across worker threads, and the cheap
 * element-wise ops stay in TypeScript (they are a rounding error of the time).
 */
import { availableParallelism } from 'node:os';
import type { AttentionArgs, Backend, Matrix, MatrixData } from '../backend.js';
import type { FloatAllocator } from '../../model/kv-cache.js';
import { RefBackend } from '../ref/ref-backend.js';
import { Llama4Error, assert } from '../../errors.js';
import type { DType } from '../../io/tensor.js';
import { rowBytes } from '../../quant/formats.js';
import { CTRL_BYTES, Ctrl, MAX_ARGS, MAX_SHARDS, MAX_THREADS, Op } from './control.js';
import { Arena, WasmHeap } from './heap.js';
import { instantiate, kernelModule, resolveKernelBuild, type KernelBuild, type KernelChoice, type KernelExports } from './kernels.js';
import { ThreadPool } from './thread-pool.js';

/** Type codes shared with asm/dequant.ts. */
const DTYPE_CODE: Record<DType, number> = {
  F32: 0, F16: 1, BF16: 2, Q8_0: 3, Q4_0: 4, Q4_1: 5, Q5_0: 6, Q5_1: 7, Q4_K: 8, Q5_K: 9, Q6_K: 10,
};
/**
 * Types the integer kernels read faster repacked (asm/repack.ts; same bytes per row): the kernel
 * that repacks them and the type code of the result.
 */
const REPACKED: Partial<Record<DType, { readonly repack: 'repackQ4_0x4' | 'repackQ6_Kx4' | 'repackQ4_Kx4'; readonly code: number }>> = {
  Q4_0: { repack: 'repackQ4_0x4', code: 11 },
  Q6_K: { repack: 'repackQ6_Kx4', code: 12 },
  Q4_K: { repack: 'repackQ4_Kx4', code: 13 },
};

class WasmMatrix implements Matrix {
  constructor(
    readonly name: string, readonly dtype: DType, readonly rows: number, readonly cols: number,
    /** The memory the weights live in, and their address there. */
    readonly shard: number, readonly addr: number, readonly rowBytes: number,
    /** The kernels' type code of the stored layout. */
    readonly code: number,
  ) {}
}

/** One wasm memory: a bump heap, its activation arena, and the main thread's kernel instance. */
interface Shard {
  readonly heap: WasmHeap;
  readonly io: Arena;
  readonly kernels: KernelExports;
}

export interface WasmBackendOptions {
  /** Kernel threads including the main thread; default: every core. */
  threads?: number;
  /**
   * 'fast' (default): quantized weights multiply 8-bit-quantized activations with integer dot
   * products, as llama.cpp does — its native logits, and about twice the speed. 'exact':
   * activations stay f32 and weights are decoded to f32, matching the reference backend (and
   * llama.cpp's dequant-f32 goldens) to float rounding.
   */
  precision?: 'fast' | 'exact';
  /**
   * Size of one wasm memory in bytes (default 4 GiB, the wasm32 limit). Weights that do not fit
   * spread over several memories; a small value exercises that on small models.
   */
  maxMemoryBytes?: number;
  /**
   * Which kernel build: 'auto' (default; the LLAMA4_KERNELS environment variable overrides it)
   * takes the relaxed-SIMD one where the engine supports it, 'baseline' the SIMD128-only one.
   * Both give the same results bit for bit.
   */
  kernels?: KernelChoice;
}

export class WasmBackend implements Backend {
  readonly name = 'wasm';
  private readonly ref = new RefBackend();
  private readonly shards: Shard[];
  /** The shard new weights go into. */
  private current = 0;
  /** Bytes of per-thread scratch each shard holds (a decoded row, attention scores). */
  private scratchBytes: number[] = [0];

  private constructor(first: Shard, private readonly module: WebAssembly.Module, private readonly pool: ThreadPool,
    readonly precision: 'fast' | 'exact', private readonly shardBytes: number, readonly kernels: KernelBuild) {
    this.shards = [first];
  }

  static async create(options: WasmBackendOptions = {}): Promise<WasmBackend> {
    const threads = options.threads ?? Math.min(availableParallelism(), MAX_THREADS);
    if (!(Number.isInteger(threads) && threads >= 1 && threads <= MAX_THREADS)) throw new Llama4Error(`--threads must be an integer from 1 to ${MAX_THREADS} (got ${threads})`);
    const precision = options.precision ?? 'fast';
    if (precision !== 'fast' && precision !== 'exact') throw new Llama4Error(`precision must be 'fast' or 'exact' (got '${String(precision)}')`);
    const heap = new WasmHeap(options.maxMemoryBytes);
    new Uint8Array(heap.memory.buffer, 0, CTRL_BYTES).fill(0);
    const build = resolveKernelBuild(options.kernels);
    const module = kernelModule(build);
    const kernels = instantiate(module, heap.memory);
    const pool = await ThreadPool.create(threads, module, heap.memory, kernels);
    return new WasmBackend({ heap, io: new Arena(heap, 'activations'), kernels }, module, pool, precision, heap.maxBytes, build);
  }

  get threads(): number { return this.pool.threads; }
  /** Wasm memories in use. */
  get memories(): number { return this.shards.length; }
  /** Bytes of wasm memory in use (weights, scratch, activations), over all memories. */
  get memoryBytes(): number { return this.shards.reduce((s, sh) => s + sh.heap.used, 0); }

  /**
   * Makes room for `weightBytes` of weights: adds memories when one cannot hold them (a wasm32
   * memory stops at 4 GiB), so every model that fits in RAM loads.
   */
  async reserve(weightBytes: number): Promise<void> {
    // Headroom per memory for its activation arena and thread scratch.
    const usable = this.shardBytes - (this.shardBytes >> 4) - (1 << 20);
    const free = this.shards.slice(this.current).reduce((s, sh) => s + usable - sh.heap.used, 0);
    const more = Math.max(0, Math.ceil((weightBytes - free) / usable));
    if (more === 0) return;
    if (this.shards.length + more > MAX_SHARDS) throw new Llama4Error(`the weights need ${this.shards.length + more} wasm memories of ${this.shardBytes >> 20} MiB; at most ${MAX_SHARDS} are supported`);
    const added: Shard[] = [];
    for (let i = 0; i < more; i++) {
      const heap = new WasmHeap(this.shardBytes);
      added.push({ heap, io: new Arena(heap, 'activations'), kernels: instantiate(this.module, heap.memory) });
    }
    await this.pool.addMemories(added.map((a) => a.heap.memory), added.map((a) => a.kernels));
    this.shards.push(...added);
    this.scratchBytes.push(...added.map(() => 0));
  }

  /**
   * KV caches live in the first wasm memory, so attention reads them in place. Freed blocks are
   * kept per size for reuse (sizes double as caches grow, so few distinct sizes occur).
   */
  readonly floats: FloatAllocator = {
    alloc: (n: number) => {
      const bytes = Math.max(64, n * 4);
      const free = this.freeBlocks.get(bytes);
      const addr = free && free.length > 0 ? free.pop()! : this.shards[0].heap.alloc(bytes, 'KV cache');
      const view = new Float32Array(this.shards[0].heap.memory.buffer, addr, n);
      view.fill(0);
      this.ownedFloats.add(view);
      return view;
    },
    free: (a: Float32Array) => {
      if (!this.ownedFloats.delete(a)) return;
      const bytes = Math.max(64, a.length * 4);
      const list = this.freeBlocks.get(bytes) ?? [];
      list.push(a.byteOffset);
      this.freeBlocks.set(bytes, list);
    },
  };
  private readonly freeBlocks = new Map<number, number[]>();
  private readonly ownedFloats = new WeakSet<Float32Array>();

  beginPass(): void { this.pool.setActive(true); }
  endPass(): void { this.pool.setActive(false); }
  dispose(): Promise<void> { return this.pool.dispose(); }

  matrix(m: MatrixData): Matrix {
    return this.matrixStack(m, 1)[0];
  }

  /** Copies the weights into wasm memory — straight from the file when the source is lazy. */
  matrixStack(m: MatrixData, count: number): Matrix[] {
    const stride = rowBytes(m.dtype, m.cols);
    const one = stride * m.rows, bytes = one * count;
    const { shard, addr } = this.allocWeight(bytes, m);
    const heap = this.shards[shard].heap;
    const dst = heap.u8.subarray(addr, addr + bytes);
    if (m.bytes) {
      assert(m.bytes.byteLength >= bytes, `matrix ${m.name} has too few bytes`);
      dst.set(m.bytes.subarray(0, bytes));
    } else {
      assert(m.readInto !== undefined, `matrix ${m.name} has neither bytes nor a reader`);
      m.readInto(dst);
    }
    this.ensureScratch(shard, m.cols * 4);
    let code = DTYPE_CODE[m.dtype];
    // Only the integer path ('fast') reads the repacked layouts.
    const r = this.precision === 'fast' ? REPACKED[m.dtype] : undefined;
    if (r) {
      this.shards[shard].kernels[r.repack](addr, m.rows * count, stride, m.cols);
      code = r.code;
    }
    return Array.from({ length: count }, (_, e) =>
      new WasmMatrix(count === 1 ? m.name : `${m.name}[${e}]`, m.dtype, m.rows, m.cols, shard, addr + e * one, stride, code));
  }

  /** Places weights in the current memory, moving on to the next one when it is full. */
  private allocWeight(bytes: number, m: MatrixData): { shard: number; addr: number } {
    const reserveFor = (sh: Shard) => (sh.heap.maxBytes >> 4); // keep room for activations
    for (; this.current < this.shards.length; this.current++) {
      const heap = this.shards[this.current].heap;
      if (heap.used + bytes + reserveFor(this.shards[this.current]) <= heap.maxBytes) {
        return { shard: this.current, addr: heap.alloc(bytes, `weight '${m.name}'`) };
      }
      if (this.current === this.shards.length - 1) break;
    }
    throw new Llama4Error(`out of wasm memory for weight '${m.name}' (${(bytes / 2 ** 20).toFixed(1)} MiB): ` +
      `${this.shards.length} memor${this.shards.length === 1 ? 'y' : 'ies'} of ${this.shardBytes >> 20} MiB are full` +
      (bytes > this.shardBytes / 2 ? ' (one tensor must fit in one memory)' : ' (reserve() adds memories before loading)'));
  }

  /** Every thread gets its own scratch of at least `bytes` in memory `shard`. */
  private ensureScratch(shard: number, bytes: number): void {
    if (bytes <= this.scratchBytes[shard]) return;
    const size = Math.max(bytes, this.scratchBytes[shard] * 2, 1 << 16);
    const ctrl = this.shards[0].heap.i32;
    const heap = this.shards[shard].heap;
    for (let t = 0; t < this.pool.threads; t++) ctrl[Ctrl.Scratch + shard * MAX_THREADS + t] = heap.alloc(size, 'thread scratch');
    this.scratchBytes[shard] = size;
  }

  matmul(x: Float32Array, nTokens: number, w: Matrix, out: Float32Array): void {
    const m = w as WasmMatrix;
    const { heap, io, kernels } = this.shards[m.shard];
    const t = m.code;
    const fmt = this.precision === 'fast' ? kernels.q8FormatFor(t) : -1;
    const xBytes = nTokens * m.cols * 4, oBytes = nTokens * m.rows * 4;
    const qRow = fmt >= 0 ? kernels.q8RowBytes(fmt, m.cols) : 0;
    const qBytes = fmt >= 0 ? kernels.q8ActivationBytes(fmt, nTokens, m.cols) : 0;
    io.reset(xBytes + oBytes + qBytes + 48);
    const xa = io.take(xBytes), oa = io.take(oBytes);
    heap.f32.set(x.subarray(0, nTokens * m.cols), xa >>> 2);
    if (fmt >= 0) {
      // Quantize the activations once, then integer dot products against the stored blocks.
      const qa = io.take(qBytes);
      kernels.quantizeActivations(fmt, xa, qa, nTokens, m.cols);
      this.pool.run(Op.MatmulQ8, [t, m.addr, m.rowBytes, qa, qRow, nTokens, oa, m.rows, m.cols], m.rows, { shard: m.shard, minChunk: this.rowGrain(m, nTokens) });
    } else {
      this.pool.run(Op.Matmul, [t, m.addr, m.rowBytes, xa, nTokens, m.cols, oa, m.rows], m.rows, { shard: m.shard, minChunk: this.rowGrain(m, nTokens) });
    }
    out.set(heap.f32.subarray(oa >>> 2, (oa >>> 2) + nTokens * m.rows));
  }

  /**
   * Matrices of one width whose weights share an activation format and a memory: the input is
   * quantized once and all their rows are one job. Otherwise one matmul each.
   */
  matmulMany(x: Float32Array, nTokens: number, ws: readonly Matrix[], outs: readonly Float32Array[]): void {
    const ms = ws as readonly WasmMatrix[], m0 = ms[0];
    const { heap, io, kernels } = this.shards[m0.shard];
    const fmt = this.precision === 'fast' ? kernels.q8FormatFor(m0.code) : -1;
    // Five arguments per matrix after five shared ones must fit the control block.
    const fused = ms.length > 1 && 5 + 5 * ms.length <= MAX_ARGS && fmt >= 0 &&
      ms.every((m) => m.shard === m0.shard && m.cols === m0.cols && kernels.q8FormatFor(m.code) === fmt);
    if (!fused) { ms.forEach((m, i) => this.matmul(x, nTokens, m, outs[i])); return; }
    const cols = m0.cols, xBytes = nTokens * cols * 4;
    const qRow = kernels.q8RowBytes(fmt, cols), qBytes = kernels.q8ActivationBytes(fmt, nTokens, cols);
    const oBytes = ms.map((m) => nTokens * m.rows * 4);
    io.reset(xBytes + qBytes + oBytes.reduce((a, b) => a + b, 0) + 16 * (ms.length + 2));
    const xa = io.take(xBytes), qa = io.take(qBytes), oa = oBytes.map((b) => io.take(b));
    heap.f32.set(x.subarray(0, nTokens * cols), xa >>> 2);
    kernels.quantizeActivations(fmt, xa, qa, nTokens, cols);
    const args = [qa, qRow, nTokens, cols, ms.length];
    ms.forEach((m, i) => args.push(m.code, m.addr, m.rowBytes, oa[i], m.rows));
    const total = ms.reduce((n, m) => n + m.rows, 0);
    const grain = Math.min(...ms.map((m) => this.rowGrain(m, nTokens)));
    this.pool.run(Op.MatmulQ8Many, args, total, { shard: m0.shard, minChunk: grain });
    ms.forEach((m, i) => outs[i].set(heap.f32.subarray(oa[i] >>> 2, (oa[i] >>> 2) + nTokens * m.rows)));
  }

  /**
   * The smallest claim of rows for a matmul: about 16 KiB of weights per token (a few
   * microseconds), so that the threads finish together even on a 128k-row output matrix; four
   * rows at least when several tokens run (the matrix kernels work on four rows at a time).
   */
  private rowGrain(m: WasmMatrix, nTokens: number): number {
    return Math.max(nTokens >= 4 ? 4 : 1, Math.ceil((1 << 14) / (m.rowBytes * nTokens)));
  }

  embedRows(w: Matrix, ids: ArrayLike<number>, out: Float32Array): void {
    const m = w as WasmMatrix;
    const { heap, io, kernels } = this.shards[m.shard];
    io.reset(m.cols * 4 + 16);
    const row = io.take(m.cols * 4);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      assert(Number.isInteger(id) && id >= 0 && id < m.rows, `token id ${id} outside the embedding table`);
      kernels.dequantRow(m.code, m.addr + id * m.rowBytes, row, m.cols);
      out.set(heap.f32.subarray(row >>> 2, (row >>> 2) + m.cols), i * m.cols);
    }
  }

  rmsNorm(x: Float32Array, nRows: number, dim: number, weight: Float32Array | null, eps: number, out: Float32Array): void {
    const { heap, io, kernels } = this.shards[0];
    const bytes = nRows * dim * 4;
    io.reset(bytes + 16);
    const xa = io.take(bytes);
    heap.f32.set(x.subarray(0, nRows * dim), xa >>> 2);
    kernels.rmsNorm(xa, xa, weight ? this.pinned(weight) : 0, dim, eps, 0, nRows);
    out.set(heap.f32.subarray(xa >>> 2, (xa >>> 2) + nRows * dim));
  }

  /** A copy of a constant vector (a norm weight) in the first memory, made once. */
  private pinned(v: Float32Array): number {
    let addr = this.pinnedAddr.get(v);
    if (addr === undefined) {
      addr = this.shards[0].heap.alloc(Math.max(16, v.length * 4), 'norm weight');
      this.shards[0].heap.f32.set(v, addr >>> 2);
      this.pinnedAddr.set(v, addr);
    }
    return addr;
  }
  private readonly pinnedAddr = new WeakMap<Float32Array, number>();

  rope(x: Float32Array, nTokens: number, nHeads: number, headDim: number, positions: Int32Array, freqs: Float64Array): void {
    this.ref.rope(x, nTokens, nHeads, headDim, positions, freqs);
  }

  siluMul(gate: Float32Array, up: Float32Array, n: number): void {
    const { heap, io, kernels } = this.shards[0];
    io.reset(8 * n + 32);
    const ga = io.take(4 * n), ua = io.take(4 * n);
    heap.f32.set(gate.subarray(0, n), ga >>> 2);
    heap.f32.set(up.subarray(0, n), ua >>> 2);
    // Small vectors (decode) are not worth waking the workers for.
    if (n < 1 << 16) kernels.siluMul(ga, ua, 0, n);
    else this.pool.run(Op.SiluMul, [ga, ua, n], Math.ceil(n / 16));
    gate.set(heap.f32.subarray(ga >>> 2, (ga >>> 2) + n));
  }

  attention(a: AttentionArgs): void {
    const { nTokens: T, nHeads: H, nKvHeads: Hkv, headDim: d } = a;
    if (d % 4 !== 0) { this.ref.attention(a); return; }
    let rows = 0, maxKeys = 0, keys = 0;
    for (let t = 0; t < T; t++) {
      const n = a.keyEnd[t] - a.keyStart[t];
      rows = Math.max(rows, a.keyEnd[t]); maxKeys = Math.max(maxKeys, n); keys += n;
    }
    this.ensureScratch(0, ((maxKeys + 1) * (H / Hkv) + 4) * 4); // scores and 1 / Σ of each head of a KV group
    const { heap, io } = this.shards[0];
    const qBytes = T * H * d * 4, kvBytes = rows * Hkv * d * 4;
    const copyKv = !(this.ownedFloats.has(a.k) && this.ownedFloats.has(a.v));
    io.reset(2 * qBytes + (copyKv ? 2 * kvBytes : 0) + 8 * T + 96);
    const qa = io.take(qBytes), oa = io.take(qBytes);
    let ka = copyKv ? io.take(kvBytes) : 0, va = copyKv ? io.take(kvBytes) : 0;
    const ks = io.take(4 * T), ke = io.take(4 * T);
    const f32 = heap.f32, i32 = heap.i32;
    f32.set(a.q.subarray(0, T * H * d), qa >>> 2);
    // A cache allocated by `floats` is already in wasm memory: read it in place.
    const inPlace = this.ownedFloats.has(a.k) && this.ownedFloats.has(a.v);
    if (inPlace) { ka = a.k.byteOffset; va = a.v.byteOffset; } else {
      f32.set(a.k.subarray(0, rows * Hkv * d), ka >>> 2);
      f32.set(a.v.subarray(0, rows * Hkv * d), va >>> 2);
    }
    i32.set(a.keyStart.subarray(0, T), ks >>> 2);
    i32.set(a.keyEnd.subarray(0, T), ke >>> 2);
    // A short context (early decoding) is a few microseconds of work: less than waking the workers.
    if (keys * H * d < 1 << 17) {
      this.shards[0].kernels.attention(qa, ka, va, oa, H, Hkv, d, ks, ke, a.scale, 0, T * Hkv, heap.i32[Ctrl.Scratch] >>> 0);
    } else {
      // Work items are (token, KV head) pairs: the query heads sharing a KV head run together.
      this.pool.run(Op.Attention, [qa, ka, va, oa, H, Hkv, d, ks, ke, 0], T * Hkv, { floatArgs: { 9: a.scale } });
    }
    a.out.set(heap.f32.subarray(oa >>> 2, (oa >>> 2) + T * H * d));
  }
}
