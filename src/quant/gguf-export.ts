/**
 * Hugging Face folder → quantized GGUF file (`llama4 quantize`): the tensors of gguf-layout.ts,
 * quantized as quantize-model.ts plans them, with the metadata llama.cpp's convert_hf_to_gguf.py
 * writes for `llama4` / `llama` (hyper-parameters, `general.file_type`, the `tokenizer.ggml.*`
 * vocabulary, the chat template). Before anything is written, the GGUF's metadata is read back as
 * llama.cpp would read it and compared with config.json, so a checkpoint that llama.cpp would run
 * differently (an MoE pattern or chunk size it cannot express) is refused instead of converted.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { modelConfigFromGguf } from '../config/gguf-config.js';
import { modelConfigFromHf } from '../config/hf-config.js';
import type { ModelConfig } from '../config/model-config.js';
import { Llama4Error } from '../errors.js';
import { readGgufHeader } from '../io/gguf.js';
import type { GgufValue } from '../io/gguf-types.js';
import { writeGguf, type GgufMetadataEntry } from '../io/gguf-writer.js';
import { readSafetensorsFolder } from '../io/safetensors.js';
import type { DType, TensorData, TensorSource } from '../io/tensor.js';
import { loadHfChatTemplate, loadHfTokenizer } from '../tokenizer/hf-tokenizer.js';
import type { TextTokenizer } from '../tokenizer/tokenizer.js';
import { parseMerges } from '../tokenizer/vocab.js';
import { ggufLayout } from './gguf-layout.js';
import { FILE_TYPES, quantizeSource, type QuantType } from './quantize-model.js';

type Json = Record<string, unknown>;

function readJson(path: string, optional: boolean): Json | null {
  if (!existsSync(path)) {
    if (optional) return null;
    throw new Llama4Error('file not found', { source: path });
  }
  let v: unknown;
  try { v = JSON.parse(readFileSync(path, 'utf8')); } catch (err) {
    throw new Llama4Error(`invalid JSON: ${(err as Error).message}`, { source: path, cause: err });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Llama4Error('expected a JSON object', { source: path });
  return v as Json;
}

/**
 * The llama3 RoPE factors exactly as convert_hf_to_gguf.py computes them (torch float32 arithmetic,
 * so the `rope_freqs.weight` bytes match its output), or null without llama3 rope scaling.
 */
export function convertRopeFreqs(configJson: Json, config: ModelConfig): Float32Array | null {
  const text = (config.family === 'llama4' && typeof configJson.text_config === 'object' && configJson.text_config !== null
    ? configJson.text_config : configJson) as Json;
  const s = text.rope_scaling as Json | null | undefined;
  if (!s || (s.rope_type ?? s.type) !== 'llama3') return null;
  const num = (v: unknown, d: number) => (typeof v === 'number' ? v : d);
  const f = Math.fround;
  const factor = num(s.factor, 8), low = num(s.low_freq_factor, 1), high = num(s.high_freq_factor, 4);
  const orig = num(s.original_max_position_embeddings, 8192);
  const dim = config.headDim;
  const out = new Float32Array(dim / 2);
  for (let j = 0; j < dim / 2; j++) {
    const freq = f(1 / f(Math.pow(f(config.rope.theta), f(f(2 * j) / dim))));
    const wavelen = f(f(2 * Math.PI) / freq);
    if (wavelen < f(orig / high)) out[j] = 1;
    else if (wavelen > f(orig / low)) out[j] = factor;
    else {
      const smooth = f(f(f(orig / wavelen) - low) / f(high - low));
      out[j] = f(1 / f(f(f(1 - smooth) / factor) + smooth));
    }
  }
  return out;
}

/**
 * The tensors of an HF folder as `llama4 quantize` writes them before quantizing: GGUF names and
 * layout (gguf-layout.ts), with `rope_freqs.weight` computed as convert_hf_to_gguf.py does.
 */
export function hfGgufLayout(folder: string, configJson: Json, config: ModelConfig): TensorSource {
  const layout = ggufLayout(readSafetensorsFolder(folder), 'hf', config);
  const ropeFreqs = convertRopeFreqs(configJson, config);
  if (!ropeFreqs || !layout.tensors.has('rope_freqs.weight')) return layout;
  const bytes = new Uint8Array(ropeFreqs.buffer);
  const tensors = new Map(layout.tensors);
  tensors.set('rope_freqs.weight', { name: 'rope_freqs.weight', dtype: 'F32', shape: [ropeFreqs.length], bytes, byteLength: bytes.length });
  return { path: layout.path, tensors };
}

