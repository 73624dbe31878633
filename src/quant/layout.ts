/**
 * ggml block layouts: how many elements one block holds and how many bytes it takes.
 * Quantized blocks always run along a row (the innermost dimension), so a row's byte size is
 * (elements / blockSize) · blockBytes.
 */
import { Llama4Error } from '../errors.js';
import type { DType } from '../io/tensor.js';

/** Elements in a K-quant super-block (ggml's QK_K). */
export const QK_K = 256;
/** Elements in a legacy Q4_0 … Q8_0 block (ggml's QK4_0 etc.). */
export const QK32 = 32;

interface Layout {
  readonly elements: number;
  readonly bytes: number;
}

// Byte counts follow ggml-common.h: fp16 scale(s), then packed quants (see dequant.ts).
const LAYOUTS: Readonly<Record<DType, Layout>> = {
  F32: { elements: 1, bytes: 4 },
  F16: { elements: 1, bytes: 2 },
  BF16: { elements: 1, bytes: 2 },
  Q8_0: { elements: QK32, bytes: 2 + 32 },
  Q4_0: { elements: QK32, bytes: 2 + 16 },
  Q4_1: { elements: QK32, bytes: 2 + 2 + 16 },
  Q5_0: { elements: QK32, bytes: 2 + 4 + 16 },
  Q5_1: { elements: QK32, bytes: 2 + 2 + 4 + 16 },
  Q4_K: { elements: QK_K, bytes: 2 + 2 + 12 + 128 },
  Q5_K: { elements: QK_K, bytes: 2 + 2 + 12 + 32 + 128 },
  Q6_K: { elements: QK_K, bytes: 128 + 64 + 16 + 2 },
};

/** Every dtype llama4.ts knows, in a stable order (for tests and messages). */
export const ALL_DTYPES: readonly DType[] = Object.keys(LAYOUTS) as DType[];

function layout(dtype: DType): Layout {
  const l = LAYOUTS[dtype];
  // Reachable only through casts from untyped input; fail loudly rather than return NaN sizes.
  if (l === undefined) throw new Llama4Error(`unknown tensor type '${String(dtype)}'`);
  return l;
}

/** Elements per block: 1 for F32/F16/BF16, 32 for Q*_0/Q*_1, 256 for the K-quants. */
export function blockSize(dtype: DType): number {
  return layout(dtype).elements;
}

/** Bytes per block (for F32/F16/BF16: bytes per element). */
export function blockBytes(dtype: DType): number {
  return layout(dtype).bytes;
}

/**
 * Bytes taken by `nElements` consecutive elements (normally one row).
 * @throws Llama4Error when `nElements` is not a non-negative multiple of the block size.
 */
export function rowBytes(dtype: DType, nElements: number): number {
  const l = layout(dtype);
  if (!Number.isSafeInteger(nElements) || nElements < 0 || nElements % l.elements !== 0) {
    throw new Llama4Error(
      `${dtype} stores blocks of ${l.elements} elements, so a row of ${nElements} elements cannot be ${dtype}`,
    );
  }
  return (nElements / l.elements) * l.bytes;
}

/** True when `name` is one of the DType names (for validating untyped input). */
export function isDType(name: string): name is DType {
  return Object.prototype.hasOwnProperty.call(LAYOUTS, name);
}
