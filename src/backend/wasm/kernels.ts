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
  /** 1 when the build's relaxed dot computes exactly (always 1 in the baseline build). */
  relaxedSelfTest(): number;
}

/**
 * The two builds of the kernels, next to the compiled JS: baseline SIMD (every engine with
 * SIMD128) and one with relaxed SIMD too (faster 4-bit kernels; engines from Node 22, Chrome 114,
 * Firefox 120 on).
 */
export const KERNELS_PATH = resolve(import.meta.dirname, '../../../wasm/kernels.wasm');
export const RELAXED_KERNELS_PATH = resolve(import.meta.dirname, '../../../wasm/kernels-relaxed.wasm');

/** Which build: 'auto' takes the relaxed one where the engine validates it and gets its self-test right. */
export type KernelBuild = 'baseline' | 'relaxed';
export type KernelChoice = KernelBuild | 'auto';

const compiled = new Map<KernelBuild, WebAssembly.Module>();

function readKernels(path: string): Buffer {
  try { return readFileSync(path); } catch {
    throw new Llama4Error(`the wasm kernels are not built (${path} is missing): run npm run build`);
  }
}

/** The compiled module of one build (compiled once per process). */
export function kernelModule(build: KernelBuild = 'baseline'): WebAssembly.Module {
  let m = compiled.get(build);
  if (!m) {
    const bytes = readKernels(build === 'relaxed' ? RELAXED_KERNELS_PATH : KERNELS_PATH);
    try {
      m = new WebAssembly.Module(bytes);
    } catch (err) {
      if (build !== 'relaxed') throw err;
      throw new Llama4Error('this JavaScript engine does not support WebAssembly relaxed SIMD (Node.js 22 or newer does): use the baseline kernels');
    }
    compiled.set(build, m);
  }
  return m;
}

/**
 * The build `choice` names: for 'auto' (the default, or the LLAMA4_KERNELS environment variable)
 * the relaxed one where it compiles and its self-test passes, else the baseline; 'relaxed' where
 * that fails is an error (the engine would compute wrong results).
 */
export function resolveKernelBuild(choice: KernelChoice = (process.env.LLAMA4_KERNELS as KernelChoice | undefined) ?? 'auto'): KernelBuild {
  if (choice === 'baseline') return choice;
  if (choice !== 'auto' && choice !== 'relaxed') throw new Llama4Error(`unknown kernel build '${String(choice)}' (LLAMA4_KERNELS): use auto, baseline or relaxed`);
  const problem = relaxedProblem();
  if (problem === null) return 'relaxed';
  if (choice === 'relaxed') throw new Llama4Error(problem);
  return 'baseline';
}

let relaxedChecked: string | null | undefined;
/** Why the relaxed build cannot be used here, or null when it can (checked once). */
function relaxedProblem(): string | null {
  if (relaxedChecked !== undefined) return relaxedChecked;
  try {
    const memory = new WebAssembly.Memory({ initial: 17, maximum: 17, shared: true });
    relaxedChecked = instantiate(kernelModule('relaxed'), memory).relaxedSelfTest() === 1 ? null
      : 'this JavaScript engine computes WebAssembly relaxed SIMD dot products wrongly (its self-test failed): use the baseline kernels';
  } catch (err) {
    relaxedChecked = err instanceof Llama4Error ? err.message : `the relaxed-SIMD kernels cannot be used: ${(err as Error).message}`;
  }
  return relaxedChecked;
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
