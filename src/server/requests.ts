/**
 * Request bodies → validated options. Every field a route accepts is either applied or refused
 * with a 400 naming it; a field no route knows is refused too ("Unrecognized request argument",
 * as OpenAI answers), so a typo never silently changes nothing.
 */
import type { SamplingOptions } from '../generate/sampler.js';
import type { ChatMessage, ChatTextPart, ChatToolCall } from '../tokenizer/chat.js';
import type { ToolChoice, ToolDefinition } from './chat-prompt.js';
import { ApiError, badParam } from './errors.js';

type Body = Record<string, unknown>;

/** Parses a JSON request body that must be an object. */
export function parseJsonBody(text: string): Body {
  if (text.trim() === '') throw new ApiError(400, 'the request body is empty; expected a JSON object', 'invalid_request_error', null, 'invalid_json');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, `the request body is not valid JSON: ${(err as Error).message}`, 'invalid_request_error', null, 'invalid_json');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ApiError(400, 'the request body must be a JSON object', 'invalid_request_error', null, 'invalid_json');
  }
  return value as Body;
}

function checkKnown(body: Body, known: readonly string[], where?: string): void {
  for (const key of Object.keys(body)) {
    const param = where ? `${where}.${key}` : key;
    if (!known.includes(key)) throw new ApiError(400, `Unrecognized request argument supplied: ${param}`, 'invalid_request_error', param, 'unknown_parameter');
  }
}

const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

function requireString(body: Body, key: string): string {
  const v = body[key];
  if (v === undefined || v === null) throw badParam(key, `'${key}' is a required property`, 'missing_required_parameter');
  if (typeof v !== 'string') throw badParam(key, `'${key}' must be a string, got ${typeName(v)}`, 'invalid_type');
  return v;
}

function optBool(body: Body, key: string): boolean | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw badParam(key, `'${key}' must be a boolean, got ${typeName(v)}`, 'invalid_type');
  return v;
}

function optNumber(body: Body, key: string, o: { min?: number; max?: number; integer?: boolean; minExclusive?: boolean } = {}): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw badParam(key, `'${key}' must be a number, got ${typeName(v)}`, 'invalid_type');
  if (o.integer && !Number.isSafeInteger(v)) throw badParam(key, `'${key}' must be an integer, got ${v}`, 'invalid_type');
  const range = `${o.min !== undefined ? `${o.minExclusive ? '>' : '≥'} ${o.min}` : ''}${o.min !== undefined && o.max !== undefined ? ' and ' : ''}${o.max !== undefined ? `≤ ${o.max}` : ''}`;
  if (o.min !== undefined && (o.minExclusive ? v <= o.min : v < o.min)) throw badParam(key, `'${key}' must be ${range}, got ${v}`);
  if (o.max !== undefined && v > o.max) throw badParam(key, `'${key}' must be ${range}, got ${v}`);
  return v;
}

/** The sampling fields shared by both generation routes (OpenAI's, plus llama.cpp's top_k, min_p, repeat_penalty). */
function samplingFields(body: Body): SamplingOptions {
  const s: SamplingOptions = {};
  const temperature = optNumber(body, 'temperature', { min: 0, max: 2 });
  if (temperature !== undefined) s.temperature = temperature;
  const topP = optNumber(body, 'top_p', { min: 0, max: 1, minExclusive: true });
  if (topP !== undefined) s.topP = topP;
  const topK = optNumber(body, 'top_k', { min: 0, integer: true });
  if (topK !== undefined) s.topK = topK;
  const minP = optNumber(body, 'min_p', { min: 0, max: 1 });
  if (minP !== undefined) s.minP = minP;
  const rep = optNumber(body, 'repeat_penalty', { min: 0, minExclusive: true });
  if (rep !== undefined) s.repetitionPenalty = rep;
  const presence = optNumber(body, 'presence_penalty', { min: -2, max: 2 });
  if (presence !== undefined) s.presencePenalty = presence;
  const frequency = optNumber(body, 'frequency_penalty', { min: -2, max: 2 });
  if (frequency !== undefined) s.frequencyPenalty = frequency;
  const seed = optNumber(body, 'seed', { integer: true });
  if (seed !== undefined) s.seed = seed;
  const bias = body.logit_bias;
  if (bias !== undefined && bias !== null) {
    if (typeof bias !== 'object' || Array.isArray(bias)) throw badParam('logit_bias', `'logit_bias' must be an object of token id → bias, got ${typeName(bias)}`, 'invalid_type');
    const out: Record<string, number> = {};
    for (const [key, value] of Object.entries(bias)) {
      if (!/^(0|[1-9][0-9]*)$/.test(key)) throw badParam('logit_bias', `logit_bias keys must be token ids, got ${JSON.stringify(key)}`);
      if (typeof value !== 'number' || !Number.isFinite(value) || value < -100 || value > 100) {
        throw badParam('logit_bias', `logit_bias[${key}] must be a number from -100 to 100, got ${JSON.stringify(value)}`);
      }
      out[key] = value;
    }
    s.logitBias = out;
  }
  return s;
}

