/** Chat message shapes (OpenAI-compatible) shared by the Jinja and built-in chat formats. */

/** Who speaks. `tool` is rendered as Meta's `ipython` role; `ipython` is accepted as is. */
export type ChatRole = 'system' | 'user' | 'assistant' | 'tool' | 'ipython';

/** One text part of a multi-part message. */
export interface ChatTextPart {
  readonly type: 'text';
  readonly text: string;
}

/** A function call made by the assistant; `arguments` is a JSON object in a string, as in OpenAI's API. */
export interface ChatToolCall {
  readonly id?: string;
  readonly type: 'function';
  readonly function: { readonly name: string; readonly arguments: string };
}

/** One chat message. */
export interface ChatMessage {
  readonly role: ChatRole;
  readonly content: string | readonly ChatTextPart[];
  readonly tool_calls?: readonly ChatToolCall[];
  /** For `tool` messages: the call this result answers. */
  readonly tool_call_id?: string;
  /** For `tool` messages: the function's name. */
  readonly name?: string;
}

/** Which built-in format to use when the model has no Jinja template. */
export type ChatFamily = 'llama4' | 'llama3';

/** Options of a chat rendering. */
export interface RenderOptions {
  /** End with the assistant header so the model writes the reply. Default true. */
  readonly addGenerationPrompt?: boolean;
  /** Tool (function) definitions, OpenAI shape `{type: 'function', function: {name, description, parameters}}`. */
  readonly tools?: readonly unknown[];
  /** Further template variables (Jinja templates only; e.g. `date_string`). */
  readonly extra?: Readonly<Record<string, unknown>>;
}
