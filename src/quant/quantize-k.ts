/**
 * K-quant quantizers (Q4_K, Q5_K, Q6_K), following ggml's quantize_row_q{4,5,6}_K_ref and their
 * helpers make_qkx2_quants / make_qx_quants operation by operation in float32 (see f32-math.ts).
 *
 * Parity with llama.cpp (test/quant/ggml-parity.test.ts): Q6_K reproduces llama-quantize's bytes
 * on every fixture tensor. Q4_K follows the published quantize_row_q4_K_ref exactly, yet the
 * fixtures' llama.cpp build (commit 3f545bec) picks a different (scale, min) candidate in about
 * half of the super-blocks, always with the same error level; its source was not available to
 * pin down the difference, so Q4_K (and Q5_K, which shares the code) are tested for quality,
 * not bytes. Speed: a few million elements per second — the candidate search is emulated in
 * float32 step by step — fine for tests and small models, slow for quantizing a large one.
 *
 * The searches need scratch space; it lives in module-level typed arrays so a call allocates
 * nothing (JavaScript runs one call at a time per isolate, so sharing them is safe).
 */
import { f16ToF32, f32ToF16 } from './fp16.js';
import { GROUP_MAX_EPS, fr, nearestInt } from './f32-math.js';

const L = new Uint8Array(256);
const Laux = new Uint8Array(32);
const weights = new Float32Array(32);
const scales = new Float32Array(16);
const mins = new Float32Array(8);
const kScales = new Uint8Array(12);
/** make_qkx2_quants returns the scale and writes the (positive) min here. */
let qkx2Min = 0;

/**
 * Fits x ≈ scale·L + min with L in [0, nmax] and min ≤ 0, minimizing the weighted squared error
 * over a small grid of candidate scales (ggml's make_qkx2_quants with use_mad = false).
 * Writes L[lo .. lo+n), sets qkx2Min to −min, returns the scale.
 */
function makeQkx2Quants(
  n: number, nmax: number, x: Float32Array, xo: number, lo: number,
  rmin: number, rdelta: number, nstep: number,
): number {
  rdelta = fr(rdelta); // the C callers pass float literals such as 0.1f
  let min = x[xo];
  let max = x[xo];
  let sumW = weights[0];
  let sumX = fr(sumW * x[xo]);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i];
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[i];
    sumW = fr(sumW + w);
    sumX = fr(sumX + fr(w * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lo, lo + n);
    qkx2Min = -min;
    return 0;
  }
  const range = fr(max - min);
  let iscale = fr(nmax / range);
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(x[xo + i] - min)))));
    L[lo + i] = l;
    const diff = fr(fr(fr(scale * l) + min) - x[xo + i]);
    bestError = fr(bestError + fr(weights[i] * fr(diff * diff)));
  }
  for (let is = 0; is <= nstep; is++) {
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / range);
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(xi - min)))));
      Laux[i] = l;
      const w = weights[i];
      const wl = fr(w * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXL = fr(sumXL + fr(wl * xi));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fr(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        const diff = fr(fr(fr(thisScale * Laux[i]) + thisMin) - x[xo + i]);
        curError = fr(curError + fr(weights[i] * fr(diff * diff)));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[lo + i] = Laux[i];
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  qkx2Min = -min;
  return scale;
}

/**
 * Symmetric fit x ≈ scale·(L − nmax) with L − nmax in [−nmax, nmax−1], weights x², searching 19
 * candidate scales around −nmax/max (ggml's make_qx_quants with rmse_type 1 and no quant
 * weights). Writes L[lo .. lo+n) (as L + nmax, 0 when the group is all zero), returns the scale.
 */
function makeQxQuants(n: number, nmax: number, x: Float32Array, xo: number, lo: number): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i];
    }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  let iscale = fr(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * xi))));
    L[lo + i] = l + nmax;
    const w = fr(xi * xi);
    sumlx = fr(sumlx + fr(fr(w * xi) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  let scale = suml2 !== 0 ? fr(sumlx / suml2) : 0;
  let best = fr(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fr(-fr(nmax + fr(fr(0.1) * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * xi))));
      const w = fr(xi * xi);
      sumlx = fr(sumlx + fr(fr(w * xi) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      for (let i = 0; i < n; i++) {
        L[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * x[xo + i]))));
      }
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

/** Packs eight 6-bit (scale, min) pairs into the 12-byte K-quant scale block (see dequant.ts). */
function packKScales(ls: Uint8Array, lm: Uint8Array): void {
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      kScales[j] = ls[j];
      kScales[j + 4] = lm[j];
    } else {
      kScales[j + 4] = (ls[j] & 0x0f) | ((lm[j] & 0x0f) << 4);
      kScales[j - 4] |= (ls[j] >>> 4) << 6;
      kScales[j] |= (lm[j] >>> 4) << 6;
    }
  }
}

function kScale(j: number): number {
  return j < 4 ? kScales[j] & 63 : (kScales[j + 4] & 0x0f) | ((kScales[j - 4] >>> 6) << 4);
}
function kMin(j: number): number {
  return j < 4 ? kScales[j + 4] & 63 : (kScales[j + 4] >>> 4) | ((kScales[j] >>> 6) << 4);
}

const ls = new Uint8Array(8);
const lm = new Uint8Array(8);

/**
 * Shared body of Q4_K and Q5_K: per 32-element sub-block an asymmetric fit, then the eight
 * scales and mins quantized to 6 bits against the super-block's fp16 d and dmin, then every
 * element re-quantized with the scales as stored. Leaves the quants in L and the 12 packed
 * scale bytes in kScales; returns [d, dmin] as fp16 bit patterns.
 */