const SAMPLING_KEYS = ['temperature', 'top_p', 'top_k', 'min_p', 'repeat_penalty', 'presence_penalty', 'frequency_penalty', 'seed', 'logit_bias'];

function stopField(body: Body): string[] {
  const v = body.stop;
  if (v === undefined || v === null) return [];
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string')) throw badParam('stop', `'stop' must be a string or an array of strings, got ${typeName(v)}`, 'invalid_type');
  if (list.length > 16) throw badParam('stop', `'stop' takes at most 16 strings, got ${list.length}`);
  if (list.some((s) => s === '')) throw badParam('stop', 'stop strings must not be empty');
  return list as string[];
}

function nField(body: Body): void {
  const n = optNumber(body, 'n', { min: 1, integer: true });
  if (n !== undefined && n !== 1) throw badParam('n', `n > 1 is not supported (one choice per request), got ${n}`, 'unsupported_value');
}

function streamFields(body: Body): { stream: boolean; includeUsage: boolean } {
  const stream = optBool(body, 'stream') ?? false;
  const so = body.stream_options;
  let includeUsage = false;
  if (so !== undefined && so !== null) {
    if (!stream) throw badParam('stream_options', 'stream_options is only allowed when stream is true');
    if (typeof so !== 'object' || Array.isArray(so)) throw badParam('stream_options', `'stream_options' must be an object, got ${typeName(so)}`, 'invalid_type');
    const o = so as Body;
    for (const key of Object.keys(o)) {
      if (key !== 'include_usage') throw new ApiError(400, `Unrecognized request argument supplied: stream_options.${key}`, 'invalid_request_error', `stream_options.${key}`, 'unknown_parameter');
    }
    includeUsage = optBool(o, 'include_usage') ?? false;
  }
  return { stream, includeUsage };
}

// ── chat completions ─────────────────────────────────────────────────────────────────────────

export interface ChatRequest {
  readonly model: string;
  readonly messages: ChatMessage[];
  readonly tools: ToolDefinition[];
  readonly toolChoice: ToolChoice;
  readonly parallelToolCalls: boolean;
  readonly stream: boolean;
  readonly includeUsage: boolean;
  /** Unset: until the context is full. */
  readonly maxTokens: number | undefined;
  /** Only the fields the request set (the server fills in the model's defaults). */
  readonly sampling: SamplingOptions;
  readonly stop: string[];
  /** Top alternatives per token when logprobs were asked for, else undefined. */
  readonly logprobs: number | undefined;
  readonly responseFormat: ResponseFormat;
}

const CHAT_KEYS = [
  'model', 'messages', 'stream', 'stream_options', 'max_tokens', 'max_completion_tokens', 'stop', 'n',
  'logprobs', 'top_logprobs', 'tools', 'tool_choice', 'parallel_tool_calls', 'user', 'response_format', ...SAMPLING_KEYS,
];

