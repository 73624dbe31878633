/**
 * Chat formatting: messages → prompt text → token ids.
 *
 * BOS, once. The model's Jinja template starts with `{{ bos_token }}`, llama.cpp's built-in
 * templates do not (llama.cpp adds BOS when tokenizing), and Hugging Face renders the BOS text and
 * then tokenizes without adding another. Here:
 * - {@link ChatFormatter.render} returns the whole prompt text *with* the BOS text, for both the
 *   Jinja and the built-in path (= HF `apply_chat_template(tokenize=False)`; = llama.cpp's
 *   rendering with `<|begin_of_text|>` in front);
 * - {@link encodeChat} strips that leading BOS text when the tokenizer adds BOS itself, then
 *   tokenizes with special-token parsing, so the ids hold BOS exactly once
 *   (= llama.cpp's `llama_tokenize(rendered, add_special=true, parse_special=true)`).
 */
import { Template } from '@huggingface/jinja';
import { Llama4Error } from '../errors.js';
import { renderBuiltin } from './builtin-chat.js';
import type { ChatFamily, ChatMessage, RenderOptions } from './chat-types.js';
import type { TextTokenizer } from './tokenizer.js';

export type { ChatFamily, ChatMessage, ChatRole, ChatTextPart, ChatToolCall, RenderOptions } from './chat-types.js';

/** How to build a {@link ChatFormatter}. */
export interface ChatFormatterOptions {
  /** Jinja chat template (tokenizer_config.json `chat_template`, GGUF `tokenizer.chat_template`); null for the built-in format. */
  readonly template: string | null;
  /** Built-in format to use when `template` is null. */
  readonly family: ChatFamily;
  /** Text of BOS, given to the template as `bos_token` and put first by the built-in format. */
  readonly bosToken: string;
  /** Text of EOS, given to the template as `eos_token`. */
  readonly eosToken: string;
  /** Where the template came from, named in errors (e.g. `…/tokenizer_config.json`). */
  readonly templateSource?: string;
}

/**
 * Renders chat messages into prompt text.
 *
 * @example
 * ```ts
 * const chat = new ChatFormatter({ template: null, family: 'llama4', bosToken: '<|begin_of_text|>', eosToken: '<|eot|>' });
 * chat.render([{ role: 'user', content: 'Hi' }]);
 * // '<|begin_of_text|><|header_start|>user<|header_end|>\n\nHi<|eot|><|header_start|>assistant<|header_end|>\n\n'
 * ```
 */
export class ChatFormatter {
  readonly family: ChatFamily;
  readonly bosToken: string;
  readonly eosToken: string;
  /** Whether a Jinja template is used (else the built-in format of {@link family}). */
  readonly usesTemplate: boolean;
  readonly #template: Template | null;
  readonly #source: string;

  /** Parses the template now, so a broken one fails at load rather than at the first request. */
  constructor(options: ChatFormatterOptions) {
    this.family = options.family;
    this.bosToken = options.bosToken;
    this.eosToken = options.eosToken;
    this.#source = options.templateSource ?? 'chat template';
    this.usesTemplate = options.template !== null;
    try {
      this.#template = options.template === null ? null : new Template(options.template);
    } catch (err) {
      throw new Llama4Error(`invalid Jinja chat template: ${(err as Error).message}`, { source: this.#source, cause: err });
    }
  }

  /** The prompt text for `messages`, starting with the BOS text (see the module comment). */
  render(messages: readonly ChatMessage[], options: RenderOptions = {}): string {
    const addGenerationPrompt = options.addGenerationPrompt ?? true;
    if (this.#template === null) {
      if (options.extra && Object.keys(options.extra).length > 0) {
        throw new Llama4Error(
          `template variables (${Object.keys(options.extra).join(', ')}) need a Jinja chat template; this model uses the built-in ${this.family} format`);
      }
      return renderBuiltin(this.family, messages, { addGenerationPrompt, tools: options.tools, bosToken: this.bosToken });
    }
    const context: Record<string, unknown> = {
      ...options.extra,
      messages,
      add_generation_prompt: addGenerationPrompt,
      bos_token: this.bosToken,
      eos_token: this.eosToken,
    };
    if (options.tools !== undefined) context.tools = options.tools;
    try {
      return this.#template.render(context);
    } catch (err) {
      throw new Llama4Error(`chat template failed: ${(err as Error).message}`, { source: this.#source, cause: err });
    }
  }
}

/**
 * Token ids of a chat prompt, with BOS exactly once: the leading BOS text of the rendering is
 * dropped when the tokenizer adds BOS itself. Special-token text is parsed, so message contents
 * that spell out `<|eot|>` become that token, as in llama.cpp and Hugging Face.
 */
export function encodeChat(
  tokenizer: TextTokenizer,
  formatter: ChatFormatter,
  messages: readonly ChatMessage[],
  options: RenderOptions = {},
): number[] {
  const text = formatter.render(messages, options);
  const bos = tokenizer.bosId === null ? null : tokenizer.idToToken(tokenizer.bosId);
  const body = tokenizer.addBos && bos !== null && text.startsWith(bos) ? text.slice(bos.length) : text;
  return tokenizer.encode(body, { parseSpecial: true });
}

/** The built-in format that fits a vocabulary: `llama4` if it has `<|header_start|>`, `llama3` if `<|start_header_id|>`. */
export function detectChatFamily(tokenizer: TextTokenizer): ChatFamily | null {
  if (tokenizer.tokenId('<|header_start|>') !== null) return 'llama4';
  if (tokenizer.tokenId('<|start_header_id|>') !== null) return 'llama3';
  return null;
}

/**
 * A formatter for a loaded tokenizer: BOS/EOS texts from the vocabulary, the family detected from
 * its header tokens.
 */
export function chatFormatterFor(tokenizer: TextTokenizer, template: string | null, templateSource?: string): ChatFormatter {
  const family = detectChatFamily(tokenizer);
  if (family === null) {
    throw new Llama4Error('the vocabulary has neither Llama 4 nor Llama 3 header tokens, so no chat format fits', { source: tokenizer.source });
  }
  const text = (id: number | null): string => (id === null ? '' : tokenizer.idToToken(id));
  return new ChatFormatter({ template, family, bosToken: text(tokenizer.bosId), eosToken: text(tokenizer.eosId), templateSource });
}
