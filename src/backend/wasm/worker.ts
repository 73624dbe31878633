/**
 * A kernel worker thread: instantiates the kernels on the shared memory, then loops — spinning
 * while a forward pass is active (a wake-up costs ~30 µs, a spin < 1 µs), sleeping otherwise.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Ctrl, slice } from './control.js';
import { instantiate } from './kernels.js';
import { runShare } from './ops.js';

interface Init { module: WebAssembly.Module; memory: WebAssembly.Memory; thread: number; threads: number }
const { module, memory, thread, threads } = workerData as Init;
const kernels = instantiate(module, memory);
const ctrl = new Int32Array(memory.buffer, 0, 256);
const ctrlF = new Float32Array(memory.buffer, 0, 256);
parentPort!.postMessage('ready');

let seen = Atomics.load(ctrl, Ctrl.Seq);
for (;;) {
  let seq = Atomics.load(ctrl, Ctrl.Seq);
  while (seq === seen) {
    if (Atomics.load(ctrl, Ctrl.Active) === 0) Atomics.wait(ctrl, Ctrl.Seq, seen, 100);
    seq = Atomics.load(ctrl, Ctrl.Seq);
  }
  seen = seq;
  if (Atomics.load(ctrl, Ctrl.Shutdown) !== 0) break;
  const [lo, hi] = slice(ctrl[Ctrl.Total], thread, threads);
  try {
    runShare(kernels, ctrl, ctrlF, ctrl[Ctrl.Op], lo, hi, thread);
  } catch {
    Atomics.store(ctrl, Ctrl.Error, 1);
  }
  Atomics.add(ctrl, Ctrl.Done, 1);
}
