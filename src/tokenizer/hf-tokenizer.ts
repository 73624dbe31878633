/**
 * Loads a tokenizer from a Hugging Face model folder: tokenizer.json (vocabulary, merges,
 * pre-tokenizer), tokenizer_config.json (BOS/EOS/PAD, add_bos_token, chat template),
 * generation_config.json (stop ids) and config.json (vocab_size, for padding ids).
 *
 * The vocabulary is laid out the way llama.cpp's `convert_hf_to_gguf.py` lays it out, so that this
 * loader and {@link tokenizerFromGguf} agree id for id and on every special-token set.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Llama4Error } from '../errors.js';
import { createBpeEncoder, type BpeModelJson } from './bpe.js';
import { TextTokenizer } from './tokenizer.js';
import { TokenType, checkMerges, parseMerges, resolveVocab } from './vocab.js';

type Json = Record<string, unknown>;

function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parsed JSON of `path`; null when the file is absent and `optional`. */
async function readJson(path: string, optional: boolean): Promise<Json | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      if (optional) return null;
      throw new Llama4Error('file not found', { source: path, cause: err });
    }
    throw new Llama4Error(`cannot read file: ${(err as Error).message}`, { source: path, cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Llama4Error(`invalid JSON: ${(err as Error).message}`, { source: path, cause: err });
  }
  if (!isRecord(value)) throw new Llama4Error('expected a JSON object', { source: path });
  return value;
}

/** Whether a tokenizer.json component (possibly a Sequence) contains a ByteLevel step. */
function hasByteLevel(component: unknown): boolean {
  if (!isRecord(component)) return false;
  if (component.type === 'ByteLevel') return true;
  const children = component.pretokenizers ?? component.decoders;
  return Array.isArray(children) && children.some(hasByteLevel);
}

/** convert_hf_to_gguf `does_token_look_special`: added tokens it makes control even if not marked special. */
function looksSpecial(text: string): boolean {
  return ['<pad>', '<mask>', '<2mass>', '[@BOS@]'].includes(text)
    || (text.startsWith('<|') && text.endsWith('|>'))
    || (text.startsWith('<｜') && text.endsWith('｜>'))
    || (text.startsWith('<unused') && text.endsWith('>'));
}

/** A special token named in tokenizer_config.json: a string or an AddedToken object. */
function configTokenText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (isRecord(v) && typeof v.content === 'string') return v.content;
  return null;
}

function idList(v: unknown): number[] {
  const list = Array.isArray(v) ? v : [v];
  return list.filter((x): x is number => Number.isInteger(x));
}

/** BOS/EOS flags of a `TemplateProcessing` post-processor (possibly inside a Sequence). */
function templateAddsSpecial(post: unknown): { bos: boolean; eos: boolean } | null {
  if (!isRecord(post)) return null;
  if (post.type === 'TemplateProcessing' && Array.isArray(post.single) && post.single.length > 0) {
    const isSpecial = (piece: unknown): boolean => isRecord(piece) && 'SpecialToken' in piece;
    return { bos: isSpecial(post.single[0]), eos: isSpecial(post.single[post.single.length - 1]) };
  }
  if (Array.isArray(post.processors)) {
    for (const p of post.processors) {
      const found = templateAddsSpecial(p);
      if (found) return found;
    }
  }
  return null;
}

/**
 * Token texts and types by id, laid out as `convert_hf_to_gguf.py` does: BPE vocabulary entries are
 * normal tokens, added tokens control (special or special-looking) or user-defined, and ids up to
 * config.json's `vocab_size` that no token claims become unused `[PADn]` tokens.
 */
function tokenTable(
  vocab: Json, added: unknown, vocabSize: number | undefined, source: string,
): { tokens: string[]; types: TokenType[] } {
  const byId = new Map<number, { text: string; type: TokenType }>();
  const place = (id: unknown, text: string, type: TokenType): void => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new Llama4Error(`token ${JSON.stringify(text)} has invalid id ${JSON.stringify(id)}`, { source });
    }
    const prior = byId.get(id);
    if (prior && prior.text !== text) {
      throw new Llama4Error(`id ${id} is given to both ${JSON.stringify(prior.text)} and ${JSON.stringify(text)}`, { source });
    }
    byId.set(id, { text, type });
  };
  for (const [text, id] of Object.entries(vocab)) place(id, text, TokenType.Normal);
  if (!Array.isArray(added)) throw new Llama4Error('added_tokens is not an array', { source });
  for (const t of added) {
    if (!isRecord(t) || typeof t.content !== 'string') {
      throw new Llama4Error(`malformed added token ${JSON.stringify(t)}`, { source });
    }
    place(t.id, t.content, t.special === true || looksSpecial(t.content) ? TokenType.Control : TokenType.UserDefined);
  }

  let maxId = -1;
  for (const id of byId.keys()) maxId = Math.max(maxId, id);
  if (vocabSize !== undefined && vocabSize <= maxId) {
    throw new Llama4Error(`config.json vocab_size ${vocabSize} is smaller than the tokenizer's ${maxId + 1} ids`, { source });
  }
  const tokens: string[] = [];
  const types: TokenType[] = [];
  for (let id = 0; id < (vocabSize ?? maxId + 1); id++) {
    const t = byId.get(id);
    tokens.push(t ? t.text : `[PAD${id}]`);
    types.push(t ? t.type : TokenType.Unused);
  }
  return { tokens, types };
}

