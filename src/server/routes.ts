/**
 * The HTTP routes (Hono): OpenAI's `/v1/models`, `/v1/chat/completions`, `/v1/completions`,
 * llama.cpp's `/tokenize`, `/detokenize`, `/health`, and Prometheus `/metrics`. Response bodies,
 * stream chunks and errors take OpenAI's shapes, so the official client works unchanged.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { LoadedModel } from '../load.js';
import type { GeneratedToken } from '../generate/generator.js';
import type { TokenLogprob } from '../generate/logprobs.js';
import { ChatPrompter } from './chat-prompt.js';
import { ApiError, toApiError } from './errors.js';
import type { Metrics } from './metrics.js';
import {
  parseChatRequest, parseCompletionRequest, parseDetokenizeRequest, parseJsonBody, parseTokenizeRequest,
  type ChatRequest, type CompletionRequest,
} from './requests.js';
import { QueueFullError, SchedulerClosedError, type JobOptions, type JobResult, type PromptLogprob, type Scheduler } from './scheduler.js';
import { ToolCallStream, type ParsedToolCall, type ToolStreamEvent } from './tool-calls.js';
import type { TextTokenizer } from '../tokenizer/tokenizer.js';
import type { Grammar } from '../generate/grammar/grammar.js';
import { UnsupportedSchemaError, jsonObjectGrammar, jsonSchemaGrammar } from '../generate/grammar/json-schema.js';
import { pythonicToolCallGrammar } from '../generate/grammar/tool-calls.js';
import { TokenConstraint } from '../generate/grammar/token-constraint.js';

/** What the routes see; `ready` is null while the model loads. */
export interface ServerState {
  ready: { model: LoadedModel; scheduler: Scheduler; prompter: ChatPrompter } | null;
  /** The id `/v1/models` lists: the alias, else the model's file or folder name. */
  modelName: string;
  /** Names a request's `model` may use. */
  acceptedNames: Set<string>;
  readonly metrics: Metrics;
  readonly apiKey?: string;
  readonly bodyLimit: number;
  readonly createdAt: number;
  /** Test seam: the reply text to script for the next generation (see ServerOptions.scriptedOutput). */
  readonly scriptedOutput?: () => string | undefined;
}

const ROUTES = new Set(['/health', '/metrics', '/v1/models', '/v1/chat/completions', '/v1/completions', '/tokenize', '/detokenize']);

const errorResponse = (c: Context, err: unknown): Response => {
  const e = toApiError(err);
  return c.json(e.body, e.status as 400);
};