/** The smallest interleave step that reproduces the layer plan's MoE layers ((i+1) % step == 0). */
function interleaveStep(config: ModelConfig): number {
  const moe = config.layers.map((l) => l.ffn === 'moe');
  if (!moe.some(Boolean)) return 1;
  for (let s = 1; s <= config.nLayers; s++) if (moe.every((m, i) => m === ((i + 1) % s === 0))) return s;
  return 1; // not expressible: checkSameModel reports it
}

export interface HfVocabulary {
  readonly tokenizer: TextTokenizer;
  /** tokenizer.json merges as GGUF stores them ("a b"). */
  readonly merges: readonly string[];
  readonly chatTemplate: string | null;
}

/**
 * GGUF metadata for an HF checkpoint, key for key what convert_hf_to_gguf.py writes for
 * `llama4` / `llama` (plus `general.file_type` and `general.quantization_version`).
 */
export function ggufMetadataForHf(folder: string, config: ModelConfig, vocab: HfVocabulary, type: QuantType): GgufMetadataEntry[] {
  const arch = config.family === 'llama4' ? 'llama4' : 'llama';
  const gen = readJson(join(folder, 'generation_config.json'), true);
  const e: GgufMetadataEntry[] = [
    ['general.architecture', arch, 'string'],
    ['general.type', 'model', 'string'],
  ];
  if (typeof gen?.top_p === 'number') e.push(['general.sampling.top_p', gen.top_p, 'float32']);
  if (typeof gen?.temperature === 'number') e.push(['general.sampling.temp', gen.temperature, 'float32']);
  // convert_hf_to_gguf.py names the model after its folder: "llama4-tiny-moe" → "Llama4 Tiny Moe".
  const name = basename(resolve(folder)).split(/[-_\s]+/).filter((w) => w.length > 0).map((w) => w[0].toUpperCase() + w.slice(1)).join(' ');
  e.push(['general.name', name, 'string']);
  const k = (key: string, value: GgufValue, t: 'uint32' | 'float32' = 'uint32') => e.push([`${arch}.${key}`, value, t]);
  k('block_count', config.nLayers);
  k('context_length', config.maxContext);
  k('embedding_length', config.hiddenSize);
  k('feed_forward_length', config.denseFfnSize);
  k('attention.head_count', config.nHeads);
  k('attention.head_count_kv', config.nKvHeads);
  k('rope.freq_base', config.rope.theta, 'float32');
  k('attention.layer_norm_rms_epsilon', config.rmsNormEps, 'float32');
  if (arch === 'llama4') {
    k('expert_count', config.nExperts);
    k('expert_used_count', config.nExpertsPerToken);
  }
  k('attention.key_length', config.headDim);
  k('attention.value_length', config.headDim);
  e.push(['general.file_type', FILE_TYPES[type], 'uint32']);
  k('vocab_size', config.vocabSize);
  k('rope.dimension_count', config.headDim);
  if (arch === 'llama4') {
    k('interleave_moe_layer_step', interleaveStep(config));
    k('expert_feed_forward_length', config.expertFfnSize);
  }
  e.push(['general.quantization_version', 2, 'uint32']);

  const tok = vocab.tokenizer;
  const ids = Array.from({ length: tok.vocabSize }, (_, i) => i);
  e.push(
    ['tokenizer.ggml.model', 'gpt2', 'string'],
    ['tokenizer.ggml.pre', arch === 'llama4' ? 'llama4' : 'llama-bpe', 'string'],
    ['tokenizer.ggml.tokens', ids.map((i) => tok.idToToken(i)), { array: 'string' }],
    ['tokenizer.ggml.token_type', ids.map((i) => tok.tokenType(i)), { array: 'int32' }],
    ['tokenizer.ggml.merges', vocab.merges, { array: 'string' }],
  );
  if (tok.bosId !== null) e.push(['tokenizer.ggml.bos_token_id', tok.bosId, 'uint32']);
  if (tok.eosId !== null) e.push(['tokenizer.ggml.eos_token_id', tok.eosId, 'uint32']);
  if (tok.padId !== null) e.push(['tokenizer.ggml.padding_token_id', tok.padId, 'uint32']);
  e.push(
    ['tokenizer.ggml.add_bos_token', tok.addBos, 'bool'],
    ['tokenizer.ggml.add_sep_token', false, 'bool'],
    ['tokenizer.ggml.add_eos_token', tok.addEos, 'bool'],
  );
  if (vocab.chatTemplate !== null) e.push(['tokenizer.chat_template', vocab.chatTemplate, 'string']);
  return e;
}

