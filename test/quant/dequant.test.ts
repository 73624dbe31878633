/**
 * Hand-built blocks with known contents for every format. Expected values come from a naive,
 * element-by-element reading of ggml's block layouts (ggml-common.h), written independently of
 * the optimized decoders.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Llama4Error } from '../../src/errors.js';
import type { DType } from '../../src/io/tensor.js';
import { blockBytes, blockSize, dequantizeRow, f32ToF16, rowBytes } from '../../src/quant/formats.js';
import { rng } from './util.js';

function decode(dtype: DType, bytes: Uint8Array, n: number): number[] {
  const out = new Float32Array(n);
  dequantizeRow(dtype, bytes, 0, out, 0, n);
  return Array.from(out);
}

function putF16(b: Uint8Array, o: number, x: number): void {
  const h = f32ToF16(x);
  b[o] = h & 0xff;
  b[o + 1] = h >>> 8;
}

function randomBytes(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
}

describe('block layouts', () => {
  it('have ggml\'s element and byte counts', () => {
    const expected: Record<DType, [number, number]> = {
      F32: [1, 4], F16: [1, 2], BF16: [1, 2],
      Q8_0: [32, 34], Q4_0: [32, 18], Q4_1: [32, 20], Q5_0: [32, 22], Q5_1: [32, 24],
      Q4_K: [256, 144], Q5_K: [256, 176], Q6_K: [256, 210],
    };
    for (const [dtype, [elements, bytes]] of Object.entries(expected) as [DType, [number, number]][]) {
      assert.equal(blockSize(dtype), elements, dtype);
      assert.equal(blockBytes(dtype), bytes, dtype);
      assert.equal(rowBytes(dtype, elements * 3), bytes * 3, dtype);
    }
  });

  it('rejects rows that are not whole blocks', () => {
    assert.throws(() => rowBytes('Q4_K', 100), (e: unknown) => e instanceof Llama4Error && /blocks of 256 elements.*100/.test(e.message));
    assert.throws(() => rowBytes('Q8_0', 33), Llama4Error);
    assert.throws(() => dequantizeRow('Q4_0', new Uint8Array(18), 0, new Float32Array(32), 0, 16), Llama4Error);
  });
});

describe('dequantizeRow on hand-built blocks', () => {
  it('F32 (aligned and unaligned sources)', () => {
    const values = [1.5, -2.25, 3e-40, Infinity];
    const aligned = new Uint8Array(new Float32Array(values).buffer);
    assert.deepEqual(decode('F32', aligned, 4), [1.5, -2.25, Math.fround(3e-40), Infinity]);
    const unaligned = new Uint8Array(17);
    unaligned.set(aligned, 1);
    const out = new Float32Array(6);
    dequantizeRow('F32', unaligned, 1, out, 2, 4);
    assert.deepEqual(Array.from(out), [0, 0, 1.5, -2.25, Math.fround(3e-40), Infinity]);
  });

  it('F16 and BF16', () => {
    assert.deepEqual(decode('F16', Uint8Array.from([0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0xff, 0x7b]), 4), [1, -2, 2 ** -24, 65504]);
    assert.deepEqual(decode('BF16', Uint8Array.from([0x80, 0x3f, 0x40, 0xc0, 0x80, 0x7f]), 3), [1, -3, Infinity]);
  });

  it('Q8_0: q·d with int8 quants', () => {
    const b = new Uint8Array(34);
    putF16(b, 0, 0.5);
    const qs = Array.from({ length: 32 }, (_, i) => (i * 9) % 256 - 128); // -128 … 127
    qs.forEach((q, i) => { b[2 + i] = q & 0xff; });
    assert.deepEqual(decode('Q8_0', b, 32), qs.map((q) => q * 0.5));
  });

  it('Q4_0: element j in the low nibble of byte j, element j+16 in its high nibble, minus 8', () => {
    const b = new Uint8Array(18);
    putF16(b, 0, 2);
    for (let j = 0; j < 16; j++) b[2 + j] = j | ((15 - j) << 4);
    const expected = Array.from({ length: 32 }, (_, i) => (i < 16 ? i - 8 : 15 - (i - 16) - 8) * 2);
    assert.deepEqual(decode('Q4_0', b, 32), expected);
  });

  it('Q4_1: q·d + m', () => {
    const b = new Uint8Array(20);
    putF16(b, 0, 0.25);
    putF16(b, 2, -1);
    for (let j = 0; j < 16; j++) b[4 + j] = ((j * 5) % 16) | (((j * 3) % 16) << 4);
    const expected = Array.from({ length: 32 }, (_, i) => (i < 16 ? (i * 5) % 16 : ((i - 16) * 3) % 16) * 0.25 - 1);
    assert.deepEqual(decode('Q4_1', b, 32), expected);
  });

  it('Q5_0 and Q5_1: bit i of the little-endian u32 qh is the 5th bit of element i', () => {
    const qh = 0xa5c3_0f96 >>> 0;
    const nib = randomBytes(16, 1);
    const q5 = (i: number): number => (i < 16 ? nib[i] & 15 : nib[i - 16] >>> 4) | (((qh >>> i) & 1) << 4);

    const b0 = new Uint8Array(22);
    putF16(b0, 0, 0.125);
    new DataView(b0.buffer).setUint32(2, qh, true);
    b0.set(nib, 6);
    assert.deepEqual(decode('Q5_0', b0, 32), Array.from({ length: 32 }, (_, i) => (q5(i) - 16) * 0.125));

    const b1 = new Uint8Array(24);
    putF16(b1, 0, 0.5);
    putF16(b1, 2, -3.5);
    new DataView(b1.buffer).setUint32(4, qh, true);
    b1.set(nib, 8);
    assert.deepEqual(decode('Q5_1', b1, 32), Array.from({ length: 32 }, (_, i) => q5(i) * 0.5 - 3.5));
  });

  // Sub-block scales/mins with values ≥ 16 so the high 2 bits (stored in bytes 0–7) matter.
  const SC = [63, 1, 17, 32, 45, 16, 5, 60];
  const MN = [0, 63, 31, 8, 33, 48, 2, 15];
  /** The 12-byte K-quant scale block, packed from its definition in ggml-common.h. */
  function packScales(): Uint8Array {
    const s = new Uint8Array(12);
    for (let j = 0; j < 4; j++) {
      s[j] = SC[j] | ((SC[j + 4] >> 4) << 6);
      s[j + 4] = MN[j] | ((MN[j + 4] >> 4) << 6);
      s[j + 8] = (SC[j + 4] & 15) | ((MN[j + 4] & 15) << 4);
    }
    return s;
  }

  it('Q4_K: 6-bit scales and mins per 32 elements (get_scale_min_k4), x = d·sc·q − dmin·m', () => {
    const d = 2 ** -4;
    const dmin = 2 ** -6;
    const qs = randomBytes(128, 2);
    const b = new Uint8Array(144);
    putF16(b, 0, d);
    putF16(b, 2, dmin);
    b.set(packScales(), 4);
    b.set(qs, 16);
    // Element i: sub-block j = i/32; chunk c = j/2 uses qs[32c … 32c+31]; even j low nibbles, odd j high.
    const expected = Array.from({ length: 256 }, (_, i) => {
      const j = i >> 5;
      const byte = qs[32 * (j >> 1) + (i & 31)];
      const q = j % 2 === 0 ? byte & 15 : byte >> 4;
      return d * SC[j] * q - dmin * MN[j];
    });
    assert.deepEqual(decode('Q4_K', b, 256), expected.map(Math.fround));
  });

  it('Q5_K: as Q4_K plus a 5th bit from qh (bit j of qh[l] for sub-block j)', () => {
    const d = 2 ** -5;
    const dmin = 2 ** -3;
    const qh = randomBytes(32, 3);
    const qs = randomBytes(128, 4);
    const b = new Uint8Array(176);
    putF16(b, 0, d);
    putF16(b, 2, dmin);
    b.set(packScales(), 4);
    b.set(qh, 16);
    b.set(qs, 48);
    const expected = Array.from({ length: 256 }, (_, i) => {
      const j = i >> 5;
      const l = i & 31;
      const byte = qs[32 * (j >> 1) + l];
      const q = (j % 2 === 0 ? byte & 15 : byte >> 4) | (((qh[l] >> j) & 1) << 4);
      return d * SC[j] * q - dmin * MN[j];
    });
    assert.deepEqual(decode('Q5_K', b, 256), expected.map(Math.fround));
  });

  it('Q6_K: ql low nibbles, qh 2-bit pairs, int8 scales per 16, d last; x = d·sc·(q − 32)', () => {
    const ql = randomBytes(128, 5);
    const qh = randomBytes(64, 6);
    const sc = Int8Array.from([-128, 127, -1, 1, 64, -64, 3, -7, 100, -100, 0, 55, -33, 12, -12, 90]);
    const b = new Uint8Array(210);
    b.set(ql, 0);
    b.set(qh, 128);
    b.set(new Uint8Array(sc.buffer), 192);
    putF16(b, 208, 0.25);
    const expected = Array.from({ length: 256 }, (_, i) => {
      const h = i >> 7; // 128-element half
      const r = i & 127;
      const quarter = r >> 5; // which of the four 32-element runs
      const l = r & 31;
      const lowByte = ql[64 * h + (quarter % 2 === 0 ? l : 32 + l)];
      const low = quarter < 2 ? lowByte & 15 : lowByte >> 4;
      const high = (qh[32 * h + l] >> (2 * quarter)) & 3;
      return 0.25 * sc[8 * h + 2 * quarter + (l >> 4)] * ((low | (high << 4)) - 32);
    });
    assert.deepEqual(decode('Q6_K', b, 256), expected.map(Math.fround));
  });

  it('decodes several blocks from an offset into a destination offset', () => {
    const b = new Uint8Array(7 + 3 * 34);
    for (let k = 0; k < 3; k++) {
      putF16(b, 7 + 34 * k, k + 1);
      for (let i = 0; i < 32; i++) b[7 + 34 * k + 2 + i] = i;
    }
    const out = new Float32Array(5 + 96).fill(-1);
    dequantizeRow('Q8_0', b, 7, out, 5, 96);
    assert.deepEqual(Array.from(out.subarray(0, 5)), [-1, -1, -1, -1, -1]);
    assert.deepEqual(Array.from(out.subarray(5)), Array.from({ length: 96 }, (_, i) => (i % 32) * (Math.floor(i / 32) + 1)));
  });
});
