import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Llama4Error } from '../../src/errors.js';
import { readGguf } from '../../src/io/gguf.js';
import { readSafetensors, readSafetensorsFolder, type SafetensorsSource } from '../../src/io/safetensors.js';
import type { TensorSource } from '../../src/io/tensor.js';
import { dequantizeAll } from '../../src/quant/formats.js';
import { rng } from '../quant/util.js';
import { FIXTURES, assertLlama4Error, fixtureModels, safetensorsBytes, safetensorsHeader, tempDir, type StTensor } from './helpers.js';

const TMP = tempDir('safetensors');
let counter = 0;
function tmpFile(bytes: Uint8Array): string {
  const p = path.join(TMP, `t${counter++}.safetensors`);
  fs.writeFileSync(p, bytes);
  return p;
}
function tmpFolder(files: Record<string, Uint8Array | string>): string {
  const dir = path.join(TMP, `dir${counter++}`);
  fs.mkdirSync(dir);
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
  return dir;
}

/** Same tensor names, dtypes, shapes and bytes. */
function assertSameTensors(a: TensorSource, b: TensorSource): void {
  assert.deepEqual([...a.tensors.keys()].sort(), [...b.tensors.keys()].sort());
  for (const [name, t] of a.tensors) {
    const u = b.tensors.get(name);
    assert.ok(u, name);
    assert.equal(u.dtype, t.dtype, name);
    assert.deepEqual(u.shape, t.shape, name);
    assert.ok(Buffer.from(u.bytes).equals(Buffer.from(t.bytes)), name);
  }
}

const MOE = path.join(FIXTURES, 'llama4-tiny-moe', 'model.safetensors');

describe('reading the fixture safetensors', () => {
  for (const model of fixtureModels()) {
    it(model, () => {
      const file = path.join(FIXTURES, model, 'model.safetensors');
      const st = readSafetensors(file);
      const { header, dataStart } = safetensorsHeader(file);
      const whole = fs.readFileSync(file);
      assert.equal(st.path, file);
      assert.deepEqual([...st.tensors.keys()], Object.keys(header));
      for (const [name, h] of Object.entries(header)) {
        const t = st.tensors.get(name);
        assert.ok(t, name);
        assert.equal(t.name, name);
        assert.equal(t.dtype, h.dtype);
        assert.deepEqual(t.shape, h.shape);
        const [begin, end] = h.data_offsets;
        assert.ok(Buffer.from(t.bytes).equals(whole.subarray(dataStart + begin, dataStart + end)), name);
        assert.equal(t.bytes.byteOffset, 0);
        assert.equal(t.bytes.buffer.byteLength, t.bytes.length);
      }
      assert.equal(st.metadata.get('format'), 'pt');
    });
  }

  it('llama4-tiny-moe holds the fused expert gate_up_proj [4, 64, 256] in BF16', () => {
    const t = readSafetensors(MOE).tensors.get('language_model.model.layers.0.feed_forward.experts.gate_up_proj');
    assert.ok(t);
    assert.equal(t.dtype, 'BF16');
    assert.deepEqual(t.shape, [4, 64, 256]);
    assert.equal(t.bytes.length, 4 * 64 * 256 * 2);
  });

  it('agrees with the GGUF conversion of the same model (token embeddings)', () => {
    const st = readSafetensors(MOE).tensors.get('language_model.model.embed_tokens.weight');
    const gg = readGguf(path.join(FIXTURES, 'llama4-tiny-moe', 'llama4-tiny-moe-f32.gguf')).tensors.get('token_embd.weight');
    assert.ok(st && gg);
    assert.deepEqual(st.shape, gg.shape);
    assert.deepEqual(dequantizeAll(st.dtype, st.bytes, 64), dequantizeAll(gg.dtype, gg.bytes, 64));
  });

  it('reads a fixture model folder (model.safetensors)', () => {
    const folder = readSafetensorsFolder(path.join(FIXTURES, 'llama3-tiny'));
    assertSameTensors(readSafetensors(path.join(FIXTURES, 'llama3-tiny', 'model.safetensors')), folder);
    assert.equal(folder.path, path.join(FIXTURES, 'llama3-tiny'));
  });
});

/** Splits a file's tensors into two shards (alternating) plus an index. */
function shardFixture(file: string): { files: Record<string, Uint8Array | string>; original: SafetensorsSource; shardOf: Map<string, string> } {
  const original = readSafetensors(file);
  const shards: StTensor[][] = [[], []];
  const shardOf = new Map<string, string>();
  const names = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  [...original.tensors.values()].forEach((t, i) => {
    shards[i % 2].push({ name: t.name, dtype: t.dtype, shape: [...t.shape], bytes: t.bytes });
    shardOf.set(t.name, names[i % 2]);
  });
  const index = { metadata: { total_size: 0 }, weight_map: Object.fromEntries(shardOf) };
  return {
    original,
    shardOf,
    files: {
      [names[0]]: safetensorsBytes(shards[0], { metadata: { format: 'pt' } }),
      [names[1]]: safetensorsBytes(shards[1], { metadata: { format: 'pt' } }),
      'model.safetensors.index.json': JSON.stringify(index),
    },
  };
}

