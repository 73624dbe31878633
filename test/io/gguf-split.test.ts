/**
 * Split GGUFs (llama-gguf-split's layout: metadata in part 1, tensors spread over the parts,
 * `split.*` keys in every part) load as the single file does, from any part; broken sets say why.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../src/load.js';
import { readGguf } from '../../src/io/gguf.js';
import { ggufMetadataEntries, writeGguf, type GgufMetadataEntry } from '../../src/io/gguf-writer.js';
import { ggufParts, readGgufAll } from '../../src/io/gguf-split.js';
import { Llama4Error } from '../../src/errors.js';
import { modelDir } from '../support/fixtures.js';

const SOURCE = join(modelDir('llama3-tiny'), 'llama3-tiny-f32.gguf');
let dir = '';
let first = '';

/** Writes SOURCE as `count` parts named stem-0000i-of-0000n.gguf; `edit` may change each part's split keys or tensors. */
function writeSplit(stem: string, count: number, edit: (i: number, split: GgufMetadataEntry[], names: string[]) => void = () => {}): string[] {
  const src = readGguf(SOURCE);
  const tensors = [...src.tensors.values()];
  const per = Math.ceil(tensors.length / count);
  return Array.from({ length: count }, (_, i) => {
    const mine = tensors.slice(i * per, (i + 1) * per);
    const names = mine.map((t) => t.name);
    const split: GgufMetadataEntry[] = [['split.no', i, 'uint16'], ['split.count', count, 'uint16'], ['split.tensors.count', tensors.length, 'int32']];
    edit(i, split, names);
    const path = join(dir, `${stem}-${String(i + 1).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.gguf`);
    const metadata = i === 0 ? [...ggufMetadataEntries(src), ...split] : split;
    writeGguf(path, { metadata, tensors: names.map((n) => src.tensors.get(n)!).map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.bytes })) });
    return path;
  });
}

describe('split GGUF', () => {
  before(() => { dir = mkdtempSync(join(tmpdir(), 'llama4-split-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('loads from any part and gives the single file’s logits exactly', async () => {
    const parts = writeSplit('tiny', 3);
    assert.deepEqual(ggufParts(parts[1]), parts);
    const whole = await loadModel(SOURCE);
    const ids = whole.tokenizer.encode('Everyone is permitted to copy');
    const want = whole.model.forward(whole.model.newCache(64), ids, { logits: 'all' });
    for (const p of [parts[0], parts[2]]) {
      const split = await loadModel(p);
      assert.deepEqual(split.config, whole.config);
      assert.deepEqual(split.model.forward(split.model.newCache(64), ids, { logits: 'all' }), want);
    }
    assert.equal(readGgufAll(parts[0]).tensors.size, readGguf(SOURCE).tensors.size);
  });

  const broken: [string, (i: number, split: GgufMetadataEntry[], names: string[]) => void, RegExp][] = [
    ['a part numbered wrongly', (i, split) => { if (i === 1) split[0] = ['split.no', 2, 'uint16']; }, /part 2 says it is part 3 \(split\.no\)/],
    ['a part with another part count', (i, split) => { if (i === 1) split[1] = ['split.count', 4, 'uint16']; }, /there are 4 parts \(split\.count\), its name says 2/],
    ['a tensor in two parts', (i, _split, names) => { if (i === 0) first = names[0]; else names.push(first); }, /tensor '[\w.]+' is in more than one part/],
    ['a wrong tensor count', (i, split) => { if (i === 0) split[2] = ['split.tensors.count', 5, 'int32']; }, /declares 5 tensors but its 2 parts hold \d+/],
  ];
  for (const [what, edit, message] of broken) {
    it(`names the problem: ${what}`, async () => {
      const parts = writeSplit(what.replace(/\W+/g, '_'), 2, edit);
      await assert.rejects(loadModel(parts[0]), (e: unknown) => e instanceof Llama4Error && message.test(e.message));
    });
  }

  it('names a missing part', async () => {
    const parts = writeSplit('gap', 3);
    rmSync(parts[1]);
    await assert.rejects(loadModel(parts[0]), (e: unknown) => e instanceof Llama4Error && /split GGUF part missing: gap-00002-of-00003\.gguf/.test(e.message));
  });
});
