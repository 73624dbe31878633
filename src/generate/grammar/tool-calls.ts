/**
 * Tool definitions → the {@link Grammar} of Llama 4's pythonic tool-call list, the format Meta's
 * chat template asks for and `src/server/tool-calls.ts` parses:
 *
 *   [get_weather(city="Paris", unit="celsius"), get_time(tz="UTC")]
 *
 * Each call names one of the tools and passes its parameters as keyword arguments in the
 * schema's declared order (required ones present, optional ones skippable), values written as
 * Python literals compiled by the same {@link SchemaCompiler} as JSON, in its 'python' dialect.
 */
import { Llama4Error } from '../../errors.js';
import { GrammarBuilder, alt, lit, opt, seq, star, type Expr, type Grammar } from './grammar.js';
import { SchemaCompiler, buildSchemaGrammar, memberList, UnsupportedSchemaError } from './json-schema.js';

export interface ToolSpec {
  readonly name: string;
  /** JSON Schema of the arguments object. */
  readonly parameters?: unknown;
}

/** `,` then at most one space: between calls and between arguments. */
const SEP = seq(lit(','), opt(lit(' ')));

/**
 * Llama 4's pythonic tool-call list: `[name(arg=value, arg=value), other(...)]` — one or more
 * calls (when `parallel` is true; exactly one otherwise) from `tools`. A tool without parameters
 * or with no properties is called as `name()`. Throws {@link UnsupportedSchemaError} for a
 * parameters schema this compiler cannot express, {@link Llama4Error} for no tools or a bad name.
 */
export function pythonicToolCallGrammar(tools: readonly ToolSpec[], options: { parallel: boolean }): Grammar {
  if (tools.length === 0) throw new Llama4Error('a tool-call grammar needs at least one tool');
  const b = new GrammarBuilder();
  const call = alt(...tools.map((t, i) => toolCall(b, t, i)));
  const list = options.parallel ? seq(lit('['), call, star(seq(SEP, call)), lit(']')) : seq(lit('['), call, lit(']'));
  return buildSchemaGrammar(b, list, 'tools');
}

/** `name(` keyword arguments `)`. */
function toolCall(b: GrammarBuilder, tool: ToolSpec, index: number): Expr {
  if (typeof tool.name !== 'string' || tool.name === '' || /[\s(),=[\]]/.test(tool.name)) {
    throw new Llama4Error(`tools[${index}] has no usable name (${JSON.stringify(tool.name)})`);
  }
  const params = tool.parameters;
  const open = lit(`${tool.name}(`), close = lit(')');
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return seq(open, close);
  const schemas = new SchemaCompiler(b, params, 'python', `tools[${index}].parameters`);
  const args = schemas.members(params as Record<string, unknown>, '#').map((m) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(m.name)) {
      throw new UnsupportedSchemaError('properties', `tools[${index}].parameters#/properties`, `"${m.name}" is not a Python keyword-argument name`);
    }
    return { ...m, value: seq(lit(`${m.name}=`), m.value) };
  });
  const list = memberList(b, args, SEP, null, `${tool.name} arguments`);
  if (list.nonEmpty === null) return seq(open, close);
  return seq(open, list.canBeEmpty ? opt(list.nonEmpty) : list.nonEmpty, close);
}
