/**
 * The one error class of llama4.ts. Every failure at a boundary (a model file, a config, a
 * template, a request, a command line) throws this with a message that names the thing at fault,
 * so the CLI can print one line and exit non-zero, and the server can answer 4xx.
 */
export class Llama4Error extends Error {
  /** The file or input at fault, when there is one. */
  readonly source?: string;
  constructor(message: string, options: { source?: string; cause?: unknown } = {}) {
    super(options.source ? `${options.source}: ${message}` : message, { cause: options.cause });
    this.name = 'Llama4Error';
    this.source = options.source;
  }
}

/** Cheap invariant check for hot paths and internal consistency (not for user input). */
export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(`internal assertion failed: ${message}`);
}
