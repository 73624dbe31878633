/**
 * Text ↔ token ids for Llama 3 / Llama 4 byte-level BPE vocabularies, with llama.cpp's semantics:
 * `encode` equals `llama_tokenize`, `decode` equals `llama_detokenize(remove_special=false,
 * unparse_special=true)`, `tokenBytes` equals `llama_token_to_piece(special=true)`.
 *
 * Build one with `loadHfTokenizer` (tokenizer.json) or `tokenizerFromGguf` (GGUF metadata).
 */
import { Llama4Error } from '../errors.js';
import { byteLevelToBytes } from './byte-level.js';
import type { PieceEncoder } from './bpe.js';
import { TokenType, type ResolvedVocab } from './vocab.js';

/** Options of {@link TextTokenizer.encode}. */
export interface EncodeOptions {
  /** Prepend BOS. Default: the model's `add_bos_token`. */
  readonly addBos?: boolean;
  /** Append EOS. Default: the model's `add_eos_token`. */
  readonly addEos?: boolean;
  /**
   * Turn the text of control tokens (`<|eot|>`) into their ids. Default true. When false they are
   * tokenized as ordinary text, as user input should be; user-defined tokens still match either way
   * (llama.cpp and Hugging Face agree on this).
   */
  readonly parseSpecial?: boolean;
}

/** Options of {@link TextTokenizer.decode}. */
export interface DecodeOptions {
  /** Leave out control tokens (llama.cpp `unparse_special=false`). Default false. */
  readonly skipSpecial?: boolean;
}

interface SpecialToken {
  readonly id: number;
  readonly text: string;
  readonly type: TokenType;
}

const utf8Encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/**
 * A loaded vocabulary.
 *
 * @example
 * ```ts
 * const tok = await loadHfTokenizer('fixtures/llama4-tiny-moe');
 * const ids = tok.encode('Hello world!');          // [756, 39, 68, …] (BOS first)
 * tok.decode(ids);                                 // '<|begin_of_text|>Hello world!'
 * tok.decode(ids, { skipSpecial: true });          // 'Hello world!'
 * ```
 */
export class TextTokenizer {
  /** Number of ids the model can produce (including unused padding ids). */
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  /** End-of-turn token as llama.cpp sees it (Llama 4: `<|end_of_text|>`, Llama 3: `<|eot_id|>`). */
  readonly eotId: number | null;
  /** End-of-message token as llama.cpp sees it (`<|eom_id|>` in Llama 3; none in Llama 4). */
  readonly eomId: number | null;
  readonly padId: number | null;
  /** Whether {@link encode} adds BOS by default. */
  readonly addBos: boolean;
  /** Whether {@link encode} adds EOS by default. */
  readonly addEos: boolean;
  /**
   * End-of-generation ids exactly as llama.cpp's `llama_vocab_is_eog`: EOS, EOT, EOM and tokens
   * recognised by their text. Llama 4: {`<|end_of_text|>`, `<|eot|>`}; Llama 3:
   * {`<|end_of_text|>`, `<|eom_id|>`, `<|eot_id|>`}. Use this to reproduce llama.cpp runs.
   */
  readonly eogIds: ReadonlySet<number>;
  /**
   * Ids a server should stop on: {@link eogIds} plus Meta's stop tokens and generation_config.json's
   * `eos_token_id`. The difference is `<|eom|>` for Llama 4, which the model emits after a tool call
   * (spec §7.3) but which llama.cpp does not treat as end of generation.
   */
  readonly stopIds: ReadonlySet<number>;
  /** Ids of control tokens (`<|begin_of_text|>`, `<|header_start|>`, …). */
  readonly specialIds: ReadonlySet<number>;
  /** The file the vocabulary came from, used in error messages. */
  readonly source: string;

  readonly #tokens: readonly string[];
  readonly #types: readonly TokenType[];
  readonly #idOf: ReadonlyMap<string, number>;
  readonly #pieces: PieceEncoder;
  /** Special tokens in matching order: longest text first, as llama.cpp's `cache_special_tokens`. */
  readonly #specials: readonly SpecialToken[];
  readonly #bytesCache: (Uint8Array | undefined)[];

  /** Prefer the loaders; this is for callers that already have a resolved vocabulary. */
  constructor(vocab: ResolvedVocab, pieces: PieceEncoder, source: string) {
    this.vocabSize = vocab.tokens.length;
    this.bosId = vocab.bosId;
    this.eosId = vocab.eosId;
    this.eotId = vocab.eotId;
    this.eomId = vocab.eomId;
    this.padId = vocab.padId;
    this.addBos = vocab.addBos;
    this.addEos = vocab.addEos;
    this.eogIds = vocab.eogIds;
    this.stopIds = vocab.stopIds;
    this.specialIds = vocab.controlIds;
    this.source = source;
    this.#tokens = vocab.tokens;
    this.#types = vocab.types;
    this.#pieces = pieces;
    const idOf = new Map<string, number>();
    vocab.tokens.forEach((t, id) => { if (!idOf.has(t)) idOf.set(t, id); });
    this.#idOf = idOf;

    const specials: (SpecialToken & { bytes: number })[] = [];
    vocab.types.forEach((type, id) => {
      if (type === TokenType.Control || type === TokenType.UserDefined || type === TokenType.Unknown) {
        const text = vocab.tokens[id];
        if (text.length > 0) specials.push({ id, text, type, bytes: utf8Encoder.encode(text).length });
      }
    });
    specials.sort((a, b) => b.bytes - a.bytes || a.id - b.id);
    this.#specials = specials;
    this.#bytesCache = new Array<Uint8Array | undefined>(this.vocabSize);
  }

