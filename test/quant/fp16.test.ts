import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../src/quant/formats.js';
import { bitsOfF32, f32FromBits, rng } from './util.js';

/** Every finite non-negative fp16 value, ascending (index = bit pattern 0 … 0x7bff). */
const HALF_VALUES = Array.from({ length: 0x7c00 }, (_, h) => f16ToF32(h));

/**
 * Independent reference for f32 → f16: locate x between two adjacent halves by binary search
 * and pick the nearer, ties to the even pattern; beyond the largest half, round like an
 * infinitely wide exponent would (65520 and up overflow to inf).
 */
function refF32ToF16(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00;
  let lo = 0;
  let hi = 0x7bff;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (HALF_VALUES[mid] <= a) lo = mid; else hi = mid;
  }
  if (HALF_VALUES[hi] <= a) return sign | hi;
  const dLo = a - HALF_VALUES[lo];
  const dHi = HALF_VALUES[hi] - a;
  if (dLo < dHi) return sign | lo;
  if (dHi < dLo) return sign | hi;
  return sign | ((lo & 1) === 0 ? lo : hi);
}

describe('fp16 decoding', () => {
  it('decodes known patterns exactly', () => {
    assert.equal(f16ToF32(0x0000), 0);
    assert.ok(Object.is(f16ToF32(0x8000), -0));
    assert.equal(f16ToF32(0x3c00), 1);
    assert.equal(f16ToF32(0xc000), -2);
    assert.equal(f16ToF32(0x3555), 0.333251953125);
    assert.equal(f16ToF32(0x7bff), 65504);
    assert.equal(f16ToF32(0x0400), 2 ** -14); // smallest normal
    assert.equal(f16ToF32(0x0001), 2 ** -24); // smallest subnormal
    assert.equal(f16ToF32(0x03ff), 1023 * 2 ** -24); // largest subnormal
    assert.equal(f16ToF32(0x8001), -(2 ** -24));
    assert.equal(f16ToF32(0x7c00), Infinity);
    assert.equal(f16ToF32(0xfc00), -Infinity);
    assert.ok(Number.isNaN(f16ToF32(0x7e00)));
    assert.ok(Number.isNaN(f16ToF32(0xfc01)));
  });

  it('round-trips every non-NaN pattern', () => {
    for (let h = 0; h < 65536; h++) {
      if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) continue;
      assert.equal(f32ToF16(f16ToF32(h)), h, `pattern 0x${h.toString(16)}`);
    }
  });
});

