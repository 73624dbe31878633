/**
 * What every command shares: where the built-in model lives, loading a model, parsing id lists
 * and sampling flags, and turning failures into one line on stderr with a non-zero exit.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { Llama4Error } from '../errors.js';
import { loadModel, type LoadedModel } from '../load.js';
import type { SamplingOptions } from '../generate/sampler.js';
import type { Backend } from '../backend/backend.js';
import { RefBackend } from '../backend/ref/ref-backend.js';
import { WasmBackend } from '../backend/wasm/wasm-backend.js';
import { LOAD_QUANT_TYPES, type LoadQuantType } from '../quant/quantize-model.js';
import { UnsupportedSchemaError, jsonSchemaGrammar } from '../generate/grammar/json-schema.js';
import type { Grammar } from '../generate/grammar/grammar.js';

/** The built-in default model: the tiny Llama 4 fixture shipped in the repository (random weights). */
export const DEFAULT_MODEL = resolve(import.meta.dirname, '../../../fixtures/llama4-tiny-moe');

/** `--backend`: wasm (SIMD kernels, threads) or ref (plain TypeScript, the reference). */
export const BACKEND_OPTION = new Option('--backend <name>', 'compute backend').choices(['wasm', 'ref']).default('wasm');
/** `--threads`: kernel threads for the wasm backend (default: every core). */
export const THREADS_OPTION = new Option('--threads <n>', 'threads for the wasm backend (default: all cores)').argParser(int('--threads', 1));

/** `--quant`: quantize an F32/F16/BF16 model while loading it (types as `llama4 quantize` picks them). */
export const QUANT_OPTION = new Option('--quant <type>', 'quantize F32/F16/BF16 weights at load (q4_k = llama.cpp\'s Q4_K_M mix)').choices(LOAD_QUANT_TYPES);

/**
 * `--precision` of the wasm backend: 'fast' multiplies quantized weights by 8-bit activations as
 * llama.cpp does; 'exact' keeps f32 activations (the reference backend's logits). The commands
 * that check correctness (logits, generate) default to exact, the ones for use to fast.
 */
/** `--json-schema`: constrain the output to JSON valid for a schema (llama.cpp's flag of the same name). */
export const JSON_SCHEMA_OPTION = new Option('--json-schema <schema>', 'only produce JSON valid for this JSON Schema (inline JSON, or a file holding it)');

/**
 * The grammar `--json-schema` asks for (undefined without the flag). Compiled before the model is
 * loaded, so a bad schema fails at once.
 */