  /** Id of the token whose stored text is exactly `text` (byte-level form for normal tokens), or null. */
  tokenId(text: string): number | null {
    return this.#idOf.get(text) ?? null;
  }

  /** Stored text of a token (byte-level form for normal tokens, e.g. `Ġworld`). */
  idToToken(id: number): string {
    this.#check(id);
    return this.#tokens[id];
  }

  /** Type of a token (normal, control, user-defined, unused, …). */
  tokenType(id: number): TokenType {
    this.#check(id);
    return this.#types[id];
  }

  /**
   * Token ids for `text`, identical to llama.cpp's `llama_tokenize(text, add_special, parse_special)`.
   *
   * Special-token text is matched first, longest token first, every occurrence; the text between
   * matches goes through byte-level BPE. A BOS already present in `text` is kept, so chat prompts
   * should go through `encodeChat`, which makes sure BOS appears once.
   */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const addBos = options.addBos ?? this.addBos;
    const addEos = options.addEos ?? this.addEos;
    const parseSpecial = options.parseSpecial ?? true;
    const ids: number[] = [];
    if (addBos) ids.push(this.#required(this.bosId, 'BOS'));
    for (const fragment of this.#splitSpecial(text, parseSpecial)) {
      if (typeof fragment === 'number') ids.push(fragment);
      else for (const id of this.#pieces.encode(fragment)) ids.push(id);
    }
    if (addEos) ids.push(this.#required(this.eosId, 'EOS'));
    return ids;
  }

  /**
   * Text of a token sequence: the UTF-8 decoding of the concatenated {@link tokenBytes} (invalid
   * sequences become U+FFFD). Lossless for any text {@link encode} produced; unlike llama.cpp, no
   * "clean spaces" pass is applied for Llama 3 vocabularies (Hugging Face and Meta apply none).
   */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const parts: Uint8Array[] = [];
    let length = 0;
    for (const id of ids) {
      this.#check(id);
      const type = this.#types[id];
      if (options.skipSpecial && (type === TokenType.Control || type === TokenType.Unknown)) continue;
      const bytes = this.#bytes(id);
      parts.push(bytes);
      length += bytes.length;
    }
    const all = new Uint8Array(length);
    let offset = 0;
    for (const p of parts) {
      all.set(p, offset);
      offset += p.length;
    }
    // ignoreBOM keeps a leading U+FEFF that the text really contained.
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(all);
  }

  /**
   * Raw bytes of one token's piece, for streaming output: a token may end inside a multi-byte
   * character, so feed these to a streaming `TextDecoder` rather than decoding ids one by one.
   * Control and user-defined tokens give their text; unused (padding) ids give no bytes.
   */
  tokenBytes(id: number): Uint8Array {
    this.#check(id);
    return this.#bytes(id).slice();
  }

  #bytes(id: number): Uint8Array {
    let bytes = this.#bytesCache[id];
    if (bytes === undefined) {
      const text = this.#tokens[id];
      switch (this.#types[id]) {
        case TokenType.Normal: bytes = byteLevelToBytes(text); break;
        case TokenType.Control:
        case TokenType.UserDefined:
        case TokenType.Unknown: bytes = utf8Encoder.encode(text); break;
        // llama.cpp renders unused, byte and undefined tokens of a BPE vocabulary as nothing.
        default: bytes = EMPTY;
      }
      this.#bytesCache[id] = bytes;
    }
    return bytes;
  }

  /** llama.cpp `tokenizer_st_partition`: split out special tokens, longest first. */
  #splitSpecial(text: string, parseSpecial: boolean): (string | number)[] {
    let fragments: (string | number)[] = text.length > 0 ? [text] : [];
    for (const special of this.#specials) {
      if (!parseSpecial && special.type !== TokenType.UserDefined) continue;
      if (!fragments.some((f) => typeof f === 'string' && f.includes(special.text))) continue;
      const next: (string | number)[] = [];
      for (const fragment of fragments) {
        if (typeof fragment === 'number') {
          next.push(fragment);
          continue;
        }
        const pieces = fragment.split(special.text);
        pieces.forEach((piece, i) => {
          if (i > 0) next.push(special.id);
          if (piece.length > 0) next.push(piece);
        });
      }
      fragments = next;
    }
    return fragments;
  }

  #check(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new Llama4Error(
        `token id ${id} is out of range: the vocabulary has ${this.vocabSize} tokens (ids 0..${this.vocabSize - 1})`,
        { source: this.source });
    }
  }

  #required(id: number | null, what: string): number {
    if (id === null) {
      throw new Llama4Error(`the vocabulary has no ${what} token, but adding one was requested`, { source: this.source });
    }
    return id;
  }
}
