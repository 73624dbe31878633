/**
 * float32 arithmetic helpers for reproducing ggml's C quantizers bit for bit.
 *
 * The C code computes in `float`. JavaScript computes in float64; rounding a single float64
 * +, −, ×, ÷ or sqrt of float32 operands back to float32 (Math.fround) gives the correctly
 * rounded float32 result (float64 has more than 2·24+2 bits), so `fround` after every operation
 * reproduces C exactly, provided the C compiler did not fuse a·b+c into an FMA. ggml-quants.c is
 * part of ggml-base, which is built for the baseline ISA (no FMA), so it does not; the fixtures
 * confirm it (Q8_0, Q4_0, Q5_0 and Q6_K match llama-quantize byte for byte).
 */

/** Rounds to float32. Wrap every float operation of the C code in this. */
export const fr = Math.fround;

/** float32 FLT_MAX. */
export const FLT_MAX = 3.4028234663852886e38;
/** ggml's GROUP_MAX_EPS (1e-15f). */
export const GROUP_MAX_EPS = Math.fround(1e-15);

const scratchF32 = new Float32Array(1);
const scratchI32 = new Int32Array(scratchF32.buffer);

/**
 * ggml's nearest_int: adds 1.5·2^23 in float32 so the FPU rounds to nearest even, then reads
 * the integer from the mantissa. Outside ±4194303 (where ggml asserts) the same bit trick is
 * replayed, so even garbage input gives the value ggml would produce.
 */
export function nearestInt(fval: number): number {
  if (fval <= 4194303 && fval >= -4194303) return fr(fval + 12582912) - 12582912;
  scratchF32[0] = fval + 12582912;
  return (scratchI32[0] & 0x007fffff) - 0x00400000;
}

/**
 * C's float → integer conversion as x86-64 does it (cvttss2si): truncate toward zero; NaN and
 * out-of-range values give INT32_MIN. Callers then narrow it like the C cast (`& 0xff` …).
 */
export function truncToInt32(x: number): number {
  if (!(x > -2147483649 && x < 2147483648)) return -2147483648;
  return Math.trunc(x) | 0;
}

/** C's roundf: halfway cases away from zero. */
export function roundf(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}
