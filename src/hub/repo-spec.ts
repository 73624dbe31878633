/**
 * Model names on the hub and which of a repository's files a model needs.
 *
 * A spec is `org/repo` or `org/repo:TAG`, where TAG is a quant name (`Q4_K_M`, `UD-Q4_K_XL`) or a
 * `.gguf` path inside the repository. `hf.co/`, `huggingface.co/` and `https://huggingface.co/`
 * prefixes are accepted (Ollama users write `hf.co/org/repo:Q4_K_M`); `:latest` means no tag.
 *
 * A Hugging Face (safetensors) repository needs its config, tokenizer and licence files and every
 * shard the index names; a GGUF repository needs one GGUF model (all parts of a split file) and
 * its licence files. Without a tag a GGUF repository gives its Q4_K_M file, as Ollama does, or its
 * only GGUF model.
 */
import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { Llama4Error } from '../errors.js';

export interface RepoSpec {
  /** `org/name`. */
  readonly repo: string;
  /** Quant name or `.gguf` path after the colon; null for none. */
  readonly tag: string | null;
}

/** One file of a repository (from the hub's tree API, or found in a cached snapshot). */
export interface RepoFile {
  /** Path inside the repository, `/`-separated. */
  readonly path: string;
  /** Size in bytes of the real file (the LFS object for LFS files). */
  readonly size: number;
  /** Git blob id (sha1): the ETag and blob name of a regular file. */
  readonly oid?: string;
  /** sha256 of an LFS file: its ETag and blob name. */
  readonly lfsSha256?: string;
}

