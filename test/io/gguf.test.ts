import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Llama4Error } from '../../src/errors.js';
import {
  ggufArray, ggufBoolean, ggufInteger, ggufNumber, ggufNumberArray, ggufOptBoolean, ggufOptInteger,
  ggufOptNumber, ggufOptString, ggufOptStringArray, ggufString, ggufStringArray, readGguf, readGgufHeader,
  type GgufFile, type GgufValue,
} from '../../src/io/gguf.js';
import { ggufMetadataEntries, inferGgufType, writeGguf, type GgufMetadataEntry } from '../../src/io/gguf-writer.js';
import type { DType } from '../../src/io/tensor.js';
import { dequantizeAll, quantizeMatrix, rowBytes } from '../../src/quant/formats.js';
import { gaussian, rng } from '../quant/util.js';
import { FIXTURES, assertLlama4Error, fixtureModels, rawGguf, tempDir, type RawTensor } from './helpers.js';

const TMP = tempDir('gguf');
let tmpCounter = 0;
function tmpFile(bytes: Uint8Array): string {
  const p = path.join(TMP, `t${tmpCounter++}.gguf`);
  fs.writeFileSync(p, bytes);
  return p;
}

interface Golden {
  gguf_file: string;
  gguf_tensor_types: Record<string, number>;
  n_vocab: number;
}

function goldens(model: string): Golden[] {
  const dir = path.join(FIXTURES, model, 'golden');
  return fs.readdirSync(dir)
    .filter((f) => /^(short|medium)\..+\.json$/.test(f))
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Golden);
}

function hiddenSize(model: string): number {
  const cfg = JSON.parse(fs.readFileSync(path.join(FIXTURES, model, 'config.json'), 'utf8')) as { hidden_size?: number; text_config?: { hidden_size: number } };
  return cfg.text_config?.hidden_size ?? (cfg.hidden_size as number);
}

describe('reading the fixture GGUF files', () => {
  for (const model of fixtureModels()) {
    const files = fs.readdirSync(path.join(FIXTURES, model)).filter((f) => f.endsWith('.gguf')).sort();
    for (const file of files) {
      it(`${model}/${file}`, () => {
        const p = path.join(FIXTURES, model, file);
        const g = readGguf(p);
        assert.equal(g.path, p);
        assert.equal(g.version, 3);
        assert.equal(g.alignment, 32);
        const arch = ggufString(g, 'general.architecture');
        assert.equal(arch, model.startsWith('llama4') ? 'llama4' : 'llama');
        assert.equal(ggufInteger(g, `${arch}.block_count`), model.startsWith('llama4') ? 4 : 2);
        assert.equal(ggufInteger(g, `${arch}.embedding_length`), hiddenSize(model));

        // Tensor types per the goldens that name this file.
        const counts: Record<string, number> = {};
        for (const t of g.tensorInfos) counts[t.dtype] = (counts[t.dtype] ?? 0) + 1;
        const matching = goldens(model).filter((j) => j.gguf_file === file);
        assert.ok(matching.length > 0, `no golden names ${file}`);
        for (const j of matching) assert.deepEqual(counts, j.gguf_tensor_types);
        const nVocab = matching[0].n_vocab;
        assert.equal(ggufStringArray(g, 'tokenizer.ggml.tokens').length, nVocab);

        // Shapes are ne reversed: token_embd.weight is [n_vocab, hidden].
        const embd = g.tensors.get('token_embd.weight');
        assert.ok(embd);
        assert.deepEqual(embd.shape, [nVocab, hiddenSize(model)]);
        const whole = fs.readFileSync(p);
        assert.equal(g.tensors.size, g.tensorInfos.length);
        for (const info of g.tensorInfos) {
          assert.deepEqual(info.shape, [...info.ne].reverse());
          const t = g.tensors.get(info.name);
          assert.ok(t);
          assert.equal(t.dtype, info.dtype);
          assert.deepEqual(t.shape, info.shape);
          const cols = info.ne[0];
          assert.equal(t.bytes.length, rowBytes(info.dtype, cols) * (info.ne.reduce((a, b) => a * b, 1) / cols));
          // Each tensor owns its ArrayBuffer, so F32 data can be viewed as a Float32Array.
          assert.equal(t.bytes.byteOffset, 0);
          assert.equal(t.bytes.buffer.byteLength, t.bytes.length);
          assert.ok(Buffer.from(t.bytes).equals(whole.subarray(info.fileOffset, info.fileOffset + info.byteSize)), info.name);
        }
      });
    }
  }

  it('readGgufHeader gives the same header without loading tensor data', () => {
    const p = path.join(FIXTURES, 'llama4-tiny-moe', 'llama4-tiny-moe-q4_0.gguf');
    const h = readGgufHeader(p);
    const g = readGguf(p);
    assert.deepEqual(h.tensorInfos, g.tensorInfos);
    assert.deepEqual([...h.metadata], [...g.metadata]);
    assert.equal('tensors' in h, false);
  });

  it('keeps the stored metadata types', () => {
    const g = readGguf(path.join(FIXTURES, 'llama4-tiny-moe', 'llama4-tiny-moe-f32.gguf'));
    assert.equal(g.metadataTypes.get('llama4.block_count'), 'uint32');
    assert.equal(g.metadataTypes.get('llama4.rope.freq_base'), 'float32');
    assert.equal(g.metadataTypes.get('tokenizer.ggml.add_bos_token'), 'bool');
    assert.deepEqual(g.metadataTypes.get('tokenizer.ggml.tokens'), { array: 'string' });
    assert.deepEqual(g.metadataTypes.get('tokenizer.ggml.token_type'), { array: 'int32' });
    assert.equal(ggufNumber(g, 'llama4.rope.freq_base'), 500000);
    assert.equal(ggufNumber(g, 'llama4.attention.layer_norm_rms_epsilon'), Math.fround(1e-5));
  });
});


