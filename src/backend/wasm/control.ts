/**
 * The control block shared by the main thread and the kernel workers: an Int32Array at the
 * start of the shared wasm memory. Only this file knows its layout.
 */
export const CTRL_BYTES = 4096;
export const CTRL_INTS = CTRL_BYTES / 4;
export const MAX_THREADS = 32;
/** Wasm memories (each at most 4 GiB) one backend can spread its weights over. */
export const MAX_SHARDS = 16;
export const enum Ctrl {
  /** Incremented once per job; workers run a job when it changes. */
  Seq = 0,
  Op = 1,
  /** Workers that finished the current job. */
  Done = 2,
  /** 1 while a forward pass runs: idle workers spin instead of sleeping. */
  Active = 3,
  /** Work items of the current job, split evenly across threads. */
  Total = 4,
  Shutdown = 5,
  /** Set by a worker whose share failed (a kernel trap); the main thread then throws. */
  Error = 6,
  /** Next unclaimed work item: threads claim chunks of `Chunk` items with an atomic add. */
  Next = 7,
  Chunk = 32,
  /** Which memory (shard) the current job's addresses refer to. */
  Shard = 33,
  /** Threads sharing the job (main thread included). */
  Threads = 34,
  Args = 8,
  /** Per-shard, per-thread scratch addresses: Scratch + shard·MAX_THREADS + thread. */
  Scratch = 64,
}
export const MAX_ARGS = 24;

/** Kernel jobs a worker can run (see ops.ts). */
export const enum Op {
  Matmul = 1,
  Attention = 2,
  MatmulQ8 = 3,
  /** Workers leave their job loop to take messages (new memories), then come back. */
  Yield = 4,
  SiluMul = 5,
  /** MatmulQ8 over several matrices sharing one quantized input; work items are their rows, in order. */
  MatmulQ8Many = 6,
}

/**
 * Runs `share(lo, hi)` on chunks of the current job claimed from the shared counter until none
 * are left. Claiming (instead of fixed slices) keeps every thread busy when one of them is slow
 * or descheduled. Chunks shrink as the job drains (guided scheduling: half of an even share of
 * what is left, at least `Chunk`), so the threads finish within a small chunk of each other
 * while claims stay few.
 */
export function claimChunks(ctrl: Int32Array, share: (lo: number, hi: number) => void): void {
  const total = ctrl[Ctrl.Total], minChunk = ctrl[Ctrl.Chunk], threads = ctrl[Ctrl.Threads];
  for (;;) {
    // The counter read here may be stale; that only changes the size of the claim, not its place.
    const left = total - Atomics.load(ctrl, Ctrl.Next);
    const chunk = Math.max(minChunk, Math.ceil(left / (2 * threads)));
    const lo = Atomics.add(ctrl, Ctrl.Next, chunk);
    if (lo >= total) return;
    share(lo, Math.min(total, lo + chunk));
  }
}
