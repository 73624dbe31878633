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