/**
 * Refuses a conversion whose GGUF llama.cpp would run differently from the checkpoint: reads the
 * metadata back as a GGUF and compares the two configs field by field and layer by layer.
 */
function checkSameModel(hf: ModelConfig, metadata: readonly GgufMetadataEntry[], tensors: ReadonlyMap<string, TensorData>, source: string): void {
  const meta = new Map<string, unknown>(metadata.map(([key, value]) => [key, value]));
  const g = modelConfigFromGguf(meta, tensors, source);
  const f = Math.fround;
  const diffs: string[] = [];
  const same = (what: string, a: unknown, b: unknown) => { if (a !== b) diffs.push(`${what} ${JSON.stringify(a)} would read back as ${JSON.stringify(b)}`); };
  // Tied or not is decided by the tensors alone (an `output.weight` is used when present), so it is not compared.
  for (const key of ['family', 'vocabSize', 'hiddenSize', 'nLayers', 'nHeads', 'nKvHeads', 'headDim', 'sharedExpert'] as const) same(key, hf[key], g[key]);
  // Float keys are stored as float32; the metadata here still holds the exact values.
  same('rmsNormEps', f(hf.rmsNormEps), f(g.rmsNormEps));
  same('rope theta', f(hf.rope.theta), f(g.rope.theta));
  hf.rope.freqDivisors.forEach((d, i) => {
    if (!(Math.abs(d - g.rope.freqDivisors[i]) <= 1e-6 * Math.abs(d))) same(`RoPE divisor ${i}`, d, g.rope.freqDivisors[i]);
  });
  const moe = hf.layers.some((l) => l.ffn === 'moe');
  if (moe) for (const key of ['nExperts', 'nExpertsPerToken', 'expertFfnSize'] as const) same(key, hf[key], g[key]);
  if (hf.layers.some((l) => l.ffn === 'dense')) same('denseFfnSize', hf.denseFfnSize, g.denseFfnSize);
  if (hf.layers.some((l) => l.chunked)) same('attention chunk size', hf.attentionChunkSize, g.attentionChunkSize);
  if (hf.layers.some((l) => l.temperatureTuning)) same('attention temperature', JSON.stringify(hf.attnTemperature), JSON.stringify(g.attnTemperature));
  hf.layers.forEach((l, i) => {
    for (const key of ['rope', 'chunked', 'qkNorm', 'temperatureTuning', 'ffn'] as const) same(`layer ${i} ${key}`, l[key], g.layers[i]?.[key]);
  });
  if (diffs.length > 0) {
    throw new Llama4Error(`this checkpoint cannot be written as a GGUF that llama.cpp runs the same way: ${diffs.slice(0, 3).join('; ')}${diffs.length > 3 ? ` (and ${diffs.length - 3} more)` : ''}`, { source });
  }
}

function writeAllAt(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done);
}

/**
 * Writes a GGUF whose tensor bytes are produced one at a time (so only one quantized tensor is in
 * memory): the layout is written first with zero-filled data, then each tensor's bytes are
 * written in place, then the file is renamed into place. `onTensor` runs after each tensor.
 */
export function writeGgufStreaming(
  path: string, metadata: readonly GgufMetadataEntry[], tensors: readonly TensorData[],
  onTensor?: (t: TensorData, index: number) => void,
): void {
  const zeros = new Uint8Array(tensors.reduce((m, t) => Math.max(m, t.byteLength), 0));
  const tmp = `${path}.partial-${process.pid}`;
  const byName = new Map(tensors.map((t) => [t.name, t]));
  let fd: number | undefined;
  try {
    writeGguf(tmp, { metadata, tensors: tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: zeros.subarray(0, t.byteLength) })) });
    const header = readGgufHeader(tmp);
    fd = openSync(tmp, 'r+');
    header.tensorInfos.forEach((info, i) => {
      const t = byName.get(info.name)!;
      const bytes = t.bytes;
      if (bytes.length !== info.byteSize) throw new Error(`internal: tensor '${t.name}' produced ${bytes.length} bytes, expected ${info.byteSize}`);
      writeAllAt(fd!, bytes, info.fileOffset);
      onTensor?.(t, i);
    });
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    if (err instanceof Llama4Error) throw err;
    const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : null;
    if (code === null) throw err;
    throw new Llama4Error(`cannot write GGUF file (${code})`, { source: path, cause: err });
  }
}

