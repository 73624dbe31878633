/**
 * The loader-independent description of a vocabulary, and the rules llama.cpp applies to it at
 * load time (end-of-generation detection by token text, control-type overrides). Both loaders
 * (tokenizer.json and GGUF) produce a {@link VocabSpec}; {@link resolveVocab} turns it into the
 * same {@link ResolvedVocab}, so the two sources cannot drift apart in their special-token sets.
 */
import { Llama4Error } from '../errors.js';

/** Token types as stored in GGUF `tokenizer.ggml.token_type` (llama.cpp `llama_token_type`). */
export const TokenType = {
  Undefined: 0,
  Normal: 1,
  Unknown: 2,
  Control: 3,
  UserDefined: 4,
  Unused: 5,
  Byte: 6,
} as const;
/** One of the {@link TokenType} values. */
export type TokenType = (typeof TokenType)[keyof typeof TokenType];

/** What a loader knows about a vocabulary before llama.cpp's load-time rules are applied. */
export interface VocabSpec {
  /**
   * Text of each token, indexed by id. Normal tokens are in the byte-level alphabet (`Ġthe`);
   * control and user-defined tokens are plain text (`<|eot|>`), as in GGUF files.
   */
  readonly tokens: readonly string[];
  /** Type of each token, same length as `tokens`. */
  readonly types: readonly TokenType[];
  readonly bosId: number | null;
  readonly eosId: number | null;
  /** Explicit end-of-turn id (GGUF `eot_token_id`); found by text when null. */
  readonly eotId: number | null;
  /** Explicit end-of-message id (GGUF `eom_token_id`); found by text when null. */
  readonly eomId: number | null;
  readonly padId: number | null;
  readonly addBos: boolean;
  readonly addEos: boolean;
  /** Further ids a server should stop on (generation_config.json `eos_token_id`). */
  readonly extraStopIds: readonly number[];
}

/** A vocabulary with its special-token sets worked out. */
export interface ResolvedVocab {
  readonly tokens: readonly string[];
  /** Types after llama.cpp's overrides (tokens detected as EOT/EOM/EOG become control tokens). */
  readonly types: readonly TokenType[];
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly eotId: number | null;
  readonly eomId: number | null;
  readonly padId: number | null;
  readonly addBos: boolean;
  readonly addEos: boolean;
  /** llama.cpp's `special_eog_ids`. */
  readonly eogIds: ReadonlySet<number>;
  /** `eogIds` plus Meta's stop tokens and generation_config's eos ids. */
  readonly stopIds: ReadonlySet<number>;
  /** Ids of control tokens. */
  readonly controlIds: ReadonlySet<number>;
}

// llama.cpp (llama-vocab.cpp, `load`) finds these by their text because converters do not store
// them. Order matters only for EOT, where llama.cpp takes the first hit in hash order; taking the
// first in this list reproduces its choice on Llama 3 (`<|eot_id|>`, not `<|end_of_text|>`).
const EOT_TEXTS = [
  '<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|end_of_text|>',
  '<EOT>', '_<EOT>', '<｜end▁of▁sentence｜>', '<end_of_utterance>',
];
const EOM_TEXTS = ['<|eom_id|>'];
// FIM tokens: llama.cpp makes all six control tokens; the last three also end generation.
const FIM_TEXTS = {
  pre: ['<|fim_prefix|>', '<fim-prefix>', '<fim_prefix>', '<｜fim▁begin｜>', '<PRE>', '▁<PRE>', '<|code_prefix|>'],
  suf: ['<|fim_suffix|>', '<fim-suffix>', '<fim_suffix>', '<｜fim▁hole｜>', '<SUF>', '▁<SUF>', '<|code_suffix|>'],
  mid: ['<|fim_middle|>', '<fim-middle>', '<fim_middle>', '<｜fim▁end｜>', '<MID>', '▁<MID>', '<|code_middle|>'],
  pad: ['<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>'],
  rep: ['<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>'],
  sep: ['<|file_sep|>'],
};
const EOG_TEXTS = new Set([
  '<|eot_id|>', '<|im_end|>', '<|end|>', '<|return|>', '<|call|>', '<end_of_turn>', '<|endoftext|>',
  '<|eom_id|>', '<EOT>', '_<EOT>', '<|end_of_text|>', '<end_of_utterance>',
]);
// Meta's stop tokens (Llama 4: end_of_text/eom/eot; Llama 3: end_of_text/eom_id/eot_id). GGUF
// files carry no generation_config, so they are found by text like llama.cpp finds its EOG set.
const META_STOP_TEXTS = ['<|end_of_text|>', '<|eom|>', '<|eot|>', '<|eom_id|>', '<|eot_id|>'];

