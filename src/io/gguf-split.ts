/**
 * Split GGUF files (`name-00001-of-00003.gguf`, as llama-gguf-split writes them): the first part
 * holds the model's metadata, every part holds some of the tensors and the `split.*` keys. Read
 * together, the parts are one GgufFile.
 */
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { Llama4Error } from '../errors.js';
import { lazyGguf, readGgufHeader, type GgufFile, type GgufHeader } from './gguf.js';

const SPLIT_NAME = /-(\d{5})-of-(\d{5})\.gguf$/i;

/** The parts of a split GGUF, given any part (`…-00002-of-00003.gguf`); [path] for a single file. */
export function ggufParts(path: string): string[] {
  const m = SPLIT_NAME.exec(path);
  if (!m) return [path];
  const count = Number(m[2]);
  const stem = path.slice(0, m.index);
  const parts = Array.from({ length: count }, (_, i) => `${stem}-${String(i + 1).padStart(5, '0')}-of-${m[2]}.gguf`);
  const missing = parts.filter((p) => !existsSync(p));
  if (missing.length > 0) throw new Llama4Error(`split GGUF part${missing.length > 1 ? 's' : ''} missing: ${missing.map((p) => basename(p)).join(', ')}`, { source: path });
  return parts;
}

/**
 * The headers of a GGUF, or of every part of a split GGUF given any part, checked as one set:
 * each part's `split.no` and `split.count`, no tensor in two parts, `split.tensors.count`.
 */
export function readGgufHeaders(path: string): GgufHeader[] {
  const parts = ggufParts(path);
  const headers = parts.map((p) => readGgufHeader(p));
  if (headers.length === 1) return headers;
  const names = new Set<string>();
  headers.forEach((h, i) => {
    const no = h.metadata.get('split.no'), count = h.metadata.get('split.count');
    if (no !== undefined && no !== i) throw new Llama4Error(`split GGUF part ${i + 1} says it is part ${Number(no) + 1} (split.no)`, { source: h.path });
    if (count !== undefined && count !== parts.length) throw new Llama4Error(`split GGUF part says there are ${count} parts (split.count), its name says ${parts.length}`, { source: h.path });
    for (const t of h.tensorInfos) {
      if (names.has(t.name)) throw new Llama4Error(`tensor '${t.name}' is in more than one part of the split GGUF`, { source: h.path });
      names.add(t.name);
    }
  });
  const declared = headers[0].metadata.get('split.tensors.count');
  if (typeof declared === 'number' && declared !== names.size) {
    throw new Llama4Error(`split GGUF declares ${declared} tensors but its ${parts.length} parts hold ${names.size}`, { source: parts[0] });
  }
  return headers;
}

/**
 * Reads a GGUF, or every part of a split GGUF given any part, lazily (tensor bytes are read when a
 * backend asks). The result carries the first part's header and the tensors of all parts.
 */
export function readGgufAll(path: string): GgufFile {
  const files = readGgufHeaders(path).map(lazyGguf);
  if (files.length === 1) return files[0];
  return { ...files[0], tensors: new Map(files.flatMap((f) => [...f.tensors])), tensorInfos: files.flatMap((f) => f.tensorInfos) };
}