export function parseChatRequest(body: Body): ChatRequest {
  checkKnown(body, CHAT_KEYS);
  const model = requireString(body, 'model');
  const messages = parseMessages(body.messages);
  nField(body);
  const { stream, includeUsage } = streamFields(body);
  const maxTokens = optNumber(body, 'max_tokens', { min: 1, integer: true });
  const maxCompletion = optNumber(body, 'max_completion_tokens', { min: 1, integer: true });
  if (maxTokens !== undefined && maxCompletion !== undefined && maxTokens !== maxCompletion) {
    throw badParam('max_tokens', 'max_tokens and max_completion_tokens disagree; give one of them');
  }
  const logprobsOn = optBool(body, 'logprobs') ?? false;
  const top = optNumber(body, 'top_logprobs', { min: 0, max: 20, integer: true });
  if (top !== undefined && !logprobsOn) throw badParam('top_logprobs', 'top_logprobs needs logprobs set to true');
  const responseFormat = parseResponseFormat(body.response_format);
  if (body.user !== undefined && body.user !== null && typeof body.user !== 'string') throw badParam('user', `'user' must be a string, got ${typeName(body.user)}`, 'invalid_type');
  const tools = parseTools(body.tools);
  const toolChoice = parseToolChoice(body.tool_choice, tools);
  const parallelToolCalls = optBool(body, 'parallel_tool_calls') ?? true;
  return {
    model, messages, tools, toolChoice, parallelToolCalls, stream, includeUsage,
    maxTokens: maxCompletion ?? maxTokens, sampling: samplingFields(body), stop: stopField(body),
    logprobs: logprobsOn ? (top ?? 0) : undefined, responseFormat,
  };
}

/** OpenAI's `response_format`: plain text, any JSON object, or JSON valid for a schema. */
export type ResponseFormat =
  | { readonly type: 'text' }
  | { readonly type: 'json_object' }
  | { readonly type: 'json_schema'; readonly name: string; readonly schema: unknown };

function parseResponseFormat(rf: unknown): ResponseFormat {
  if (rf === undefined || rf === null) return { type: 'text' };
  if (typeof rf !== 'object' || Array.isArray(rf)) throw badParam('response_format', `response_format must be an object, got ${typeName(rf)}`, 'invalid_type');
  const o = rf as Body;
  checkKnown(o, ['type', 'json_schema'], 'response_format');
  if (o.type === 'text' || o.type === 'json_object') {
    if (o.json_schema !== undefined) throw badParam('response_format.json_schema', `response_format.json_schema goes with type "json_schema", not "${o.type}"`);
    return { type: o.type };
  }
  if (o.type !== 'json_schema') {
    throw badParam('response_format.type', `response_format.type must be "text", "json_object" or "json_schema", got ${JSON.stringify(o.type)}`, 'invalid_value');
  }
  const js = o.json_schema;
  if (typeof js !== 'object' || js === null || Array.isArray(js)) throw badParam('response_format.json_schema', 'response_format.json_schema is required for type "json_schema" and must be an object', 'missing_required_parameter');
  const j = js as Body;
  checkKnown(j, ['name', 'schema', 'strict', 'description'], 'response_format.json_schema');
  if (typeof j.name !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(j.name)) {
    throw badParam('response_format.json_schema.name', 'response_format.json_schema.name is required: 1 to 64 letters, digits, underscores or dashes', 'invalid_value');
  }
  const schema = j.schema ?? {};
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) throw badParam('response_format.json_schema.schema', 'response_format.json_schema.schema must be a JSON Schema object', 'invalid_type');
  return { type: 'json_schema', name: j.name, schema };
}

const MESSAGE_KEYS = ['role', 'content', 'name', 'tool_calls', 'tool_call_id', 'refusal', 'audio', 'function_call', 'annotations'];

function parseMessages(v: unknown): ChatMessage[] {
  if (v === undefined || v === null) throw badParam('messages', "'messages' is a required property", 'missing_required_parameter');
  if (!Array.isArray(v)) throw badParam('messages', `'messages' must be an array, got ${typeName(v)}`, 'invalid_type');
  if (v.length === 0) throw badParam('messages', "'messages' must hold at least one message");
  return v.map((m, i) => parseMessage(m, `messages[${i}]`));
}