/** Every non-f32 fixture GGUF next to the f32 GGUF it was made from. */
function fixturePairs(): { file: string; quant: GgufFile; f32: GgufFile }[] {
  return fixtureModels().flatMap((model) => {
    const dir = path.join(FIXTURES, model);
    const f32 = readGguf(path.join(dir, `${model}-f32.gguf`));
    return fs.readdirSync(dir).filter((f) => f.endsWith('.gguf') && !f.endsWith('-f32.gguf')).sort()
      .map((file) => ({ file, quant: readGguf(path.join(dir, file)), f32 }));
  });
}

function f32Values(f32: GgufFile, name: string): Float32Array {
  const t = f32.tensors.get(name);
  assert.ok(t !== undefined && t.dtype === 'F32', `f32 GGUF lacks F32 tensor ${name}`);
  return new Float32Array(t.bytes.buffer, t.bytes.byteOffset, t.bytes.length / 4);
}

describe('dequantized fixture weights agree with the f32 GGUF', () => {
  // Worst |w − w_f32| relative to the largest |w_f32| of the block (per-block error bound).
  const BOUND: Partial<Record<DType, number>> = {
    F32: 0, F16: 2 ** -11, BF16: 2 ** -8, Q8_0: 0.5 / 127 + 2 ** -10, Q6_K: 0.02,
    Q5_0: 1 / 16 + 2 ** -9, Q4_0: 1 / 8 + 2 ** -9, Q4_K: 0.1,
  };
  for (const { file, quant, f32 } of fixturePairs()) {
    it(file, () => {
      for (const t of quant.tensors.values()) {
        const bound = BOUND[t.dtype];
        assert.ok(bound !== undefined, `${t.name}: unexpected type ${t.dtype}`);
        const x = f32Values(f32, t.name);
        const cols = t.shape[t.shape.length - 1];
        const y = dequantizeAll(t.dtype, t.bytes, cols);
        assert.equal(y.length, x.length, t.name);
        const group = t.dtype.startsWith('Q') ? (t.dtype.endsWith('K') ? 256 : 32) : cols;
        for (let b = 0; b < x.length; b += group) {
          let amax = 0;
          let err = 0;
          for (let i = b; i < b + group; i++) {
            amax = Math.max(amax, Math.abs(x[i]));
            err = Math.max(err, Math.abs(x[i] - y[i]));
          }
          assert.ok(err <= bound * amax, `${file} ${t.name} block at ${b}: error ${err} > ${bound} × ${amax}`);
        }
      }
    });
  }

  it('the bf16 GGUF of a bf16 model equals its f32 GGUF exactly', () => {
    const pair = fixturePairs().find((p) => p.file === 'llama4-tiny-moe-bf16.gguf');
    assert.ok(pair);
    for (const t of pair.quant.tensors.values()) {
      assert.deepEqual(dequantizeAll(t.dtype, t.bytes, t.shape[t.shape.length - 1]), f32Values(pair.f32, t.name), t.name);
    }
  });
});

