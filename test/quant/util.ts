/** Small deterministic helpers shared by the quant and io tests. */

/** mulberry32: a tiny seeded PRNG, so failures reproduce. Returns floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Gaussian samples (Box–Muller) scaled by `sigma`, as float32. */
export function gaussian(n: number, sigma: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = r() || 1e-12;
    out[i] = sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  }
  return out;
}

/** The float32 whose bit pattern is `bits`. */
export function f32FromBits(bits: number): number {
  const u = new Uint32Array([bits >>> 0]);
  return new Float32Array(u.buffer)[0];
}

/** The bit pattern of `x` rounded to float32. */
export function bitsOfF32(x: number): number {
  const f = new Float32Array([x]);
  return new Uint32Array(f.buffer)[0];
}