const NAME_PART = '[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?';
const REPO_RE = new RegExp(`^${NAME_PART}/${NAME_PART}$`);
const PREFIXES = [/^https?:\/\/(?:www\.)?huggingface\.co\//i, /^https?:\/\/hf\.co\//i, /^huggingface\.co\//i, /^hf\.co\//i, /^hf:\/\//i];

/** Parses `org/repo[:tag]`; null when the text is not a repository id. */
export function parseRepoSpec(text: string): RepoSpec | null {
  let s = text.trim();
  for (const p of PREFIXES) s = s.replace(p, '');
  const colon = s.indexOf(':');
  const repo = colon < 0 ? s : s.slice(0, colon);
  let tag: string | null = colon < 0 ? null : s.slice(colon + 1).trim();
  if (!REPO_RE.test(repo) || repo.includes('--') || repo.includes('..')) return null;
  if (tag === '' || tag?.toLowerCase() === 'latest') tag = null;
  return { repo, tag };
}

/**
 * Whether a `<model>` argument names a hub repository rather than a local file or folder: it
 * parses as `org/repo[:tag]`, does not exist on disk and does not look like a path (`./`, `/`,
 * `~`, a weight-file extension).
 */
export function looksLikeRepoSpec(arg: string): boolean {
  if (existsSync(arg)) return false;
  if (isAbsolute(arg) || /^[.~]/.test(arg) || arg.includes('\\')) return false;
  const spec = parseRepoSpec(arg);
  if (spec === null) return false;
  if (/\.(gguf|safetensors|json|bin)$/i.test(spec.repo)) return false;
  return true;
}

export function formatSpec(spec: RepoSpec): string {
  return spec.tag ? `${spec.repo}:${spec.tag}` : spec.repo;
}

// ---------------------------------------------------------------------------------------------
// GGUF files: quant labels and split parts

const SPLIT_RE = /-(\d{5})-of-(\d{5})\.gguf$/i;
const QUANT_TOKEN = /^(?:I?Q\d+(?:_[A-Z0-9]+)*|TQ\d_\d|[BF]F16|F16|F32|FP16|FP32|BF16|MXFP4(?:_MOE)?)$/i;

/** `part` and `count` of a split GGUF (`name-00001-of-00003.gguf`), or null. */
export function ggufSplit(path: string): { part: number; count: number; stem: string } | null {
  const m = SPLIT_RE.exec(path);
  if (!m) return null;
  return { part: Number(m[1]), count: Number(m[2]), stem: path.slice(0, m.index) };
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** The quant name in a GGUF file name (`…-Q4_K_M.gguf` → `Q4_K_M`, `…-UD-Q4_K_XL-00001-of-00002.gguf` → `UD-Q4_K_XL`). */
export function ggufQuantLabel(path: string): string | null {
  let name = baseName(path);
  const split = ggufSplit(name);
  name = split ? split.stem : name.replace(/\.gguf$/i, '');
  const tokens = name.split(/[-.]/);
  for (let i = tokens.length - 1; i >= 0; i--) {
    if (QUANT_TOKEN.test(tokens[i])) {
      const q = tokens[i].toUpperCase();
      return i > 0 && tokens[i - 1].toUpperCase() === 'UD' ? `UD-${q}` : q;
    }
  }
  return null;
}

/** One GGUF model of a repository: a single file or all parts of a split file. */
export interface GgufChoice {
  /** The model's name in messages: the quant label, or the file path. */
  readonly label: string;
  readonly quant: string | null;
  /** The file paths, first part first. */
  readonly files: readonly RepoFile[];
  /** Parts a split file declares (1 for a single file). */
  readonly partCount: number;
}

function isProjector(path: string): boolean {
  return /^mmproj/i.test(baseName(path)) || /[-_.]mmproj[-_.]/i.test(baseName(path));
}

/** The GGUF models of a file list (vision projectors `mmproj*` left out). */
export function ggufChoices(files: readonly RepoFile[]): GgufChoice[] {
  const groups = new Map<string, { files: RepoFile[]; count: number }>();
  for (const f of files) {
    if (!/\.gguf$/i.test(f.path) || isProjector(f.path)) continue;
    const split = ggufSplit(f.path);
    const key = split ? `${split.stem}#split` : f.path;
    const g = groups.get(key) ?? { files: [], count: split ? split.count : 1 };
    g.files.push(f);
    groups.set(key, g);
  }
  return [...groups.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, g]) => {
    const sorted = g.files.sort((a, b) => a.path.localeCompare(b.path));
    const quant = ggufQuantLabel(sorted[0].path);
    const first = sorted[0].path;
    const label = quant ?? (ggufSplit(first) ? ggufSplit(first)!.stem : first);
    return { label, quant, files: sorted, partCount: g.count };
  });
}

/** Lists the choices for a message: `Q4_K_M, Q8_0, …`. */
function describeChoices(choices: readonly GgufChoice[]): string {
  const labels = choices.map((c) => c.label);
  return labels.length > 12 ? `${labels.slice(0, 12).join(', ')}, …` : labels.join(', ');
}

/** The GGUF model a tag picks (see the module comment). @throws Llama4Error when none or several match. */
export function chooseGguf(choices: readonly GgufChoice[], tag: string | null, repo: string): GgufChoice {
  if (choices.length === 0) throw new Llama4Error(`${repo} has no GGUF files`);
  if (tag === null) {
    const def = choices.filter((c) => c.quant === 'Q4_K_M');
    if (def.length === 1) return def[0];
    if (choices.length === 1) return choices[0];
    throw new Llama4Error(`${repo} has several GGUF models; pick one with ${repo}:QUANT (available: ${describeChoices(choices)})`);
  }
  if (/\.gguf$/i.test(tag)) {
    const want = tag.replace(/^\/+/, '');
    const hit = choices.find((c) => c.files.some((f) => f.path === want))
      ?? choices.find((c) => c.files.some((f) => baseName(f.path) === baseName(want)));
    if (!hit) throw new Llama4Error(`${repo} has no file '${want}' (GGUF models: ${describeChoices(choices)})`);
    return hit;
  }
  const t = tag.toUpperCase();
  let hits = choices.filter((c) => c.quant === t);
  if (hits.length === 0) hits = choices.filter((c) => c.quant?.replace(/^UD-/, '') === t);
  if (hits.length === 1) return hits[0];
  if (hits.length === 0) throw new Llama4Error(`${repo} has no ${tag} GGUF (available: ${describeChoices(choices)})`);
  throw new Llama4Error(`${repo}:${tag} matches several GGUF files (${hits.map((h) => h.files[0].path).join(', ')}); name the file instead, e.g. ${repo}:${hits[0].files[0].path}`);
}

