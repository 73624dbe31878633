/**
 * The reference backend: every op in plain TypeScript, written for clarity. It is the oracle the
 * fast backends are tested against, so it favours obviously-correct loops (with float64
 * accumulation) over speed.
 */
import type { AttentionArgs, Backend, Matrix, MatrixData } from '../backend.js';
import { applyRope } from '../../model/rope.js';
import { dequantizeRow, rowBytes } from '../../quant/formats.js';
import { assert } from '../../errors.js';

/** The stored bytes of `count` stacked matrices, read from the file if they are not in memory. */
function matrixBytes(m: MatrixData, count: number): Uint8Array {
  if (m.bytes) return m.bytes;
  assert(m.readInto !== undefined, `matrix ${m.name} has neither bytes nor a reader`);
  const out = new Uint8Array(rowBytes(m.dtype, m.cols) * m.rows * count);
  m.readInto(out);
  return out;
}

class RefMatrix implements Matrix {
  readonly rowStride: number;
  /** Direct view for F32 weights: no per-row decode needed. */
  readonly f32: Float32Array | null;
  constructor(readonly name: string, readonly dtype: MatrixData['dtype'], readonly rows: number, readonly cols: number, readonly bytes: Uint8Array) {
    this.rowStride = rowBytes(dtype, cols);
    assert(bytes.byteLength >= this.rowStride * rows, `matrix ${name} has too few bytes`);
    this.f32 = dtype === 'F32' && bytes.byteOffset % 4 === 0 ? new Float32Array(bytes.buffer, bytes.byteOffset, rows * cols) : null;
  }
  /** Row r as f32, decoded into `scratch` unless stored as aligned f32. */
  row(r: number, scratch: Float32Array): { data: Float32Array; offset: number } {
    if (this.f32) return { data: this.f32, offset: r * this.cols };
    dequantizeRow(this.dtype, this.bytes, r * this.rowStride, scratch, 0, this.cols);
    return { data: scratch, offset: 0 };
  }
}

export class RefBackend implements Backend {
  readonly name = 'ref';
  private scratch = new Float32Array(0);

  matrix(m: MatrixData): Matrix {
    return new RefMatrix(m.name, m.dtype, m.rows, m.cols, matrixBytes(m, 1));
  }

  matrixStack(m: MatrixData, count: number): Matrix[] {
    const all = matrixBytes(m, count);
    const stride = rowBytes(m.dtype, m.cols) * m.rows;
    return Array.from({ length: count }, (_, e) =>
      new RefMatrix(`${m.name}[${e}]`, m.dtype, m.rows, m.cols, all.subarray(e * stride, (e + 1) * stride)));
  }

  private rowScratch(n: number): Float32Array {
    if (this.scratch.length < n) this.scratch = new Float32Array(n);
    return this.scratch;
  }

  matmul(x: Float32Array, nTokens: number, w: Matrix, out: Float32Array): void {
    const m = w as RefMatrix;
    const { rows, cols } = m;
    assert(x.length >= nTokens * cols && out.length >= nTokens * rows, `matmul ${m.name}: buffer too small`);
    const scratch = this.rowScratch(cols);
    for (let r = 0; r < rows; r++) {
      const { data, offset } = m.row(r, scratch);
      for (let t = 0; t < nTokens; t++) {
        const xo = t * cols;
        let acc = 0;
        for (let c = 0; c < cols; c++) acc += x[xo + c] * data[offset + c];
        out[t * rows + r] = acc;
      }
    }
  }

  embedRows(w: Matrix, ids: ArrayLike<number>, out: Float32Array): void {
    const m = w as RefMatrix;
    const scratch = this.rowScratch(m.cols);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      assert(Number.isInteger(id) && id >= 0 && id < m.rows, `token id ${id} outside the embedding table`);
      const { data, offset } = m.row(id, scratch);
      out.set(data.subarray(offset, offset + m.cols), i * m.cols);
    }
  }

  rmsNorm(x: Float32Array, nRows: number, dim: number, weight: Float32Array | null, eps: number, out: Float32Array): void {
    for (let r = 0; r < nRows; r++) {
      const o = r * dim;
      let ss = 0;
      for (let i = 0; i < dim; i++) ss += x[o + i] * x[o + i];
      // Rounded to f32 like every reference implementation does before the multiply.
      const inv = Math.fround(1 / Math.sqrt(ss / dim + eps));
      if (weight) for (let i = 0; i < dim; i++) out[o + i] = Math.fround(x[o + i] * inv) * weight[i];
      else for (let i = 0; i < dim; i++) out[o + i] = x[o + i] * inv;
    }
  }

  rope(x: Float32Array, nTokens: number, nHeads: number, headDim: number, positions: Int32Array, freqs: Float64Array): void {
    applyRope(x, nTokens, nHeads, headDim, positions, freqs);
  }

  attention(a: AttentionArgs): void {
    const { q, k, v, nTokens, nHeads, nKvHeads, headDim, keyStart, keyEnd, scale, out } = a;
    const group = nHeads / nKvHeads;
    const kvStride = nKvHeads * headDim;
    let scores = new Float64Array(0);
    const acc = new Float64Array(headDim);
    const qh = new Float64Array(headDim);
    for (let t = 0; t < nTokens; t++) {
      const s0 = keyStart[t], s1 = keyEnd[t];
      assert(s1 > s0, 'attention: a query sees no key');
      if (scores.length < s1 - s0) scores = new Float64Array(s1 - s0);
      for (let h = 0; h < nHeads; h++) {
        const kvh = Math.floor(h / group); // GQA: consecutive query heads share a KV head
        const qo = (t * nHeads + h) * headDim;
        // scores = q·kᵀ · scale, then a numerically stable softmax
        for (let i = 0; i < headDim; i++) qh[i] = q[qo + i];
        let max = -Infinity;
        for (let s = s0; s < s1; s++) {
          const ko = s * kvStride + kvh * headDim;
          let dot = 0;
          for (let i = 0; i < headDim; i++) dot += qh[i] * k[ko + i];
          const sc = dot * scale;
          scores[s - s0] = sc;
          if (sc > max) max = sc;
        }
        let sum = 0;
        for (let s = s0; s < s1; s++) { const e = Math.exp(scores[s - s0] - max); scores[s - s0] = e; sum += e; }
        // out = softmax · V
        acc.fill(0);
        for (let s = s0; s < s1; s++) {
          const p = scores[s - s0], vo = s * kvStride + kvh * headDim;
          for (let i = 0; i < headDim; i++) acc[i] += p * v[vo + i];
        }
        for (let i = 0; i < headDim; i++) out[qo + i] = acc[i] / sum;
      }
    }
  }

  siluMul(gate: Float32Array, up: Float32Array, n: number): void {
    for (let i = 0; i < n; i++) {
      const g = gate[i];
      gate[i] = (g / (1 + Math.exp(-g))) * up[i];
    }
  }
}
