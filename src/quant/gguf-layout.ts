/**
 * Any model source → its tensors under GGUF names, in GGUF layout (what convert_hf_to_gguf.py
 * writes): Llama 3 q/k rows in adjacent-pair order, Llama 4 experts as `[E, F, D]` / `[E, D, F]`
 * stacks, 1-D weights and the MoE router in F32, a `rope_freqs.weight` tensor for llama3 RoPE
 * scaling, no `output.weight` when the embeddings are tied.
 *
 * The layout fixes are not repeated here: the source goes through `loadLlamaWeights` (the one
 * weight-name table) with a backend that only records what it is given, and the recorded matrices
 * are named by where they sit in the model. So this view and the HF loader cannot drift apart.
 */
import type { AttentionArgs, Backend, Matrix, MatrixData } from '../backend/backend.js';
import type { ModelConfig } from '../config/model-config.js';
import { Llama4Error } from '../errors.js';
import type { DType, TensorData, TensorSource } from '../io/tensor.js';
import { loadLlamaWeights, type SwiGluWeights, type WeightOrigin } from '../model/weights.js';
import { dequantizeRow, rowBytes } from './formats.js';

/** A matrix as the model would have adopted it: its data, and its place in a stack if any. */
interface Recorded extends Matrix {
  readonly data: MatrixData;
  readonly stack?: { readonly index: number; readonly count: number };
}

const notCompute = (): never => { throw new Error('internal: the recording backend computes nothing'); };

/** A Backend that keeps each weight's MatrixData (bytes or reader) and computes nothing. */
class RecordingBackend implements Backend {
  readonly name = 'record';
  matrix(m: MatrixData): Matrix {
    const r: Recorded = { name: m.name, dtype: m.dtype, rows: m.rows, cols: m.cols, data: m };
    return r;
  }
  matrixStack(m: MatrixData, count: number): Matrix[] {
    return Array.from({ length: count }, (_, index): Recorded => ({
      name: m.name, dtype: m.dtype, rows: m.rows, cols: m.cols, data: m, stack: { index, count },
    }));
  }
  matmul(_x: Float32Array, _n: number, _w: Matrix, _out: Float32Array): void { notCompute(); }
  embedRows(_w: Matrix, _ids: ArrayLike<number>, _out: Float32Array): void { notCompute(); }
  rmsNorm(): void { notCompute(); }
  rope(): void { notCompute(); }
  attention(_args: AttentionArgs): void { notCompute(); }
  siluMul(): void { notCompute(); }
}

/** Byte size of a recorded matrix, or of the whole stack it belongs to. */
function dataBytes(m: MatrixData, count = 1): number {
  return rowBytes(m.dtype, m.cols) * m.rows * count;
}

/** The bytes of a MatrixData (a stack's whole buffer); reads lazy sources into a new buffer. */
function readData(m: MatrixData, count = 1): Uint8Array {
  if (m.bytes) return m.bytes;
  const out = new Uint8Array(dataBytes(m, count));
  m.readInto!(out);
  return out;
}

function lazyTensor(name: string, dtype: DType, shape: readonly number[], byteLength: number, read: () => Uint8Array): TensorData {
  return {
    name, dtype, shape, byteLength,
    get bytes() { return read(); },
    readInto(dst: Uint8Array) { dst.set(read()); },
  };
}

function f32Tensor(name: string, values: Float32Array | Float64Array): TensorData {
  const f = values instanceof Float32Array ? values : Float32Array.from(values);
  const bytes = new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
  return { name, dtype: 'F32', shape: [f.length], bytes, byteLength: bytes.byteLength };
}

/** A recorded matrix (alone, or one entry of a stack) as a 2-D tensor. */
function matrixTensor(name: string, m: Matrix): TensorData {
  const r = m as Recorded;
  const one = dataBytes(r.data);
  const read = r.stack ? () => readData(r.data, r.stack!.count).subarray(r.stack!.index * one, (r.stack!.index + 1) * one) : () => readData(r.data);
  return lazyTensor(name, r.dtype, [r.rows, r.cols], one, read);
}

/** A matrix converted to F32 (the router, which llama.cpp never quantizes). */
function matrixTensorF32(name: string, m: Matrix): TensorData {
  const src = matrixTensor(name, m);
  return lazyTensor(name, 'F32', [m.rows, m.cols], m.rows * m.cols * 4, () => {
    const bytes = src.bytes;
    const f = new Float32Array(m.rows * m.cols);
    const rb = rowBytes(m.dtype, m.cols);
    for (let r = 0; r < m.rows; r++) dequantizeRow(m.dtype, bytes, r * rb, f, r * m.cols, m.cols);
    return new Uint8Array(f.buffer);
  });
}

