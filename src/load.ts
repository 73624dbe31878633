/**
 * Model sources → a ready model: weights, normalized config, tokenizer and chat format. A source
 * is a Hugging Face folder (config.json + safetensors) or a GGUF file. The model never learns
 * which one it came from.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from './backend/backend.js';
import { RefBackend } from './backend/ref/ref-backend.js';
import { modelConfigFromGguf } from './config/gguf-config.js';
import { modelConfigFromHf } from './config/hf-config.js';
import type { ModelConfig } from './config/model-config.js';
import { Llama4Error } from './errors.js';
import { readGgufAll } from './io/gguf-split.js';
import { readSafetensorsFolder } from './io/safetensors.js';
import type { TensorSource } from './io/tensor.js';
import { LlamaModel } from './model/llama.js';
import { loadLlamaWeights, type WeightOrigin } from './model/weights.js';
import { parseQuantType, quantizeForLoad, type LoadQuantType } from './quant/quantize-model.js';
import { ChatFormatter, chatFormatterFor, detectChatFamily } from './tokenizer/chat.js';
import { ggufChatTemplate, tokenizerFromGguf } from './tokenizer/gguf-tokenizer.js';
import { loadHfChatTemplate, loadHfTokenizer } from './tokenizer/hf-tokenizer.js';
import type { TextTokenizer } from './tokenizer/tokenizer.js';
import type { SamplingOptions } from './generate/sampler.js';

export interface LoadOptions {
  /** Compute backend; the plain-TypeScript reference backend by default. */
  backend?: Backend;
  /**
   * Quantize F32/F16/BF16 weights while loading, each tensor to the type `llama4 quantize --type`
   * gives it (llama.cpp's mix; `q4_k` = Q4_K_M). A GGUF that is already quantized is an error.
   */
  quant?: LoadQuantType;
}

export interface LoadedModel {
  readonly path: string;
  readonly format: WeightOrigin;
  readonly config: ModelConfig;
  readonly model: LlamaModel;
  readonly tokenizer: TextTokenizer;
  readonly chat: ChatFormatter;
  /** Sampling defaults the checkpoint recommends (generation_config.json / general.sampling.*). */
  readonly samplingDefaults: SamplingOptions;
}

/**
 * Loads a model from a Hugging Face folder or a `.gguf` file (any part of a split GGUF loads all parts).
 *
 * @example
 * const m = await loadModel('fixtures/llama4-tiny-moe');
 * const logits = m.model.forward(m.model.newCache(256), m.tokenizer.encode('Hello'), { logits: 'all' });
 */
export async function loadModel(path: string, options: LoadOptions = {}): Promise<LoadedModel> {
  const backend = options.backend ?? new RefBackend();
  if (!existsSync(path)) throw new Llama4Error('no such file or folder', { source: path });
  if (options.quant !== undefined) parseQuantType(options.quant);
  if (statSync(path).isDirectory()) return loadHfFolder(path, backend, options.quant);
  return loadGgufFile(path, backend, options.quant);
}

async function loadGgufFile(path: string, backend: Backend, quant?: string): Promise<LoadedModel> {
  // Tensors stream into the backend one at a time; a split GGUF's parts read as one file.
  const gguf = readGgufAll(path);
  const config = modelConfigFromGguf(gguf.metadata, gguf.tensors, path);
  const tokenizer = tokenizerFromGguf(gguf.metadata, path);
  checkVocab(config, tokenizer, path);
  const chat = chatFormatFor(tokenizer, config, ggufChatTemplate(gguf.metadata), `${path} (tokenizer.chat_template)`);
  const weights = quant ? quantizeForLoad(gguf, 'gguf', config, quant) : gguf;
  await backend.reserve?.(totalBytes(weights));
  const model = new LlamaModel(config, loadLlamaWeights(weights, 'gguf', config, backend), backend);
  const samplingDefaults: SamplingOptions = {};
  const temp = gguf.metadata.get('general.sampling.temp');
  const topP = gguf.metadata.get('general.sampling.top_p');
  // Stored as float32: 0.6 reads back as 0.6000000238…; keep the value the author wrote.
  if (typeof temp === 'number') samplingDefaults.temperature = Number(temp.toPrecision(7));
  if (typeof topP === 'number') samplingDefaults.topP = Number(topP.toPrecision(7));
  return { path, format: 'gguf', config, model, tokenizer, chat, samplingDefaults };
}

async function loadHfFolder(folder: string, backend: Backend, quant?: string): Promise<LoadedModel> {
  const configPath = join(folder, 'config.json');
  const config = modelConfigFromHf(readJson(configPath), configPath);
  const tokenizer = await loadHfTokenizer(folder);
  checkVocab(config, tokenizer, folder);
  const chat = chatFormatFor(tokenizer, config, await loadHfChatTemplate(folder), join(folder, 'tokenizer_config.json'));
  const tensors: TensorSource = readSafetensorsFolder(folder);
  // Quantized at load: the weights in GGUF layout, encoded as `llama4 quantize` writes them.
  const weights = quant ? quantizeForLoad(tensors, 'hf', config, quant) : tensors;
  await backend.reserve?.(totalBytes(weights));
  const model = new LlamaModel(config, loadLlamaWeights(weights, quant ? 'gguf' : 'hf', config, backend), backend);
  const samplingDefaults: SamplingOptions = {};
  const genPath = join(folder, 'generation_config.json');
  if (existsSync(genPath)) {
    const gen = readJson(genPath) as Record<string, unknown>;
    if (typeof gen.temperature === 'number') samplingDefaults.temperature = gen.temperature;
    if (typeof gen.top_p === 'number') samplingDefaults.topP = gen.top_p;
    if (typeof gen.top_k === 'number') samplingDefaults.topK = gen.top_k;
  }
  return { path: folder, format: 'hf', config, model, tokenizer, chat, samplingDefaults };
}

/**
 * The chat format: the model's template, or the built-in format its header tokens call for. A
 * vocabulary without header tokens (a base model, a synthetic benchmark file) still loads for raw
 * completion, with the built-in format of its family.
 */
function chatFormatFor(tokenizer: TextTokenizer, config: ModelConfig, template: string | null, templateSource: string): ChatFormatter {
  if (detectChatFamily(tokenizer) !== null) return chatFormatterFor(tokenizer, template, templateSource);
  const text = (id: number | null) => (id === null ? '' : tokenizer.idToToken(id));
  return new ChatFormatter({ template, family: config.family, bosToken: text(tokenizer.bosId), eosToken: text(tokenizer.eosId), templateSource });
}

/** Bytes of all tensors of a source (what a backend will be asked to hold). */
function totalBytes(src: TensorSource): number {
  let n = 0;
  for (const t of src.tensors.values()) n += t.byteLength;
  return n;
}

/** The tokenizer must not produce ids the embedding table lacks. */
function checkVocab(config: ModelConfig, tokenizer: TextTokenizer, source: string): void {
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new Llama4Error(`the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocabulary has ${config.vocabSize}`, { source });
  }
}

function readJson(path: string): unknown {
  if (!existsSync(path)) throw new Llama4Error('file not found', { source: path });
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Llama4Error(`invalid JSON: ${(err as Error).message}`, { source: path, cause: err });
  }
}