describe('metadata helpers', () => {
  const meta = new Map<string, GgufValue>([
    ['s', 'text'], ['n', 1.5], ['i', 7], ['b', true], ['big', 2n ** 63n], ['strs', ['a', 'b']], ['nums', [1, 2.5]], ['mixed', [1, 'x']],
  ]);
  it('return values of the right type', () => {
    assert.equal(ggufString(meta, 's'), 'text');
    assert.equal(ggufNumber(meta, 'n'), 1.5);
    assert.equal(ggufInteger(meta, 'i'), 7);
    assert.equal(ggufBoolean(meta, 'b'), true);
    assert.deepEqual(ggufStringArray(meta, 'strs'), ['a', 'b']);
    assert.deepEqual(ggufNumberArray(meta, 'nums'), [1, 2.5]);
    assert.deepEqual(ggufArray(meta, 'mixed'), [1, 'x']);
  });
  it('optional variants return undefined for missing keys', () => {
    assert.equal(ggufOptString(meta, 'nope'), undefined);
    assert.equal(ggufOptNumber(meta, 'nope'), undefined);
    assert.equal(ggufOptInteger(meta, 'nope'), undefined);
    assert.equal(ggufOptBoolean(meta, 'nope'), undefined);
    assert.equal(ggufOptStringArray(meta, 'nope'), undefined);
    assert.equal(ggufOptString(meta, 's'), 'text');
  });
  it('name the key when it is missing or has the wrong type', () => {
    assertLlama4Error(() => ggufString(meta, 'nope'), /GGUF metadata key 'nope' is missing/);
    assertLlama4Error(() => ggufString(meta, 'n'), /'n' should be a string, but it is a number \(1\.5\)/);
    assertLlama4Error(() => ggufOptString(meta, 'n'), /'n' should be a string/);
    assertLlama4Error(() => ggufInteger(meta, 'n'), /'n' should be an integer/);
    assertLlama4Error(() => ggufNumber(meta, 'big'), /'big' should be a number, but it is a 64-bit integer \(9223372036854775808\)/);
    assertLlama4Error(() => ggufStringArray(meta, 'mixed'), /'mixed' should be an array of strings/);
    assertLlama4Error(() => ggufNumberArray(meta, 's'), /'s' should be an array of numbers, but it is a string/);
  });
  it('name the file when given a GgufFile', () => {
    const p = path.join(FIXTURES, 'llama3-tiny', 'llama3-tiny-q8_0.gguf');
    assertLlama4Error(() => ggufString(readGguf(p), 'llama.nope'), /'llama.nope' is missing/, p);
  });
});

