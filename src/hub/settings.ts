/**
 * Where the Hugging Face hub and its cache are, read from the same environment variables
 * `huggingface_hub` (Python) reads, so both tools share one cache and one login:
 *  - `HF_ENDPOINT` (default https://huggingface.co)
 *  - `HF_TOKEN` (or the legacy `HUGGING_FACE_HUB_TOKEN`, or the file `huggingface-cli login` writes:
 *    `HF_TOKEN_PATH`, default `$HF_HOME/token`)
 *  - `HF_HUB_CACHE` / `HUGGINGFACE_HUB_CACHE` / `HF_HOME` (+ `/hub`) / `XDG_CACHE_HOME` (+ `/huggingface/hub`)
 *    / `~/.cache/huggingface/hub`
 *  - `HF_HUB_OFFLINE=1` never touches the network (`--offline` sets it)
 *  - `HF_HUB_DISABLE_PROGRESS_BARS=1` prints plain lines instead of progress bars
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { getHFHubCachePath } from '@huggingface/hub';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

export interface HubSettings {
  /** Base URL of the hub, without a trailing slash. */
  readonly endpoint: string;
  /** Access token (gated and private repos), or undefined. */
  readonly token: string | undefined;
  /** The hub cache folder (`.../huggingface/hub`). */
  readonly cacheDir: string;
  /** Never touch the network. */
  readonly offline: boolean;
  /** Progress bars on a TTY unless disabled. */
  readonly progressBars: boolean;
}

/** huggingface_hub's notion of a true environment value. */
export function envTrue(value: string | undefined): boolean {
  return value !== undefined && ['1', 'ON', 'YES', 'TRUE'].includes(value.trim().toUpperCase());
}

function hfHome(env: NodeJS.ProcessEnv): string {
  return env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'huggingface');
}

function readToken(env: NodeJS.ProcessEnv): string | undefined {
  const direct = env.HF_TOKEN ?? env.HUGGING_FACE_HUB_TOKEN;
  if (direct !== undefined && direct.trim() !== '') return direct.trim();
  const file = env.HF_TOKEN_PATH ?? join(hfHome(env), 'token');
  try {
    if (existsSync(file)) {
      const t = readFileSync(file, 'utf8').trim();
      if (t !== '') return t;
    }
  } catch { /* an unreadable token file is the same as none */ }
  return undefined;
}

/** The settings the environment asks for (read each time: tests and `--offline` change it). */
export function hubSettings(env: NodeJS.ProcessEnv = process.env): HubSettings {
  const endpoint = (env.HF_ENDPOINT?.trim() || DEFAULT_ENDPOINT).replace(/\/+$/, '');
  // getHFHubCachePath reads process.env; honour a custom env the same way.
  const cacheDir = env === process.env ? getHFHubCachePath()
    : env.HF_HUB_CACHE ?? env.HUGGINGFACE_HUB_CACHE ?? join(hfHome(env), 'hub');
  return {
    endpoint,
    token: readToken(env),
    cacheDir,
    offline: envTrue(env.HF_HUB_OFFLINE),
    progressBars: !envTrue(env.HF_HUB_DISABLE_PROGRESS_BARS),
  };
}