/**
 * Load the tokenizer of a Hugging Face model folder.
 *
 * Ids between the last tokenizer.json id and config.json's `vocab_size` become unused padding
 * tokens `[PADn]` (as in the GGUF conversion): the model can emit them, so they must decode.
 *
 * @example
 * ```ts
 * const tok = await loadHfTokenizer('fixtures/llama4-tiny-moe');
 * tok.vocabSize; // 832
 * ```
 */
export async function loadHfTokenizer(folder: string): Promise<TextTokenizer> {
  const tokenizerPath = join(folder, 'tokenizer.json');
  const configPath = join(folder, 'tokenizer_config.json');
  const [json, config, generation, modelConfig] = await Promise.all([
    readJson(tokenizerPath, false) as Promise<Json>,
    readJson(configPath, true),
    readJson(join(folder, 'generation_config.json'), true),
    readJson(join(folder, 'config.json'), true),
  ]);
  const source = tokenizerPath;

  const model = json.model;
  if (!isRecord(model)) throw new Llama4Error('no "model" section', { source });
  if (model.type !== 'BPE') {
    throw new Llama4Error(
      `tokenizer model type ${JSON.stringify(model.type)} is not supported: only byte-level BPE (Llama 3 / Llama 4)`,
      { source });
  }
  if (!hasByteLevel(json.pre_tokenizer) && !hasByteLevel(json.decoder)) {
    throw new Llama4Error('BPE tokenizer without a ByteLevel step is not supported (not a Llama 3 / Llama 4 vocabulary)', { source });
  }
  if (!isRecord(model.vocab)) throw new Llama4Error('model.vocab is missing or not an object', { source });

  const declared = modelConfig ? idList(isRecord(modelConfig.text_config)
    ? modelConfig.text_config.vocab_size : modelConfig.vocab_size)[0] : undefined;
  const { tokens, types } = tokenTable(model.vocab, json.added_tokens ?? [], declared, source);

  const merges = parseMerges(model.merges, 'model.merges', source);
  const bpeVocab = new Set(Object.keys(model.vocab));
  checkMerges(merges, (t) => bpeVocab.has(t), source);

  const idOfText = (text: string | null, what: string, strict: boolean): number | null => {
    if (text === null) return null;
    const i = tokens.indexOf(text);
    if (i < 0 && strict) throw new Llama4Error(`${what} ${JSON.stringify(text)} is not in the vocabulary`, { source: configPath });
    return i < 0 ? null : i;
  };
  const fallbackId = (key: string): number | null =>
    idList(generation?.[key])[0] ?? idList(modelConfig?.[key])[0] ?? null;
  const bosId = idOfText(configTokenText(config?.bos_token), 'bos_token', true) ?? fallbackId('bos_token_id');
  const eosId = idOfText(configTokenText(config?.eos_token), 'eos_token', true) ?? fallbackId('eos_token_id');
  // Not strict: Meta's Llama 4 config names a pad token that does not exist (spec §7.2).
  const padId = idOfText(configTokenText(config?.pad_token), 'pad_token', false);

  const template = templateAddsSpecial(json.post_processor);
  const flag = (v: unknown, fallback: boolean): boolean => (typeof v === 'boolean' ? v : fallback);

  const vocab = resolveVocab({
    tokens, types, bosId, eosId, eotId: null, eomId: null, padId,
    addBos: flag(config?.add_bos_token, template?.bos ?? false),
    addEos: flag(config?.add_eos_token, template?.eos ?? false),
    extraStopIds: idList(generation?.eos_token_id),
  }, source);

  const pieces = createBpeEncoder({
    normalizer: json.normalizer ?? null,
    pre_tokenizer: json.pre_tokenizer ?? null,
    model: model as BpeModelJson,
  }, source);
  return new TextTokenizer(vocab, pieces, source);
}

/**
 * The chat template of a Hugging Face model folder: `chat_template` of tokenizer_config.json (a
 * string, or the `default` entry of a named list), else `chat_template.jinja`; null when there is none.
 */
export async function loadHfChatTemplate(folder: string): Promise<string | null> {
  const config = await readJson(join(folder, 'tokenizer_config.json'), true);
  const t = config?.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t.filter(isRecord);
    const chosen = named.find((x) => x.name === 'default') ?? named[0];
    if (chosen && typeof chosen.template === 'string') return chosen.template;
  }
  try {
    return await readFile(join(folder, 'chat_template.jinja'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Llama4Error(`cannot read file: ${(err as Error).message}`, { source: join(folder, 'chat_template.jinja') });
  }
}
