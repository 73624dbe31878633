/** Paths and golden files of the tiny fixture models shipped in `fixtures/`. */
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Repository root (tests run from dist/test/…). */
export const ROOT = resolve(import.meta.dirname, '../../..');
export const FIXTURES = join(ROOT, 'fixtures');
export const MODELS = ['llama4-tiny-moe', 'llama4-tiny-interleaved', 'llama3-tiny', 'llama3-small-kq'] as const;
export type FixtureModel = (typeof MODELS)[number];

export interface Golden {
  model: string;
  case: string;
  gguf_type: string;
  compute: 'native' | 'dequant';
  gguf_file: string;
  n_vocab: number;
  prompt_token_ids: number[];
  logits_positions: number[];
  logits: number[][];
  greedy_continuation_ids: number[];
}

export function modelDir(model: FixtureModel): string {
  return join(FIXTURES, model);
}

export function readGolden(model: FixtureModel, file: string): Golden {
  return JSON.parse(readFileSync(join(FIXTURES, model, 'golden', file), 'utf8')) as Golden;
}

/** The GGUF types shipped for a model, e.g. ['bf16', 'f16', 'f32', 'q4_0', …]. */
export function ggufTypes(model: FixtureModel): string[] {
  return readdirSync(modelDir(model))
    .filter((f) => f.endsWith('.gguf'))
    .map((f) => f.slice(model.length + 1, -'.gguf'.length))
    .sort();
}

/**
 * The golden an f32-computing engine must match for a GGUF type: the dequant-f32 file, or the
 * f32 one for f32 and bf16 (the bf16 weights are exactly the f32 GGUF's, see fixtures/README.md).
 */
export function goldenFileFor(type: string, testCase: 'short' | 'medium'): string {
  return type === 'f32' || type === 'bf16' ? `${testCase}.f32.json` : `${testCase}.${type}.dequant-f32.json`;
}
