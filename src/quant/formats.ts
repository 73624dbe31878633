/**
 * The tensor element formats llama4.ts understands: block layouts, dequantization (the reference
 * backend's hot path) and quantization (for the GGUF writer and quantize-at-load), in ggml's block
 * layouts. Dequantization is bit-exact with ggml; the implementation lives in the small modules
 * re-exported here.
 */
import { Llama4Error } from '../errors.js';
import type { DType } from '../io/tensor.js';
import { dequantizeRow } from './dequant.js';
import { blockSize, rowBytes } from './layout.js';
import { quantizeBf16, quantizeF16, quantizeF32, quantizeQ4_0, quantizeQ4_1, quantizeQ5_0, quantizeQ5_1, quantizeQ8_0 } from './quantize-legacy.js';
import { quantizeQ4_K, quantizeQ5_K, quantizeQ6_K } from './quantize-k.js';

export { ALL_DTYPES, QK_K, blockBytes, blockSize, isDType, rowBytes } from './layout.js';
export { dequantizeRow };
export { BF16_TO_F32, F16_TO_F32, bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from './fp16.js';

/**
 * Encodes `n` floats from `src[srcOffset ..]` as `dtype` into `dst` at `dstByteOffset` (which
 * receives rowBytes(dtype, n) bytes). Uses ggml's reference quantizers (quantize_row_*_ref, i.e.
 * what llama-quantize does without an importance matrix), computed in float32 like the C code;
 * F16/BF16 round to nearest even. Verified byte-identical to llama.cpp on the fixtures for F16,
 * BF16, Q8_0, Q4_0, Q5_0 and Q6_K (Q4_1/Q5_1 have no fixture); Q4_K differs from the fixtures'
 * llama.cpp build in candidate choice only (see quantize-k.ts).
 * @throws Llama4Error when `n` is not a multiple of the block size or a range is out of bounds.
 */
export function quantizeRow(
  dtype: DType,
  src: Float32Array,
  srcOffset: number,
  n: number,
  dst: Uint8Array,
  dstByteOffset: number,
): void {
  const bytes = rowBytes(dtype, n);
  if (srcOffset < 0 || srcOffset + n > src.length || dstByteOffset < 0 || dstByteOffset + bytes > dst.length) {
    throw new Llama4Error(`quantizeRow: ${n} ${dtype} elements do not fit the given source or destination range`);
  }
  const nb = n / blockSize(dtype);
  switch (dtype) {
    case 'F32': return quantizeF32(src, srcOffset, n, dst, dstByteOffset);
    case 'F16': return quantizeF16(src, srcOffset, n, dst, dstByteOffset);
    case 'BF16': return quantizeBf16(src, srcOffset, n, dst, dstByteOffset);
    case 'Q8_0': return quantizeQ8_0(src, srcOffset, nb, dst, dstByteOffset);
    case 'Q4_0': return quantizeQ4_0(src, srcOffset, nb, dst, dstByteOffset);
    case 'Q4_1': return quantizeQ4_1(src, srcOffset, nb, dst, dstByteOffset);
    case 'Q5_0': return quantizeQ5_0(src, srcOffset, nb, dst, dstByteOffset);
    case 'Q5_1': return quantizeQ5_1(src, srcOffset, nb, dst, dstByteOffset);
    case 'Q4_K': return quantizeQ4_K(src, srcOffset, nb, dst, dstByteOffset);
    case 'Q5_K': return quantizeQ5_K(src, srcOffset, nb, dst, dstByteOffset);
    case 'Q6_K': return quantizeQ6_K(src, srcOffset, nb, dst, dstByteOffset);
  }
}

/**
 * Quantizes a whole row-major matrix `[rows, cols]` into a new buffer (its own ArrayBuffer).
 * Convenience for writers; rows are independent, so this is quantizeRow per row.
 */
export function quantizeMatrix(dtype: DType, src: Float32Array, rows: number, cols: number): Uint8Array {
  const rb = rowBytes(dtype, cols);
  const out = new Uint8Array(rb * rows);
  for (let r = 0; r < rows; r++) quantizeRow(dtype, src, r * cols, cols, out, r * rb);
  return out;
}

/** Dequantizes a whole tensor's bytes (rows of `cols` elements) into a new Float32Array. */
export function dequantizeAll(dtype: DType, bytes: Uint8Array, cols: number): Float32Array {
  const rb = rowBytes(dtype, cols);
  if (rb === 0 || bytes.length % rb !== 0) {
    throw new Llama4Error(`${bytes.length} bytes are not a whole number of ${dtype} rows of ${cols} elements`);
  }
  const rows = bytes.length / rb;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) dequantizeRow(dtype, bytes, r * rb, out, r * cols, cols);
  return out;
}