function parseMessage(m: unknown, where: string): ChatMessage {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw badParam(where, `${where} must be an object, got ${typeName(m)}`, 'invalid_type');
  const o = m as Body;
  for (const key of Object.keys(o)) {
    if (!MESSAGE_KEYS.includes(key)) throw new ApiError(400, `Unrecognized argument in ${where}: ${key}`, 'invalid_request_error', `${where}.${key}`, 'unknown_parameter');
  }
  // Fields the OpenAI client copies from a previous response: accepted only when empty.
  for (const key of ['refusal', 'audio', 'function_call']) {
    if (o[key] !== undefined && o[key] !== null) throw badParam(`${where}.${key}`, `${where}.${key} is not supported`, 'unsupported_value');
  }
  if (o.annotations !== undefined && !(Array.isArray(o.annotations) && o.annotations.length === 0)) {
    throw badParam(`${where}.annotations`, `${where}.annotations is not supported`, 'unsupported_value');
  }
  const role = o.role;
  if (typeof role !== 'string') throw badParam(`${where}.role`, `${where}.role is required and must be a string`, 'invalid_type');
  if (!['system', 'developer', 'user', 'assistant', 'tool'].includes(role)) {
    throw badParam(`${where}.role`, `${where}.role must be one of system, developer, user, assistant, tool; got ${JSON.stringify(role)}`);
  }
  const content = parseContent(o.content, role, `${where}.content`);
  const msg: { -readonly [K in keyof ChatMessage]: ChatMessage[K] } = { role: role === 'developer' ? 'system' : (role as ChatMessage['role']), content };
  if (o.name !== undefined && o.name !== null) {
    if (typeof o.name !== 'string') throw badParam(`${where}.name`, `${where}.name must be a string`, 'invalid_type');
    msg.name = o.name;
  }
  if (o.tool_calls !== undefined && o.tool_calls !== null) {
    if (role !== 'assistant') throw badParam(`${where}.tool_calls`, 'only assistant messages have tool_calls');
    msg.tool_calls = parseToolCallsField(o.tool_calls, `${where}.tool_calls`);
  }
  if (role === 'tool') {
    if (typeof o.tool_call_id !== 'string') throw badParam(`${where}.tool_call_id`, `${where}.tool_call_id is required for tool messages and must be a string`, 'missing_required_parameter');
    msg.tool_call_id = o.tool_call_id;
  } else if (o.tool_call_id !== undefined && o.tool_call_id !== null) {
    throw badParam(`${where}.tool_call_id`, 'only tool messages have tool_call_id');
  }
  return msg;
}

function parseContent(v: unknown, role: string, where: string): string | ChatTextPart[] {
  if (v === undefined || v === null) {
    if (role === 'assistant') return '';
    throw badParam(where, `${where} is required for ${role} messages`, 'missing_required_parameter');
  }
  if (typeof v === 'string') return v;
  if (!Array.isArray(v)) throw badParam(where, `${where} must be a string or an array of content parts, got ${typeName(v)}`, 'invalid_type');
  return v.map((part, j) => {
    const pw = `${where}[${j}]`;
    if (typeof part !== 'object' || part === null) throw badParam(pw, `${pw} must be an object`, 'invalid_type');
    const p = part as Body;
    if (p.type !== 'text') throw badParam(pw, `content parts of type ${JSON.stringify(p.type)} are not supported (text only)`, 'unsupported_value');
    if (typeof p.text !== 'string') throw badParam(`${pw}.text`, `${pw}.text must be a string`, 'invalid_type');
    for (const key of Object.keys(p)) if (key !== 'type' && key !== 'text') throw badParam(`${pw}.${key}`, `Unrecognized argument in ${pw}: ${key}`, 'unknown_parameter');
    return { type: 'text', text: p.text };
  });
}

function parseToolCallsField(v: unknown, where: string): ChatToolCall[] {
  if (!Array.isArray(v)) throw badParam(where, `${where} must be an array`, 'invalid_type');
  return v.map((c, j) => {
    const cw = `${where}[${j}]`;
    if (typeof c !== 'object' || c === null || Array.isArray(c)) throw badParam(cw, `${cw} must be an object`, 'invalid_type');
    const o = c as Body;
    if (o.type !== undefined && o.type !== 'function') throw badParam(`${cw}.type`, `${cw}.type must be "function"`);
    const f = o.function as Body | undefined;
    if (typeof f !== 'object' || f === null) throw badParam(`${cw}.function`, `${cw}.function is required`, 'missing_required_parameter');
    if (typeof f.name !== 'string' || f.name === '') throw badParam(`${cw}.function.name`, `${cw}.function.name must be a non-empty string`, 'invalid_type');
    if (typeof f.arguments !== 'string') throw badParam(`${cw}.function.arguments`, `${cw}.function.arguments must be a string (JSON)`, 'invalid_type');
    let args: unknown;
    try { args = f.arguments.trim() === '' ? {} : JSON.parse(f.arguments); } catch { throw badParam(`${cw}.function.arguments`, `${cw}.function.arguments is not valid JSON`); }
    if (typeof args !== 'object' || args === null || Array.isArray(args)) throw badParam(`${cw}.function.arguments`, `${cw}.function.arguments must be a JSON object`);
    const call: ChatToolCall = { type: 'function', function: { name: f.name, arguments: f.arguments } };
    return typeof o.id === 'string' ? { ...call, id: o.id } : call;
  });
}

