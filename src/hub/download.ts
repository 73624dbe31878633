/**
 * One file from the hub into `blobs/<etag>`, resumable and verified.
 *
 * Bytes go to `blobs/<etag>.incomplete` (as huggingface_hub names it); a download that finds one
 * continues from its length with an HTTP Range request, both after a dropped connection (retried
 * here, with backoff) and in a later run. The whole file is hashed while it is written (a resumed
 * file's existing bytes first): an LFS file must match the sha256 the hub lists, a regular file its
 * git blob id, and both their size. A mismatch deletes the partial file and fetches it again from
 * the start; a file that never matches is an error, and is never renamed into the cache.
 */
import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { Llama4Error } from '../errors.js';
import { HubError, hubHeaders, hubHttpError, networkError } from './api.js';
import type { RepoFile } from './repo-spec.js';
import type { HubSettings } from './settings.js';

export interface DownloadListener {
  /** Bytes of the file that are already there (a resumed download), before any new ones. */
  start(file: string, total: number, resumedFrom: number): void;
  advance(file: string, bytes: number): void;
  /** The file starts again from zero (bad data discarded). */
  restart(file: string): void;
  done(file: string): void;
  /** A line worth telling the user (a retry, a resume, a mismatch). */
  note(line: string): void;
}

export interface DownloadTask {
  readonly repo: string;
  readonly file: RepoFile;
  readonly url: string;
  /** Final blob path (`blobs/<etag>`). */
  readonly blob: string;
}

export interface DownloadOptions {
  /** Network retries per verification round (default 5). */
  readonly retries?: number;
  /** First retry delay in ms, doubled each time (default 500). */
  readonly backoffMs?: number;
}

/** How a file's contents are checked. */
interface Expected { size: number; algo: 'sha256' | 'git-sha1'; hex: string | null }

function expectedOf(f: RepoFile): Expected {
  if (f.lfsSha256) return { size: f.size, algo: 'sha256', hex: f.lfsSha256.toLowerCase() };
  return { size: f.size, algo: 'git-sha1', hex: f.oid?.toLowerCase() ?? null };
}

function newHash(e: Expected): Hash {
  const h = createHash(e.algo === 'sha256' ? 'sha256' : 'sha1');
  if (e.algo === 'git-sha1') h.update(`blob ${e.size}\0`);
  return h;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Feeds the first `length` bytes of a file to a hash. */
function hashFilePrefix(path: string, length: number, hash: Hash): void {
  const fd = fs.openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 22);
    let pos = 0;
    while (pos < length) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, length - pos), pos);
      if (n <= 0) break;
      hash.update(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

function fileSize(path: string): number {
  try { return fs.statSync(path).size; } catch { return 0; }
}

/** Errors a retry cannot fix (the hub refused, the disk failed). */
function isFatal(err: unknown): boolean {
  if (err instanceof HubError) return err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429;
  const code = (err as { code?: string })?.code;
  return code === 'ENOSPC' || code === 'EACCES' || code === 'EROFS' || code === 'EDQUOT';
}

/**
 * Streams the missing part of the file into `.incomplete`, retrying dropped connections with
 * Range requests. Returns the hash of the complete file and its length.
 */
async function fetchIntoIncomplete(task: DownloadTask, exp: Expected, s: HubSettings, on: DownloadListener, opts: DownloadOptions): Promise<{ hash: Hash; length: number }> {
  const incomplete = `${task.blob}.incomplete`;
  const name = task.file.path;
  let hash = newHash(exp);
  let length = fileSize(incomplete);
  if (length > exp.size) { fs.truncateSync(incomplete, 0); length = 0; }
  if (length > 0) {
    hashFilePrefix(incomplete, length, hash);
    on.note(`resuming ${name} at ${formatBytes(length)} of ${formatBytes(exp.size)}`);
  }
  on.start(name, exp.size, length);
  const retries = opts.retries ?? 5;
  const backoff = opts.backoffMs ?? 500;
  let failures = 0;
  const restart = () => { fs.truncateSync(incomplete, 0); length = 0; hash = newHash(exp); on.restart(name); };

  while (length < exp.size || (exp.size === 0 && !fs.existsSync(incomplete))) {
    let fd: number | undefined;
    try {
      const headers = hubHeaders(s, length > 0 ? { range: `bytes=${length}-` } : {});
      let res: Response;
      try {
        res = await fetch(task.url, { headers, redirect: 'follow' });
      } catch (err) {
        throw networkError(err, s);
      }
      if (res.status === 416 && length > 0) { await res.body?.cancel(); restart(); continue; }
      if (!res.ok) throw await hubHttpError(res, task.repo, name, s);
      if (length > 0 && res.status !== 206) {
        // The server sent the whole file: start over.
        restart();
      } else if (res.status === 206) {
        const m = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
        if (!m || Number(m[1]) !== length) { await res.body?.cancel(); restart(); continue; }
      }
      fd = fs.openSync(incomplete, 'a');
      if (res.body) {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          let off = 0;
          while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
          hash.update(chunk);
          length += chunk.length;
          on.advance(name, chunk.length);
          if (length > exp.size) break; // more than the hub said: verification fails below
        }
      }
      fs.closeSync(fd);
      fd = undefined;
      if (length >= exp.size) break;
      throw new Error(`the connection closed after ${formatBytes(length)} of ${formatBytes(exp.size)}`);
    } catch (err) {
      if (fd !== undefined) { try { fs.closeSync(fd); } catch { /* already closed */ } }
      if (isFatal(err)) throw err;
      failures++;
      const why = (err as Error)?.message ?? String(err);
      if (failures > retries) {
        throw new Llama4Error(`${task.repo}: downloading ${name} failed ${failures} times (last: ${why}); run the command again to resume`);
      }
      length = fileSize(incomplete);
      on.note(`${name}: ${why.replace(/ ?; use --offline.*$/, '')}; retrying from ${formatBytes(length)} (attempt ${failures + 1})`);
      await sleep(backoff * 2 ** (failures - 1));
    }
  }
  return { hash, length };
}

