/**
 * The Hugging Face cache layout, shared with Python's `huggingface_hub`:
 *
 *   <cache>/models--org--name/
 *     blobs/<etag>                 file contents; etag = sha256 for LFS files, the git blob id otherwise
 *     blobs/<etag>.incomplete      a download in progress (resumed from its length)
 *     snapshots/<commit>/<path>    relative symlinks to ../../blobs/<etag>
 *     refs/<revision>              the commit a branch or tag pointed to (no newline)
 *   <cache>/.locks/models--org--name/<etag>.lock
 *
 * Reading it needs no network: `findCachedModel` answers whether a spec's files are all present.
 * "Last used" is the blobs' access time, which loading a model from the cache sets explicitly
 * (as `huggingface-cli scan-cache` reads it).
 */
import * as fs from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { getRepoFolderName } from '@huggingface/hub';
import { Llama4Error } from '../errors.js';
import { SAFETENSORS_INDEX, chooseGguf, ggufChoices, selectFiles, shardsOfIndex, type GgufChoice, type RepoFile, type RepoSpec } from './repo-spec.js';

export const COMMIT_RE = /^[0-9a-f]{40}$/;

export function repoDir(cacheDir: string, repo: string): string {
  return join(cacheDir, getRepoFolderName({ name: repo, type: 'model' }));
}

export function blobPath(dir: string, etag: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(etag) || etag.startsWith('.')) throw new Llama4Error(`invalid blob id ${JSON.stringify(etag)}`);
  return join(dir, 'blobs', etag);
}

/** Rejects repository paths that would escape the snapshot folder. */
export function checkRelativePath(path: string): void {
  const parts = path.split('/');
  if (path === '' || path.startsWith('/') || path.includes('\\') || parts.some((p) => p === '..' || p === '.' || p === '')) {
    throw new Llama4Error(`the hub listed an unsafe file path ${JSON.stringify(path)}`);
  }
}

export function snapshotDir(dir: string, commit: string): string {
  return join(dir, 'snapshots', commit);
}

export function snapshotFile(dir: string, commit: string, path: string): string {
  checkRelativePath(path);
  return join(snapshotDir(dir, commit), ...path.split('/'));
}

/** The commit a revision names in the cache: the hash itself, or what refs/<revision> holds. */
export function readRef(dir: string, revision: string): string | null {
  if (COMMIT_RE.test(revision)) return fs.existsSync(snapshotDir(dir, revision)) ? revision : null;
  try {
    const c = fs.readFileSync(join(dir, 'refs', ...revision.split('/')), 'utf8').trim();
    return COMMIT_RE.test(c) ? c : null;
  } catch {
    return null;
  }
}

/** Records that `revision` points at `commit` (nothing for a commit hash, as huggingface_hub does). */
export function writeRef(dir: string, revision: string, commit: string): void {
  if (revision === commit || COMMIT_RE.test(revision)) return;
  if (revision.split('/').some((p) => p === '..' || p === '.' || p === '')) throw new Llama4Error(`invalid revision name ${JSON.stringify(revision)}`);
  const file = join(dir, 'refs', ...revision.split('/'));
  fs.mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, commit);
  fs.renameSync(tmp, file);
}

/**
 * Points `snapshots/<commit>/<path>` at `blobs/<etag>` with a relative symlink (a copy where the
 * file system has no symlinks).
 */
export function linkSnapshotFile(dir: string, commit: string, path: string, etag: string): string {
  const blob = blobPath(dir, etag);
  const pointer = snapshotFile(dir, commit, path);
  fs.mkdirSync(dirname(pointer), { recursive: true });
  fs.rmSync(pointer, { force: true });
  try {
    fs.symlinkSync(relative(dirname(pointer), blob), pointer);
  } catch {
    fs.copyFileSync(blob, pointer);
  }
  return pointer;
}

/** The files of a snapshot whose contents are present, as repository paths. */
export function snapshotFiles(snapshot: string): RepoFile[] {
  const out: RepoFile[] = [];
  const walk = (abs: string, rel: string) => {
    let names: string[];
    try { names = fs.readdirSync(abs); } catch { return; }
    for (const name of names.sort()) {
      const a = join(abs, name), r = rel ? `${rel}/${name}` : name;
      let st: fs.Stats;
      try { st = fs.statSync(a); } catch { continue; } // a dangling link: the blob is gone
      if (st.isDirectory()) walk(a, r);
      else if (st.isFile()) out.push({ path: r, size: st.size });
    }
  };
  walk(snapshot, '');
  return out;
}