function parseTools(v: unknown): ToolDefinition[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw badParam('tools', `'tools' must be an array, got ${typeName(v)}`, 'invalid_type');
  const names = new Set<string>();
  return v.map((t, i) => {
    const where = `tools[${i}]`;
    if (typeof t !== 'object' || t === null || Array.isArray(t)) throw badParam(where, `${where} must be an object`, 'invalid_type');
    const o = t as Body;
    if (o.type !== 'function') throw badParam(`${where}.type`, `${where}.type must be "function"`, 'invalid_value');
    for (const key of Object.keys(o)) if (key !== 'type' && key !== 'function') throw badParam(`${where}.${key}`, `Unrecognized argument in ${where}: ${key}`, 'unknown_parameter');
    const f = o.function;
    if (typeof f !== 'object' || f === null || Array.isArray(f)) throw badParam(`${where}.function`, `${where}.function is required and must be an object`, 'missing_required_parameter');
    const fn = f as Body;
    for (const key of Object.keys(fn)) {
      if (!['name', 'description', 'parameters', 'strict'].includes(key)) throw badParam(`${where}.function.${key}`, `Unrecognized argument in ${where}.function: ${key}`, 'unknown_parameter');
    }
    if (typeof fn.name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(fn.name)) {
      throw badParam(`${where}.function.name`, `${where}.function.name must be 1-64 letters, digits, _ . or -`);
    }
    if (names.has(fn.name)) throw badParam(`${where}.function.name`, `two tools are named ${fn.name}`);
    names.add(fn.name);
    if (fn.description !== undefined && typeof fn.description !== 'string') throw badParam(`${where}.function.description`, 'description must be a string', 'invalid_type');
    if (fn.parameters !== undefined && (typeof fn.parameters !== 'object' || fn.parameters === null || Array.isArray(fn.parameters))) {
      throw badParam(`${where}.function.parameters`, 'parameters must be a JSON Schema object', 'invalid_type');
    }
    if (fn.strict === true) throw badParam(`${where}.function.strict`, 'strict function calling (schema-constrained decoding) is not supported', 'unsupported_value');
    const def: ToolDefinition['function'] = {
      name: fn.name,
      ...(fn.description !== undefined ? { description: fn.description as string } : {}),
      ...(fn.parameters !== undefined ? { parameters: fn.parameters as Record<string, unknown> } : {}),
    };
    return { type: 'function', function: def };
  });
}

function parseToolChoice(v: unknown, tools: readonly ToolDefinition[]): ToolChoice {
  if (v === undefined || v === null) return tools.length > 0 ? 'auto' : 'none';
  if (v === 'none' || v === 'auto') return v;
  if (v === 'required') {
    if (tools.length === 0) throw badParam('tool_choice', 'tool_choice "required" needs tools');
    return v;
  }
  if (typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Body;
    const name = (o.function as Body | undefined)?.name;
    if (o.type !== 'function' || typeof name !== 'string') {
      throw badParam('tool_choice', 'tool_choice must be "none", "auto", "required" or {"type": "function", "function": {"name": …}}');
    }
    if (!tools.some((t) => t.function.name === name)) throw badParam('tool_choice', `tool_choice names ${JSON.stringify(name)}, which is not among the tools`);
    return { name };
  }
  throw badParam('tool_choice', 'tool_choice must be "none", "auto", "required" or {"type": "function", "function": {"name": …}}');
}

// ── completions ──────────────────────────────────────────────────────────────────────────────

export interface CompletionRequest {
  readonly model: string;
  /** The prompt text, or token ids used as given. */
  readonly prompt: string | number[];
  readonly stream: boolean;
  readonly includeUsage: boolean;
  readonly maxTokens: number;
  readonly sampling: SamplingOptions;
  readonly stop: string[];
  /** Top alternatives per token (OpenAI `logprobs: N`), or undefined. */
  readonly logprobs: number | undefined;
  readonly echo: boolean;
}

