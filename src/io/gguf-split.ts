/**
 * Split GGUF files (`name-00001-of-00003.gguf`, as llama-gguf-split writes them): the first part
 * holds the model's metadata, every part holds some of the tensors and the `split.*` keys. Read
 * together, the parts are one GgufFile.
 */
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { Llama4Error } from '../errors.js';
import { readGguf, type GgufFile } from './gguf.js';
import type { TensorData } from './tensor.js';

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
 * Reads a GGUF, or every part of a split GGUF given any part, lazily (tensor bytes are read when a
 * backend asks). The result carries the first part's header and the tensors of all parts.
 */
export function readGgufAll(path: string): GgufFile {
  const parts = ggufParts(path);
  if (parts.length === 1) return readGguf(path, { lazy: true });
  const files = parts.map((p) => readGguf(p, { lazy: true }));
  const tensors = new Map<string, TensorData>();
  files.forEach((f, i) => {
    const no = f.metadata.get('split.no'), count = f.metadata.get('split.count');
    if (no !== undefined && no !== i) throw new Llama4Error(`split GGUF part ${i + 1} says it is part ${Number(no) + 1} (split.no)`, { source: f.path });
    if (count !== undefined && count !== parts.length) throw new Llama4Error(`split GGUF part says there are ${count} parts (split.count), its name says ${parts.length}`, { source: f.path });
    for (const [name, t] of f.tensors) {
      if (tensors.has(name)) throw new Llama4Error(`tensor '${name}' is in more than one part of the split GGUF`, { source: f.path });
      tensors.set(name, t);
    }
  });
  const declared = files[0].metadata.get('split.tensors.count');
  if (typeof declared === 'number' && declared !== tensors.size) {
    throw new Llama4Error(`split GGUF declares ${declared} tensors but its ${parts.length} parts hold ${tensors.size}`, { source: parts[0] });
  }
  return { ...files[0], tensors, tensorInfos: files.flatMap((f) => f.tensorInfos) };
}
