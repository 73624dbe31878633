/**
 * `<model>` arguments: a local path stays a path; a repository id (`org/repo[:QUANT]`, see
 * repo-spec.ts) becomes the path of its cached copy, pulled first when missing (unless offline).
 */
import { Llama4Error } from '../errors.js';
import { HubError } from './api.js';
import { ensureModel, type PullOptions } from './pull.js';
import { looksLikeRepoSpec, parseRepoSpec } from './repo-spec.js';
import type { CachedModel } from './cache.js';

export interface ResolvedModel {
  /** What to open: the argument itself, a snapshot folder, or a GGUF file (the first part of a split one). */
  readonly path: string;
  /** Set when the argument was a repository id. */
  readonly cached?: CachedModel;
}

/** Resolves a `<model>` argument: a local path as is, a repo id to its cached (pulled if needed) copy. */
export async function resolveModelArg(arg: string, o: PullOptions = {}): Promise<ResolvedModel> {
  if (!looksLikeRepoSpec(arg)) return { path: arg };
  const spec = parseRepoSpec(arg)!;
  let cached: CachedModel;
  try {
    cached = await ensureModel(spec, o);
  } catch (e) {
    // A mistyped local path reads like a repo id: say that no local file was found either.
    if (e instanceof HubError && (e.code === 'RepositoryNotFound' || e.status === 404)) {
      throw new Llama4Error(`${arg}: no such file or folder, and no such repository on the hub (${e.message.replace(/^[^:]+: /, '')})`);
    }
    throw e;
  }
  return { path: cached.modelPath, cached };
}
