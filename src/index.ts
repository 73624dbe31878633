/** The public JS API of llama4.ts. */
export { loadModel, type LoadedModel, type LoadOptions } from './load.js';
export { Llama4Error } from './errors.js';
export type { ModelConfig, LayerPlan } from './config/model-config.js';
export { LlamaModel, type ForwardOptions, type LogitsWanted } from './model/llama.js';
export { Session } from './model/session.js';
export { KvCache } from './model/kv-cache.js';
export type { Backend, Matrix, MatrixData, AttentionArgs } from './backend/backend.js';
export { RefBackend } from './backend/ref/ref-backend.js';
export { generate, type GenerateOptions, type GeneratedToken, type GenerationResult, type FinishReason } from './generate/generator.js';
export { createSampler, validateSamplingOptions, type SamplingOptions, type Sampler } from './generate/sampler.js';
export { TextTokenizer } from './tokenizer/tokenizer.js';
export { ChatFormatter, encodeChat, type ChatMessage } from './tokenizer/chat.js';
export { readGguf } from './io/gguf.js';
export { readSafetensors, readSafetensorsFolder } from './io/safetensors.js';
export { startServer, type ServerOptions, type RunningServer } from './server/index.js';
export * from './inspect/index.js';