describe('sharded and multi-file folders', () => {
  it('a folder split into two shards with an index loads the same tensors', () => {
    const { files, original } = shardFixture(MOE);
    const dir = tmpFolder({ ...files, 'config.json': '{}' });
    const merged = readSafetensorsFolder(dir);
    assertSameTensors(original, merged);
    assert.equal(merged.files.length, 2);
    assert.equal(merged.metadata.get('format'), 'pt');
  });

  it('the index wins over a stray model.safetensors', () => {
    const { files, original } = shardFixture(MOE);
    const dir = tmpFolder({ ...files, 'model.safetensors': 'garbage that is never read' });
    assertSameTensors(original, readSafetensorsFolder(dir));
  });

  it('without index or model.safetensors, every *.safetensors is merged', () => {
    const { files, original } = shardFixture(MOE);
    const dir = tmpFolder({ 'a.safetensors': files['model-00001-of-00002.safetensors'], 'b.safetensors': files['model-00002-of-00002.safetensors'] });
    assertSameTensors(original, readSafetensorsFolder(dir));
  });

  it('reports a missing shard', () => {
    const { files } = shardFixture(MOE);
    delete files['model-00002-of-00002.safetensors'];
    const dir = tmpFolder(files);
    assertLlama4Error(() => readSafetensorsFolder(dir), /shard 'model-00002-of-00002.safetensors' listed in model.safetensors.index.json is missing/, dir);
  });

  it('reports a tensor the index lists but its shard lacks', () => {
    const { files } = shardFixture(MOE);
    const index = JSON.parse(files['model.safetensors.index.json'] as string) as { weight_map: Record<string, string> };
    index.weight_map['language_model.model.ghost.weight'] = 'model-00001-of-00002.safetensors';
    files['model.safetensors.index.json'] = JSON.stringify(index);
    const dir = tmpFolder(files);
    assertLlama4Error(() => readSafetensorsFolder(dir), /tensor 'language_model.model.ghost.weight' is listed in model.safetensors.index.json under shard 'model-00001-of-00002.safetensors', but that shard does not contain it/, dir);
  });

  it('reports a tensor stored in two shards', () => {
    const t: StTensor = { name: 'w', dtype: 'F32', shape: [1], bytes: new Uint8Array(4) };
    const dir = tmpFolder({ 'a.safetensors': safetensorsBytes([t]), 'b.safetensors': safetensorsBytes([t]) });
    assertLlama4Error(() => readSafetensorsFolder(dir), /tensor 'w' appears in both 'a.safetensors' and 'b.safetensors'/, dir);
  });

  it('reports bad index files and empty folders', () => {
    const bad = tmpFolder({ 'model.safetensors.index.json': '{"weight_map": ' });
    assertLlama4Error(() => readSafetensorsFolder(bad), /index is not valid JSON/, path.join(bad, 'model.safetensors.index.json'));
    const noMap = tmpFolder({ 'model.safetensors.index.json': '{"metadata": {}}' });
    assertLlama4Error(() => readSafetensorsFolder(noMap), /index has no 'weight_map' object/);
    const escape = tmpFolder({ 'model.safetensors.index.json': '{"weight_map": {"w": "../outside.safetensors"}}' });
    assertLlama4Error(() => readSafetensorsFolder(escape), /weight_map entry for 'w' is not a shard file name/);
    const empty = tmpFolder({ 'config.json': '{}' });
    assertLlama4Error(() => readSafetensorsFolder(empty), /no .safetensors files in the model folder/, empty);
    const missing = path.join(TMP, 'nope');
    assertLlama4Error(() => readSafetensorsFolder(missing), /cannot read the model folder/, missing);
    assertLlama4Error(() => readSafetensorsFolder(MOE), /not a folder/, MOE);
  });
});

