/**
 * Chat requests → prompt token ids, tools included.
 *
 * Without tools the prompt is exactly `encodeChat(tokenizer, model.chat, messages)`. With tools
 * (or tool calls / tool results in the history) the model's own chat template is used when it
 * renders them — checked once at startup by rendering probe messages — and otherwise the
 * built-in Llama 4 (or Llama 3) format, which lists the tools in the system prompt, writes
 * assistant tool calls as a pythonic list and tool results under the `ipython` role.
 *
 * `tool_choice`:
 * - `none`: the tools are left out of the prompt (the model cannot see them) and the reply is
 *   not parsed for calls;
 * - `auto`: all tools; the reply may be text or calls;
 * - `required`: all tools, a system instruction that a call is required, and the reply is
 *   *prefilled* with `[` (the model continues a pythonic call list);
 * - a named function: only that tool, an instruction naming it, and the reply prefilled with
 *   `[name(`.
 * A reply that still is not a call (or calls another function) fails the request with a 500
 * `tool_call_failed` error rather than returning text the client did not allow.
 */
import { ChatFormatter, encodeChat, type ChatMessage } from '../tokenizer/chat.js';
import type { TextTokenizer } from '../tokenizer/tokenizer.js';

/** An OpenAI tool definition, validated. */
export interface ToolDefinition {
  readonly type: 'function';
  readonly function: { readonly name: string; readonly description?: string; readonly parameters?: Record<string, unknown> };
}

export type ToolChoice = 'auto' | 'none' | 'required' | { readonly name: string };

export interface ChatPrompt {
  readonly ids: number[];
  /** Text put at the start of the assistant's reply (part of the prompt); the reply continues it. */
  readonly prefill: string;
  /** Whether the reply is parsed for tool calls. */
  readonly parseTools: boolean;
}

const PROBE_TOOL = 'llama4_probe_tool_7f3a';
const PROBE_CALL = 'llama4_probe_call_9c1e';
const PROBE_RESULT = 'llama4_probe_result_4b2d';

export class ChatPrompter {
  /** Whether the model's template renders tools, assistant tool calls and tool results. */
  readonly templateRendersTools: boolean;
  private readonly builtin: ChatFormatter;

  constructor(private readonly tokenizer: TextTokenizer, private readonly chat: ChatFormatter) {
    this.builtin = new ChatFormatter({ template: null, family: chat.family, bosToken: chat.bosToken, eosToken: chat.eosToken });
    this.templateRendersTools = !chat.usesTemplate || probeTemplate(chat);
  }

  /** The formatter for a request: the model's, unless tools are involved and its template ignores them. */
  formatterFor(messages: readonly ChatMessage[], tools: readonly ToolDefinition[]): ChatFormatter {
    const involvesTools = tools.length > 0 || messages.some((m) => m.role === 'tool' || m.role === 'ipython' || (m.tool_calls?.length ?? 0) > 0);
    return involvesTools && !this.templateRendersTools ? this.builtin : this.chat;
  }

  encode(messages: readonly ChatMessage[], tools: readonly ToolDefinition[], choice: ToolChoice): ChatPrompt {
    let shown: readonly ToolDefinition[] = choice === 'none' ? [] : tools;
    let msgs = messages;
    let prefill = '';
    if (choice === 'required') {
      msgs = withSystemNote(messages, 'In this reply you must call one or more of the available functions; reply with the calls only.');
      prefill = '[';
    } else if (typeof choice === 'object') {
      shown = tools.filter((t) => t.function.name === choice.name);
      msgs = withSystemNote(messages, `In this reply you must call the function ${choice.name}; reply with the call only.`);
      prefill = `[${choice.name}(`;
    }
    const formatter = this.formatterFor(msgs, shown);
    const options = shown.length > 0 ? { tools: shown } : {};
    const parseTools = shown.length > 0;
    if (!prefill) return { ids: encodeChat(this.tokenizer, formatter, msgs, options), prefill, parseTools };
    // As encodeChat, with the prefill after the generation prompt.
    const text = formatter.render(msgs, options) + prefill;
    const bos = this.tokenizer.bosId === null ? null : this.tokenizer.idToToken(this.tokenizer.bosId);
    const body = this.tokenizer.addBos && bos !== null && text.startsWith(bos) ? text.slice(bos.length) : text;
    return { ids: this.tokenizer.encode(body, { parseSpecial: true }), prefill, parseTools };
  }
}

/** Adds `note` at the end of the first system message (or as a new first system message). */
function withSystemNote(messages: readonly ChatMessage[], note: string): ChatMessage[] {
  const first = messages[0];
  if (first?.role === 'system') {
    const own = typeof first.content === 'string' ? first.content : first.content.map((p) => p.text).join('');
    return [{ ...first, content: own.trim() ? `${own.trim()}\n\n${note}` : note }, ...messages.slice(1)];
  }
  return [{ role: 'system', content: note }, ...messages];
}

/** Renders probe messages: does the template show tools, an assistant tool call and a tool result? */
function probeTemplate(chat: ChatFormatter): boolean {
  try {
    const withTools = chat.render([{ role: 'user', content: 'hi' }], {
      tools: [{ type: 'function', function: { name: PROBE_TOOL, description: 'probe', parameters: { type: 'object', properties: {} } } }],
    });
    const history = chat.render([
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: '', tool_calls: [{ id: 'call_probe', type: 'function', function: { name: PROBE_CALL, arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'call_probe', content: PROBE_RESULT },
    ]);
    return withTools.includes(PROBE_TOOL) && history.includes(PROBE_CALL) && history.includes(PROBE_RESULT);
  } catch {
    return false;
  }
}