export interface QuantizeResult {
  readonly path: string;
  readonly tensors: number;
  readonly bytes: number;
  /** Tensor count per stored type, e.g. { Q8_0: 40, F32: 17 }. */
  readonly types: Readonly<Record<string, number>>;
}

/** The first bytes of a file (to recognise a GGUF given where a folder was expected). */
function fileStart(path: string, n: number): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    return buf.subarray(0, readSync(fd, buf, 0, n, 0)).toString('latin1');
  } finally {
    closeSync(fd);
  }
}

/** Checks `llama4 quantize`'s input and output paths before any slow work. */
function checkPaths(folder: string, outPath: string): void {
  if (!existsSync(folder)) throw new Llama4Error('no such file or folder', { source: folder });
  const what = 'llama4 quantize converts Hugging Face folders (config.json + *.safetensors + tokenizer.json)';
  if (!statSync(folder).isDirectory()) {
    const gguf = /\.gguf$/i.test(folder) || fileStart(folder, 4) === 'GGUF';
    throw new Llama4Error(`${gguf ? 'is a GGUF file' : 'is not a folder'}; ${what}`, { source: folder });
  }
  if (!existsSync(join(folder, 'config.json'))) throw new Llama4Error(`not a model folder (no config.json); ${what}`, { source: folder });
  const dir = dirname(resolve(outPath));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Llama4Error(`cannot write the output: folder ${dir} does not exist`, { source: outPath });
  if (existsSync(outPath) && statSync(outPath).isDirectory()) throw new Llama4Error('cannot write the output: it is a folder', { source: outPath });
}

/**
 * Converts a Hugging Face Llama 4 / Llama 3 folder to a GGUF of `type` at `outPath`.
 * `log` receives one progress line per tensor.
 * @throws Llama4Error naming the file for unusable input, an unwritable output or a checkpoint
 * llama.cpp would run differently.
 */
export async function quantizeHfFolder(folder: string, outPath: string, type: QuantType, log?: (line: string) => void): Promise<QuantizeResult> {
  checkPaths(folder, outPath);
  const configPath = join(folder, 'config.json');
  const configJson = readJson(configPath, false)!;
  const config = modelConfigFromHf(configJson, configPath);
  const tokenizer = await loadHfTokenizer(folder);
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new Llama4Error(`the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocabulary has ${config.vocabSize}`, { source: folder });
  }
  const tokenizerPath = join(folder, 'tokenizer.json');
  const model = readJson(tokenizerPath, false)!.model as Json | undefined;
  const merges = parseMerges(model?.merges, 'model.merges', tokenizerPath).map(([a, b]) => `${a} ${b}`);
  const vocab: HfVocabulary = { tokenizer, merges, chatTemplate: await loadHfChatTemplate(folder) };

  const layout = hfGgufLayout(folder, configJson, config);
  const metadata = ggufMetadataForHf(folder, config, vocab, type);
  checkSameModel(config, metadata, layout.tensors, folder);
  const quantized = quantizeSource(layout, type, config);
  const tensors = [...quantized.tensors.values()];
  const types: Record<string, number> = {};
  for (const t of tensors) types[t.dtype] = (types[t.dtype] ?? 0) + 1;
  const width = String(tensors.length).length;
  const srcType = (name: string): DType => layout.tensors.get(name)!.dtype;
  writeGgufStreaming(outPath, metadata, tensors, (t, i) => {
    const from = srcType(t.name);
    log?.(`[${String(i + 1).padStart(width)}/${tensors.length}] ${t.name.padEnd(28)} ${from === t.dtype ? t.dtype : `${from} → ${t.dtype}`} [${t.shape.join(', ')}]`);
  });
  return { path: outPath, tensors: tensors.length, bytes: statSync(outPath).size, types };
}