describe('writeGguf', () => {
  it('rewrites a llama.cpp file byte for byte from what readGguf returns', () => {
    for (const [model, file] of [['llama4-tiny-moe', 'llama4-tiny-moe-q4_0.gguf'], ['llama3-small-kq', 'llama3-small-kq-q4_k_m.gguf'], ['llama4-tiny-moe', 'llama4-tiny-moe-bf16.gguf']]) {
      const src = path.join(FIXTURES, model, file);
      const g = readGguf(src);
      const out = path.join(TMP, `copy-${file}`);
      writeGguf(out, { metadata: ggufMetadataEntries(g), tensors: g.tensorInfos.map((i) => g.tensors.get(i.name)!) });
      assert.ok(fs.readFileSync(out).equals(fs.readFileSync(src)), file);
    }
  });

  it('round-trips every value type, explicit and inferred', () => {
    const metadata: GgufMetadataEntry[] = [
      ['general.architecture', 'llama'],
      ['u8', 255, 'uint8'], ['i8', -128, 'int8'], ['u16', 65535, 'uint16'], ['i16', -32768, 'int16'],
      ['u32', 4294967295, 'uint32'], ['i32', -2147483648, 'int32'], ['f32', 0.1, 'float32'], ['f64', 0.1, 'float64'],
      ['u64', 2n ** 64n - 1n, 'uint64'], ['u64small', 5, 'uint64'], ['i64', -(2n ** 63n), 'int64'],
      ['bool', false], ['str', 'héllo ✓'], ['empty', ''],
      ['strs', ['a', '', 'ü'], { array: 'string' }], ['i32s', [1, -2, 3]], ['f32s', [0.5, 1.25]],
      ['u8s', [0, 255], { array: 'uint8' }], ['bools', [true, false]], ['emptyArr', [], { array: 'float32' }],
      ['inferredU32', 42], ['inferredI32', -1], ['inferredF32', 2.5],
    ];
    const x = gaussian(64, 1, 3);
    const tensors = [
      { name: 'a.weight', dtype: 'Q8_0' as DType, shape: [2, 32], bytes: quantizeMatrix('Q8_0', x, 2, 32) },
      { name: 'b', dtype: 'F32' as DType, shape: [3], bytes: new Uint8Array(new Float32Array([1, 2, 3]).buffer) },
      { name: 'c', dtype: 'F16' as DType, shape: [1, 1, 2, 2], bytes: new Uint8Array(8).fill(0x3c) },
    ];
    const p = path.join(TMP, 'all-types.gguf');
    writeGguf(p, { metadata, tensors, alignment: 64 });
    const g = readGguf(p);
    assert.equal(g.alignment, 64);
    assert.equal(ggufInteger(g, 'general.alignment'), 64);
    const expectValue = (k: string, v: GgufValue): void => assert.deepEqual(g.metadata.get(k), v, k);
    expectValue('u8', 255); expectValue('i8', -128); expectValue('u16', 65535); expectValue('i16', -32768);
    expectValue('u32', 4294967295); expectValue('i32', -2147483648);
    expectValue('f32', Math.fround(0.1)); expectValue('f64', 0.1);
    expectValue('u64', 2n ** 64n - 1n); expectValue('u64small', 5); expectValue('i64', -(2n ** 63n));
    expectValue('bool', false); expectValue('str', 'héllo ✓'); expectValue('empty', '');
    expectValue('strs', ['a', '', 'ü']); expectValue('i32s', [1, -2, 3]); expectValue('f32s', [0.5, 1.25]);
    expectValue('u8s', [0, 255]); expectValue('bools', [true, false]); expectValue('emptyArr', []);
    assert.equal(g.metadataTypes.get('inferredU32'), 'uint32');
    assert.equal(g.metadataTypes.get('inferredI32'), 'int32');
    assert.equal(g.metadataTypes.get('inferredF32'), 'float32');
    assert.deepEqual(g.metadataTypes.get('i32s'), { array: 'int32' });
    assert.deepEqual(g.metadataTypes.get('emptyArr'), { array: 'float32' });
    for (const t of tensors) {
      const r = g.tensors.get(t.name);
      assert.ok(r);
      assert.equal(r.dtype, t.dtype);
      assert.deepEqual(r.shape, t.shape);
      assert.deepEqual(r.bytes, t.bytes);
    }
    for (const info of g.tensorInfos) assert.equal(info.offset % 64, 0);
    assert.equal(fs.statSync(p).size % 64, 0);
  });

  it('accepts a Map of typed values', () => {
    const p = path.join(TMP, 'map.gguf');
    writeGguf(p, { metadata: new Map([['k', { type: 'int16' as const, value: -3 }]]), tensors: [] });
    const g = readGguf(p);
    assert.equal(g.metadata.get('k'), -3);
    assert.equal(g.metadataTypes.get('k'), 'int16');
    assert.equal(g.tensors.size, 0);
  });

  it('rejects invalid input with a precise Llama4Error and leaves no file behind', () => {
    const p = path.join(TMP, 'invalid.gguf');
    const f32 = (n: number): Uint8Array => new Uint8Array(4 * n);
    const cases: [() => void, RegExp][] = [
      [() => writeGguf(p, { metadata: [['k', 256, 'uint8']], tensors: [] }), /'k': value 256 is not a valid uint8/],
      [() => writeGguf(p, { metadata: [['k', 1.5, 'int32']], tensors: [] }), /'k': value 1.5 is not a valid int32/],
      [() => writeGguf(p, { metadata: [['k', 'x', 'bool']], tensors: [] }), /not a valid bool/],
      [() => writeGguf(p, { metadata: [['k', [1, 'x'], { array: 'int32' }]], tensors: [] }), /not a valid int32/],
      [() => writeGguf(p, { metadata: [['k', []]], tensors: [] }), /explicit type for an empty array/],
      [() => writeGguf(p, { metadata: [['k', 1], ['k', 2]], tensors: [] }), /duplicate metadata key 'k'/],
      [() => writeGguf(p, { metadata: [], tensors: [{ name: 'a', dtype: 'F32', shape: [4], bytes: f32(3) }] }), /'a' \(F32 \[4\]\) needs 16 bytes but was given 12/],
      [() => writeGguf(p, { metadata: [], tensors: [{ name: 'a', dtype: 'F32', shape: [1], bytes: f32(1) }, { name: 'a', dtype: 'F32', shape: [1], bytes: f32(1) }] }), /duplicate tensor name 'a'/],
      [() => writeGguf(p, { metadata: [], tensors: [{ name: 'x'.repeat(64), dtype: 'F32', shape: [1], bytes: f32(1) }] }), /is 64 bytes; GGUF names must be 1 to 63 bytes/],
      [() => writeGguf(p, { metadata: [], tensors: [{ name: 'a', dtype: 'F32', shape: [0], bytes: f32(0) }] }), /every dimension must be a positive integer/],
      [() => writeGguf(p, { metadata: [], tensors: [{ name: 'a', dtype: 'Q4_0', shape: [16], bytes: new Uint8Array(9) }] }), /rows of 16 elements, not a multiple of the 32-element block/],
      [() => writeGguf(p, { metadata: [], tensors: [{ name: 'a', dtype: 'F32', shape: [1, 1, 1, 1, 1], bytes: f32(1) }] }), /5 dimensions/],
      [() => writeGguf(p, { metadata: [], tensors: [], alignment: 48 }), /alignment 48 is not a power of two/],
      [() => writeGguf(p, { metadata: [['general.alignment', 64, 'uint32']], tensors: [], alignment: 32 }), /contradicts metadata 'general.alignment' = 64/],
    ];
    for (const [fn, pattern] of cases) assertLlama4Error(fn, pattern);
    assert.equal(fs.existsSync(p), false);
    assert.deepEqual(fs.readdirSync(TMP).filter((f) => f.includes('.tmp-')), []);
  });

  it('infers documented types', () => {
    assert.equal(inferGgufType(3), 'uint32');
    assert.equal(inferGgufType(2 ** 33), 'uint64');
    assert.equal(inferGgufType(-3), 'int32');
    assert.equal(inferGgufType(0.25), 'float32');
    assert.equal(inferGgufType(-(2n ** 40n)), 'int64');
    assert.deepEqual(inferGgufType(['a']), { array: 'string' });
    assert.deepEqual(inferGgufType([1, 2.5]), { array: 'float32' });
  });
});

