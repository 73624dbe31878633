/**
 * The shared wasm memory and a bump allocator over it. Weights are allocated once and never
 * freed (they live as long as the model); activations go through a reusable arena.
 */
import { Llama4Error } from '../../errors.js';
import { CTRL_BYTES } from './control.js';

const PAGE = 65536;
/** Where allocations start: above the control block and the kernels' own static data. */
const HEAP_BASE = 1 << 20;
/** wasm32 addresses stop at 4 GiB. */
const MAX_PAGES = 65536;

export class WasmHeap {
  readonly memory: WebAssembly.Memory;
  private top = HEAP_BASE;
  private f32Cache: Float32Array | null = null;
  private u8Cache: Uint8Array | null = null;
  private i32Cache: Int32Array | null = null;

  constructor(readonly maxBytes: number = MAX_PAGES * PAGE) {
    if (CTRL_BYTES > 65536) throw new Error('control block overlaps the kernels');
    this.memory = new WebAssembly.Memory({ initial: HEAP_BASE / PAGE + 1, maximum: Math.ceil(maxBytes / PAGE), shared: true });
  }

  /** Reserves `bytes` (16-byte aligned) and returns the address. */
  alloc(bytes: number, what: string): number {
    // Arithmetic, not `& ~15`: addresses reach 4 GiB and bitwise ops would make them negative.
    const addr = Math.ceil(this.top / 16) * 16;
    const end = addr + bytes;
    if (end > this.maxBytes) {
      throw new Llama4Error(`out of wasm memory allocating ${what} (${(bytes / 2 ** 20).toFixed(1)} MiB; ${(this.top / 2 ** 20).toFixed(0)} MiB in use, limit ${(this.maxBytes / 2 ** 20).toFixed(0)} MiB)`);
    }
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      this.memory.grow(Math.ceil((end - have) / PAGE));
      this.f32Cache = this.u8Cache = this.i32Cache = null; // a grown shared buffer is a new object
    }
    this.top = end;
    return addr;
  }

  get used(): number { return this.top; }

  get f32(): Float32Array {
    if (!this.f32Cache || this.f32Cache.buffer.byteLength !== this.memory.buffer.byteLength) this.f32Cache = new Float32Array(this.memory.buffer);
    return this.f32Cache;
  }
  get u8(): Uint8Array {
    if (!this.u8Cache || this.u8Cache.buffer.byteLength !== this.memory.buffer.byteLength) this.u8Cache = new Uint8Array(this.memory.buffer);
    return this.u8Cache;
  }
  get i32(): Int32Array {
    if (!this.i32Cache || this.i32Cache.buffer.byteLength !== this.memory.buffer.byteLength) this.i32Cache = new Int32Array(this.memory.buffer);
    return this.i32Cache;
  }
}

/**
 * A growable scratch region for the arguments and results of one op at a time. `reset()` at
 * the start of an op, then `take()` each buffer; outgrowing the region moves it (the old one
 * is abandoned, which happens a few times at most as shapes reach their maximum).
 */
export class Arena {
  private base = 0;
  private size = 0;
  private used = 0;
  constructor(private readonly heap: WasmHeap, private readonly what: string) {}
  /** Makes room for `bytes` in total for this op and starts over. */
  reset(bytes: number): void {
    if (bytes > this.size) {
      this.size = Math.max(bytes, this.size * 2, 1 << 16);
      this.base = this.heap.alloc(this.size, this.what);
    }
    this.used = 0;
  }
  take(bytes: number): number {
    const addr = Math.ceil((this.base + this.used) / 16) * 16;
    this.used = addr + bytes - this.base;
    if (this.used > this.size) throw new Error(`arena ${this.what} overflow`);
    return addr;
  }
}