/**
 * Apply llama.cpp's load-time special-token rules to a vocabulary.
 *
 * `source` names the file the spec came from, for error messages.
 */
export function resolveVocab(spec: VocabSpec, source: string): ResolvedVocab {
  const n = spec.tokens.length;
  if (spec.types.length !== n) {
    throw new Llama4Error(`${spec.types.length} token types for ${n} tokens`, { source });
  }
  for (const [name, id] of [['bos', spec.bosId], ['eos', spec.eosId], ['eot', spec.eotId],
    ['eom', spec.eomId], ['pad', spec.padId]] as const) {
    if (id !== null && !(Number.isInteger(id) && id >= 0 && id < n)) {
      throw new Llama4Error(`${name} token id ${id} is outside the vocabulary of ${n} tokens`, { source });
    }
  }

  const idOf = new Map<string, number>();
  spec.tokens.forEach((t, id) => idOf.set(t, id));
  const firstPresent = (texts: readonly string[]): number | null => {
    for (const t of texts) {
      const id = idOf.get(t);
      if (id !== undefined) return id;
    }
    return null;
  };

  const types = spec.types.slice();
  // Every token llama.cpp finds by its text is forced to be a control token, which also makes it
  // match as a special token when parsing text. Ids given explicitly by the file are left alone.
  const detected: number[] = [];
  const detect = (texts: readonly string[]): number | null => {
    const id = firstPresent(texts);
    if (id !== null) detected.push(id);
    return id;
  };
  const eotId = spec.eotId ?? detect(EOT_TEXTS);
  const eomId = spec.eomId ?? detect(EOM_TEXTS);
  detect(FIM_TEXTS.pre);
  detect(FIM_TEXTS.suf);
  detect(FIM_TEXTS.mid);

  const eogIds = new Set<number>();
  for (const group of [FIM_TEXTS.pad, FIM_TEXTS.rep, FIM_TEXTS.sep]) {
    const id = detect(group);
    if (id !== null) eogIds.add(id);
  }
  for (const [text, id] of idOf) {
    if (EOG_TEXTS.has(text)) {
      eogIds.add(id);
      detected.push(id);
    }
  }
  for (const id of [spec.eosId, eotId, eomId]) if (id !== null) eogIds.add(id);
  for (const id of detected) types[id] = TokenType.Control;

  const stopIds = new Set(eogIds);
  for (const t of META_STOP_TEXTS) {
    const id = idOf.get(t);
    if (id !== undefined) stopIds.add(id);
  }
  for (const id of spec.extraStopIds) {
    if (Number.isInteger(id) && id >= 0 && id < n) stopIds.add(id);
  }

  const controlIds = new Set<number>();
  types.forEach((t, id) => { if (t === TokenType.Control) controlIds.add(id); });

  return {
    tokens: spec.tokens, types, bosId: spec.bosId, eosId: spec.eosId, eotId, eomId,
    padId: spec.padId, addBos: spec.addBos, addEos: spec.addEos, eogIds, stopIds, controlIds,
  };
}

/**
 * Check that every merge joins two tokens of the vocabulary into a third, as Hugging Face
 * tokenizers requires (`MergeTokenOutOfVocabulary`); a mismatch means the merges belong to
 * another vocabulary, which would otherwise tokenize silently wrong.
 */
export function checkMerges(
  merges: readonly (readonly [string, string])[],
  has: (token: string) => boolean,
  source: string,
): void {
  for (let i = 0; i < merges.length; i++) {
    const [a, b] = merges[i];
    for (const t of [a, b, a + b]) {
      if (!has(t)) {
        throw new Llama4Error(
          `merge #${i} ("${a} ${b}") needs token "${t}", which is not in the vocabulary: ` +
          'the merges and the token list do not belong together', { source });
      }
    }
  }
}

/**
 * Merges as pairs. tokenizer.json stores `"a b"` strings or `["a", "b"]` pairs, GGUF stores
 * `"a b"` strings; byte-level tokens never contain a space, so exactly one space is required.
 */
export function parseMerges(merges: unknown, what: string, source: string): [string, string][] {
  if (!Array.isArray(merges)) throw new Llama4Error(`${what} is missing or not an array`, { source });
  return merges.map((m: unknown, i) => {
    const pair: unknown = typeof m === 'string' ? m.split(' ') : m;
    if (!Array.isArray(pair) || pair.length !== 2 || pair.some((p) => typeof p !== 'string' || p.length === 0)) {
      throw new Llama4Error(`${what}[${i}] ${JSON.stringify(m)} is not a pair of tokens`, { source });
    }
    return [pair[0] as string, pair[1] as string];
  });
}
