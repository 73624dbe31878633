/**
 * Per-tensor weight statistics, the audit that finds a corrupted checkpoint: mean, standard
 * deviation, min and max of the finite values, and counts of NaN, ±Inf and all-zero rows.
 * Tensors are decoded (ggml blocks dequantized exactly as the model uses them) a slice of rows at a
 * time straight from their file range, so memory stays small whatever the model's size.
 */
import { readFileRange } from '../io/file-read.js';
import { dequantizeRow, rowBytes } from '../quant/formats.js';
import type { TensorEntry } from './model-files.js';

export interface TensorStats {
  readonly name: string;
  /** Finite values counted in mean/std/min/max. */
  readonly count: number;
  readonly mean: number | null;
  readonly std: number | null;
  readonly min: number | null;
  readonly max: number | null;
  readonly nan: number;
  readonly inf: number;
  /** Rows (innermost-dimension vectors) whose every value is exactly zero. */
  readonly zeroRows: number;
  readonly rows: number;
}

/** What the audit concludes about one tensor. */
export interface StatsVerdict {
  /** NaN or Inf present: the checkpoint is corrupt. */
  readonly corrupt: boolean;
  /** All-zero rows, or a constant tensor: worth a look (embeddings of unused tokens can be zero). */
  readonly suspicious: boolean;
}

export function verdict(s: TensorStats): StatsVerdict {
  return {
    corrupt: s.nan > 0 || s.inf > 0,
    suspicious: s.zeroRows > 0 || (s.count > 1 && s.std === 0),
  };
}

/** Rows decoded per read (about 16 MiB of stored bytes, at least one row). */
const SLICE_BYTES = 1 << 24;

/**
 * Statistics of one tensor, or null when its type cannot be decoded (e.g. FP8 safetensors).
 * Mean and variance merge per-row partial results (Chan et al.), in float64.
 */
export function tensorStats(t: TensorEntry): TensorStats | null {
  if (t.dtype === null) return null;
  const cols = t.shape.length === 0 ? 1 : t.shape[t.shape.length - 1];
  const rows = cols === 0 ? 0 : t.elements / cols;
  const rb = rowBytes(t.dtype, cols);
  const row = new Float32Array(cols);
  let n = 0, mean = 0, m2 = 0, min = Infinity, max = -Infinity, nan = 0, inf = 0, zeroRows = 0;
  const perRead = Math.max(1, Math.floor(SLICE_BYTES / Math.max(1, rb)));
  for (let r0 = 0; r0 < rows; r0 += perRead) {
    const nr = Math.min(perRead, rows - r0);
    const bytes = readFileRange(t.file, t.offset + r0 * rb, nr * rb, `tensor '${t.name}'`);
    for (let r = 0; r < nr; r++) {
      dequantizeRow(t.dtype, bytes, r * rb, row, 0, cols);
      let rn = 0, rsum = 0, allZero = true;
      for (let i = 0; i < cols; i++) {
        const v = row[i];
        if (v !== v) { nan++; allZero = false; continue; }
        if (v === Infinity || v === -Infinity) { inf++; allZero = false; continue; }
        if (v !== 0) allZero = false;
        rn++; rsum += v;
        if (v < min) min = v;
        if (v > max) max = v;
      }
      if (allZero && cols > 0) zeroRows++;
      if (rn === 0) continue;
      const rmean = rsum / rn;
      let rm2 = 0;
      for (let i = 0; i < cols; i++) {
        const v = row[i];
        if (Number.isFinite(v)) rm2 += (v - rmean) * (v - rmean);
      }
      const total = n + rn;
      const delta = rmean - mean;
      mean += (delta * rn) / total;
      m2 += rm2 + (delta * delta * n * rn) / total;
      n = total;
    }
  }
  return {
    name: t.name, count: n, rows, nan, inf, zeroRows,
    mean: n > 0 ? mean : null,
    std: n > 0 ? Math.sqrt(m2 / n) : null,
    min: n > 0 ? min : null,
    max: n > 0 ? max : null,
  };
}
