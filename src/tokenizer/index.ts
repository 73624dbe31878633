/** Tokenizer and chat formatting: the public pieces. */
export { TextTokenizer, type DecodeOptions, type EncodeOptions } from './tokenizer.js';
export { loadHfTokenizer, loadHfChatTemplate } from './hf-tokenizer.js';
export {
  tokenizerFromGguf, ggufChatTemplate, LLAMA3_PRETOKENIZER_PATTERN, LLAMA4_PRETOKENIZER_PATTERN,
} from './gguf-tokenizer.js';
export { TokenType } from './vocab.js';
export {
  ChatFormatter, chatFormatterFor, detectChatFamily, encodeChat,
  type ChatFamily, type ChatFormatterOptions, type ChatMessage, type ChatRole, type ChatTextPart,
  type ChatToolCall, type RenderOptions,
} from './chat.js';
