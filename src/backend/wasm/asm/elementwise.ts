// Element-wise kernels: SwiGLU's silu(gate)·up and RMSNorm. They are cheap per element, but in
// plain JavaScript Math.exp made silu ~8% of a prefill; here a vector exp keeps them negligible.

// Cody–Waite reduction x = k·ln2 + r, |r| ≤ ln2/2, then a degree-6 polynomial for e^r (Cephes
// expf's coefficients; relative error ≲ 2 ulp over the range that does not overflow).
const LOG2E: f32 = 1.44269504088896341;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;

/** e^x per lane; overflows to +inf above ~88.7, flushes to 0 below ~−87.3, NaN stays NaN. */
@inline function expf4(x: v128): v128 {
  const c = f32x4.min(f32x4.max(x, f32x4.splat(-87.3)), f32x4.splat(88.7));
  const k = f32x4.nearest(f32x4.mul(c, f32x4.splat(LOG2E)));
  let r = f32x4.sub(c, f32x4.mul(k, f32x4.splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(k, f32x4.splat(LN2_LO)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  const r2 = f32x4.mul(r, r);
  p = f32x4.add(f32x4.add(f32x4.mul(p, r2), r), f32x4.splat(1));
  // 2^k split in two factors so that k = 128 (e^88.7) does not overflow the exponent field.
  const k1 = i32x4.shr_s(i32x4.trunc_sat_f32x4_s(k), 1);
  const k2 = i32x4.sub(i32x4.trunc_sat_f32x4_s(k), k1);
  const s1 = i32x4.shl(i32x4.add(k1, i32x4.splat(127)), 23), s2 = i32x4.shl(i32x4.add(k2, i32x4.splat(127)), 23);
  const e = f32x4.mul(f32x4.mul(p, s1), s2);
  // Above the clamp the true value overflows; NaN inputs stay NaN (min/max propagate it).
  return v128.bitselect(f32x4.splat(Infinity), e, f32x4.gt(x, f32x4.splat(88.7)));
}

/** gate[i] = silu(gate[i])·up[i] for i in [i0, i1) (f32 arrays; i0 a multiple of 4). */
export function siluMul(gate: usize, up: usize, i0: i32, i1: i32): void {
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    const g = v128.load(gate + o);
    const s = f32x4.div(g, f32x4.add(f32x4.splat(1), expf4(f32x4.neg(g))));
    v128.store(gate + o, f32x4.mul(s, v128.load(up + o)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    const g = f32x4.splat(load<f32>(gate + o));
    const s = f32x4.div(g, f32x4.add(f32x4.splat(1), expf4(f32x4.neg(g))));
    store<f32>(gate + o, f32x4.extract_lane(s, 0) * load<f32>(up + o));
  }
}

/**
 * RMSNorm of rows [r0, r1) of x [rows, dim] into out (may be x): x / sqrt(mean(x²) + eps), times
 * weight when weight ≠ 0. The sum of squares is taken in f64, the inverse rounded to f32 before
 * the multiply, as the reference backend does.
 */
export function rmsNorm(x: usize, out: usize, weight: usize, dim: i32, eps: f64, r0: i32, r1: i32): void {
  const rowBytes = <usize>dim << 2;
  for (let r = r0; r < r1; r++) {
    const xr = x + <usize>r * rowBytes, orow = out + <usize>r * rowBytes;
    let a0 = f64x2.splat(0), a1 = f64x2.splat(0);
    let i = 0;
    for (; i + 4 <= dim; i += 4) {
      const v = v128.load(xr + (<usize>i << 2));
      const lo = f64x2.promote_low_f32x4(v), hi = f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1));
      a0 = f64x2.add(a0, f64x2.mul(lo, lo));
      a1 = f64x2.add(a1, f64x2.mul(hi, hi));
    }
    const a = f64x2.add(a0, a1);
    let ss = f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1);
    for (; i < dim; i++) { const v = <f64>load<f32>(xr + (<usize>i << 2)); ss += v * v; }
    const inv = <f32>(1 / Math.sqrt(ss / <f64>dim + eps));
    const s = f32x4.splat(inv);
    i = 0;
    if (weight != 0) {
      for (; i + 4 <= dim; i += 4) {
        const o = <usize>i << 2;
        v128.store(orow + o, f32x4.mul(f32x4.mul(v128.load(xr + o), s), v128.load(weight + o)));
      }
      for (; i < dim; i++) { const o = <usize>i << 2; store<f32>(orow + o, (load<f32>(xr + o) * inv) * load<f32>(weight + o)); }
    } else {
      for (; i + 4 <= dim; i += 4) { const o = <usize>i << 2; v128.store(orow + o, f32x4.mul(v128.load(xr + o), s)); }
      for (; i < dim; i++) { const o = <usize>i << 2; store<f32>(orow + o, load<f32>(xr + o) * inv); }
    }
  }
}
