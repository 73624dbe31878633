/**
 * The hub's HTTP API, as far as pulling needs it: the commit a revision points to
 * (`GET /api/models/{repo}/revision/{rev}`, through @huggingface/hub's `modelInfo`) and the files
 * of that commit with their sizes and LFS sha256 (`GET /api/models/{repo}/tree/{commit}?recursive=true`,
 * through `listFiles`). Every request goes through `hubFetch`, which adds the token and turns the
 * hub's refusals into one-line Llama4Errors (gated repositories, missing repositories/revisions/files).
 */
import { listFiles, modelInfo } from '@huggingface/hub';
import { Llama4Error } from '../errors.js';
import type { RepoFile } from './repo-spec.js';
import type { HubSettings } from './settings.js';

export const USER_AGENT = 'llama4.ts/0.1.0; hf_hub-js';

/** A refusal by the hub: access (gated/private), not found, or another HTTP failure. */
export class HubError extends Llama4Error {
  constructor(message: string, readonly status: number, readonly code: string | null) {
    super(message);
    this.name = 'HubError';
  }
}

/** The one line a 401/403 on a repository prints. */
export function accessMessage(repo: string, s: HubSettings, code: string | null): string {
  const page = `${s.endpoint}/${repo}`;
  if (code === 'RepositoryNotFound') {
    return `${repo}: repository not found on ${s.endpoint}${s.token ? '' : ' (if it is private or gated, set HF_TOKEN to an access token that can read it)'}`;
  }
  return s.token
    ? `${repo} is gated and HF_TOKEN's account has no access: accept the licence on ${page} with that account (and check that the token can read gated repos), then retry`
    : `${repo} is gated: accept the licence on ${page}, then set HF_TOKEN to an access token of that account (https://huggingface.co/settings/tokens) and retry`;
}

/** Maps a failed hub response to a HubError naming what was asked for. */
export async function hubHttpError(res: Response, repo: string, what: string, s: HubSettings): Promise<HubError> {
  const code = res.headers.get('x-error-code');
  let detail = '';
  try {
    const text = (await res.text()).trim();
    try { detail = String((JSON.parse(text) as { error?: unknown }).error ?? ''); } catch { detail = text.slice(0, 200); }
  } catch { /* no body */ }
  if (res.status === 401 || res.status === 403 || code === 'GatedRepo') {
    return new HubError(accessMessage(repo, s, code), res.status, code);
  }
  if (res.status === 404) {
    if (code === 'RevisionNotFound') return new HubError(`${repo}: ${what}: revision not found`, 404, code);
    if (code === 'EntryNotFound') return new HubError(`${repo}: ${what}: file not found`, 404, code);
    return new HubError(`${repo}: repository not found on ${s.endpoint}${detail && !/not found/i.test(detail) ? ` (${detail})` : ''}`, 404, code);
  }
  return new HubError(`${repo}: ${what}: the hub answered HTTP ${res.status}${detail ? ` (${detail.split('\n')[0]})` : ''}`, res.status, code);
}

/** Headers every hub request carries. */
export function hubHeaders(s: HubSettings, extra: Record<string, string> = {}): Record<string, string> {
  return { 'user-agent': USER_AGENT, ...(s.token ? { authorization: `Bearer ${s.token}` } : {}), ...extra };
}

/** A network failure (no answer at all) as a one-line error. */
export function networkError(err: unknown, s: HubSettings): Llama4Error {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  const why = cause?.code ?? cause?.message ?? (err as Error)?.message ?? String(err);
  return new Llama4Error(`cannot reach the Hugging Face hub at ${s.endpoint} (${why}); use --offline to run from the cache only`);
}

/**
 * A `fetch` for @huggingface/hub: adds the token (the library insists tokens start with `hf_`;
 * this way any token works) and throws a HubError for a refused request, so the library never
 * sees a failure it would describe less clearly.
 */
export function hubFetch(repo: string, what: string, s: HubSettings): typeof fetch {
  if (s.offline) throw new Llama4Error(`${repo}: offline (--offline or HF_HUB_OFFLINE): not contacting ${s.endpoint}`);
  return async (input, init) => {
    const headers = new Headers(init?.headers);
    for (const [k, v] of Object.entries(hubHeaders(s))) if (!headers.has(k)) headers.set(k, v);
    let res: Response;
    try {
      res = await fetch(input, { ...init, headers });
    } catch (err) {
      throw networkError(err, s);
    }
    if (!res.ok) throw await hubHttpError(res, repo, what, s);
    return res;
  };
}

export interface RepoSnapshotInfo {
  readonly repo: string;
  /** The commit the revision points to. */
  readonly commit: string;
  /** `false`, `'auto'` or `'manual'`. */
  readonly gated: false | string;
  /** Every file of the commit. */
  readonly files: readonly RepoFile[];
}

/** Resolves a revision to its commit and lists that commit's files. */
export async function fetchRepoInfo(repo: string, revision: string, s: HubSettings): Promise<RepoSnapshotInfo> {
  const info = await modelInfo({
    name: repo, revision, hubUrl: s.endpoint, additionalFields: ['sha'],
    fetch: hubFetch(repo, `revision '${revision}'`, s),
  });
  const commit = (info as { sha?: unknown }).sha;
  if (typeof commit !== 'string' || !/^[0-9a-f]{40}$/.test(commit)) {
    throw new Llama4Error(`${repo}: the hub's model info for revision '${revision}' has no commit hash`);
  }
  const files: RepoFile[] = [];
  for await (const e of listFiles({ repo, revision: commit, recursive: true, hubUrl: s.endpoint, fetch: hubFetch(repo, 'listing files', s) })) {
    if (e.type !== 'file') continue;
    files.push({ path: e.path, size: e.lfs?.size ?? e.size, oid: e.oid, lfsSha256: e.lfs?.oid });
  }
  return { repo, commit, gated: (info.gated as false | string | undefined) ?? false, files };
}

/** The URL of a file at a commit (`/{repo}/resolve/{commit}/{path}`). */
export function resolveUrl(s: HubSettings, repo: string, commit: string, path: string): string {
  return `${s.endpoint}/${repo}/resolve/${encodeURIComponent(commit)}/${path.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * For a gated repository, checks that a download is allowed before anything starts, so a refusal
 * is the only line printed (the hub lists a gated repo's files to anyone, but serves them only to
 * accounts that accepted its licence).
 */
export async function checkDownloadAccess(repo: string, commit: string, path: string, s: HubSettings): Promise<void> {
  let res: Response;
  try {
    res = await fetch(resolveUrl(s, repo, commit, path), { method: 'HEAD', headers: hubHeaders(s), redirect: 'manual' });
  } catch (err) {
    throw networkError(err, s);
  }
  if (res.status === 401 || res.status === 403) throw await hubHttpError(res, repo, path, s);
}