// ---------------------------------------------------------------------------------------------
// What a model needs

export const SAFETENSORS_INDEX = 'model.safetensors.index.json';

/** Small top-level files a model folder needs or describes itself with (config, tokenizer, licence). */
export function isSupportFile(path: string): boolean {
  if (path.includes('/')) return false;
  if (/^\.git/.test(path)) return false;
  return /\.(json|jinja|md|txt)$/i.test(path) || /^(LICEN[SC]E|NOTICE|USE_POLICY)/i.test(path) || path === 'tokenizer.model';
}

/** Licence files and the model card: all a GGUF model needs beside its weights. */
export function isLicenseFile(path: string): boolean {
  return !path.includes('/') && (/^(LICEN[SC]E|NOTICE|USE_POLICY)/i.test(path) || path === 'README.md');
}

export interface Selection {
  readonly format: 'hf' | 'gguf';
  /** Files to fetch first (everything, except the shards an index names). */
  readonly files: readonly RepoFile[];
  /** The chosen GGUF model. */
  readonly gguf?: GgufChoice;
  /** HF: shards come from this index (fetched first, then read). */
  readonly index?: RepoFile;
}

/**
 * Picks what a spec needs from a repository's files. HF repositories (a `config.json` with
 * safetensors weights) win when no tag is given; a tag always means a GGUF file.
 * @throws Llama4Error when the repository holds no model llama4.ts can use.
 */
export function selectFiles(files: readonly RepoFile[], spec: RepoSpec): Selection {
  const has = (p: string) => files.some((f) => f.path === p);
  const topSafetensors = files.filter((f) => !f.path.includes('/') && f.path.endsWith('.safetensors'));
  const isHf = has('config.json') && (has(SAFETENSORS_INDEX) || topSafetensors.length > 0);
  const choices = ggufChoices(files);
  if (spec.tag === null && isHf) {
    const support = files.filter((f) => isSupportFile(f.path));
    if (has(SAFETENSORS_INDEX)) return { format: 'hf', files: support, index: files.find((f) => f.path === SAFETENSORS_INDEX) };
    const weights = has('model.safetensors') ? topSafetensors.filter((f) => f.path === 'model.safetensors') : topSafetensors;
    return { format: 'hf', files: [...support, ...weights] };
  }
  if (choices.length === 0) {
    if (spec.tag !== null && isHf) throw new Llama4Error(`${spec.repo} has no GGUF files; use ${spec.repo} (without :${spec.tag}) for its safetensors weights`);
    throw new Llama4Error(`${spec.repo} holds no model llama4.ts can run (neither a config.json with safetensors weights nor a .gguf file)`);
  }
  const gguf = chooseGguf(choices, spec.tag, spec.repo);
  return { format: 'gguf', files: [...files.filter((f) => isLicenseFile(f.path)), ...gguf.files], gguf };
}

/** The shard file names an index's `weight_map` names (plain names only). */
export function shardsOfIndex(json: unknown, source: string): string[] {
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null) throw new Llama4Error("index has no 'weight_map' object", { source });
  const shards = new Set<string>();
  for (const v of Object.values(map)) {
    if (typeof v !== 'string' || v.includes('/') || v.includes('\\') || v === '' || v === '.' || v === '..') {
      throw new Llama4Error(`weight_map names an invalid shard ${JSON.stringify(v)}`, { source });
    }
    shards.add(v);
  }
  return [...shards].sort();
}
