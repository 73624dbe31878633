/**
 * `startServer`: an OpenAI-compatible HTTP server for one model, on Hono + @hono/node-server.
 * It listens first and loads the model after (GET /health says "loading" until then) when given
 * a path; the scheduler (src/server/scheduler.ts) runs the generations.
 */
import { basename } from 'node:path';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Llama4Error } from '../errors.js';
import { loadModel, type LoadedModel, type LoadOptions } from '../load.js';
import { ChatPrompter } from './chat-prompt.js';
import { Metrics } from './metrics.js';
import { createApp, type ServerState } from './routes.js';
import { Scheduler } from './scheduler.js';

export interface ServerOptions {
  /** A loaded model, or the path of one to load (HF folder or .gguf). */
  readonly model: LoadedModel | string;
  /** How to load `model` when it is a path (backend, quantization). */
  readonly loadOptions?: LoadOptions;
  /** Default 127.0.0.1 (loopback only). */
  readonly host?: string;
  /** Default 8080; 0 picks a free port (read it from the result). */
  readonly port?: number;
  /** When set, every route except /health needs `Authorization: Bearer <apiKey>`. */
  readonly apiKey?: string;
  /** Sequences generated together (slots, one KV cache each). Default 4. */
  readonly parallel?: number;
  /** Context size of each slot. Default: the model's, at most 8192. */
  readonly ctxSize?: number;
  /** Requests that may wait for a slot; more get 429. Default 64. */
  readonly queueSize?: number;
  /** The model's name in the API (default: the file or folder name); both names are accepted. */
  readonly modelAlias?: string;
  /** Largest request body in bytes (413 past it). Default 16 MiB. */
  readonly bodyLimit?: number;
  /** Prompt tokens evaluated per scheduler step. Default 512. */
  readonly prefillChunk?: number;
  /** Resolve only once the model is loaded (default true). */
  readonly waitForModel?: boolean;
  /**
   * Test seam: called once per generation; a string returned replaces the model's sampled
   * tokens by that text's token ids (then end of generation). The forward passes, decoding,
   * stop strings, tool-call parsing and streaming all run as usual.
   */
  readonly scriptedOutput?: () => string | undefined;
}

export interface RunningServer {
  /** `http://host:port` (no trailing slash); the OpenAI base URL is `${url}/v1`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Resolves when the model is loaded (rejects if loading fails). */
  readonly ready: Promise<void>;
  readonly metrics: Metrics;
  /** The scheduler, once the model is loaded. */
  readonly scheduler: () => Scheduler | null;
  /** Stops listening, cancels running generations and frees the KV caches. */
  close(): Promise<void>;
}

/**
 * Starts the server.
 *
 * @example
 * const server = await startServer({ model: 'fixtures/llama4-tiny-moe', port: 0 });
 * const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused' });
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 8080;
  const modelId = typeof options.model === 'string' ? basename(options.model).replace(/\.gguf$/i, '') : basename(options.model.path).replace(/\.gguf$/i, '');
  const modelName = options.modelAlias ?? modelId;
  const state: ServerState = {
    ready: null,
    modelName,
    acceptedNames: new Set([modelName, modelId]),
    metrics: new Metrics(),
    apiKey: options.apiKey,
    bodyLimit: options.bodyLimit ?? 16 * 1024 * 1024,
    createdAt: Math.floor(Date.now() / 1000),
    scriptedOutput: options.scriptedOutput,
  };
  const app = createApp(state);

  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: host, port }, () => resolve(s));
    s.once('error', reject);
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closed = false;

  const ready = (async () => {
    const model = typeof options.model === 'string' ? await loadModel(options.model, options.loadOptions) : options.model;
    if (closed) return;
    const ctxSize = options.ctxSize ?? Math.min(model.config.maxContext, 8192);
    if (!(Number.isInteger(ctxSize) && ctxSize >= 2)) throw new Llama4Error(`context size must be an integer ≥ 2 (got ${ctxSize})`);
    const scheduler = new Scheduler({
      model: model.model, tokenizer: model.tokenizer, parallel: options.parallel ?? 4, ctxSize,
      queueSize: options.queueSize ?? 64, prefillChunk: options.prefillChunk, metrics: state.metrics,
    });
    state.ready = { model, scheduler, prompter: new ChatPrompter(model.tokenizer, model.chat) };
  })();

  const close = async () => {
    if (closed) return;
    closed = true;
    state.ready?.scheduler.close();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      (server as { closeAllConnections?: () => void }).closeAllConnections?.();
    });
  };

  if (options.waitForModel ?? true) {
    try {
      await ready;
    } catch (err) {
      await close();
      throw err;
    }
  } else {
    ready.catch(() => { /* the caller awaits `ready` */ });
  }

  return {
    url: `http://${urlHost}:${address.port}`,
    host: address.address,
    port: address.port,
    ready,
    metrics: state.metrics,
    scheduler: () => state.ready?.scheduler ?? null,
    close,
  };
}