function quantizeKBlock(x: Float32Array, xo: number, nmax: number, rmin: number, rdelta: number, nstep: number): [number, number] {
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    const sub = xo + 32 * j;
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(x[sub + l] * x[sub + l]));
    const avX = fr(Math.sqrt(fr(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = fr(avX + Math.abs(x[sub + l]));
    scales[j] = makeQkx2Quants(32, nmax, x, sub, 32 * j, rmin, rdelta, nstep);
    mins[j] = qkx2Min;
    if (scales[j] > maxScale) maxScale = scales[j];
    if (mins[j] > maxMin) maxMin = mins[j];
  }
  const invScale = maxScale > 0 ? fr(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? fr(63 / maxMin) : 0;
  for (let j = 0; j < 8; j++) {
    // nearest_int's int is narrowed to uint8_t before the MIN, as in the C code.
    ls[j] = Math.min(63, nearestInt(fr(invScale * scales[j])) & 0xff);
    lm[j] = Math.min(63, nearestInt(fr(invMin * mins[j])) & 0xff);
  }
  packKScales(ls, lm);
  const dBits = f32ToF16(fr(maxScale / 63));
  const mBits = f32ToF16(fr(maxMin / 63));
  const dAll = f16ToF32(dBits);
  const mAll = f16ToF32(mBits);
  for (let j = 0; j < 8; j++) {
    const d = fr(dAll * kScale(j));
    if (d === 0) continue; // keeps the fit's quants, as ggml does
    const dm = fr(mAll * kMin(j));
    for (let ii = 0; ii < 32; ii++) {
      const l = nearestInt(fr(fr(x[xo + 32 * j + ii] + dm) / d));
      L[32 * j + ii] = Math.max(0, Math.min(nmax, l));
    }
  }
  return [dBits, mBits];
}

function putHeaderK(dst: Uint8Array, o: number, dBits: number, mBits: number): void {
  dst[o] = dBits & 0xff;
  dst[o + 1] = dBits >>> 8;
  dst[o + 2] = mBits & 0xff;
  dst[o + 3] = mBits >>> 8;
  dst.set(kScales, o + 4);
}

/** Q4_K super-blocks (144 bytes each). */
export function quantizeQ4_K(x: Float32Array, xo: number, nb: number, dst: Uint8Array, o: number): void {
  for (let b = 0; b < nb; b++, xo += 256, o += 144) {
    const [dBits, mBits] = quantizeKBlock(x, xo, 15, -1, 0.1, 20);
    putHeaderK(dst, o, dBits, mBits);
    let q = o + 16;
    for (let j = 0; j < 256; j += 64, q += 32) {
      for (let l = 0; l < 32; l++) dst[q + l] = L[j + l] | (L[j + l + 32] << 4);
    }
  }
}

/** Q5_K super-blocks (176 bytes each). */
export function quantizeQ5_K(x: Float32Array, xo: number, nb: number, dst: Uint8Array, o: number): void {
  for (let b = 0; b < nb; b++, xo += 256, o += 176) {
    const [dBits, mBits] = quantizeKBlock(x, xo, 31, -0.5, 0.1, 15);
    putHeaderK(dst, o, dBits, mBits);
    const qh = o + 16;
    dst.fill(0, qh, qh + 32);
    let ql = o + 48;
    let m1 = 1;
    let m2 = 2;
    for (let n = 0; n < 256; n += 64, ql += 32, m1 <<= 2, m2 <<= 2) {
      for (let j = 0; j < 32; j++) {
        let l1 = L[n + j];
        if (l1 > 15) {
          l1 -= 16;
          dst[qh + j] |= m1;
        }
        let l2 = L[n + j + 32];
        if (l2 > 15) {
          l2 -= 16;
          dst[qh + j] |= m2;
        }
        dst[ql + j] = l1 | (l2 << 4);
      }
    }
  }
}

/** Q6_K super-blocks (210 bytes each). */
export function quantizeQ6_K(x: Float32Array, xo: number, nb: number, dst: Uint8Array, o: number): void {
  for (let b = 0; b < nb; b++, xo += 256, o += 210) {
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const scale = makeQxQuants(16, 32, x, xo + 16 * ib, 16 * ib);
      scales[ib] = scale;
      if (Math.abs(scale) > maxAbsScale) {
        maxAbsScale = Math.abs(scale);
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      dst.fill(0, o, o + 210);
      continue;
    }
    const iscale = fr(-128 / maxScale);
    const dBits = f32ToF16(fr(1 / iscale));
    const sc = o + 192;
    for (let ib = 0; ib < 16; ib++) dst[sc + ib] = Math.min(127, nearestInt(fr(iscale * scales[ib]))) & 0xff;
    const dAll = f16ToF32(dBits);
    for (let j = 0; j < 16; j++) {
      const d = fr(dAll * ((dst[sc + j] << 24) >> 24));
      if (d === 0) continue; // keeps the fit's quants, as ggml does
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fr(x[xo + 16 * j + ii] / d));
        L[16 * j + ii] = Math.max(-32, Math.min(31, l)) + 32;
      }
    }
    let ql = o;
    let qh = o + 128;
    for (let j = 0; j < 256; j += 128, ql += 64, qh += 32) {
      for (let l = 0; l < 32; l++) {
        const a = L[j + l];
        const b2 = L[j + l + 32];
        const c = L[j + l + 64];
        const e = L[j + l + 96];
        dst[ql + l] = (a & 0x0f) | ((c & 0x0f) << 4);
        dst[ql + l + 32] = (b2 & 0x0f) | ((e & 0x0f) << 4);
        dst[qh + l] = (a >>> 4) | ((b2 >>> 4) << 2) | ((c >>> 4) << 4) | ((e >>> 4) << 6);
      }
    }
    dst[o + 208] = dBits & 0xff;
    dst[o + 209] = dBits >>> 8;
  }
}
