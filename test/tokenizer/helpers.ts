/** Shared fixtures for the tokenizer tests: paths, goldens and GGUF metadata of the four tiny models. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readGgufHeader } from '../../src/io/gguf.js';

// Compiled to dist/test/tokenizer/helpers.js: the repository root is three levels up.
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export const MODELS = ['llama4-tiny-moe', 'llama4-tiny-interleaved', 'llama3-tiny', 'llama3-small-kq'] as const;
export type Model = (typeof MODELS)[number];

export function modelDir(model: Model): string {
  return join(REPO_ROOT, 'fixtures', model);
}

export function ggufPath(model: Model): string {
  return join(modelDir(model), `${model}-f32.gguf`);
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** One string of golden/tokenizer.json. */
export interface GoldenString {
  text: string;
  ids: number[];
  ids_no_bos: number[];
  ids_no_parse_special: number[];
  ids_no_bos_no_parse_special: number[];
  pieces_hex: string[];
  detokenized: string;
}

/** golden/chat_template.json. */
export interface GoldenChat {
  messages: { role: 'system' | 'user' | 'assistant'; content: string }[];
  add_generation_prompt: boolean;
  rendered: string;
  token_ids: number[];
  vocab: {
    n_tokens: number; bos: number; eos: number; eot: number; pad: number;
    add_bos: boolean; add_eos: boolean; eog_ids: number[]; control_ids: number[];
  };
}

export function goldenStrings(model: Model): GoldenString[] {
  return readJson<{ strings: GoldenString[] }>(join(modelDir(model), 'golden', 'tokenizer.json')).strings;
}

export function goldenChat(model: Model): GoldenChat {
  return readJson<GoldenChat>(join(modelDir(model), 'golden', 'chat_template.json'));
}

const metadataCache = new Map<Model, ReadonlyMap<string, unknown>>();

/** GGUF key/value section of the model's f32 file. */
export function ggufMetadata(model: Model): ReadonlyMap<string, unknown> {
  let m = metadataCache.get(model);
  if (!m) {
    m = readGgufHeader(ggufPath(model)).metadata;
    metadataCache.set(model, m);
  }
  return m;
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}
