/**
 * Builds a tokenizer from the vocabulary embedded in a GGUF file (`tokenizer.ggml.*` keys), the way
 * llama.cpp's `llama_vocab::load` reads it. Only byte-level BPE (`tokenizer.ggml.model = "gpt2"`)
 * is supported, which is what Llama 3 and Llama 4 GGUFs carry.
 */
import { Llama4Error } from '../errors.js';
import { createBpeEncoder } from './bpe.js';
import { TextTokenizer } from './tokenizer.js';
import { TokenType, checkMerges, parseMerges, resolveVocab } from './vocab.js';

/** Llama 4 (o200k-style) split pattern, in tokenizer.json regex syntax. */
export const LLAMA4_PRETOKENIZER_PATTERN = String.raw`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

/** Llama 3 (cl100k-style) split pattern, in tokenizer.json regex syntax. */
export const LLAMA3_PRETOKENIZER_PATTERN = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

interface PreTokenizer {
  readonly pattern: string;
  /** llama.cpp's `ignore_merges` for this pre-tokenizer type. */
  readonly ignoreMerges: boolean;
  /** llama.cpp's `add_bos` when the file has no `tokenizer.ggml.add_bos_token`. */
  readonly addBos: boolean;
}

// `tokenizer.ggml.pre` values llama.cpp maps to LLAMA_VOCAB_PRE_TYPE_GPT4O and _LLAMA3.
const LLAMA4_PRE: PreTokenizer = { pattern: LLAMA4_PRETOKENIZER_PATTERN, ignoreMerges: false, addBos: false };
const LLAMA3_PRE: PreTokenizer = { pattern: LLAMA3_PRETOKENIZER_PATTERN, ignoreMerges: true, addBos: true };
const PRE_TOKENIZERS: ReadonlyMap<string, PreTokenizer> = new Map([
  ['llama4', LLAMA4_PRE], ['gpt-4o', LLAMA4_PRE],
  ['llama3', LLAMA3_PRE], ['llama-v3', LLAMA3_PRE], ['llama-bpe', LLAMA3_PRE],
]);

/** A GGUF array as a JS array, whether the reader returns plain arrays or typed arrays. */
function asArray(v: unknown): unknown[] | null {
  if (Array.isArray(v)) return v;
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<unknown>);
  return null;
}

/** An integer metadata value (GGUF u32/i32, or u64 read as bigint). */
function asInteger(v: unknown): number | null {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  return null;
}

/**
 * Build a tokenizer from GGUF metadata (`readGguf(path).metadata`).
 *
 * @param metadata GGUF key/value section; arrays as JS arrays (typed arrays are accepted too).
 * @param sourcePath the GGUF file, named in error messages.
 * @example
 * ```ts
 * const { metadata } = await readGguf('model.gguf');
 * const tok = tokenizerFromGguf(metadata, 'model.gguf');
 * ```
 */
export function tokenizerFromGguf(metadata: ReadonlyMap<string, unknown>, sourcePath: string): TextTokenizer {
  const source = sourcePath;
  const model = metadata.get('tokenizer.ggml.model');
  if (model === undefined) throw new Llama4Error('no tokenizer.ggml.model: the file carries no vocabulary', { source });
  if (model === 'llama') {
    throw new Llama4Error(
      'SentencePiece vocabularies (tokenizer.ggml.model = "llama") are not supported; only byte-level BPE ("gpt2", as in Llama 3 and Llama 4)',
      { source });
  }
  if (model !== 'gpt2') {
    throw new Llama4Error(`tokenizer.ggml.model ${JSON.stringify(model)} is not supported; only byte-level BPE ("gpt2")`, { source });
  }
  const preName = metadata.get('tokenizer.ggml.pre');
  const pre = typeof preName === 'string' ? PRE_TOKENIZERS.get(preName) : undefined;
  if (!pre) {
    throw new Llama4Error(
      `tokenizer.ggml.pre ${JSON.stringify(preName)} is not supported; expected one of ${[...PRE_TOKENIZERS.keys()].join(', ')}`,
      { source });
  }

  const rawTokens = asArray(metadata.get('tokenizer.ggml.tokens'));
  if (!rawTokens) throw new Llama4Error('no tokenizer.ggml.tokens array', { source });
  const idOf = new Map<string, number>();
  const tokens = rawTokens.map((t, id) => {
    if (typeof t !== 'string') throw new Llama4Error(`tokenizer.ggml.tokens[${id}] is not a string`, { source });
    // llama.cpp renames empty tokens the same way, so ids and texts stay one-to-one.
    const text = t.length > 0 ? t : `[EMPTY_${id}]`;
    const prior = idOf.get(text);
    if (prior !== undefined) {
      throw new Llama4Error(`tokenizer.ggml.tokens has ${JSON.stringify(text)} at ids ${prior} and ${id}`, { source });
    }
    idOf.set(text, id);
    return text;
  });

  const rawTypes = metadata.has('tokenizer.ggml.token_type') ? asArray(metadata.get('tokenizer.ggml.token_type')) : null;
  if (metadata.has('tokenizer.ggml.token_type') && (!rawTypes || rawTypes.length !== tokens.length)) {
    throw new Llama4Error(
      `tokenizer.ggml.token_type must be an array of ${tokens.length} numbers, one per token`, { source });
  }
  const types = tokens.map((_, id): TokenType => {
    if (!rawTypes) return TokenType.Normal;
    const t = asInteger(rawTypes[id]);
    return t !== null && t >= TokenType.Normal && t <= TokenType.Byte ? (t as TokenType) : TokenType.Undefined;
  });

  const merges = parseMerges(asArray(metadata.get('tokenizer.ggml.merges')), 'tokenizer.ggml.merges', source);
  checkMerges(merges, (t) => idOf.has(t), source);

  const id = (key: string): number | null => {
    if (!metadata.has(key)) return null;
    const v = asInteger(metadata.get(key));
    if (v === null) throw new Llama4Error(`${key} is not an integer`, { source });
    return v;
  };
  const flag = (key: string, fallback: boolean): boolean => {
    const v = metadata.get(key);
    return typeof v === 'boolean' ? v : fallback;
  };

  const vocab = resolveVocab({
    tokens, types,
    bosId: id('tokenizer.ggml.bos_token_id'),
    eosId: id('tokenizer.ggml.eos_token_id'),
    eotId: id('tokenizer.ggml.eot_token_id'),
    eomId: id('tokenizer.ggml.eom_token_id'),
    padId: id('tokenizer.ggml.padding_token_id'),
    addBos: flag('tokenizer.ggml.add_bos_token', pre.addBos),
    addEos: flag('tokenizer.ggml.add_eos_token', false),
    extraStopIds: [],
  }, source);

  const pieces = createBpeEncoder({
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: pre.pattern }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    model: {
      type: 'BPE',
      vocab: Object.fromEntries(idOf),
      merges: merges,
      ignore_merges: pre.ignoreMerges,
      dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false,
    },
  }, source);
  return new TextTokenizer(vocab, pieces, source);
}

/** The GGUF's `tokenizer.chat_template`, or null when it has none. */
export function ggufChatTemplate(metadata: ReadonlyMap<string, unknown>): string | null {
  const t = metadata.get('tokenizer.chat_template');
  return typeof t === 'string' ? t : null;
}