const COMPLETION_KEYS = ['model', 'prompt', 'stream', 'stream_options', 'max_tokens', 'stop', 'n', 'best_of', 'logprobs', 'echo', 'suffix', 'user', ...SAMPLING_KEYS];

export function parseCompletionRequest(body: Body): CompletionRequest {
  checkKnown(body, COMPLETION_KEYS);
  const model = requireString(body, 'model');
  nField(body);
  const bestOf = optNumber(body, 'best_of', { min: 1, integer: true });
  if (bestOf !== undefined && bestOf !== 1) throw badParam('best_of', `best_of > 1 is not supported, got ${bestOf}`, 'unsupported_value');
  if (body.suffix !== undefined && body.suffix !== null) throw badParam('suffix', 'suffix (fill-in-the-middle) is not supported', 'unsupported_value');
  if (body.user !== undefined && body.user !== null && typeof body.user !== 'string') throw badParam('user', `'user' must be a string, got ${typeName(body.user)}`, 'invalid_type');
  const { stream, includeUsage } = streamFields(body);
  const echo = optBool(body, 'echo') ?? false;
  // max_tokens 0 only makes sense to score a prompt (echo).
  const maxTokens = optNumber(body, 'max_tokens', { min: echo ? 0 : 1, integer: true }) ?? 16;
  const logprobs = optNumber(body, 'logprobs', { min: 0, max: 20, integer: true });
  return { model, prompt: parsePrompt(body.prompt), stream, includeUsage, maxTokens, sampling: samplingFields(body), stop: stopField(body), logprobs, echo };
}

function parsePrompt(v: unknown): string | number[] {
  if (v === undefined || v === null) throw badParam('prompt', "'prompt' is a required property", 'missing_required_parameter');
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    if (v.length > 0 && v.every((x) => typeof x === 'number')) {
      if (!v.every((x) => Number.isInteger(x) && x >= 0)) throw badParam('prompt', 'token ids must be non-negative integers');
      return v as number[];
    }
    if (v.length === 1 && (typeof v[0] === 'string' || Array.isArray(v[0]))) return parsePrompt(v[0]);
    if (v.length > 1 && v.every((x) => typeof x === 'string' || Array.isArray(x))) {
      throw badParam('prompt', `several prompts in one request are not supported (got ${v.length}); send one request each`, 'unsupported_value');
    }
    if (v.length === 0) throw badParam('prompt', 'the prompt is empty');
  }
  throw badParam('prompt', `'prompt' must be a string, an array of token ids, or a one-element array of either; got ${typeName(v)}`, 'invalid_type');
}

// ── tokenize / detokenize ────────────────────────────────────────────────────────────────────

export interface TokenizeRequest {
  readonly model?: string;
  readonly content: string;
  readonly addSpecial: boolean;
  readonly parseSpecial: boolean;
  readonly withPieces: boolean;
}

export function parseTokenizeRequest(body: Body): TokenizeRequest {
  checkKnown(body, ['model', 'content', 'add_special', 'parse_special', 'with_pieces']);
  if (body.model !== undefined) requireString(body, 'model');
  return {
    model: body.model as string | undefined,
    content: requireString(body, 'content'),
    addSpecial: optBool(body, 'add_special') ?? false,
    parseSpecial: optBool(body, 'parse_special') ?? true,
    withPieces: optBool(body, 'with_pieces') ?? false,
  };
}

export function parseDetokenizeRequest(body: Body, vocabSize: number): { model?: string; tokens: number[] } {
  checkKnown(body, ['model', 'tokens']);
  if (body.model !== undefined) requireString(body, 'model');
  const t = body.tokens;
  if (t === undefined || t === null) throw badParam('tokens', "'tokens' is a required property", 'missing_required_parameter');
  if (!Array.isArray(t)) throw badParam('tokens', `'tokens' must be an array of token ids, got ${typeName(t)}`, 'invalid_type');
  for (const id of t) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw badParam('tokens', `token id ${JSON.stringify(id)} is out of range (vocabulary has ${vocabSize} tokens)`);
  }
  return { model: body.model as string | undefined, tokens: t as number[] };
}
