/**
 * IEEE half precision (fp16) and bfloat16 conversions, bit-exact with ggml.
 *
 * Decoding goes through two 65536-entry tables (256 KiB each) because the dequantizers call it
 * for every block scale and every F16/BF16 element; a table load is far cheaper than bit fiddling
 * through a scratch buffer.
 */

// One shared scratch word to move bits between float32 and uint32 without allocating.
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

function buildF16Table(): Float32Array {
  const table = new Float32Array(65536);
  // Fill through the raw bits so NaN payloads survive exactly as ggml's conversion keeps them.
  const bits = new Uint32Array(table.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const man = h & 0x3ff;
    if (exp === 0x1f) {
      bits[h] = sign | 0x7f800000 | (man << 13);
    } else if (exp !== 0) {
      bits[h] = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man === 0) {
      bits[h] = sign;
    } else {
      // Subnormal half: its value man·2^-24 is a normal float32; let the FPU do the scaling.
      table[h] = (sign ? -man : man) * 2 ** -24;
    }
  }
  return table;
}

function buildBf16Table(): Float32Array {
  const table = new Float32Array(65536);
  const bits = new Uint32Array(table.buffer);
  for (let h = 0; h < 65536; h++) bits[h] = h << 16;
  return table;
}

/** fp16 bit pattern → float32 value. Exact for every pattern. */
export const F16_TO_F32: Float32Array = buildF16Table();
/** bf16 bit pattern → float32 value. Exact for every pattern. */
export const BF16_TO_F32: Float32Array = buildBf16Table();

/** Decodes an fp16 bit pattern (0..65535) to its exact value. */
export function f16ToF32(h: number): number {
  return F16_TO_F32[h & 0xffff];
}

/** Decodes a bfloat16 bit pattern (0..65535) to its exact value. */
export function bf16ToF32(h: number): number {
  return BF16_TO_F32[h & 0xffff];
}

/**
 * Encodes a number as fp16, after first rounding it to float32 (the C code converts floats).
 * Rounds to nearest, ties to even; overflow gives ±inf; NaN stays a (quiet) NaN with its sign and
 * the top payload bits, as the F16C instruction does.
 */
export function f32ToF16(x: number): number {
  scratchF32[0] = x;
  const w = scratchU32[0];
  const sign = (w >>> 16) & 0x8000;
  const exp = (w >>> 23) & 0xff;
  const man = w & 0x7fffff;
  if (exp === 0xff) return sign | (man !== 0 ? 0x7e00 | (man >>> 13) : 0x7c00);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // Result is a half subnormal (or zero): shift the full significand into place, then round.
    if (e < -10) return sign;
    const sig = man | 0x800000;
    const shift = 14 - e;
    let h = sig >>> shift;
    const rem = sig & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (h & 1) !== 0)) h++;
    return sign | h; // a carry into bit 10 is exactly the smallest normal's encoding
  }
  let h = (e << 10) | (man >>> 13);
  const rem = man & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++; // a carry may reach inf: correct
  return sign | h;
}

/**
 * Encodes a number as bfloat16 (after rounding to float32), round to nearest even, like ggml's
 * GGML_FP32_TO_BF16 and gguf-py: NaN stays NaN, with the quiet bit forced on so it cannot
 * truncate into an infinity.
 */
export function f32ToBf16(x: number): number {
  scratchF32[0] = x;
  const u = scratchU32[0];
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}
