/**
 * `pullModel`: everything a model needs, from the hub into the shared Hugging Face cache; and
 * `ensureModel`: the cached copy of a model, pulled first when it is missing (never with
 * `--offline` / `HF_HUB_OFFLINE=1`, which touch no network at all).
 *
 * A pull resolves the revision to a commit, lists that commit's files, picks what the model needs
 * (see repo-spec.ts), downloads each missing blob (resumable, verified; see download.ts), links it
 * into `snapshots/<commit>/`, and finally points `refs/<revision>` at the commit, so a pull that
 * fails half-way leaves the previous complete snapshot in use.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Llama4Error } from '../errors.js';
import { readGgufHeader } from '../io/gguf.js';
import { checkDownloadAccess, fetchRepoInfo, resolveUrl } from './api.js';
import { blobPath, checkRelativePath, completeModelIn, findCachedModel, linkSnapshotFile, repoDir, touchUsed, writeRef, type CachedModel } from './cache.js';
import { downloadBlob, formatBytes, type DownloadListener } from './download.js';
import { describeLicense, findLicense, isLlama4License, llama4Terms, type LicenseInfo } from './license.js';
import { createProgress } from './progress.js';
import { formatSpec, selectFiles, shardsOfIndex, type RepoFile, type RepoSpec } from './repo-spec.js';
import { hubSettings, type HubSettings } from './settings.js';

export interface PullOptions {
  /** Branch, tag or commit (default `main`). */
  readonly revision?: string;
  /** No progress and no licence notice. */
  readonly quiet?: boolean;
  /** Where progress goes (default stderr). */
  readonly stream?: NodeJS.WriteStream;
  readonly settings?: HubSettings;
  /** Files fetched at once (default 4). */
  readonly concurrency?: number;
  /** Network retries per file (default 5) and the first backoff in ms (default 500). */
  readonly retries?: number;
  readonly backoffMs?: number;
}

export interface PullResult extends CachedModel {
  readonly revision: string;
  readonly fetchedFiles: number;
  readonly fetchedBytes: number;
  readonly reusedFiles: number;
  readonly license: LicenseInfo;
  /** The Llama 4 licence terms apply. */
  readonly llama4License: boolean;
}

async function pool<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown = null;
  const worker = async () => {
    while (next < items.length && failed === null) {
      const item = items[next++];
      try { await fn(item); } catch (e) { failed ??= e; }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failed !== null) throw failed;
}

function etagOf(repo: string, f: RepoFile): string {
  const etag = f.lfsSha256 ?? f.oid;
  if (!etag) throw new Llama4Error(`${repo}: the hub lists no hash for ${f.path}`);
  return etag;
}

function sizeOrZero(path: string): number {
  try { return statSync(path).size; } catch { return 0; }
}

/** The family a downloaded model declares (for the licence notice). */
function familyOf(m: CachedModel): string | null {
  try {
    if (m.format === 'gguf') {
      const arch = readGgufHeader(m.modelPath).metadata.get('general.architecture');
      return arch === 'llama4' ? 'llama4' : typeof arch === 'string' ? arch : null;
    }
    const c = JSON.parse(readFileSync(join(m.snapshot, 'config.json'), 'utf8')) as { architectures?: unknown; model_type?: unknown };
    const arch = Array.isArray(c.architectures) ? String(c.architectures[0]) : '';
    return /^Llama4/.test(arch) || String(c.model_type).startsWith('llama4') ? 'llama4' : arch || null;
  } catch {
    return null;
  }
}

/** The licence of a cached model (model card, GGUF metadata, licence files). */
export function licenseOf(m: CachedModel): { license: LicenseInfo; llama4: boolean } {
  let meta: ReadonlyMap<string, unknown> | undefined;
  if (m.format === 'gguf') { try { meta = readGgufHeader(m.modelPath).metadata; } catch { /* unreadable */ } }
  const license = findLicense(m.snapshot, meta);
  return { license, llama4: isLlama4License(license, familyOf(m)) };
}

/** Writes the licence line (and the Llama 4 terms) to a stream. */
export function printLicense(stream: NodeJS.WritableStream, license: LicenseInfo, llama4: boolean): void {
  stream.write(`licence: ${describeLicense(license)}\n`);
  if (llama4) for (const line of llama4Terms(license)) stream.write(`${line}\n`);
}

/**
 * Downloads what `spec` needs into the cache and returns the snapshot. Offline, it returns the
 * cached copy or fails.
 * @throws Llama4Error for refusals (gated: accept the licence, set HF_TOKEN), missing repos or files,
 * repeated network failures, and data that never matches the hub's hashes.
 */