export function createApp(state: ServerState): Hono {
  const app = new Hono();

  app.use('*', async (c, next) => {
    await next();
    const path = c.req.path;
    state.metrics.countRequest(ROUTES.has(path) ? path : path.startsWith('/v1/models/') ? '/v1/models/:id' : 'other', c.res.status);
  });

  if (state.apiKey !== undefined) {
    const expected = createHash('sha256').update(state.apiKey).digest();
    app.use('*', async (c, next) => {
      if (c.req.path === '/health') return next();
      const header = c.req.header('authorization') ?? '';
      const m = /^Bearer\s+(.+)$/i.exec(header);
      const given = createHash('sha256').update(m ? m[1].trim() : '').digest();
      if (!m || !timingSafeEqual(given, expected)) {
        const msg = m ? 'Incorrect API key provided.' : 'Missing API key: send it as "Authorization: Bearer KEY".';
        return errorResponse(c, new ApiError(401, msg, 'authentication_error', null, 'invalid_api_key'));
      }
      return next();
    });
  }

  app.use('*', bodyLimit({
    maxSize: state.bodyLimit,
    onError: (c) => errorResponse(c, new ApiError(413, `the request body is larger than the limit of ${state.bodyLimit} bytes`, 'invalid_request_error', null, 'request_too_large')),
  }));

  app.onError((err, c) => errorResponse(c, err));
  app.notFound((c) => errorResponse(c, new ApiError(404, `no route ${c.req.method} ${c.req.path}`, 'not_found_error', null, 'unknown_url')));

  /** The loaded model, or 503 while it loads. */
  const ready = () => {
    if (state.ready === null) throw new ApiError(503, 'the model is still loading', 'unavailable_error', null, 'model_loading');
    return state.ready;
  };
  const checkModel = (name: string | undefined) => {
    if (name !== undefined && !state.acceptedNames.has(name)) {
      throw new ApiError(404, `The model \`${name}\` does not exist; this server serves \`${state.modelName}\``, 'invalid_request_error', 'model', 'model_not_found');
    }
  };
  const body = async (c: Context) => parseJsonBody(await c.req.text());

  app.get('/health', (c) => {
    if (state.ready === null) return c.json({ status: 'loading' }, 503);
    const s = state.ready.scheduler;
    return c.json({ status: 'ok', slots_idle: s.freeSlots, slots_processing: s.busySlots, queue_depth: s.queueDepth });
  });

  app.get('/metrics', (c) => {
    const s = state.ready?.scheduler;
    const text = state.metrics.render({
      queueDepth: s?.queueDepth ?? 0, queueCapacity: s?.queueSize ?? 0, slotsBusy: s?.busySlots ?? 0, slotsFree: s?.freeSlots ?? 0,
      loading: state.ready === null,
    });
    return c.body(text, 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
  });

  const modelCard = () => ({ id: state.modelName, object: 'model', created: state.createdAt, owned_by: 'llama4.ts' });
  app.get('/v1/models', (c) => c.json({ object: 'list', data: [modelCard()] }));
  app.get('/v1/models/:id', (c) => {
    checkModel(c.req.param('id'));
    return c.json(modelCard());
  });

  app.post('/tokenize', async (c) => {
    const { model } = ready();
    const req = parseTokenizeRequest(await body(c));
    checkModel(req.model);
    const ids = model.tokenizer.encode(req.content, { addBos: req.addSpecial, addEos: req.addSpecial ? undefined : false, parseSpecial: req.parseSpecial });
    return c.json({ tokens: req.withPieces ? ids.map((id) => ({ id, piece: model.tokenizer.decode([id]) })) : ids });
  });

  app.post('/detokenize', async (c) => {
    const { model } = ready();
    const req = parseDetokenizeRequest(await body(c), model.tokenizer.vocabSize);
    checkModel(req.model);
    return c.json({ content: model.tokenizer.decode(req.tokens) });
  });

  app.post('/v1/chat/completions', async (c) => {
    const r = ready();
    const req = parseChatRequest(await body(c));
    checkModel(req.model);
    return chatCompletion(c, state, r, req);
  });

  app.post('/v1/completions', async (c) => {
    const r = ready();
    const req = parseCompletionRequest(await body(c));
    checkModel(req.model);
    return completion(c, state, r, req);
  });

  return app;
}

type Ready = NonNullable<ServerState['ready']>;

// ── shared pieces ────────────────────────────────────────────────────────────────────────────

const newId = (prefix: string) => `${prefix}${randomBytes(12).toString('hex')}`;
const now = () => Math.floor(Date.now() / 1000);

/** 400 when the prompt leaves no room to generate (OpenAI's context_length_exceeded). */
function checkContext(n: number, ctx: number, param: string): void {
  if (n >= ctx) {
    throw new ApiError(400, `This model's maximum context length is ${ctx} tokens. However, your prompt has ${n} tokens (at least one must be left to generate).`,
      'invalid_request_error', param, 'context_length_exceeded');
  }
}

/** Submits a job: a full queue is a 429, a closing server a 503, bad options a 400. */
function submit(r: Ready, job: JobOptions): Promise<JobResult> {
  const mapped = (err: unknown): never => {
    if (err instanceof QueueFullError) throw new ApiError(429, err.message, 'rate_limit_error', null, 'queue_full');
    if (err instanceof SchedulerClosedError) throw new ApiError(503, err.message, 'unavailable_error', null, 'shutting_down');
    throw err;
  };
  try {
    return r.scheduler.submit(job).catch(mapped);
  } catch (err) {
    return mapped(err);
  }
}

/** An AbortController that fires when the client goes away. */
function clientSignal(c: Context): AbortController {
  const ac = new AbortController();
  const sig = c.req.raw.signal;
  if (sig.aborted) ac.abort();
  else sig.addEventListener('abort', () => ac.abort(), { once: true });
  return ac;
}

function scripted(state: ServerState, r: Ready): number[] | undefined {
  const text = state.scriptedOutput?.();
  return text === undefined ? undefined : r.model.tokenizer.encode(text, { addBos: false, addEos: false, parseSpecial: true });
}

interface SseWriter {
  response: Response;
  send: (data: unknown) => void;
  close: () => void;
  /** The end of a stream: the usage chunk when one is given, then `[DONE]`. */
  finish: (usageChunk?: unknown) => void;
  /** A failure after the headers went out: an OpenAI error body as the last event. */
  fail: (err: unknown) => void;
}

/** An SSE response and its writer; `cancel` runs when the client stops reading. */
function sse(onCancel: () => void): SseWriter {
  const enc = new TextEncoder();
  let ctrl!: ReadableStreamDefaultController<Uint8Array>;
  let closed = false;
  const stream = new ReadableStream<Uint8Array>({
    start(c) { ctrl = c; },
    cancel() { closed = true; onCancel(); },
  });
  const write = (text: string) => { if (!closed) ctrl.enqueue(enc.encode(text)); };
  const send = (data: unknown) => write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
  const close = () => { if (!closed) { closed = true; ctrl.close(); } };
  return {
    response: new Response(stream, { headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' } }),
    send,
    close,
    finish: (usageChunk) => { if (usageChunk !== undefined) send(usageChunk); send('[DONE]'); close(); },
    fail: (err) => { send(toApiError(err).body); close(); },
  };
}

function usage(res: JobResult) {
  return {
    prompt_tokens: res.promptTokens,
    completion_tokens: res.ids.length,
    total_tokens: res.promptTokens + res.ids.length,
    prompt_tokens_details: { cached_tokens: res.reusedTokens },
  };
}

// ── chat completions ─────────────────────────────────────────────────────────────────────────

/**
 * What the reply must look like: with tool_choice "required" or a named function, a Llama 4
 * pythonic call list to the offered tools (continuing the prompt's prefilled `[`); with
 * response_format json_object / json_schema, JSON of that shape; otherwise anything.
 */
function replyConstraint(req: ChatRequest, prefill: string, tok: TextTokenizer): TokenConstraint | undefined {
  let grammar: Grammar;
  if (req.toolChoice === 'required' || typeof req.toolChoice === 'object') {
    const named = typeof req.toolChoice === 'object' ? req.toolChoice.name : null;
    const offered = req.tools.filter((t) => named === null || t.function.name === named).map((t) => ({ name: t.function.name, parameters: t.function.parameters }));
    grammar = schemaGrammar('tools', () => pythonicToolCallGrammar(offered, { parallel: named === null && req.parallelToolCalls }));
  } else if (req.responseFormat.type === 'json_object') {
    grammar = jsonObjectGrammar();
  } else if (req.responseFormat.type === 'json_schema') {
    const schema = req.responseFormat.schema;
    grammar = schemaGrammar('response_format.json_schema.schema', () => jsonSchemaGrammar(schema));
  } else {
    return undefined;
  }
  const constraint = new TokenConstraint(grammar, tok, tok.stopIds);
  if (prefill) constraint.prime(prefill);
  return constraint;
}

/** A schema the grammar compiler cannot follow is the request's fault: 400 naming it. */
function schemaGrammar(param: string, build: () => Grammar): Grammar {
  try {
    return build();
  } catch (e) {
    if (e instanceof UnsupportedSchemaError) throw new ApiError(400, `${param}: ${e.message}`, 'invalid_request_error', param, 'unsupported_value');
    throw e;
  }
}

interface ChatLogprob { token: string; logprob: number; bytes: number[]; top_logprobs: { token: string; logprob: number; bytes: number[] }[] }

async function chatCompletion(c: Context, state: ServerState, r: Ready, req: ChatRequest): Promise<Response> {
  const { model, scheduler, prompter } = r;
  const tok = model.tokenizer;
  const prompt = prompter.encode(req.messages, req.tools, req.toolChoice);
  checkContext(prompt.ids.length, scheduler.ctxSize, 'messages');
  const id = newId('chatcmpl-');
  const created = now();
  const strict = req.toolChoice === 'required' || typeof req.toolChoice === 'object';
  const constraint = replyConstraint(req, prompt.prefill, tok);
  const tools = new ToolCallStream(prompt.parseTools, prompt.prefill);
  const abort = clientSignal(c);
  const entry = (t: TokenLogprob) => ({ token: tok.decode([t.id]), logprob: t.logprob, bytes: Array.from(tok.tokenBytes(t.id)) });
  const logprobOf = (t: GeneratedToken): ChatLogprob => ({ ...entry({ id: t.id, logprob: t.logprob! }), top_logprobs: (t.topLogprobs ?? []).map(entry) });
  const job = (onToken: (t: GeneratedToken) => void): JobOptions => ({
    promptIds: prompt.ids,
    maxTokens: req.maxTokens ?? scheduler.ctxSize - prompt.ids.length,
    sampling: { ...model.samplingDefaults, ...req.sampling },
    stop: req.stop,
    stopIds: tok.stopIds,
    logprobs: req.logprobs,
    signal: abort.signal,
    scriptedIds: scripted(state, r),
    constraint,
    onToken,
  });
  /** The calls to report, or an error when tool_choice demanded a call the reply lacks. */
  const settleCalls = (calls: ParsedToolCall[], rawReply: string, finish: JobResult['finishReason']): ParsedToolCall[] => {
    // A reply cut by max_tokens is reported as it is (finish_reason "length"), as OpenAI does.
    if (strict && finish !== 'length') {
      const want = typeof req.toolChoice === 'object' ? req.toolChoice.name : null;
      if (calls.length === 0 || (want !== null && calls.some((k) => k.name !== want))) {
        throw new ApiError(500, `tool_choice ${want ? `names ${want}` : 'is "required"'}, but the model's reply is not ${want ? 'a call to it' : 'a tool call'}: ${JSON.stringify(rawReply.slice(0, 200))}`,
          'server_error', 'tool_choice', 'tool_call_failed');
      }
    }
    return req.parallelToolCalls ? calls : calls.slice(0, 1);
  };
  const toolCall = (k: ParsedToolCall) => ({ id: newId('call_'), type: 'function' as const, function: { name: k.name, arguments: JSON.stringify(k.arguments) } });

  if (!req.stream) {
    const logprobs: ChatLogprob[] = [];
    const res = await submit(r, job((t) => { if (req.logprobs !== undefined) logprobs.push(logprobOf(t)); }));
    const events = [...tools.push(res.text), ...tools.end()];
    const content = events.flatMap((e) => (e.type === 'content' ? [e.text] : [])).join('');
    const calls = settleCalls(events.flatMap((e) => (e.type === 'calls' ? e.calls : [])), prompt.prefill + res.text, res.finishReason);
    return c.json({
      id, object: 'chat.completion', created, model: state.modelName,
      choices: [{
        index: 0,
        message: { role: 'assistant', content: calls.length > 0 && content === '' ? null : content, refusal: null, ...(calls.length > 0 ? { tool_calls: calls.map(toolCall) } : {}) },
        logprobs: req.logprobs !== undefined ? { content: logprobs, refusal: null } : null,
        finish_reason: calls.length > 0 ? 'tool_calls' : res.finishReason === 'abort' ? 'stop' : res.finishReason,
      }],
      usage: usage(res),
    });
  }

  const out = sse(() => abort.abort());
  const chunk = (delta: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    id, object: 'chat.completion.chunk', created, model: state.modelName,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: null, ...extra }],
    ...(req.includeUsage ? { usage: null } : {}),
  });
  let nCalls = 0;
  let held: ToolStreamEvent[] = []; // strict tool_choice: nothing goes out before the reply is checked
  let raw = prompt.prefill;
  const emit = (events: readonly ToolStreamEvent[], lp: ChatLogprob[] | null) => {
    for (const e of events) {
      if (e.type === 'content') out.send(chunk({ content: e.text }, lp ? { logprobs: { content: lp, refusal: null } } : {}));
      else {
        for (const k of req.parallelToolCalls ? e.calls : e.calls.slice(0, 1 - Math.min(1, nCalls))) {
          const call = toolCall(k);
          out.send(chunk({ tool_calls: [{ index: nCalls, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }] }));
          out.send(chunk({ tool_calls: [{ index: nCalls, function: { arguments: call.function.arguments } }] }));
          nCalls++;
        }
      }
      lp = null;
    }
    if (lp) out.send(chunk({}, { logprobs: { content: lp, refusal: null } }));
  };
  const onToken = (t: GeneratedToken) => {
    raw += t.text;
    const events = tools.push(t.text);
    const lp = req.logprobs !== undefined ? [logprobOf(t)] : null;
    if (strict) { held.push(...events); if (lp) out.send(chunk({}, { logprobs: { content: lp, refusal: null } })); return; }
    emit(events, lp);
  };
  const done = submit(r, job(onToken)); // a full queue throws here: a 429 before any byte is sent
  out.send(chunk({ role: 'assistant', content: '' }));
  done.then((res) => {
    if (res.finishReason === 'abort') { out.close(); return; }
    raw += res.tail;
    const events = [...tools.push(res.tail), ...tools.end()];
    if (strict) {
      const all = [...held, ...events];
      settleCalls(all.flatMap((e) => (e.type === 'calls' ? e.calls : [])), raw, res.finishReason);
      held = [];
      emit(all, null);
    } else {
      emit(events, null);
    }
    out.send(chunk({}, { finish_reason: nCalls > 0 ? 'tool_calls' : res.finishReason }));
    out.finish(req.includeUsage ? { id, object: 'chat.completion.chunk', created, model: state.modelName, choices: [], usage: usage(res) } : undefined);
  }).catch(out.fail);
  return out.response;
}

