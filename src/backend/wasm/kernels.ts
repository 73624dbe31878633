/**
 * The compiled kernel module (built from asm/ by `npm run build:wasm`) and how to instantiate it
 * on a shared memory, in the main thread and in every worker.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Llama4Error } from '../../errors.js';

export interface KernelExports {
  matmul(t: number, w: number, rowBytes: number, x: number, T: number, cols: number, out: number, rows: number, r0: number, r1: number, scratch: number): void;
  attention(q: number, k: number, v: number, out: number, H: number, Hkv: number, d: number, keyStart: number, keyEnd: number, scale: number, p0: number, p1: number, scores: number): void;
  dequantRow(t: number, src: number, dst: number, n: number): void;
  /**
   * Quantizes T rows of n floats to 8 bits (fmt 0 = Q8_0, 1 = Q8_1, 2 = Q8_K), q8RowBytes apart,
   * followed by the packed copy matmulQ8 reads: dst holds q8ActivationBytes(fmt, T, n) bytes.
   */
  quantizeActivations(fmt: number, x: number, dst: number, T: number, n: number): void;
  q8RowBytes(fmt: number, n: number): number;
  q8ActivationBytes(fmt: number, T: number, n: number): number;
  /** The activation format weight type t pairs with, −1 when t has no integer path. */
  q8FormatFor(t: number): number;
  /** Repacks Q4_0 rows in place into the Q4_0x4 layout (type code 11) the integer kernels read faster. */
  repackQ4_0x4(w: number, rows: number, rowBytes: number, n: number): void;
  /** The same for Q6_K (type code 12) and Q4_K (13). */
  repackQ6_Kx4(w: number, rows: number, rowBytes: number, n: number): void;
  repackQ4_Kx4(w: number, rows: number, rowBytes: number, n: number): void;
  /** gate[i] = silu(gate[i])·up[i] for i in [i0, i1). */
  siluMul(gate: number, up: number, i0: number, i1: number): void;
  /** RMSNorm of rows [r0, r1) of x [·, dim] into out; weight 0: no weight. */
  rmsNorm(x: number, out: number, weight: number, dim: number, eps: number, r0: number, r1: number): void;
  /** scratch: the thread's scratch, at least max(4·n, 65536) bytes. */
  matmulQ8(t: number, w: number, rowBytes: number, xq: number, xqRowBytes: number, T: number, out: number, rows: number, r0: number, r1: number, n: number, scratch: number): void;
}

/** The path of the compiled kernels, next to the compiled JS (dist/wasm/kernels.wasm). */
export const KERNELS_PATH = resolve(import.meta.dirname, '../../../wasm/kernels.wasm');

let compiled: WebAssembly.Module | null = null;
export function kernelModule(): WebAssembly.Module {
  if (!compiled) {
    let bytes: Buffer;
    try { bytes = readFileSync(KERNELS_PATH); } catch {
      throw new Llama4Error(`the wasm kernels are not built (${KERNELS_PATH} is missing): run npm run build`);
    }
    compiled = new WebAssembly.Module(bytes);
  }
  return compiled;
}

export function instantiate(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const instance = new WebAssembly.Instance(module, {
    env: {
      memory,
      abort: () => { throw new Error('wasm kernel abort'); },
      seed: () => 0,
    },
  });
  return instance.exports as unknown as KernelExports;
}