describe('fp16 encoding', () => {
  it('rounds to nearest, ties to even', () => {
    assert.equal(f32ToF16(1), 0x3c00);
    assert.equal(f32ToF16(1 + 2 ** -11), 0x3c00); // tie → even (…00)
    assert.equal(f32ToF16(1 + 3 * 2 ** -11), 0x3c02); // tie → even (…10)
    assert.equal(f32ToF16(1 + 2 ** -11 + 2 ** -20), 0x3c01); // just above the tie
    assert.equal(f32ToF16(-1.5), 0xbe00);
  });

  it('handles overflow, infinities, zeros and NaN', () => {
    assert.equal(f32ToF16(65504), 0x7bff);
    assert.equal(f32ToF16(65519), 0x7bff);
    assert.equal(f32ToF16(65520), 0x7c00); // halfway to 65536 rounds to even → inf
    assert.equal(f32ToF16(1e10), 0x7c00);
    assert.equal(f32ToF16(-1e10), 0xfc00);
    assert.equal(f32ToF16(Infinity), 0x7c00);
    assert.equal(f32ToF16(-Infinity), 0xfc00);
    assert.equal(f32ToF16(0), 0x0000);
    assert.equal(f32ToF16(-0), 0x8000);
    const nan = f32ToF16(NaN);
    assert.equal(nan & 0x7c00, 0x7c00);
    assert.notEqual(nan & 0x03ff, 0);
  });

  it('produces subnormals and rounds them correctly', () => {
    assert.equal(f32ToF16(2 ** -24), 0x0001);
    assert.equal(f32ToF16(2 ** -25), 0x0000); // tie between 0 and the smallest subnormal → 0
    assert.equal(f32ToF16(2 ** -25 * 1.0000001), 0x0001);
    assert.equal(f32ToF16(3 * 2 ** -25), 0x0002); // tie between 1 and 2 → 2
    assert.equal(f32ToF16(1e-8), 0x0000);
    assert.equal(f32ToF16(-(2 ** -24)), 0x8001);
    assert.equal(f32ToF16(2 ** -14 - 2 ** -25), 0x0400); // tie between 0x3ff and 0x400 → even
    assert.equal(f32ToF16(1023 * 2 ** -24), 0x03ff);
  });

  it('matches an independent reference on random float32 values of every magnitude', () => {
    const r = rng(7);
    for (let i = 0; i < 200000; i++) {
      // Exponents 0x60..0x90 cover everything from below the smallest subnormal to overflow.
      const bits = ((r() < 0.5 ? 0 : 0x80000000) | ((0x60 + Math.floor(r() * 0x30)) << 23) | Math.floor(r() * 0x800000)) >>> 0;
      const x = f32FromBits(bits);
      assert.equal(f32ToF16(x), refF32ToF16(x), `x = ${x} (0x${bits.toString(16)})`);
    }
  });

  it('rounds a double to float32 first, as the C code converts floats', () => {
    // 1 + 2^-11 + 2^-30 rounds to the float32 tie 1 + 2^-11 (…the 2^-30 is lost), which goes to even.
    assert.equal(f32ToF16(1 + 2 ** -11 + 2 ** -30), 0x3c00);
  });
});

describe('bf16', () => {
  it('decodes by shifting into the top half of a float32', () => {
    assert.equal(bf16ToF32(0x3f80), 1);
    assert.equal(bf16ToF32(0xc040), -3);
    assert.equal(bf16ToF32(0x7f80), Infinity);
    assert.equal(bf16ToF32(0x0001), f32FromBits(0x00010000)); // subnormal
    assert.ok(Number.isNaN(bf16ToF32(0x7fc0)));
  });

  it('encodes with round to nearest even', () => {
    assert.equal(f32ToBf16(1), 0x3f80);
    assert.equal(f32ToBf16(1 + 2 ** -8), 0x3f80); // tie → even
    assert.equal(f32ToBf16(1 + 3 * 2 ** -8), 0x3f82); // tie → even
    assert.equal(f32ToBf16(1 + 2 ** -8 + 2 ** -20), 0x3f81);
    assert.equal(f32ToBf16(-0), 0x8000);
    assert.equal(f32ToBf16(f32FromBits(0x7f7fffff)), 0x7f80); // FLT_MAX rounds up to inf
    assert.equal(f32ToBf16(-Infinity), 0xff80);
    assert.equal(f32ToBf16(f32FromBits(0x00008000)), 0x0000); // subnormal tie → even
    assert.equal(f32ToBf16(f32FromBits(0x00018000)), 0x0002);
  });

  it('keeps NaN a NaN (never truncates it to infinity)', () => {
    for (const bits of [0x7fc00000, 0x7f800001, 0xff800001, 0x7fffffff]) {
      const h = f32ToBf16(f32FromBits(bits));
      assert.equal(h & 0x7f80, 0x7f80, `0x${bits.toString(16)}`);
      assert.notEqual(h & 0x007f, 0, `0x${bits.toString(16)} became an infinity`);
      assert.equal(h & 0x8000, (bits >>> 16) & 0x8000, 'sign kept');
    }
  });

  it('round-trips every bf16 pattern that is not NaN', () => {
    for (let h = 0; h < 65536; h++) {
      if ((h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0) continue;
      assert.equal(f32ToBf16(bf16ToF32(h)), h);
      assert.equal(bitsOfF32(bf16ToF32(h)), (h << 16) >>> 0);
    }
  });
});
