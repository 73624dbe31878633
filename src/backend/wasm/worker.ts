/**
 * A kernel worker thread: instantiates the kernels on each shared memory, then loops — spinning
 * while a forward pass is active (a wake-up costs ~30 µs, a spin < 1 µs), sleeping otherwise.
 * A Yield job sends it back to its event loop to receive more memories.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CTRL_INTS, Ctrl, Op, claimChunks } from './control.js';
import { instantiate, type KernelExports } from './kernels.js';
import { runShare } from './ops.js';

interface Init { module: WebAssembly.Module; memory: WebAssembly.Memory; thread: number }
const { module, memory, thread } = workerData as Init;
const instances: KernelExports[] = [instantiate(module, memory)];
const ctrl = new Int32Array(memory.buffer, 0, CTRL_INTS);
const ctrlF = new Float32Array(memory.buffer, 0, CTRL_INTS);

parentPort!.on('message', (msg: { memories: WebAssembly.Memory[] }) => {
  for (const m of msg.memories) instances.push(instantiate(module, m));
  ready();
});
ready();

/** Says ready, then serves jobs until a Yield or Shutdown. */
function ready(): void {
  // Read the job counter before saying ready: a job posted right after would otherwise be
  // mistaken for one already seen, and never run.
  const seen = Atomics.load(ctrl, Ctrl.Seq);
  parentPort!.postMessage({ shards: instances.length });
  serve(seen);
}

function serve(seenAtStart: number): void {
  let seen = seenAtStart;
  for (;;) {
    let seq = Atomics.load(ctrl, Ctrl.Seq);
    while (seq === seen) {
      if (Atomics.load(ctrl, Ctrl.Active) === 0) Atomics.wait(ctrl, Ctrl.Seq, seen, 100);
      seq = Atomics.load(ctrl, Ctrl.Seq);
    }
    seen = seq;
    if (Atomics.load(ctrl, Ctrl.Shutdown) !== 0) return;
    const op = ctrl[Ctrl.Op];
    if (op === Op.Yield) {
      Atomics.add(ctrl, Ctrl.Done, 1);
      Atomics.notify(ctrl, Ctrl.Done);
      return; // back to the event loop; the 'message' handler calls ready() again
    }
    try {
      claimChunks(ctrl, (lo, hi) => runShare(instances, ctrl, ctrlF, op, lo, hi, thread));
    } catch {
      Atomics.store(ctrl, Ctrl.Error, 1);
    }
    Atomics.add(ctrl, Ctrl.Done, 1);
    Atomics.notify(ctrl, Ctrl.Done);
  }
}
