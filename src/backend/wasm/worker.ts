/**
 * A kernel worker thread: instantiates the kernels on the shared memory, then loops — spinning
 * while a forward pass is active (a wake-up costs ~30 µs, a spin < 1 µs), sleeping otherwise.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Ctrl, claimChunks } from './control.js';
import { instantiate } from './kernels.js';
import { runShare } from './ops.js';

interface Init { module: WebAssembly.Module; memory: WebAssembly.Memory; thread: number }
const { module, memory, thread } = workerData as Init;
const kernels = instantiate(module, memory);
const ctrl = new Int32Array(memory.buffer, 0, 256);
const ctrlF = new Float32Array(memory.buffer, 0, 256);
// Read the job counter before saying ready: a job posted right after would otherwise be mistaken
// for one already seen, and never run.
let seen = Atomics.load(ctrl, Ctrl.Seq);
parentPort!.postMessage('ready');
for (;;) {
  let seq = Atomics.load(ctrl, Ctrl.Seq);
  while (seq === seen) {
    if (Atomics.load(ctrl, Ctrl.Active) === 0) Atomics.wait(ctrl, Ctrl.Seq, seen, 100);
    seq = Atomics.load(ctrl, Ctrl.Seq);
  }
  seen = seq;
  if (Atomics.load(ctrl, Ctrl.Shutdown) !== 0) break;
  const op = ctrl[Ctrl.Op];
  try {
    claimChunks(ctrl, (lo, hi) => runShare(kernels, ctrl, ctrlF, op, lo, hi, thread));
  } catch {
    Atomics.store(ctrl, Ctrl.Error, 1);
  }
  Atomics.add(ctrl, Ctrl.Done, 1);
  Atomics.notify(ctrl, Ctrl.Done);
}
