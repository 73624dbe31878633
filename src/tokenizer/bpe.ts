/**
 * The byte-level BPE step (regex pre-split, byte-level mapping, ranked merges) for text that holds
 * no special tokens. Both loaders hand it to @huggingface/tokenizers: the tokenizer.json path
 * passes the file's own model and pre-tokenizer, the GGUF path builds the same shape from the
 * GGUF vocabulary. Special tokens, BOS/EOS and decoding stay in {@link TextTokenizer}, because they
 * follow llama.cpp's rules rather than the library's.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { Llama4Error } from '../errors.js';

// The package's .d.ts files use extensionless relative imports, which "moduleResolution":
// "NodeNext" cannot follow, so `Tokenizer` arrives untyped. Pin down the part we use.
interface HfTokenizer {
  encode(text: string, options: { add_special_tokens: boolean }): { ids: unknown[] };
}
const HfTokenizerClass: new (tokenizerJson: object, tokenizerConfig: object) => HfTokenizer = Tokenizer;

/** Turns ordinary text (no special tokens) into token ids. */
export interface PieceEncoder {
  encode(text: string): number[];
}

/** The tokenizer.json `model` section of a byte-level BPE tokenizer. */
export interface BpeModelJson {
  readonly type: 'BPE';
  readonly vocab: Readonly<Record<string, number>>;
  readonly merges: readonly (string | readonly [string, string])[];
  /** Emit a pre-token as one token when it is in the vocabulary, before trying merges. */
  readonly ignore_merges?: boolean;
  readonly [key: string]: unknown;
}

/** The parts of a tokenizer.json that the BPE step uses. */
export interface BpeTokenizerJson {
  readonly normalizer: unknown;
  readonly pre_tokenizer: unknown;
  readonly model: BpeModelJson;
}

/**
 * Build a {@link PieceEncoder} from tokenizer.json-shaped parts.
 *
 * Added tokens, post-processor and decoder are dropped on purpose: they would make the library
 * split special tokens and add BOS by Hugging Face's rules, which {@link TextTokenizer} does by
 * llama.cpp's.
 */
export function createBpeEncoder(json: BpeTokenizerJson, source: string): PieceEncoder {
  let hf: HfTokenizer;
  try {
    hf = new HfTokenizerClass(
      { normalizer: json.normalizer, pre_tokenizer: json.pre_tokenizer, model: json.model,
        added_tokens: [], post_processor: null, decoder: null },
      {},
    );
  } catch (err) {
    throw new Llama4Error(`cannot build the BPE tokenizer: ${(err as Error).message}`, { source, cause: err });
  }
  return {
    encode(text: string): number[] {
      if (text.length === 0) return [];
      const ids = hf.encode(text, { add_special_tokens: false }).ids;
      // The library maps a piece missing from the vocabulary to an undefined id. Byte-level
      // vocabularies hold all 256 bytes, so this only happens with a broken vocabulary.
      if (!ids.every((id): id is number => typeof id === 'number')) {
        throw new Llama4Error(`a BPE piece of ${JSON.stringify(text)} is not in the vocabulary`, { source });
      }
      return ids;
    },
  };
}