/** A model found complete in the cache. */
export interface CachedModel {
  readonly repo: string;
  readonly commit: string;
  readonly snapshot: string;
  readonly format: 'hf' | 'gguf';
  /** What loadModel opens: the snapshot folder, or the (first) GGUF file. */
  readonly modelPath: string;
  /** Every file the model uses (absolute snapshot paths). */
  readonly files: readonly string[];
  readonly gguf?: GgufChoice;
}

/**
 * Checks a snapshot for everything `spec` needs; null when something is missing. A GGUF needs all
 * its parts; an HF folder its config, tokenizer and every shard its index names.
 */
export function completeModelIn(dir: string, commit: string, spec: RepoSpec): CachedModel | null {
  const snapshot = snapshotDir(dir, commit);
  const files = snapshotFiles(snapshot);
  if (files.length === 0) return null;
  const abs = (p: string) => join(snapshot, ...p.split('/'));
  let format: 'hf' | 'gguf';
  try {
    format = selectFiles(files, spec).format;
  } catch {
    return null;
  }
  if (format === 'gguf') {
    let choice: GgufChoice;
    try { choice = chooseGguf(ggufChoices(files), spec.tag, spec.repo); } catch { return null; }
    if (choice.files.length !== choice.partCount) return null;
    const paths = choice.files.map((f) => abs(f.path));
    return { repo: spec.repo, commit, snapshot, format, modelPath: paths[0], files: paths, gguf: choice };
  }
  const has = (p: string) => files.some((f) => f.path === p);
  if (!has('config.json') || !has('tokenizer.json')) return null;
  let weights: string[];
  if (has(SAFETENSORS_INDEX)) {
    try {
      weights = shardsOfIndex(JSON.parse(fs.readFileSync(abs(SAFETENSORS_INDEX), 'utf8')), abs(SAFETENSORS_INDEX));
    } catch {
      return null;
    }
    if (!weights.every(has)) return null;
  } else {
    weights = files.filter((f) => !f.path.includes('/') && f.path.endsWith('.safetensors')).map((f) => f.path);
    if (weights.length === 0) return null;
  }
  const used = files.filter((f) => !f.path.includes('/') && (f.path.endsWith('.json') || weights.includes(f.path))).map((f) => abs(f.path));
  return { repo: spec.repo, commit, snapshot, format, modelPath: snapshot, files: used };
}

/** The snapshots of a cached repository, newest first. */
export function listSnapshots(dir: string): string[] {
  const root = join(dir, 'snapshots');
  let names: string[];
  try { names = fs.readdirSync(root); } catch { return []; }
  const withTime = names.map((n) => {
    try { return { n, t: fs.statSync(join(root, n)).mtimeMs }; } catch { return { n, t: 0 }; }
  });
  return withTime.sort((a, b) => b.t - a.t).map((x) => x.n);
}

/**
 * The cached copy of a spec at a revision, or null. With `anyRevision` (offline use) a repository
 * whose revision ref is missing falls back to its newest complete snapshot.
 */
export function findCachedModel(cacheDir: string, spec: RepoSpec, revision = 'main', anyRevision = false): CachedModel | null {
  const dir = repoDir(cacheDir, spec.repo);
  if (!fs.existsSync(dir)) return null;
  const commit = readRef(dir, revision);
  if (commit !== null) {
    const m = completeModelIn(dir, commit, spec);
    if (m || !anyRevision) return m;
  } else if (!anyRevision) {
    return null;
  }
  for (const c of listSnapshots(dir)) {
    const m = completeModelIn(dir, c, spec);
    if (m) return m;
  }
  return null;
}

/** Marks the blobs behind `files` as used now (their access time; "last used" in `llama4 ls`). */
export function touchUsed(files: readonly string[]): void {
  const now = new Date();
  for (const f of files) {
    try {
      const real = fs.realpathSync(f);
      fs.utimesSync(real, now, fs.statSync(real).mtime);
    } catch { /* best effort */ }
  }
}

// ---------------------------------------------------------------------------------------------
// Listing and removing

/** One row of `llama4 ls`: a model in one cached revision. */
export interface CacheEntry {
  /** `org/repo` or `org/repo:QUANT`. */
  readonly name: string;
  readonly repo: string;
  readonly commit: string;
  /** Refs that point at the commit (`main`, …). */
  readonly refs: readonly string[];
  readonly format: 'safetensors' | 'gguf' | 'other';
  readonly quant: string | null;
  /** Bytes on disk of the blobs this model's files point to. */
  readonly sizeBytes: number;
  /** Newest access time of those blobs. */
  readonly lastUsed: Date | null;
  /** A split GGUF or sharded folder with parts missing. */
  readonly complete: boolean;
  readonly path: string;
}