/**
 * Downloads a file into its blob unless the blob is already there with the right size.
 * @returns true when bytes were downloaded, false when the blob was reused.
 * @throws Llama4Error when the hub refuses, the network keeps failing, or the data never matches.
 */
export async function downloadBlob(task: DownloadTask, s: HubSettings, on: DownloadListener, opts: DownloadOptions = {}): Promise<boolean> {
  const exp = expectedOf(task.file);
  if (fs.existsSync(task.blob) && fileSize(task.blob) === exp.size) return false;
  fs.mkdirSync(dirname(task.blob), { recursive: true });
  const release = await acquireLock(task.blob);
  try {
    // Another process may have finished it while we waited for the lock.
    if (fs.existsSync(task.blob) && fileSize(task.blob) === exp.size) return false;
    const incomplete = `${task.blob}.incomplete`;
    for (let round = 0; round < 3; round++) {
      const { hash, length } = await fetchIntoIncomplete(task, exp, s, on, opts);
      const got = hash.digest('hex');
      const sizeOk = length === exp.size;
      const hashOk = exp.hex === null || got === exp.hex;
      if (sizeOk && hashOk) {
        fs.renameSync(incomplete, task.blob);
        on.done(task.file.path);
        return true;
      }
      const what = !sizeOk
        ? `size mismatch (${length} bytes, the hub lists ${exp.size})`
        : `${exp.algo === 'sha256' ? 'sha256' : 'git blob id'} mismatch (got ${got.slice(0, 16)}…, the hub lists ${exp.hex!.slice(0, 16)}…)`;
      fs.rmSync(incomplete, { force: true });
      if (round === 2) throw new Llama4Error(`${task.repo}: ${task.file.path}: ${what} on every try; the download was discarded`);
      on.note(`${task.file.path}: ${what}; discarded, fetching it again`);
      on.restart(task.file.path);
    }
    throw new Llama4Error('unreachable');
  } finally {
    release();
  }
}

// ---------------------------------------------------------------------------------------------
// A lock per blob, so two pulls of one model never write the same .incomplete file.

function mtimeMs(path: string): number {
  try { return fs.statSync(path).mtimeMs; } catch { return 0; }
}

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as { code?: string }).code === 'EPERM'; }
}

/** `<cache>/.locks/models--org--name/<etag>.llama4.lock` holding our pid; stale locks are taken over. */
function lockPathFor(blob: string): string {
  const blobsDir = dirname(blob), repoDirPath = dirname(blobsDir);
  return join(dirname(repoDirPath), '.locks', repoDirPath.slice(dirname(repoDirPath).length + 1), `${blob.slice(blobsDir.length + 1)}.llama4.lock`);
}

/** Blobs this process is downloading now (two files with the same contents share one blob). */
const inProcess = new Map<string, Promise<void>>();

async function acquireLock(blob: string): Promise<() => void> {
  while (inProcess.has(blob)) await inProcess.get(blob);
  let releaseLocal!: () => void;
  inProcess.set(blob, new Promise<void>((r) => { releaseLocal = r; }));
  const unlockLocal = () => { inProcess.delete(blob); releaseLocal(); };
  const lock = lockPathFor(blob);
  try {
    fs.mkdirSync(dirname(lock), { recursive: true });
    for (let waited = 0; ; waited += 500) {
      try {
        fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
        return () => { try { fs.rmSync(lock, { force: true }); } catch { /* gone */ } unlockLocal(); };
      } catch (e) {
        if ((e as { code?: string }).code !== 'EEXIST') return unlockLocal; // no locks on this file system
        const pid = Number(fs.readFileSync(lock, 'utf8').trim());
        // Stale: its process is gone, or (a reused pid) neither the lock nor the partial file moved for 2 minutes.
        const lastActivity = Math.max(mtimeMs(lock), mtimeMs(`${blob}.incomplete`));
        if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || !pidAlive(pid) || Date.now() - lastActivity > 120_000) {
          fs.rmSync(lock, { force: true });
          continue;
        }
        if (waited === 0) process.stderr.write(`waiting for llama4 process ${pid}, which is downloading the same file\n`);
        await sleep(500);
      }
    }
  } catch (e) {
    unlockLocal();
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------

/** 1234567 → "1.2 MB" (decimal units, as the hub shows sizes). */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1000, i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}