describe('malformed GGUF files', () => {
  const fixture = path.join(FIXTURES, 'llama3-tiny', 'llama3-tiny-q8_0.gguf');
  const fixtureBytes = fs.readFileSync(fixture);
  const F32 = 0;
  /** A valid one-tensor file, then patched by each case. */
  const valid = (t: Partial<RawTensor> = {}, extra: Partial<Parameters<typeof rawGguf>[0]> = {}): Buffer =>
    rawGguf({ kvs: [['general.architecture', 8, (b) => b.str('llama')]], tensors: [{ name: 'w', ne: [4, 2], type: F32, offset: 0, ...t }], data: new Uint8Array(32), ...extra });

  it('the hand-built base file is valid', () => {
    const g = readGguf(tmpFile(valid()));
    assert.deepEqual(g.tensors.get('w')?.shape, [2, 4]);
  });

  function expectBroken(bytes: Uint8Array, pattern: RegExp): void {
    const p = tmpFile(bytes);
    assertLlama4Error(() => readGguf(p), pattern, p);
  }

  it('bad magic', () => {
    const b = Buffer.from(fixtureBytes);
    b.write('GGML', 0, 'latin1');
    expectBroken(b, /not a GGUF file: it starts with 'GGML' \(47 47 4d 4c\), expected 'GGUF'/);
    expectBroken(Buffer.from('{"json": true, "not": "gguf"}'), /not a GGUF file: it starts with '\{"js'/);
  });

  it('unsupported versions', () => {
    for (const [version, pattern] of [[1, /unsupported GGUF version 1: only versions 2 and 3.*obsolete/], [4, /unsupported GGUF version 4/], [0x03000000, /big-endian GGUF files are not supported/]] as const) {
      const b = Buffer.from(fixtureBytes);
      b.writeUInt32LE(version, 4);
      expectBroken(b, pattern);
    }
  });

  it('version 2 files are read', () => {
    const b = valid();
    b.writeUInt32LE(2, 4);
    assert.equal(readGguf(tmpFile(b)).version, 2);
  });

  it('files too small for a header', () => {
    expectBroken(fixtureBytes.subarray(0, 10), /file is 10 bytes, too small to be a GGUF file/);
    expectBroken(new Uint8Array(0), /file is 0 bytes/);
  });

  it('a header truncated in the metadata', () => {
    expectBroken(fixtureBytes.subarray(0, 5000), /metadata key 'tokenizer.ggml.tokens': array of 671 string elements at byte \d+ needs at least \d+ bytes, but only \d+ remain/);
    const cut = Math.floor(readGgufHeader(fixture).dataOffset * 0.9);
    expectBroken(fixtureBytes.subarray(0, cut), new RegExp(`truncated header: .+ needs \\d+ bytes at byte \\d+, but the file has only ${cut} bytes`));
    expectBroken(fixtureBytes.subarray(0, 300), /header claims 21 tensors, which cannot fit in the 276 bytes that follow \(truncated or corrupt file\?\)/);
    expectBroken(fixtureBytes.subarray(0, 1000), /header claims 32 metadata entries and 21 tensors, which need at least 1088 bytes, but only 976 follow \(truncated or corrupt file\?\)/);
  });

  it('tensor data cut off in the middle', () => {
    const header = readGgufHeader(fixture);
    const cut = header.dataOffset + Math.floor((fixtureBytes.length - header.dataOffset) / 2);
    expectBroken(fixtureBytes.subarray(0, cut), new RegExp(`tensor '[^']+' data ends at byte \\d+ but the file has ${cut} bytes \\(truncated\\?\\)`));
  });

  it('a tensor offset past the end of the file', () => {
    expectBroken(valid({ offset: 1024 }), /tensor 'w' data ends at byte \d+ but the file has \d+ bytes \(truncated\?\)/);
  });

  it('a 64-bit offset beyond any safe integer', () => {
    expectBroken(valid({ offset: 2n ** 63n }), /data offset of tensor 'w' is 9223372036854775808, which is far too large/);
  });

  it('unknown or unsupported tensor type ids', () => {
    expectBroken(valid({ type: 10 }), /tensor 'w' has ggml type 10 \(Q2_K\), which llama4.ts does not support/);
    expectBroken(valid({ type: 99 }), /tensor 'w' has ggml type 99 \(unknown\)/);
  });

  it('absurd tensor and metadata counts', () => {
    expectBroken(valid({}, { tensorCount: 2n ** 60n }), /claims 1152921504606846976 tensors/);
    expectBroken(valid({}, { kvCount: 2n ** 62n }), /claims 4611686018427387904 metadata entries/);
    expectBroken(valid({}, { kvCount: 1000 }), /claims 1000 metadata entries and 1 tensors, which need at least 13032 bytes/);
  });

  it('string lengths past the end of the file', () => {
    expectBroken(rawGguf({ kvs: [['k', 8, (b) => b.u64(10n ** 12n)]] }), /metadata key 'k': string length 1000000000000 at byte \d+ runs past the end of the file/);
    const keyLen = rawGguf({ kvs: [['k', 8, (b) => b.str('v')]] });
    keyLen.writeBigUInt64LE(2n ** 40n, 24); // the first key's length field
    expectBroken(keyLen, /the key of metadata entry #0: string length 1099511627776/);
    const cutInName = rawGguf({ tensors: [{ name: 'a-rather-long-tensor-name', ne: [4], type: F32, offset: 0 }], data: new Uint8Array(16) });
    cutInName.writeBigUInt64LE(2n ** 20n, 24); // the tensor name's length
    expectBroken(cutInName, /the name of tensor #0: string length 1048576 at byte 24 runs past the end of the file/);
  });

  it('array counts past the end of the file', () => {
    expectBroken(rawGguf({ kvs: [['arr', 9, (b) => b.u32(4).u64(2n ** 40n)]] }), /metadata key 'arr': array of 1099511627776 uint32 elements .* needs at least 4398046511104 bytes/);
    expectBroken(rawGguf({ kvs: [['arr', 9, (b) => b.u32(8).u64(5000)]] }), /array of 5000 string elements/);
  });

  it('unknown value types and nested arrays', () => {
    expectBroken(rawGguf({ kvs: [['k', 13, (b) => b.u32(0)]] }), /metadata key 'k': unknown value type 13/);
    expectBroken(rawGguf({ kvs: [['k', 9, (b) => b.u32(77).u64(0)]] }), /metadata key 'k': unknown array element type 77/);
    expectBroken(rawGguf({ kvs: [['k', 9, (b) => b.u32(9).u64(0)]] }), /metadata key 'k' is an array of arrays/);
  });

  it('duplicate tensor names and metadata keys', () => {
    expectBroken(valid({}, { tensors: [{ name: 'w', ne: [4], type: F32, offset: 0 }, { name: 'w', ne: [4], type: F32, offset: 32 }], data: new Uint8Array(64) }), /duplicate tensor name 'w'/);
    expectBroken(rawGguf({ kvs: [['k', 4, (b) => b.u32(1)], ['k', 4, (b) => b.u32(2)]] }), /duplicate metadata key 'k'/);
  });

  it('zero, negative and too many dimensions', () => {
    expectBroken(valid({ ne: [4, 0] }), /tensor 'w' has dimension 1 of size 0; every dimension must be at least 1/);
    expectBroken(valid({ ne: [-1, 2] }), /tensor 'w' has dimension 0 of size -1/);
    expectBroken(valid({ ne: [], nDims: 0 }), /tensor 'w' has 0 dimensions; GGUF tensors have 1 to 4/);
    expectBroken(valid({ ne: [1, 1, 1, 1, 1] }), /tensor 'w' has 5 dimensions/);
    expectBroken(valid({ ne: [2n ** 40n, 2n ** 40n] }), /element count overflows/);
  });

  it('misaligned offsets, partial blocks and overlapping tensors', () => {
    expectBroken(valid({ offset: 4 }), /tensor 'w' has data offset 4, which is not a multiple of the alignment 32/);
    expectBroken(valid({ type: 8, ne: [16, 2] }), /tensor 'w' is Q8_0 with rows of 16 elements, not a multiple of the 32-element block/);
    expectBroken(valid({}, { tensors: [{ name: 'a', ne: [16], type: F32, offset: 0 }, { name: 'b', ne: [4], type: F32, offset: 32 }], data: new Uint8Array(64) }), /tensors 'a' and 'b' overlap/);
  });

  it('a bad general.alignment', () => {
    expectBroken(rawGguf({ kvs: [['general.alignment', 5, (b) => b.u32(64)]] }), /'general.alignment' must be a uint32, but it is int32/);
    expectBroken(rawGguf({ kvs: [['general.alignment', 4, (b) => b.u32(48)]] }), /'general.alignment' is 48; it must be a power of two/);
    expectBroken(rawGguf({ kvs: [['general.alignment', 4, (b) => b.u32(0)]] }), /'general.alignment' is 0/);
  });

  it('missing files and folders', () => {
    const missing = path.join(TMP, 'missing.gguf');
    assertLlama4Error(() => readGguf(missing), /no such file/, missing);
    assertLlama4Error(() => readGguf(TMP), /not a regular file/, TMP);
  });

  it('never fails with anything but Llama4Error on truncated or corrupted files', () => {
    const x = gaussian(64, 1, 8);
    const small = path.join(TMP, 'small.gguf');
    writeGguf(small, {
      metadata: [['general.architecture', 'llama'], ['tokens', ['a', 'bc', 'def']], ['f', 0.5, 'float32'], ['n', 7]],
      tensors: [
        { name: 'q', dtype: 'Q8_0', shape: [2, 32], bytes: quantizeMatrix('Q8_0', x, 2, 32) },
        { name: 'v', dtype: 'F32', shape: [4], bytes: new Uint8Array(16) },
      ],
    });
    const good = fs.readFileSync(small);
    const check = (bytes: Uint8Array, what: string): void => {
      const p = path.join(TMP, 'fuzz.gguf');
      fs.writeFileSync(p, bytes);
      try {
        readGguf(p);
      } catch (e) {
        assert.ok(e instanceof Llama4Error, `${what}: ${String(e)}`);
        assert.equal(e.source, p);
      }
    };
    for (let len = 0; len < good.length; len++) check(good.subarray(0, len), `truncated to ${len}`);
    const r = rng(2024);
    for (let iter = 0; iter < 3000; iter++) {
      const b = Buffer.from(good);
      const flips = 1 + Math.floor(r() * 4);
      for (let k = 0; k < flips; k++) {
        const at = Math.floor(r() * b.length);
        b[at] = r() < 0.5 ? Math.floor(r() * 256) : b[at] ^ (1 << Math.floor(r() * 8));
      }
      check(b, `corruption #${iter}`);
    }
  });
});
