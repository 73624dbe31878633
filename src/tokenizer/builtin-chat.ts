/**
 * Built-in chat formats for models without a Jinja template (spec §7.3, §9):
 *
 *     Llama 4: <|header_start|>{role}<|header_end|>\n\n{content}<|eot|>
 *     Llama 3: <|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>
 *
 * preceded by the BOS text and followed by the assistant header as generation prompt. Content is
 * trimmed, as llama.cpp's built-in templates and the Hugging Face templates do. Tool use follows
 * Meta: tool results use the `ipython` role; Llama 4 writes calls as a pythonic list
 * `[name(arg="v")]` and ends tool calls and tool results with `<|eom|>`; Llama 3.1 writes one call
 * as JSON `{"name": …, "parameters": …}`.
 */
import { Llama4Error } from '../errors.js';
import type { ChatFamily, ChatMessage, ChatToolCall } from './chat-types.js';

/** Options of {@link renderBuiltin}. */
export interface BuiltinRenderOptions {
  readonly addGenerationPrompt: boolean;
  readonly tools?: readonly unknown[];
  /** BOS text to start with (the tokenizer's `<|begin_of_text|>`). */
  readonly bosToken: string;
}

interface Format {
  readonly headerStart: string;
  readonly headerEnd: string;
  /** Terminator of one message. */
  end(message: ChatMessage): string;
  /** Text of the assistant's tool calls, appended to its content. */
  calls(calls: readonly ChatToolCall[], where: string): string;
  /** System-prompt text that lists the tools and says how to call them. */
  toolPrompt(toolsJson: string): string;
}

const LLAMA4: Format = {
  headerStart: '<|header_start|>',
  headerEnd: '<|header_end|>',
  // Meta's llama4 chat_format: "Tool calls and Tool Response messages should be eom".
  end: (m) => ((m.role === 'assistant' && (m.tool_calls?.length ?? 0) > 0) || m.role === 'tool' || m.role === 'ipython'
    ? '<|eom|>' : '<|eot|>'),
  calls: (calls, where) => `[${calls.map((c, j) => pythonicCall(c, `${where}.tool_calls[${j}]`)).join(', ')}]`,
  toolPrompt: (toolsJson) =>
    'Here is a list of functions in JSON format that you can invoke:\n\n' + toolsJson + '\n\n' +
    'To call functions, reply with only a Python list of calls, for example ' +
    '[func_name1(param1="value1", param2=2), func_name2()]. Call only the functions listed above; ' +
    'when none of them fits, answer in plain text.',
};

const LLAMA3: Format = {
  headerStart: '<|start_header_id|>',
  headerEnd: '<|end_header_id|>',
  // Llama 3.1 uses <|eom_id|> only after its built-in tools (python_tag), which are not modelled here.
  end: () => '<|eot_id|>',
  calls: (calls, where) => {
    if (calls.length !== 1) {
      throw new Llama4Error(`Llama 3 takes one tool call per message, got ${calls.length}`, { source: where });
    }
    const c = calls[0];
    return JSON.stringify({ name: c.function.name, parameters: parseArguments(c, `${where}.tool_calls[0]`) });
  },
  toolPrompt: (toolsJson) =>
    'You have access to the following functions:\n\n' + toolsJson + '\n\n' +
    'To call a function, reply with only a JSON object of the form ' +
    '{"name": function name, "parameters": dictionary of argument name and its value}.',
};

const FORMATS: Readonly<Record<ChatFamily, Format>> = { llama4: LLAMA4, llama3: LLAMA3 };

/** Render `messages` in the built-in format of `family`. */
export function renderBuiltin(family: ChatFamily, messages: readonly ChatMessage[], options: BuiltinRenderOptions): string {
  const f = FORMATS[family];
  const header = (role: string): string => `${f.headerStart}${role}${f.headerEnd}\n\n`;
  const withTools = options.tools && options.tools.length > 0
    ? withSystemText(messages, f.toolPrompt(toolsJson(options.tools)))
    : messages;
  let out = options.bosToken;
  withTools.forEach((m, i) => {
    const where = `messages[${i}]`;
    let body = messageText(m, where).trim();
    if (m.role === 'assistant' && m.tool_calls && m.tool_calls.length > 0) body += f.calls(m.tool_calls, where);
    out += header(m.role === 'tool' ? 'ipython' : m.role) + body + f.end(m);
  });
  if (options.addGenerationPrompt) out += header('assistant');
  return out;
}

/** The text of a message's content (parts are concatenated). */
export function messageText(m: ChatMessage, where: string): string {
  if (typeof m.content === 'string') return m.content;
  if (!Array.isArray(m.content)) throw new Llama4Error('content must be a string or an array of parts', { source: where });
  return m.content.map((part, j) => {
    if (part.type !== 'text' || typeof part.text !== 'string') {
      throw new Llama4Error(`content part of type ${JSON.stringify(part.type)} is not supported (text only)`,
        { source: `${where}.content[${j}]` });
    }
    return part.text;
  }).join('');
}

/** Tools as Meta lists them: the `function` objects, as indented JSON. */
function toolsJson(tools: readonly unknown[]): string {
  const fns = tools.map((t) => (typeof t === 'object' && t !== null && 'function' in t ? t.function : t));
  return JSON.stringify(fns, null, 4);
}

/** Put `text` at the end of the system message, adding one if there is none. */
function withSystemText(messages: readonly ChatMessage[], text: string): readonly ChatMessage[] {
  const first = messages[0];
  if (first?.role === 'system') {
    const own = messageText(first, 'messages[0]').trim();
    return [{ role: 'system', content: own ? `${own}\n\n${text}` : text }, ...messages.slice(1)];
  }
  return [{ role: 'system', content: text }, ...messages];
}

function parseArguments(call: ChatToolCall, where: string): Record<string, unknown> {
  const raw = call.function.arguments;
  if (raw.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new Llama4Error(`tool call arguments are not valid JSON: ${(err as Error).message}`, { source: where });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Llama4Error('tool call arguments must be a JSON object', { source: where });
  }
  return value as Record<string, unknown>;
}

/** `name(a="x", b=1)`: the call in Python syntax, as Meta's `python_list` tool format writes it. */
function pythonicCall(call: ChatToolCall, where: string): string {
  const args = Object.entries(parseArguments(call, where)).map(([k, v]) => `${k}=${pythonLiteral(v)}`);
  return `${call.function.name}(${args.join(', ')})`;
}

/** A JSON value as a Python literal (`true` → `True`, objects → dicts), readable by `ast.literal_eval`. */
function pythonLiteral(v: unknown): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number' || typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(pythonLiteral).join(', ')}]`;
  const entries = Object.entries(v as Record<string, unknown>);
  return `{${entries.map(([k, x]) => `${JSON.stringify(k)}: ${pythonLiteral(x)}`).join(', ')}}`;
}