describe('malformed safetensors files', () => {
  const good: StTensor[] = [
    { name: 'a', dtype: 'F32', shape: [2, 3], bytes: new Uint8Array(24).fill(1) },
    { name: 'b', dtype: 'BF16', shape: [4], bytes: new Uint8Array(8).fill(2) },
    { name: 'c', dtype: 'F16', shape: [], bytes: new Uint8Array(2).fill(3) },
  ];

  function expectBroken(bytes: Uint8Array, pattern: RegExp): void {
    const p = tmpFile(bytes);
    assertLlama4Error(() => readSafetensors(p), pattern, p);
  }

  it('the hand-built base file is valid (scalars included)', () => {
    const st = readSafetensors(tmpFile(safetensorsBytes(good, { metadata: { k: 'v' } })));
    assert.deepEqual(st.tensors.get('c')?.shape, []);
    assert.equal(st.metadata.get('k'), 'v');
  });

  it('a truncated file', () => {
    const b = safetensorsBytes(good);
    expectBroken(b.subarray(0, b.length - 5), /tensor 'b' data ends at byte 32 of the data region, but the file holds only 29 bytes of data \(truncated\?\)/);
    expectBroken(b.subarray(0, 5), /file is 5 bytes, too small to be a safetensors file/);
  });

  it('a header length past the end of the file or over the limit', () => {
    const b = safetensorsBytes(good);
    b.writeBigUInt64LE(BigInt(b.length), 0);
    expectBroken(b, new RegExp(`header length ${b.length} runs past the end of the file`));
    const huge = Buffer.from(b);
    huge.writeBigUInt64LE(2n ** 63n, 0);
    expectBroken(huge, /header length 9223372036854775808 runs past the end/);
    // A sparse 200 MB file whose header claims 150 MB: legal size, but over the 100 MB limit.
    const p = path.join(TMP, 'sparse.safetensors');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(150_000_000n);
    fs.writeFileSync(p, len);
    fs.truncateSync(p, 200_000_000);
    assertLlama4Error(() => readSafetensors(p), /header length 150000000 exceeds the 104857600-byte limit/, p);
  });

  it('bad JSON', () => {
    const b = safetensorsBytes(good);
    b[8 + 3] = 0x7b; // corrupt a character inside the JSON
    expectBroken(b, /header is not valid JSON/);
    expectBroken(safetensorsBytes([], { header: (h) => { h.x = 1; } }), /tensor 'x': header entry is not an object/);
    const arr = Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('[]')]);
    expectBroken(arr, /header JSON is not an object/);
  });

  it('offsets past the end of the data', () => {
    expectBroken(safetensorsBytes(good, { header: (h) => { h.b = { dtype: 'BF16', shape: [4], data_offsets: [100, 108] }; } }), /tensor 'b' data ends at byte 108 of the data region, but the file holds only 34 bytes/);
  });

  it('offsets inconsistent with shape and dtype', () => {
    expectBroken(safetensorsBytes(good, { header: (h) => { h.a = { dtype: 'F32', shape: [2, 2], data_offsets: [0, 24] }; } }), /tensor 'a': data_offsets \[0, 24\] span 24 bytes, but F32 \[2, 2\] needs 16 bytes/);
    expectBroken(safetensorsBytes(good, { header: (h) => { h.a = { dtype: 'F32', shape: [2, 3], data_offsets: [24, 0] }; } }), /'data_offsets' must be \[begin, end\]/);
    expectBroken(safetensorsBytes(good, { header: (h) => { h.a = { dtype: 'F32', shape: [2, -3], data_offsets: [0, 24] }; } }), /'shape' must be an array of non-negative integers/);
    expectBroken(safetensorsBytes(good, { header: (h) => { h.a = { dtype: 'F32', shape: [2, 3] }; } }), /'data_offsets' must be/);
  });

  it('overlapping tensors', () => {
    expectBroken(safetensorsBytes(good, { header: (h) => { h.b = { dtype: 'BF16', shape: [4], data_offsets: [20, 28] }; } }), /tensors 'a' and 'b' overlap in the data region/);
  });

  it('unsupported dtypes name the tensor and the dtype', () => {
    for (const dtype of ['I64', 'F8_E4M3', 'F64', 'BOOL', 'nonsense']) {
      expectBroken(safetensorsBytes([{ name: 'ids', dtype, shape: [1], bytes: new Uint8Array(8) }]), new RegExp(`tensor 'ids' has dtype '${dtype}', which llama4.ts does not support \\(supported: F32, F16, BF16\\)`));
    }
    expectBroken(safetensorsBytes(good, { header: (h) => { h.a = { shape: [1], data_offsets: [0, 4] }; } }), /tensor 'a': header entry has no 'dtype' string/);
  });

  it('a missing file', () => {
    const p = path.join(TMP, 'missing.safetensors');
    assertLlama4Error(() => readSafetensors(p), /no such file/, p);
  });

  it('never fails with anything but Llama4Error on truncated or corrupted files', () => {
    const bytes = safetensorsBytes(good, { metadata: { format: 'pt' } });
    const p = path.join(TMP, 'fuzz.safetensors');
    const check = (b: Uint8Array, what: string): void => {
      fs.writeFileSync(p, b);
      try {
        readSafetensors(p);
      } catch (e) {
        assert.ok(e instanceof Llama4Error, `${what}: ${String(e)}`);
      }
    };
    for (let len = 0; len < bytes.length; len++) check(bytes.subarray(0, len), `truncated to ${len}`);
    const r = rng(99);
    for (let iter = 0; iter < 2000; iter++) {
      const b = Buffer.from(bytes);
      const at = Math.floor(r() * b.length);
      b[at] = Math.floor(r() * 256);
      check(b, `corruption #${iter}`);
    }
  });
});
