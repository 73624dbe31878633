/**
 * Parity with llama.cpp on the fixtures: every quantized GGUF there was produced from the f32
 * GGUF of the same model (by llama-quantize, or by convert_hf_to_gguf.py for f16/bf16/q8_0), so
 * re-quantizing the f32 weights must give the same bytes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readGguf, type GgufFile } from '../../src/io/gguf.js';
import type { DType } from '../../src/io/tensor.js';
import { dequantizeAll, quantizeMatrix } from '../../src/quant/formats.js';

const FIXTURES = path.resolve(import.meta.dirname, '../../../fixtures');

interface Pair {
  readonly file: string;
  readonly quant: GgufFile;
  readonly f32: GgufFile;
}

function fixturePairs(): Pair[] {
  const pairs: Pair[] = [];
  for (const model of fs.readdirSync(FIXTURES).sort()) {
    const dir = path.join(FIXTURES, model);
    if (!fs.statSync(dir).isDirectory()) continue;
    const f32 = readGguf(path.join(dir, `${model}-f32.gguf`));
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.gguf') && !f.endsWith('-f32.gguf')).sort()) {
      pairs.push({ file, quant: readGguf(path.join(dir, file)), f32 });
    }
  }
  return pairs;
}

const PAIRS = fixturePairs();

function f32Values(f32: GgufFile, name: string): Float32Array {
  const t = f32.tensors.get(name);
  assert.ok(t !== undefined && t.dtype === 'F32', `f32 GGUF lacks F32 tensor ${name}`);
  return new Float32Array(t.bytes.buffer, t.bytes.byteOffset, t.bytes.length / 4);
}

/** Types whose quantizer reproduces llama.cpp byte for byte. */
const BIT_EXACT: readonly DType[] = ['F16', 'BF16', 'Q8_0', 'Q4_0', 'Q5_0', 'Q6_K'];

describe('quantizeRow matches llama.cpp byte for byte', () => {
  for (const dtype of BIT_EXACT) {
    it(dtype, () => {
      let checked = 0;
      for (const { file, quant, f32 } of PAIRS) {
        for (const t of quant.tensors.values()) {
          if (t.dtype !== dtype) continue;
          const x = f32Values(f32, t.name);
          const cols = t.shape[t.shape.length - 1];
          const mine = quantizeMatrix(dtype, x, x.length / cols, cols);
          assert.ok(Buffer.from(mine).equals(Buffer.from(t.bytes)), `${file} ${t.name} (${dtype}) differs from llama.cpp`);
          checked++;
        }
      }
      assert.ok(checked > 0, `no ${dtype} tensor in the fixtures`);
    });
  }

  it('Q4_K: same quality as llama-quantize (its bytes differ; see quantize-k.ts)', () => {
    let checked = 0;
    for (const { file, quant, f32 } of PAIRS) {
      for (const t of quant.tensors.values()) {
        if (t.dtype !== 'Q4_K') continue;
        const x = f32Values(f32, t.name);
        const cols = t.shape[t.shape.length - 1];
        const theirs = dequantizeAll('Q4_K', t.bytes, cols);
        const ours = dequantizeAll('Q4_K', quantizeMatrix('Q4_K', x, x.length / cols, cols), cols);
        let seTheirs = 0;
        let seOurs = 0;
        for (let i = 0; i < x.length; i++) {
          seTheirs += (x[i] - theirs[i]) ** 2;
          seOurs += (x[i] - ours[i]) ** 2;
        }
        assert.ok(seOurs <= seTheirs * 1.05, `${file} ${t.name}: squared error ${seOurs} vs llama.cpp's ${seTheirs}`);
        checked++;
      }
    }
    assert.ok(checked > 0);
  });
});

describe('dequantized fixture weights agree with the f32 GGUF', () => {
  // Worst |w − w_f32| relative to the largest |w_f32| of the block (per-block error bound).
  const BOUND: Partial<Record<DType, number>> = {
    F32: 0, F16: 2 ** -11, BF16: 2 ** -8, Q8_0: 0.5 / 127 + 2 ** -10, Q6_K: 0.02,
    Q5_0: 1 / 16 + 2 ** -9, Q4_0: 1 / 8 + 2 ** -9, Q4_K: 0.1,
  };
  for (const { file, quant, f32 } of PAIRS) {
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
    const pair = PAIRS.find((p) => p.file === 'llama4-tiny-moe-bf16.gguf');
    assert.ok(pair);
    for (const t of pair.quant.tensors.values()) {
      assert.deepEqual(dequantizeAll(t.dtype, t.bytes, t.shape[t.shape.length - 1]), f32Values(pair.f32, t.name), t.name);
    }
  });
});
