/**
 * Kernel threads sharing one wasm memory. The main thread posts a job into the control block,
 * runs its own share, then spins until every worker has finished its share.
 */
import { Worker } from 'node:worker_threads';
import { CTRL_INTS, Ctrl, MAX_ARGS, MAX_THREADS, Op, claimChunks } from './control.js';
import type { KernelExports } from './kernels.js';
import { runShare } from './ops.js';

/** A single job never legitimately takes this long. */
const JOB_TIMEOUT_MS = 120_000;

/** How long the main thread spins on a job's last worker before it sleeps. */
const SPIN_MS = 0.5;

export interface RunOptions {
  /** Float arguments by argument index (the others are int32). */
  floatArgs?: Readonly<Record<number, number>>;
  /** The memory the job's addresses refer to. */
  shard?: number;
  /** An upper bound on the smallest claim of work items (see claimChunks). */
  minChunk?: number;
}

export class ThreadPool {
  private readonly ctrl: Int32Array;
  private readonly ctrlF: Float32Array;
  /** The main thread's kernel instance for each memory, in shard order. */
  private readonly instances: KernelExports[];
  private constructor(readonly threads: number, kernels: KernelExports, memory: WebAssembly.Memory, private readonly workers: Worker[]) {
    this.ctrl = new Int32Array(memory.buffer, 0, CTRL_INTS);
    this.ctrlF = new Float32Array(memory.buffer, 0, CTRL_INTS);
    this.instances = [kernels];
  }

  /** Memories (shards) every thread can run kernels on. */
  get shards(): number { return this.instances.length; }

  /**
   * Gives every thread kernel instances for more memories: each worker is sent the memories,
   * leaves its job loop through a Yield job, instantiates them and comes back.
   */
  async addMemories(memories: readonly WebAssembly.Memory[], instances: readonly KernelExports[]): Promise<void> {
    const acks = this.workers.map((w) => new Promise<void>((resolveAck, reject) => {
      w.ref(); // keep the process alive until the worker answers
      w.once('message', () => { w.unref(); resolveAck(); });
      w.once('error', reject);
    }));
    for (const w of this.workers) w.postMessage({ memories });
    this.run(Op.Yield, [], 0);
    await Promise.all(acks);
    this.instances.push(...instances);
  }

  /** Starts threads − 1 workers (the main thread is thread 0). */
  static async create(threads: number, module: WebAssembly.Module, memory: WebAssembly.Memory, kernels: KernelExports): Promise<ThreadPool> {
    // Workers read the control block from the start of this (the first) memory.
    if (!(Number.isInteger(threads) && threads >= 1 && threads <= MAX_THREADS)) throw new RangeError(`threads must be 1..${MAX_THREADS}`);
    const url = new URL('./worker.js', import.meta.url);
    const workers = await Promise.all(Array.from({ length: threads - 1 }, (_, i) => new Promise<Worker>((resolveWorker, reject) => {
      const w = new Worker(url, { workerData: { module, memory, thread: i + 1 } });
      w.once('message', () => {
        w.unref(); // idle kernel threads never keep the process alive
        resolveWorker(w);
      });
      w.once('error', reject);
    })));
    return new ThreadPool(threads, kernels, memory, workers);
  }

  /**
   * Runs `op` over `total` work items split across all threads, on the memory `shard` (the
   * addresses in `args` refer to it); returns when all are done.
   */
  run(op: number, args: readonly number[], total: number, options: RunOptions = {}): void {
    const { floatArgs = {}, shard = 0 } = options;
    const c = this.ctrl;
    c[Ctrl.Shard] = shard;
    if (args.length > MAX_ARGS) throw new RangeError('too many kernel arguments');
    for (let i = 0; i < args.length; i++) c[Ctrl.Args + i] = args[i] | 0;
    for (const [i, v] of Object.entries(floatArgs)) this.ctrlF[Ctrl.Args + Number(i)] = v;
    c[Ctrl.Op] = op;
    c[Ctrl.Total] = total;
    // The smallest claim: 1/64 of an even share (claims start larger, see claimChunks), or less
    // where the caller knows a smaller one keeps the threads' finishing times closer.
    c[Ctrl.Chunk] = Math.max(1, Math.min(options.minChunk ?? total, Math.ceil(total / (this.threads * 64))));
    c[Ctrl.Threads] = this.threads;
    Atomics.store(c, Ctrl.Next, 0);
    const nWorkers = this.workers.length;
    if (nWorkers > 0) {
      Atomics.store(c, Ctrl.Done, 0);
      Atomics.add(c, Ctrl.Seq, 1);
      Atomics.notify(c, Ctrl.Seq);
    }
    if (op !== Op.Yield) claimChunks(c, (lo, hi) => runShare(this.instances, c, this.ctrlF, op, lo, hi, 0));
    // Spin (workers finish within microseconds of us; waking from a sleep costs tens of them),
    // then sleep on the counter so an oversubscribed machine is not made worse. A dead worker
    // would leave us waiting, so the clock is checked instead of hanging.
    let spins = 0, started = 0;
    for (let done = Atomics.load(c, Ctrl.Done); done < nWorkers; done = Atomics.load(c, Ctrl.Done)) {
      if ((++spins & 1023) !== 0) continue;
      const now = performance.now();
      if (started === 0) started = now;
      if (now - started < SPIN_MS) continue;
      Atomics.wait(c, Ctrl.Done, done, 1);
      if (now - started > JOB_TIMEOUT_MS) throw new Error('a kernel worker stopped answering');
    }
    if (Atomics.exchange(c, Ctrl.Error, 0) !== 0) throw new Error('a wasm kernel failed in a worker thread');
  }

  /** While active, idle workers spin between jobs instead of sleeping. */
  setActive(active: boolean): void {
    Atomics.store(this.ctrl, Ctrl.Active, active ? 1 : 0);
    if (!active) Atomics.notify(this.ctrl, Ctrl.Seq);
  }

  async dispose(): Promise<void> {
    Atomics.store(this.ctrl, Ctrl.Shutdown, 1);
    Atomics.add(this.ctrl, Ctrl.Seq, 1);
    Atomics.notify(this.ctrl, Ctrl.Seq);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
