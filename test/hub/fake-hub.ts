/**
 * A stand-in for the Hugging Face hub on 127.0.0.1 (node:http), speaking the subset of its API
 * that pulling uses:
 *  - `GET /api/models/{repo}` and `GET /api/models/{repo}/revision/{rev}` (`?expand=…` as
 *    @huggingface/hub's modelInfo asks; `?blobs=true` adds sizes and LFS sha256 to `siblings`)
 *  - `GET /api/models/{repo}/tree/{rev}[/{path}]?recursive=…` (what listFiles asks)
 *  - `GET|HEAD /{repo}/resolve/{rev}/{path}`: regular files directly (ETag = git blob id), LFS
 *    files by a 302 to `/lfs-cdn/{sha256}` (X-Linked-Etag, X-Linked-Size), X-Repo-Commit on both,
 *    Range requests (206 / 416)
 *  - a gated repository answers 401 (`X-Error-Code: GatedRepo`) without an accepted token, an
 *    unknown one 401 `RepositoryNotFound`, as the hub does for anonymous users
 * and, for the tests, faults: drop the connection after N bytes of a file once, serve one wrong
 * byte once (or always), and a log of every request.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeFile {
  readonly path: string;
  readonly data: Buffer;
  /** Stored with Git LFS (weights): served through the CDN redirect. Default: by extension. */
  readonly lfs?: boolean;
}

export interface FakeRepo {
  readonly id: string;
  readonly files: readonly FakeFile[];
  /** Extra branch/tag names (each gets its own commit hash; same files). `main` always exists. */
  readonly branches?: readonly string[];
  /** Downloads need `Authorization: Bearer <one of these>`. */
  readonly gatedTokens?: readonly string[];
  /** The model-info and tree API refuse too (401), not only downloads. */
  readonly gatedApi?: boolean;
}

export interface RequestRecord {
  readonly method: string;
  readonly url: string;
  readonly range: string | null;
  readonly auth: string | null;
}

interface Stored extends FakeFile {
  readonly lfs: boolean;
  readonly sha256: string;
  readonly gitOid: string;
  readonly pointer: Buffer;
}

const sha1 = (b: Buffer | string) => createHash('sha1').update(b).digest('hex');
export const sha256hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** Git's blob id: sha1("blob <size>\0" + data). */
export const gitBlobId = (b: Buffer) => sha1(Buffer.concat([Buffer.from(`blob ${b.length}\0`), b]));

export function commitOf(repo: string, rev: string): string {
  return sha1(`${repo}@${rev}`);
}

export class FakeHub {
  readonly requests: RequestRecord[] = [];
  private readonly repos = new Map<string, { repo: FakeRepo; files: Map<string, Stored>; commits: Map<string, string> }>();
  private readonly byBlob = new Map<string, Stored>();
  /** key `repo/path` → byte position where the connection is cut (once). */
  readonly dropOnce = new Map<string, number>();
  /** key `repo/path` → byte index served wrong (once). */
  readonly corruptOnce = new Map<string, number>();
  /** key `repo/path` → byte index served wrong on every request. */
  readonly corruptAlways = new Map<string, number>();
  private server: Server | null = null;
  url = '';

