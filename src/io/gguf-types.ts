/**
 * GGUF's vocabulary: metadata value types (with their on-disk codes) and the ggml tensor type ids
 * llama4.ts maps to its DTypes. Shared by the reader and the writer.
 */
import type { DType } from './tensor.js';

/**
 * A metadata value as read from a GGUF file. Integers of 8–32 bits and floats are numbers; a
 * 64-bit integer is a number when it is a safe integer and a bigint otherwise. Arrays (including
 * big ones such as the vocabulary's token list and scores) are plain arrays: simpler for callers
 * than typed arrays, and a 200k-entry vocabulary costs a few MB either way.
 */
export type GgufValue = number | bigint | boolean | string | readonly GgufValue[];

/** GGUF scalar value types, named after the C types. */
export type GgufScalarType =
  | 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32'
  | 'bool' | 'string' | 'uint64' | 'int64' | 'float64';

/**
 * A GGUF value type: a scalar type, or an array of scalars. (The format could nest arrays, but
 * llama.cpp rejects such files, so llama4.ts does too.)
 */
export type GgufValueType = GgufScalarType | { readonly array: GgufScalarType };

/** A metadata value together with the exact GGUF type it is (or is to be) stored as. */
export interface GgufTypedValue {
  readonly type: GgufValueType;
  readonly value: GgufValue;
}

/** On-disk codes of the value types (gguf_type in gguf.h). */
export const GGUF_TYPE_CODES: Readonly<Record<GgufScalarType | 'array', number>> = {
  uint8: 0, int8: 1, uint16: 2, int16: 3, uint32: 4, int32: 5, float32: 6,
  bool: 7, string: 8, array: 9, uint64: 10, int64: 11, float64: 12,
};

const CODE_TO_SCALAR: ReadonlyMap<number, GgufScalarType> = new Map(
  (Object.entries(GGUF_TYPE_CODES) as [GgufScalarType | 'array', number][])
    .filter((e): e is [GgufScalarType, number] => e[0] !== 'array')
    .map(([name, code]) => [code, name]),
);

/** The scalar type with this code, or undefined (for 'array' and unknown codes). */
export function scalarTypeOfCode(code: number): GgufScalarType | undefined {
  return CODE_TO_SCALAR.get(code);
}

/** Byte size of a fixed-size scalar; strings are variable (8-byte length + bytes). */
export const SCALAR_SIZES: Readonly<Record<Exclude<GgufScalarType, 'string'>, number>> = {
  uint8: 1, int8: 1, uint16: 2, int16: 2, uint32: 4, int32: 4, float32: 4,
  bool: 1, uint64: 8, int64: 8, float64: 8,
};

/** Human-readable name of a value type, e.g. `array<string>`. */
export function describeGgufType(t: GgufValueType): string {
  return typeof t === 'string' ? t : `array<${t.array}>`;
}

/** ggml tensor type ids of the DTypes llama4.ts reads (ggml_type in ggml.h). */
export const GGML_TYPE_IDS: Readonly<Record<DType, number>> = {
  F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8,
  Q4_K: 12, Q5_K: 13, Q6_K: 14, BF16: 30,
};

const ID_TO_DTYPE: ReadonlyMap<number, DType> = new Map(
  (Object.entries(GGML_TYPE_IDS) as [DType, number][]).map(([name, id]) => [id, name]),
);

/** Names of the ggml types llama4.ts cannot read, so errors can say what a file holds. */
const OTHER_GGML_TYPES: ReadonlyMap<number, string> = new Map([
  [4, 'Q4_2 (removed)'], [5, 'Q4_3 (removed)'], [9, 'Q8_1'], [10, 'Q2_K'], [11, 'Q3_K'],
  [15, 'Q8_K'], [16, 'IQ2_XXS'], [17, 'IQ2_XS'], [18, 'IQ3_XXS'], [19, 'IQ1_S'], [20, 'IQ4_NL'],
  [21, 'IQ3_S'], [22, 'IQ2_S'], [23, 'IQ4_XS'], [24, 'I8'], [25, 'I16'], [26, 'I32'], [27, 'I64'],
  [28, 'F64'], [29, 'IQ1_M'], [34, 'TQ1_0'], [35, 'TQ2_0'], [39, 'MXFP4'],
]);

/** The DType of a ggml type id, or undefined when llama4.ts does not support it. */
export function dtypeOfGgmlType(id: number): DType | undefined {
  return ID_TO_DTYPE.get(id);
}

/** Describes an unsupported ggml type id for error messages, e.g. `type 10 (Q2_K)`. */
export function describeGgmlType(id: number): string {
  const name = ID_TO_DTYPE.get(id) ?? OTHER_GGML_TYPES.get(id);
  return name === undefined ? `type ${id} (unknown)` : `type ${id} (${name})`;
}
