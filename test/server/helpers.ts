/** Shared setup of the server tests: the tiny fixture model, a server on a free loopback port, clients. */
import OpenAI from 'openai';
import { loadModel, type LoadedModel } from '../../src/load.js';
import { RefBackend } from '../../src/backend/ref/ref-backend.js';
import { WasmBackend } from '../../src/backend/wasm/wasm-backend.js';
import { Session } from '../../src/model/session.js';
import { generate, type GenerateOptions, type GenerationResult, type GeneratedToken } from '../../src/generate/generator.js';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server/index.js';
import { modelDir } from '../support/fixtures.js';

export const MODEL_DIR = modelDir('llama4-tiny-moe');
export const MODEL_NAME = 'llama4-tiny-moe';

/**
 * The fixture model on the wasm backend with one thread (the tiny model gains nothing from more,
 * and test files run side by side); LLAMA4_TEST_BACKEND=ref uses the reference backend.
 */
export async function loadFixture(): Promise<LoadedModel> {
  const backend = process.env.LLAMA4_TEST_BACKEND === 'ref' ? new RefBackend() : await WasmBackend.create({ threads: 1 });
  return loadModel(MODEL_DIR, { backend });
}

export async function start(model: LoadedModel, options: Partial<ServerOptions> = {}): Promise<RunningServer> {
  return startServer({ model, port: 0, ctxSize: 512, ...options });
}

export function client(server: RunningServer, apiKey = 'sk-test'): OpenAI {
  return new OpenAI({ baseURL: `${server.url}/v1`, apiKey, maxRetries: 0, timeout: 30_000 });
}

/** What `generate()` gives for these ids alone (a fresh session). */
export async function reference(m: LoadedModel, ids: readonly number[], options: Partial<GenerateOptions> & { maxTokens: number }): Promise<{ result: GenerationResult; steps: GeneratedToken[] }> {
  const session = new Session(m.model, 512);
  const it = generate(session, m.tokenizer, ids, { stopIds: m.tokenizer.stopIds, sampling: { temperature: 0 }, ...options });
  const steps: GeneratedToken[] = [];
  for (let r = await it.next(); ; r = await it.next()) {
    if (r.done) { session.cache.dispose(); return { result: r.value, steps }; }
    steps.push(r.value);
  }
}

/** The unlabeled samples of GET /metrics (labelled ones under `name{labels}`). */
export async function metrics(server: RunningServer, headers: Record<string, string> = {}): Promise<Map<string, number>> {
  const res = await fetch(`${server.url}/metrics`, { headers });
  const text = await res.text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** Polls until `check` holds (or fails after `ms`). */
export async function waitFor(check: () => Promise<boolean> | boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The ids that end generation, as a logit_bias that bans them (the reply then runs to max_tokens). */
export function banStops(m: LoadedModel): Record<string, number> {
  return Object.fromEntries([...m.tokenizer.stopIds].map((id) => [String(id), -100]));
}