  addRepo(repo: FakeRepo): void {
    const files = new Map<string, Stored>();
    for (const f of repo.files) {
      const lfs = f.lfs ?? /\.(safetensors|gguf|pth|bin)$/.test(f.path);
      const sha256 = sha256hex(f.data);
      const pointer = Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${f.data.length}\n`);
      const s: Stored = { ...f, lfs, sha256, gitOid: gitBlobId(lfs ? pointer : f.data), pointer };
      files.set(f.path, s);
      this.byBlob.set(sha256, s);
    }
    const commits = new Map<string, string>();
    for (const b of ['main', ...(repo.branches ?? [])]) commits.set(b, commitOf(repo.id, b));
    this.repos.set(repo.id, { repo, files, commits });
  }

  /** Requests whose URL contains `part` (e.g. a file name). */
  requestsFor(part: string): RequestRecord[] {
    return this.requests.filter((r) => decodeURIComponent(r.url).includes(part));
  }

  /** Downloads of a file's bytes (CDN GETs for LFS files, resolve GETs for the others). */
  downloadsOf(repo: string, path: string): RequestRecord[] {
    const f = this.repos.get(repo)?.files.get(path);
    if (!f) return [];
    return this.requests.filter((r) => r.method === 'GET' && (f.lfs ? r.url.startsWith(`/lfs-cdn/${f.sha256}`) : decodeURIComponent(r.url).includes(`/${repo}/resolve/`) && decodeURIComponent(r.url).endsWith(`/${path}`)));
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', range: (req.headers.range as string | undefined) ?? null, auth: (req.headers.authorization as string | undefined) ?? null });
      try {
        this.handle(req, res);
      } catch (e) {
        res.statusCode = 500;
        res.end(String(e));
      }
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }

  private json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const data = Buffer.from(JSON.stringify(body));
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': data.length, ...headers });
    res.end(data);
  }

  private authorized(repo: FakeRepo, req: IncomingMessage): boolean {
    if (!repo.gatedTokens) return true;
    const auth = req.headers.authorization ?? '';
    return repo.gatedTokens.some((t) => auth === `Bearer ${t}`);
  }

  private refuseGated(res: ServerResponse, id: string): void {
    this.json(res, 401, { error: `Access to model ${id} is restricted. You must have access to it and be authenticated to access it. Please log in.` }, { 'x-error-code': 'GatedRepo' });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const u = new URL(req.url ?? '/', 'http://x');
    const path = decodeURIComponent(u.pathname);
    let m: RegExpExecArray | null;
    if ((m = /^\/lfs-cdn\/([0-9a-f]{64})$/.exec(path))) {
      const f = this.byBlob.get(m[1]);
      if (!f) return this.json(res, 404, { error: 'no such object' });
      return this.serveBytes(req, res, f, u.searchParams.get('key') ?? '', {});
    }
    if ((m = /^\/api\/models\/([^/]+\/[^/]+)(?:\/revision\/([^/]+))?$/.exec(path))) {
      return this.modelInfo(req, res, m[1], m[2] ?? 'main', u.searchParams.get('blobs') === 'true');
    }
    if ((m = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)(?:\/(.*))?$/.exec(path))) {
      return this.tree(req, res, m[1], m[2], m[3] ?? '', u.searchParams.get('recursive') === 'true');
    }
    if ((m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path))) {
      return this.resolve(req, res, m[1], m[2], m[3]);
    }
    this.json(res, 404, { error: 'Not found' });
  }

  private repoOr401(res: ServerResponse, id: string) {
    const r = this.repos.get(id);
    if (!r) { this.json(res, 401, { error: 'Repository not found' }, { 'x-error-code': 'RepositoryNotFound' }); return null; }
    return r;
  }

  private commit(r: { commits: Map<string, string> }, rev: string): string | null {
    if (r.commits.has(rev)) return r.commits.get(rev)!;
    return [...r.commits.values()].includes(rev) ? rev : null;
  }

  private modelInfo(req: IncomingMessage, res: ServerResponse, id: string, rev: string, blobs: boolean): void {
    const r = this.repoOr401(res, id);
    if (!r) return;
    if (r.repo.gatedApi && !this.authorized(r.repo, req)) return this.refuseGated(res, id);
    const sha = this.commit(r, rev);
    if (!sha) return this.json(res, 404, { error: `Invalid rev id: ${rev}` }, { 'x-error-code': 'RevisionNotFound' });
    const siblings = [...r.files.values()].map((f) => blobs
      ? { rfilename: f.path, size: f.data.length, blobId: f.gitOid, ...(f.lfs ? { lfs: { sha256: f.sha256, size: f.data.length, pointerSize: f.pointer.length } } : {}) }
      : { rfilename: f.path });
    this.json(res, 200, {
      _id: sha1(id).slice(0, 24), id, modelId: id, sha, private: false, gated: r.repo.gatedTokens ? 'manual' : false, disabled: false,
      downloads: 0, likes: 0, lastModified: '2025-04-05T00:00:00.000Z', pipeline_tag: 'text-generation', library_name: 'transformers',
      tags: [], siblings, cardData: { license: 'other' },
    });
  }

  private tree(req: IncomingMessage, res: ServerResponse, id: string, rev: string, dir: string, recursive: boolean): void {
    const r = this.repoOr401(res, id);
    if (!r) return;
    if (r.repo.gatedApi && !this.authorized(r.repo, req)) return this.refuseGated(res, id);
    if (!this.commit(r, rev)) return this.json(res, 404, { error: `Invalid rev id: ${rev}` }, { 'x-error-code': 'RevisionNotFound' });
    const prefix = dir ? `${dir.replace(/\/+$/, '')}/` : '';
    const out: unknown[] = [];
    const dirs = new Set<string>();
    for (const f of r.files.values()) {
      if (!f.path.startsWith(prefix)) continue;
      const rest = f.path.slice(prefix.length);
      if (!recursive && rest.includes('/')) { dirs.add(prefix + rest.split('/')[0]); continue; }
      if (recursive) for (let i = rest.indexOf('/'); i >= 0; i = rest.indexOf('/', i + 1)) dirs.add(prefix + rest.slice(0, i));
      out.push({ type: 'file', oid: f.gitOid, size: f.lfs ? f.data.length : f.data.length, path: f.path, ...(f.lfs ? { lfs: { oid: f.sha256, size: f.data.length, pointerSize: f.pointer.length } } : {}) });
    }
    for (const d of dirs) out.push({ type: 'directory', oid: sha1(d), size: 0, path: d });
    this.json(res, 200, out);
  }

  private resolve(req: IncomingMessage, res: ServerResponse, id: string, rev: string, file: string): void {
    const r = this.repoOr401(res, id);
    if (!r) return;
    if (!this.authorized(r.repo, req)) return this.refuseGated(res, id);
    const sha = this.commit(r, rev);
    if (!sha) return this.json(res, 404, { error: `Invalid rev id: ${rev}` }, { 'x-error-code': 'RevisionNotFound' });
    const f = r.files.get(file);
    if (!f) return this.json(res, 404, { error: 'Entry not found' }, { 'x-error-code': 'EntryNotFound' });
    const key = `${id}/${file}`;
    if (f.lfs) {
      res.writeHead(302, {
        location: `/lfs-cdn/${f.sha256}?key=${encodeURIComponent(key)}`,
        'x-repo-commit': sha, 'x-linked-etag': `"${f.sha256}"`, 'x-linked-size': String(f.data.length),
        etag: `"${f.gitOid}"`, 'content-length': 0,
      });
      return void res.end();
    }
    this.serveBytes(req, res, f, key, { 'x-repo-commit': sha, etag: `"${f.gitOid}"` });
  }

  private serveBytes(req: IncomingMessage, res: ServerResponse, f: Stored, key: string, headers: Record<string, string>): void {
    const total = f.data.length;
    let start = 0, end = total - 1;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      if (range[2]) end = Math.min(total - 1, Number(range[2]));
      if (start >= total) {
        res.writeHead(416, { 'content-range': `bytes */${total}`, ...headers });
        return void res.end();
      }
    }
    let body = Buffer.from(f.data.subarray(start, end + 1));
    const status = range ? 206 : 200;
    const head = {
      'content-type': 'application/octet-stream', 'content-length': body.length, 'accept-ranges': 'bytes',
      ...(range ? { 'content-range': `bytes ${start}-${end}/${total}` } : {}), ...headers,
    };
    if (req.method === 'HEAD') { res.writeHead(status, head); return void res.end(); }
    const flip = this.corruptAlways.get(key) ?? this.corruptOnce.get(key);
    if (flip !== undefined && flip >= start && flip <= end) {
      this.corruptOnce.delete(key);
      body[flip - start] ^= 0xff;
    }
    const cut = this.dropOnce.get(key);
    if (cut !== undefined && cut > start && cut <= end) {
      this.dropOnce.delete(key);
      res.writeHead(status, head);
      res.write(body.subarray(0, cut - start), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.writeHead(status, head);
    res.end(body);
  }
}
