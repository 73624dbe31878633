// Moving 32-bit lanes between vectors and memory, shared by the integer kernels (q8.ts,
// relaxed.ts) and the weight repacking (repack.ts).

/** Transposes the i32 lanes of a, b, c, d (result k = lane k of each) and stores result k at o + k·stride. */
@inline export function transpose4s(a: v128, b: v128, c: v128, d: v128, o: usize, stride: usize): void {
  const t0 = i32x4.shuffle(a, b, 0, 4, 1, 5), t1 = i32x4.shuffle(a, b, 2, 6, 3, 7);
  const t2 = i32x4.shuffle(c, d, 0, 4, 1, 5), t3 = i32x4.shuffle(c, d, 2, 6, 3, 7);
  v128.store(o, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
  v128.store(o + stride, i32x4.shuffle(t0, t2, 2, 3, 6, 7));
  v128.store(o + 2 * stride, i32x4.shuffle(t1, t3, 0, 1, 4, 5));
  v128.store(o + 3 * stride, i32x4.shuffle(t1, t3, 2, 3, 6, 7));
}

/** transpose4s with the results side by side (o, o + 16, o + 32, o + 48). */
@inline export function transpose4(a: v128, b: v128, c: v128, d: v128, o: usize): void {
  transpose4s(a, b, c, d, o, 16);
}

/** Stores the first nv lanes of f to o, o + os, o + 2os, o + 3os. */
@inline export function storeLanes(o: usize, os: usize, f: v128, nv: i32): void {
  store<f32>(o, f32x4.extract_lane(f, 0));
  if (nv > 1) store<f32>(o + os, f32x4.extract_lane(f, 1));
  if (nv > 2) store<f32>(o + 2 * os, f32x4.extract_lane(f, 2));
  if (nv > 3) store<f32>(o + 3 * os, f32x4.extract_lane(f, 3));
}

/** The inverse of storeLanes (missing lanes 0). */
@inline export function loadLanes(o: usize, os: usize, nv: i32): v128 {
  let f = f32x4.splat(0);
  f = f32x4.replace_lane(f, 0, load<f32>(o));
  if (nv > 1) f = f32x4.replace_lane(f, 1, load<f32>(o + os));
  if (nv > 2) f = f32x4.replace_lane(f, 2, load<f32>(o + 2 * os));
  if (nv > 3) f = f32x4.replace_lane(f, 3, load<f32>(o + 3 * os));
  return f;
}

// The float sums of a matrix kernel's pass (lanes = four tokens) live in out between chunks of
// blocks: read back when the chunk is not the first (c0 > 0), written for real rows and tokens.
@inline export function loadSums(c0: i32, o: usize, os: usize, nr: i32, nv: i32): v128 {
  return c0 > 0 && nv > 0 && nr > 0 ? loadLanes(o, os, nv) : f32x4.splat(0);
}
@inline export function storeSums(o: usize, os: usize, f: v128, nr: i32, nv: i32): void {
  if (nv > 0 && nr > 0) storeLanes(o, os, f, nv);
}