function listRefs(dir: string): Map<string, string[]> {
  const byCommit = new Map<string, string[]>();
  const root = join(dir, 'refs');
  const walk = (abs: string, rel: string) => {
    let names: string[];
    try { names = fs.readdirSync(abs); } catch { return; }
    for (const name of names) {
      const a = join(abs, name), r = rel ? `${rel}/${name}` : name;
      let st: fs.Stats;
      try { st = fs.statSync(a); } catch { continue; }
      if (st.isDirectory()) walk(a, r);
      else if (!name.includes('.tmp-')) {
        const c = fs.readFileSync(a, 'utf8').trim();
        byCommit.set(c, [...(byCommit.get(c) ?? []), r]);
      }
    }
  };
  walk(root, '');
  return byCommit;
}

/** Size and newest access time of the distinct blobs behind some snapshot files. */
function blobUsage(paths: readonly string[]): { size: number; atime: Date | null } {
  const seen = new Set<string>();
  let size = 0, atime = 0;
  for (const p of paths) {
    try {
      const real = fs.realpathSync(p);
      if (seen.has(real)) continue;
      seen.add(real);
      const st = fs.statSync(real);
      size += st.size;
      atime = Math.max(atime, st.atimeMs);
    } catch { /* dangling */ }
  }
  return { size, atime: atime > 0 ? new Date(atime) : null };
}

function torchDtype(snapshot: string): string | null {
  try {
    const c = JSON.parse(fs.readFileSync(join(snapshot, 'config.json'), 'utf8')) as Record<string, unknown>;
    const t = (c.torch_dtype ?? (c.text_config as Record<string, unknown> | undefined)?.torch_dtype ?? c.dtype) as unknown;
    if (typeof t !== 'string') return null;
    return ({ bfloat16: 'BF16', float16: 'F16', float32: 'F32' } as Record<string, string>)[t] ?? t.toUpperCase();
  } catch {
    return null;
  }
}

/** Every model in the cache (all repositories, also those Python downloaded), one row per model and revision. */
export function scanCache(cacheDir: string): CacheEntry[] {
  let names: string[];
  try { names = fs.readdirSync(cacheDir); } catch { return []; }
  const rows: CacheEntry[] = [];
  for (const folder of names.sort()) {
    if (!folder.startsWith('models--')) continue;
    const repo = folder.slice('models--'.length).split('--').join('/');
    const dir = join(cacheDir, folder);
    const refs = listRefs(dir);
    for (const commit of listSnapshots(dir).sort()) {
      const snapshot = snapshotDir(dir, commit);
      const files = snapshotFiles(snapshot);
      const abs = (p: string) => join(snapshot, ...p.split('/'));
      const common = { repo, commit, refs: refs.get(commit) ?? [] };
      const choices = ggufChoices(files);
      const others = files.filter((f) => !choices.some((c) => c.files.includes(f)));
      for (const c of choices) {
        const u = blobUsage(c.files.map((f) => abs(f.path)));
        rows.push({
          ...common, name: c.quant ? `${repo}:${c.quant}` : `${repo}:${c.files[0].path}`, format: 'gguf', quant: c.quant,
          sizeBytes: u.size, lastUsed: u.atime, complete: c.files.length === c.partCount, path: abs(c.files[0].path),
        });
      }
      const hasWeights = others.some((f) => f.path.endsWith('.safetensors'));
      if (hasWeights || choices.length === 0) {
        const spec = { repo, tag: null };
        const u = blobUsage(others.map((f) => abs(f.path)));
        const complete = hasWeights && completeModelIn(dir, commit, spec) !== null;
        rows.push({
          ...common, name: repo, format: hasWeights ? 'safetensors' : 'other', quant: hasWeights ? torchDtype(snapshot) : null,
          sizeBytes: u.size, lastUsed: u.atime, complete, path: snapshot,
        });
      }
    }
  }
  return rows;
}

function dirSize(path: string): number {
  let n = 0;
  const walk = (p: string) => {
    let st: fs.Stats;
    try { st = fs.lstatSync(p); } catch { return; }
    if (st.isDirectory()) for (const c of fs.readdirSync(p)) walk(join(p, c));
    else if (st.isFile()) n += st.size;
  };
  walk(path);
  return n;
}