export function jsonSchemaFromFlags(o: { jsonSchema?: string }): Grammar | undefined {
  if (o.jsonSchema === undefined) return undefined;
  const inline = /^\s*[{[]|^\s*(true|false)\s*$/.test(o.jsonSchema);
  let text = o.jsonSchema;
  if (!inline) {
    try { text = readFileSync(o.jsonSchema, 'utf8'); } catch { throw new Llama4Error(`--json-schema: ${o.jsonSchema} is neither inline JSON nor a readable file`); }
  }
  let schema: unknown;
  try { schema = JSON.parse(text); } catch (e) { throw new Llama4Error(`--json-schema: invalid JSON: ${(e as Error).message}`); }
  try {
    return jsonSchemaGrammar(schema);
  } catch (e) {
    if (e instanceof UnsupportedSchemaError) throw new Llama4Error(`--json-schema: ${e.message}`);
    throw e;
  }
}

export function precisionOption(defaultValue: 'fast' | 'exact'): Option {
  return new Option('--precision <mode>', 'wasm arithmetic: fast (8-bit activations, like llama.cpp) or exact (f32)').choices(['fast', 'exact']).default(defaultValue);
}

/** The model flags every model-running command shares. */
export interface ModelFlags { backend?: string; threads?: number; quant?: LoadQuantType; precision?: string }

/** The compute backend a command asked for (`--backend`, `--threads`, `--precision`). */
export async function makeBackend(o: ModelFlags): Promise<Backend> {
  const name = o.backend ?? 'wasm';
  if (name === 'ref') return new RefBackend();
  if (name === 'wasm') return WasmBackend.create({ threads: o.threads, precision: o.precision === 'exact' ? 'exact' : 'fast' });
  throw new Llama4Error(`unknown backend '${name}' (available: wasm, ref)`);
}

export async function openModel(path: string | undefined, o: ModelFlags = {}): Promise<LoadedModel> {
  const resolved = path === undefined ? DEFAULT_MODEL : await resolveModelPath(path);
  return loadModel(resolved, { backend: await makeBackend(o), quant: o.quant });
}

/**
 * A `<model>` argument as a local path: an existing file or folder as it is; a Hugging Face repo
 * id (`org/repo[:QUANT]`) as its copy in the HF cache, pulled first (with progress on stderr)
 * when missing, unless `--offline` / HF_HUB_OFFLINE=1 (see src/hub/).
 */
export async function resolveModelPath(arg: string): Promise<string> {
  if (existsSync(arg)) return arg;
  const { resolveModelArg } = await import('../hub/resolve.js');
  return (await resolveModelArg(arg)).path;
}

/** Runs a command body; a Llama4Error (or any failure) becomes one line on stderr and exit 1. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      const msg = err instanceof Llama4Error ? err.message : `internal error: ${(err as Error)?.stack ?? String(err)}`;
      process.stderr.write(`llama4: ${msg.split('\n')[0]}\n`);
      if (!(err instanceof Llama4Error) && process.env.LLAMA4_DEBUG) process.stderr.write(`${(err as Error)?.stack}\n`);
      process.exitCode = 1;
    }
  };
}

/** "1,2,3" → [1, 2, 3]; anything else is a usage error naming the flag. */
export function parseIdList(flag: string) {
  return (value: string): number[] => {
    const parts = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    const ids = parts.map(Number);
    if (parts.length === 0 || ids.some((n) => !Number.isInteger(n) || n < 0)) {
      throw new InvalidArgumentError(`${flag} takes a comma-separated list of non-negative integers`);
    }
    return ids;
  };
}

/** A JSON file holding ids: `[1,2,3]`, `{"ids": […]}` or a golden file's `prompt_token_ids`. */
export function readIdsFile(path: string): number[] {
  if (!existsSync(path)) throw new Llama4Error('file not found', { source: path });
  let json: unknown;
  try { json = JSON.parse(readFileSync(path, 'utf8')); } catch (err) {
    throw new Llama4Error(`invalid JSON: ${(err as Error).message}`, { source: path });
  }
  const obj = json as Record<string, unknown>;
  const ids = Array.isArray(json) ? json : Array.isArray(obj?.ids) ? obj.ids : obj?.prompt_token_ids;
  if (!Array.isArray(ids) || ids.some((n) => !Number.isInteger(n) || n < 0)) {
    throw new Llama4Error('expected a JSON array of token ids (or an object with "ids")', { source: path });
  }
  return ids as number[];
}

export function int(flag: string, min = 0) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${flag} takes an integer ≥ ${min}`);
    return n;
  };
}

export function float(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag} takes a number`);
    return n;
  };
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** The sampling flags shared by run, chat and generate. */
export function addSamplingOptions(cmd: Command): Command {
  return cmd
    .option('--temperature <t>', 'sampling temperature (0 = greedy)', float('--temperature'))
    .option('--top-k <k>', 'keep the k most likely tokens (0 = off)', int('--top-k'))
    .option('--top-p <p>', 'nucleus sampling mass (1 = off)', float('--top-p'))
    .option('--min-p <p>', 'drop tokens below p × the top probability (0 = off)', float('--min-p'))
    .option('--repeat-penalty <r>', 'repetition penalty (1 = off)', float('--repeat-penalty'))
    .option('--repeat-last-n <n>', 'tokens the repetition penalty looks back over (-1 = all)', float('--repeat-last-n'))
    .option('--presence-penalty <p>', 'OpenAI presence penalty', float('--presence-penalty'))
    .option('--frequency-penalty <p>', 'OpenAI frequency penalty', float('--frequency-penalty'))
    .option('--seed <n>', 'random seed (same seed, same tokens)', int('--seed'))
    .option('--stop <text>', 'stop string (repeatable)', collect, [] as string[])
    .option('--ignore-eos', 'keep generating through end-of-generation tokens')
    .option('--max-tokens <n>', 'most tokens to generate', int('--max-tokens', 0));
}

export interface SamplingFlags {
  temperature?: number; topK?: number; topP?: number; minP?: number;
  repeatPenalty?: number; repeatLastN?: number; presencePenalty?: number; frequencyPenalty?: number; seed?: number;
}

export function samplingFromFlags(o: SamplingFlags, defaults: SamplingOptions): SamplingOptions {
  const s: SamplingOptions = { ...defaults };
  if (o.temperature !== undefined) s.temperature = o.temperature;
  if (o.topK !== undefined) s.topK = o.topK;
  if (o.topP !== undefined) s.topP = o.topP;
  if (o.minP !== undefined) s.minP = o.minP;
  if (o.repeatPenalty !== undefined) s.repetitionPenalty = o.repeatPenalty;
  if (o.repeatLastN !== undefined) s.penaltyLastN = o.repeatLastN;
  if (o.presencePenalty !== undefined) s.presencePenalty = o.presencePenalty;
  if (o.frequencyPenalty !== undefined) s.frequencyPenalty = o.frequencyPenalty;
  if (o.seed !== undefined) s.seed = o.seed;
  return s;
}