export async function pullModel(spec: RepoSpec, o: PullOptions = {}): Promise<PullResult> {
  const s = o.settings ?? hubSettings();
  const revision = o.revision ?? 'main';
  const stream = o.stream ?? process.stderr;
  if (s.offline) {
    const cached = findCachedModel(s.cacheDir, spec, revision, o.revision === undefined);
    if (!cached) throw offlineError(spec, s);
    const { license, llama4 } = licenseOf(cached);
    return { ...cached, revision, fetchedFiles: 0, fetchedBytes: 0, reusedFiles: cached.files.length, license, llama4License: llama4 };
  }
  const info = await fetchRepoInfo(spec.repo, revision, s);
  const dir = repoDir(s.cacheDir, spec.repo);
  const sel = selectFiles(info.files, spec);
  if (info.gated && sel.files.length > 0) await checkDownloadAccess(spec.repo, info.commit, (sel.index ?? sel.files[0]).path, s);
  const byPath = new Map(info.files.map((f) => [f.path, f]));
  const wanted: RepoFile[] = [...sel.files];
  const retry = { retries: o.retries, backoffMs: o.backoffMs };
  const silent: DownloadListener = { start() {}, advance() {}, restart() {}, done() {}, note: (l) => { if (!o.quiet) stream.write(`${l}\n`); } };
  let fetchedFiles = 0, fetchedBytes = 0;

  const taskOf = (f: RepoFile) => {
    checkRelativePath(f.path);
    const etag = etagOf(spec.repo, f);
    return { repo: spec.repo, file: f, etag, url: resolveUrl(s, spec.repo, info.commit, f.path), blob: blobPath(dir, etag) };
  };

  if (sel.index) {
    // The index names the shards: fetch it first.
    const t = taskOf(sel.index);
    if (await downloadBlob(t, s, silent, retry)) { fetchedFiles++; fetchedBytes += t.file.size; }
    const idxPath = linkSnapshotFile(dir, info.commit, t.file.path, t.etag);
    let json: unknown;
    try { json = JSON.parse(readFileSync(idxPath, 'utf8')); } catch (e) {
      throw new Llama4Error(`invalid JSON in ${t.file.path}: ${(e as Error).message}`, { source: `${spec.repo}@${info.commit}` });
    }
    for (const shard of shardsOfIndex(json, `${spec.repo}/${t.file.path}`)) {
      const f = byPath.get(shard);
      if (!f) throw new Llama4Error(`${spec.repo}: ${t.file.path} names shard ${shard}, which the repository does not have`);
      wanted.push(f);
    }
  }

  const tasks = wanted.map(taskOf);
  // One download per blob (identical files share one), skipping blobs already in the cache.
  const unique = new Map<string, (typeof tasks)[number]>();
  for (const t of tasks) if (!unique.has(t.blob)) unique.set(t.blob, t);
  const missing = [...unique.values()].filter((t) => sizeOrZero(t.blob) !== t.file.size || !isFile(t.blob));
  const reusedFiles = tasks.length - missing.length;
  const totalBytes = missing.reduce((n, t) => n + t.file.size - Math.min(t.file.size, sizeOrZero(`${t.blob}.incomplete`)), 0);
  if (!o.quiet && missing.length > 0) {
    stream.write(`pulling ${formatSpec(spec)} (${spec.repo}@${info.commit.slice(0, 12)}${revision !== 'main' ? `, revision ${revision}` : ''}): ${missing.length} file${missing.length === 1 ? '' : 's'}, ${formatBytes(totalBytes)} to fetch${reusedFiles > 0 ? `, ${reusedFiles} already cached` : ''}\n`);
  }
  const progress = await createProgress({ stream, bars: s.progressBars, totalBytes, totalFiles: missing.length, quiet: o.quiet });
  try {
    await pool(missing, o.concurrency ?? 4, async (t) => {
      if (await downloadBlob(t, s, progress, retry)) { fetchedFiles++; fetchedBytes += t.file.size; }
    });
  } finally {
    progress.finish();
  }
  for (const t of tasks) linkSnapshotFile(dir, info.commit, t.file.path, t.etag);
  const model = completeModelIn(dir, info.commit, spec);
  if (!model) throw new Llama4Error(`${formatSpec(spec)}: the snapshot ${info.commit} is still incomplete after the pull (a file the model needs is not in the repository?)`);
  writeRef(dir, revision, info.commit);
  const { license, llama4 } = licenseOf(model);
  if (!o.quiet) {
    stream.write(`${formatSpec(spec)}: ${model.format === 'gguf' ? 'GGUF' : 'safetensors'} model in ${model.modelPath}${fetchedFiles > 0 ? ` (${fetchedFiles} file${fetchedFiles === 1 ? '' : 's'}, ${formatBytes(fetchedBytes)} fetched)` : ' (already up to date)'}\n`);
    printLicense(stream, license, llama4);
  }
  return { ...model, revision, fetchedFiles, fetchedBytes, reusedFiles, license, llama4License: llama4 };
}

function isFile(path: string): boolean {
  try { return statSync(path).isFile(); } catch { return false; }
}

function offlineError(spec: RepoSpec, s: HubSettings): Llama4Error {
  return new Llama4Error(`${formatSpec(spec)} is not in the Hugging Face cache (${s.cacheDir}), and offline mode (--offline or HF_HUB_OFFLINE=1) does not download; run 'llama4 pull ${formatSpec(spec)}' while online`);
}

/**
 * The cached copy of a model (revision `main`), pulled first when missing, with the same progress
 * output as `llama4 pull`. Offline, only the cache is consulted (any complete revision will do when
 * `main` is missing). Marks the model's blobs as used.
 */
export async function ensureModel(spec: RepoSpec, o: PullOptions = {}): Promise<CachedModel> {
  const s = o.settings ?? hubSettings();
  const cached = findCachedModel(s.cacheDir, spec, o.revision ?? 'main', s.offline && o.revision === undefined);
  if (cached) {
    touchUsed(cached.files);
    return cached;
  }
  if (s.offline) throw offlineError(spec, s);
  const pulled = await pullModel(spec, { ...o, settings: s });
  touchUsed(pulled.files);
  return pulled;
}