/** Deletes blobs (and partial downloads) no snapshot points to any more, and empty snapshots with their refs. */
function collectGarbage(dir: string): void {
  const used = new Set<string>();
  for (const commit of listSnapshots(dir)) {
    const snap = snapshotDir(dir, commit);
    const walk = (p: string) => {
      for (const name of fs.readdirSync(p)) {
        const a = join(p, name);
        const st = fs.lstatSync(a);
        if (st.isDirectory()) walk(a);
        else if (st.isSymbolicLink()) { try { used.add(fs.realpathSync(a)); } catch { /* dangling */ } }
      }
    };
    walk(snap);
    if (snapshotFiles(snap).length === 0 && fs.readdirSync(snap).length === 0) {
      fs.rmSync(snap, { recursive: true, force: true });
      for (const [c, names] of listRefs(dir)) if (c === commit) for (const r of names) fs.rmSync(join(dir, 'refs', ...r.split('/')), { force: true });
    }
  }
  const blobs = join(dir, 'blobs');
  let names: string[] = [];
  try { names = fs.readdirSync(blobs); } catch { /* none */ }
  for (const name of names) {
    const p = join(blobs, name);
    const real = (() => { try { return fs.realpathSync(p); } catch { return p; } })();
    if (!used.has(real)) fs.rmSync(p, { force: true });
  }
}

function removeEmptyDirs(path: string, stopAt: string): void {
  let p = path;
  while (p.startsWith(stopAt + sep) && p !== stopAt) {
    try { if (fs.readdirSync(p).length > 0) return; fs.rmdirSync(p); } catch { return; }
    p = dirname(p);
  }
}

export interface RemoveResult { readonly removed: string[]; readonly freedBytes: number }

/**
 * Removes a repository from the cache: all of it, one GGUF model of it (`org/repo:QUANT`), or one
 * revision (`revision`). Blobs no other snapshot uses are deleted.
 * @throws Llama4Error when nothing matches.
 */
export function removeFromCache(cacheDir: string, spec: RepoSpec, revision?: string): RemoveResult {
  const dir = repoDir(cacheDir, spec.repo);
  if (!fs.existsSync(dir)) throw new Llama4Error(`${spec.repo} is not in the cache (${cacheDir})`);
  const before = dirSize(dir);
  if (spec.tag === null && revision === undefined) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(join(cacheDir, '.locks', getRepoFolderName({ name: spec.repo, type: 'model' })), { recursive: true, force: true });
    return { removed: [spec.repo], freedBytes: before };
  }
  let commits = listSnapshots(dir);
  if (revision !== undefined) {
    const c = readRef(dir, revision) ?? commits.find((x) => x.startsWith(revision) && revision.length >= 7);
    if (!c) throw new Llama4Error(`${spec.repo} has no cached revision '${revision}'`);
    commits = [c];
  }
  const removed: string[] = [];
  for (const commit of commits) {
    const snap = snapshotDir(dir, commit);
    if (spec.tag === null) {
      fs.rmSync(snap, { recursive: true, force: true });
      for (const [c, names] of listRefs(dir)) if (c === commit) for (const r of names) fs.rmSync(join(dir, 'refs', ...r.split('/')), { force: true });
      removed.push(`${spec.repo}@${commit.slice(0, 12)}`);
      continue;
    }
    let choice: GgufChoice;
    try { choice = chooseGguf(ggufChoices(snapshotFiles(snap)), spec.tag, spec.repo); } catch { continue; }
    for (const f of choice.files) {
      const p = join(snap, ...f.path.split('/'));
      fs.rmSync(p, { force: true });
      removeEmptyDirs(dirname(p), snap);
    }
    removed.push(`${spec.repo}:${choice.label}@${commit.slice(0, 12)}`);
    // Only licence files left: the snapshot no longer holds a model.
    const left = snapshotFiles(snap);
    if (ggufChoices(left).length === 0 && !left.some((f) => f.path.endsWith('.safetensors'))) {
      fs.rmSync(snap, { recursive: true, force: true });
      for (const [c, names] of listRefs(dir)) if (c === commit) for (const r of names) fs.rmSync(join(dir, 'refs', ...r.split('/')), { force: true });
    }
  }
  if (removed.length === 0) throw new Llama4Error(`${spec.repo} has no cached ${spec.tag ?? 'model'}${revision ? ` at revision '${revision}'` : ''}`);
  collectGarbage(dir);
  if (listSnapshots(dir).length === 0) fs.rmSync(dir, { recursive: true, force: true });
  return { removed, freedBytes: before - (fs.existsSync(dir) ? dirSize(dir) : 0) };
}
