/**
 * Typed access to GGUF metadata. Each getter throws a Llama4Error naming the key (and the file,
 * when given a GgufFile) if the key is missing or holds the wrong kind of value; the `Opt`
 * variants return undefined for a missing key but still reject a wrong type.
 */
import { Llama4Error } from '../errors.js';
import type { GgufValue } from './gguf-types.js';

/** A metadata map, or anything carrying one together with the file path (a GgufFile). */
export type GgufMetadataSource =
  | ReadonlyMap<string, GgufValue>
  | { readonly metadata: ReadonlyMap<string, GgufValue>; readonly path: string };

function split(src: GgufMetadataSource): [ReadonlyMap<string, GgufValue>, string | undefined] {
  return 'metadata' in src && 'path' in src ? [src.metadata, src.path] : [src as ReadonlyMap<string, GgufValue>, undefined];
}

function describe(v: GgufValue): string {
  if (typeof v === 'string') return `a string (${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)})`;
  if (typeof v === 'number') return `a number (${v})`;
  if (typeof v === 'bigint') return `a 64-bit integer (${v}) too large for a JavaScript number`;
  if (typeof v === 'boolean') return `a boolean (${v})`;
  return `an array of ${v.length} elements`;
}

function wrongType(key: string, expected: string, v: GgufValue, source: string | undefined): Llama4Error {
  return new Llama4Error(`GGUF metadata key '${key}' should be ${expected}, but it is ${describe(v)}`, { source });
}

function get<T>(src: GgufMetadataSource, key: string, expected: string, accept: (v: GgufValue) => v is GgufValue & T, required: boolean): T | undefined {
  const [meta, source] = split(src);
  const v = meta.get(key);
  if (v === undefined) {
    if (required) throw new Llama4Error(`GGUF metadata key '${key}' is missing`, { source });
    return undefined;
  }
  if (!accept(v)) throw wrongType(key, expected, v, source);
  return v;
}

const isString = (v: GgufValue): v is string => typeof v === 'string';
const isNumber = (v: GgufValue): v is number => typeof v === 'number';
const isInteger = (v: GgufValue): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const isBoolean = (v: GgufValue): v is boolean => typeof v === 'boolean';
const isArray = (v: GgufValue): v is readonly GgufValue[] => Array.isArray(v);
const isStringArray = (v: GgufValue): v is readonly string[] => Array.isArray(v) && v.every((e) => typeof e === 'string');
const isNumberArray = (v: GgufValue): v is readonly number[] => Array.isArray(v) && v.every((e) => typeof e === 'number');

/** The string at `key`. @throws Llama4Error if missing or not a string. */
export function ggufString(src: GgufMetadataSource, key: string): string {
  return get<string>(src, key, 'a string', isString, true) as string;
}
/** The string at `key`, or undefined if absent. @throws Llama4Error if present but not a string. */
export function ggufOptString(src: GgufMetadataSource, key: string): string | undefined {
  return get<string>(src, key, 'a string', isString, false);
}

/** The number at `key` (any integer or float type whose value fits a JS number). */
export function ggufNumber(src: GgufMetadataSource, key: string): number {
  return get<number>(src, key, 'a number', isNumber, true) as number;
}
export function ggufOptNumber(src: GgufMetadataSource, key: string): number | undefined {
  return get<number>(src, key, 'a number', isNumber, false);
}

/** The integer at `key` (a number that is a safe integer). */
export function ggufInteger(src: GgufMetadataSource, key: string): number {
  return get<number>(src, key, 'an integer', isInteger, true) as number;
}
export function ggufOptInteger(src: GgufMetadataSource, key: string): number | undefined {
  return get<number>(src, key, 'an integer', isInteger, false);
}

export function ggufBoolean(src: GgufMetadataSource, key: string): boolean {
  return get<boolean>(src, key, 'a boolean', isBoolean, true) as boolean;
}
export function ggufOptBoolean(src: GgufMetadataSource, key: string): boolean | undefined {
  return get<boolean>(src, key, 'a boolean', isBoolean, false);
}

/** The array at `key`, elements of any type. */
export function ggufArray(src: GgufMetadataSource, key: string): readonly GgufValue[] {
  return get<readonly GgufValue[]>(src, key, 'an array', isArray, true) as readonly GgufValue[];
}
export function ggufOptArray(src: GgufMetadataSource, key: string): readonly GgufValue[] | undefined {
  return get<readonly GgufValue[]>(src, key, 'an array', isArray, false);
}

/** The array of strings at `key` (e.g. `tokenizer.ggml.tokens`). */
export function ggufStringArray(src: GgufMetadataSource, key: string): readonly string[] {
  return get<readonly string[]>(src, key, 'an array of strings', isStringArray, true) as readonly string[];
}
export function ggufOptStringArray(src: GgufMetadataSource, key: string): readonly string[] | undefined {
  return get<readonly string[]>(src, key, 'an array of strings', isStringArray, false);
}

/** The array of numbers at `key` (e.g. `tokenizer.ggml.scores`). */
export function ggufNumberArray(src: GgufMetadataSource, key: string): readonly number[] {
  return get<readonly number[]>(src, key, 'an array of numbers', isNumberArray, true) as readonly number[];
}
export function ggufOptNumberArray(src: GgufMetadataSource, key: string): readonly number[] | undefined {
  return get<readonly number[]>(src, key, 'an array of numbers', isNumberArray, false);
}