/**
 * One expert projection of every expert as a 3-D tensor [E, rows, cols]: the stored stack itself
 * when the source had one (GGUF), else the per-expert matrices (HF, transposed at load) back to back.
 */
function expertStack(name: string, mats: readonly Matrix[], source: string): TensorData {
  const first = mats[0] as Recorded;
  const E = mats.length;
  const { rows, cols, dtype } = first;
  if (mats.some((m) => m.dtype !== dtype || m.rows !== rows || m.cols !== cols)) {
    throw new Llama4Error(`the experts of '${name}' differ in type or shape`, { source });
  }
  const one = dataBytes(first.data);
  const whole = first.stack && first.stack.count === E
    && mats.every((m, e) => (m as Recorded).data === first.data && (m as Recorded).stack?.index === e);
  const read = whole
    ? () => readData(first.data, E)
    : () => {
      const out = new Uint8Array(one * E);
      mats.forEach((m, e) => out.set(matrixTensor(name, m).bytes, e * one));
      return out;
    };
  return lazyTensor(name, dtype, [E, rows, cols], one * E, read);
}

/** weight_name_comparer of llama.cpp's model loader: non-layer tensors first, then by layer, then by name. */
export function compareGgufNames(a: string, b: string): number {
  const layer = (n: string) => { const m = /^blk\.(\d+)\./.exec(n); return m ? Number(m[1]) : -1; };
  const la = layer(a), lb = layer(b);
  if (la !== lb) return la - lb;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The tensors of `src` under GGUF names and in GGUF layout, in llama.cpp's tensor order. HF
 * layout fixes (q/k order, expert transposes) are made when the view is built; every other tensor
 * is read from `src` when its `bytes` are asked for (the router is converted to F32 on each read).
 * @throws Llama4Error for a missing or misshapen tensor, as loading would.
 */
export function ggufLayout(src: TensorSource, origin: WeightOrigin, config: ModelConfig): TensorSource {
  const w = loadLlamaWeights(src, origin, config, new RecordingBackend());
  const out: TensorData[] = [];
  const add = (t: TensorData) => out.push(t);
  const swiglu = (i: number, suffix: string, f: SwiGluWeights) => {
    add(matrixTensor(`blk.${i}.ffn_gate${suffix}.weight`, f.gate));
    add(matrixTensor(`blk.${i}.ffn_up${suffix}.weight`, f.up));
    add(matrixTensor(`blk.${i}.ffn_down${suffix}.weight`, f.down));
  };

  add(matrixTensor('token_embd.weight', w.tokenEmbedding));
  w.layers.forEach((layer, i) => {
    const a = layer.attention;
    add(f32Tensor(`blk.${i}.attn_norm.weight`, a.norm));
    add(matrixTensor(`blk.${i}.attn_q.weight`, a.q));
    add(matrixTensor(`blk.${i}.attn_k.weight`, a.k));
    add(matrixTensor(`blk.${i}.attn_v.weight`, a.v));
    add(matrixTensor(`blk.${i}.attn_output.weight`, a.o));
    const f = layer.ffn;
    add(f32Tensor(`blk.${i}.ffn_norm.weight`, f.norm));
    if (f.kind === 'dense') { swiglu(i, '', f); return; }
    add(matrixTensorF32(`blk.${i}.ffn_gate_inp.weight`, f.router));
    add(expertStack(`blk.${i}.ffn_gate_exps.weight`, f.experts.map((e) => e.gate), src.path));
    add(expertStack(`blk.${i}.ffn_up_exps.weight`, f.experts.map((e) => e.up), src.path));
    add(expertStack(`blk.${i}.ffn_down_exps.weight`, f.experts.map((e) => e.down), src.path));
    if (f.shared) swiglu(i, '_shexp', f.shared);
  });
  add(f32Tensor('output_norm.weight', w.outputNorm));
  if (w.output !== w.tokenEmbedding) add(matrixTensor('output.weight', w.output));
  if (config.rope.freqDivisors.some((d) => d !== 1)) add(f32Tensor('rope_freqs.weight', config.rope.freqDivisors));

  out.sort((a, b) => compareGgufNames(a.name, b.name));
  return { path: src.path, tensors: new Map(out.map((t) => [t.name, t])) };
}
