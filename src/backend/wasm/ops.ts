/**
 * Runs one thread's share of a job: reads the job's arguments from the control block and calls
 * the kernel on the slice [lo, hi) of its work items. Shared by the main thread and the workers
 * so both sides agree on every argument's meaning.
 */
import { Ctrl, MAX_THREADS, Op } from './control.js';
import type { KernelExports } from './kernels.js';

export function runShare(instances: readonly KernelExports[], ctrl: Int32Array, ctrlF: Float32Array, op: number, lo: number, hi: number, thread: number): void {
  if (lo >= hi) return;
  const a = (i: number) => ctrl[Ctrl.Args + i] >>> 0;
  const shard = ctrl[Ctrl.Shard];
  const k = instances[shard];
  const scratch = ctrl[Ctrl.Scratch + shard * MAX_THREADS + thread] >>> 0;
  switch (op) {
    case Op.Matmul:
      // dtype, w, rowBytes, x, T, cols, out, rows
      k.matmul(a(0), a(1), a(2), a(3), a(4), a(5), a(6), a(7), lo, hi, scratch);
      return;
    case Op.MatmulQ8:
      // dtype, w, rowBytes, xq, xqRowBytes, T, out, rows, cols
      k.matmulQ8(a(0), a(1), a(2), a(3), a(4), a(5), a(6), a(7), lo, hi, a(8), scratch);
      return;
    case Op.MatmulQ8Many: {
      // xq, xqRowBytes, T, cols, count, then per matrix: dtype, w, rowBytes, out, rows
      let base = 0;
      for (let i = 0, count = a(4); i < count; i++) {
        const m = 5 + 5 * i, rows = a(m + 4);
        const r0 = Math.max(lo - base, 0), r1 = Math.min(hi - base, rows);
        if (r0 < r1) k.matmulQ8(a(m), a(m + 1), a(m + 2), a(0), a(1), a(2), a(m + 3), rows, r0, r1, a(3), scratch);
        base += rows;
      }
      return;
    }
    case Op.Attention:
      // q, k, v, out, H, Hkv, d, keyStart, keyEnd, scale(f32)
      k.attention(a(0), a(1), a(2), a(3), a(4), a(5), a(6), a(7), a(8), ctrlF[Ctrl.Args + 9], lo, hi, scratch);
      return;
    case Op.SiluMul:
      // gate, up; work items are runs of 16 elements
      k.siluMul(a(0), a(1), lo * 16, Math.min(hi * 16, a(2)));
      return;
    default:
      throw new Error(`unknown kernel op ${op}`);
  }
}