// ── completions ──────────────────────────────────────────────────────────────────────────────

interface LogprobItem { readonly id: number; readonly lp: number | null; readonly top: readonly TokenLogprob[] | null; readonly inText?: boolean }
interface CompletionLogprobs { tokens: string[]; token_logprobs: (number | null)[]; top_logprobs: (Record<string, number> | null)[]; text_offset: number[] }

async function completion(c: Context, state: ServerState, r: Ready, req: CompletionRequest): Promise<Response> {
  const { model, scheduler } = r;
  const tok = model.tokenizer;
  let ids: number[];
  if (typeof req.prompt === 'string') {
    ids = tok.encode(req.prompt);
  } else {
    for (const t of req.prompt) if (t >= tok.vocabSize) throw new ApiError(400, `token id ${t} is out of range (vocabulary has ${tok.vocabSize} tokens)`, 'invalid_request_error', 'prompt', 'invalid_value');
    ids = req.prompt;
  }
  if (ids.length === 0) throw new ApiError(400, 'the prompt is empty: at least one token is needed', 'invalid_request_error', 'prompt', 'invalid_value');
  checkContext(ids.length, scheduler.ctxSize, 'prompt');
  const id = newId('cmpl-');
  const created = now();
  const abort = clientSignal(c);
  const echoText = req.echo ? (typeof req.prompt === 'string' ? req.prompt : tok.decode(ids)) : '';
  const wantLogprobs = req.logprobs !== undefined;
  // A BOS the tokenizer added to a text prompt is not part of the echoed text.
  const addedBos = typeof req.prompt === 'string' && tok.addBos && ids[0] === tok.bosId && !req.prompt.startsWith(tok.decode([ids[0]]));
  const topOf = (top: readonly TokenLogprob[]) => Object.fromEntries(top.map((t) => [tok.decode([t.id]), t.logprob]));

  /** Logprobs of a run of tokens; text offsets index the returned text, starting at `offset`. */
  const logprobsOf = (items: readonly LogprobItem[], offset: number): CompletionLogprobs => {
    const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
    for (const it of items) {
      const text = tok.decode([it.id]);
      out.tokens.push(text);
      out.token_logprobs.push(it.lp);
      out.top_logprobs.push(it.top === null ? null : topOf(it.top));
      out.text_offset.push(offset);
      offset += it.inText === false ? 0 : text.length;
    }
    return out;
  };
  const promptItems = (pl: readonly PromptLogprob[]): LogprobItem[] =>
    ids.map((tid, i) => ({ id: tid, lp: pl[i]?.logprob ?? null, top: pl[i]?.top ?? null, inText: !(i === 0 && addedBos) }));
  const genItem = (t: GeneratedToken): LogprobItem => ({ id: t.id, lp: t.logprob ?? null, top: t.topLogprobs ?? [] });
  const job = (onToken: (t: GeneratedToken) => void, onPrompt?: JobOptions['onPrompt']): JobOptions => ({
    promptIds: ids,
    maxTokens: req.maxTokens,
    sampling: { ...model.samplingDefaults, ...req.sampling },
    stop: req.stop,
    stopIds: tok.stopIds,
    logprobs: req.logprobs,
    promptLogprobs: req.echo && wantLogprobs,
    signal: abort.signal,
    scriptedIds: scripted(state, r),
    onToken,
    onPrompt,
  });

  if (!req.stream) {
    const gen: GeneratedToken[] = [];
    const res = await submit(r, job((t) => gen.push(t)));
    const logprobs = wantLogprobs ? logprobsOf([...(req.echo ? promptItems(res.promptLogprobs ?? []) : []), ...gen.map(genItem)], 0) : null;
    return c.json({
      id, object: 'text_completion', created, model: state.modelName,
      choices: [{ index: 0, text: echoText + res.text, logprobs, finish_reason: res.finishReason === 'abort' ? 'stop' : res.finishReason }],
      usage: usage(res),
    });
  }

  const out = sse(() => abort.abort());
  const chunk = (text: string, logprobs: CompletionLogprobs | null, finish: string | null = null) => ({
    id, object: 'text_completion', created, model: state.modelName,
    choices: [{ index: 0, text, logprobs, finish_reason: finish }],
    ...(req.includeUsage ? { usage: null } : {}),
  });
  let offset = echoText.length; // text offset of the next generated token
  const done = submit(r, job((t) => {
    const lp = wantLogprobs ? logprobsOf([genItem(t)], offset) : null;
    if (lp) offset += lp.tokens[0].length;
    if (t.text || lp) out.send(chunk(t.text, lp));
  }, (pl) => {
    // The echo goes first, with the prompt's logprobs once they are known.
    if (req.echo && wantLogprobs) out.send(chunk(echoText, logprobsOf(promptItems(pl ?? []), 0)));
  }));
  if (req.echo && !wantLogprobs) out.send(chunk(echoText, null));
  done.then((res) => {
    if (res.finishReason === 'abort') { out.close(); return; }
    out.send(chunk(res.tail, null, res.finishReason));
    out.finish(req.includeUsage ? { id, object: 'text_completion', created, model: state.modelName, choices: [], usage: usage(res) } : undefined);
  }).catch(out.fail);
  return out.response;
}
