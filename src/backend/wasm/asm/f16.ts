// Half-precision conversions shared by the dequantizers and the integer dot products.

// f16 → f32, exact for every pattern, without ever computing on an f32 denormal: f16
// subnormals (common for K-quant super-block scales, |d| < 6.1e-5) are built as the normal
// 2^-14·(1 + m/1024) and then 2^-14 is subtracted. (Scaling the f32 denormal m·2^-134 by 2^112
// would be one multiply, but x86 takes a microcode assist of ~100 cycles for a denormal operand.)
@inline export function f16(h: u32): f32 {
  const e = h & 0x7c00;
  let bits = ((h & 0x7fff) << 13) + 0x38000000; // rebias the exponent 15 → 127
  if (e == 0x7c00) bits += 0x38000000; // inf / NaN: exponent all ones
  let f = reinterpret<f32>(bits);
  if (e == 0) f = reinterpret<f32>(bits + 0x800000) - reinterpret<f32>(0x38800000);
  return reinterpret<f32>(reinterpret<u32>(f) | ((h & 0x8000) << 16));
}

/** Four f16 values (u16 in the low half of each i32 lane) → f32x4, as f16() does. */
@inline export function f16x4(h: v128): v128 {
  const a = v128.and(h, i32x4.splat(0x7fff));
  let f = i32x4.add(i32x4.shl(a, 13), i32x4.splat(0x38000000));
  if (v128.any_true(i32x4.gt_u(i32x4.sub(a, i32x4.splat(0x400)), i32x4.splat(0x7bff - 0x400)))) {
    // rare: a subnormal (→ m·2^-24 by int → float), zero, inf or NaN lane
    f = i32x4.add(f, v128.and(i32x4.gt_s(a, i32x4.splat(0x7bff)), i32x4.splat(0x38000000)));
    const sub = f32x4.mul(f32x4.convert_i32x4_s(a), f32x4.splat(5.9604644775390625e-8));
    f = v128.bitselect(sub, f, i32x4.lt_s(a, i32x4.splat(0x400)));
  }
  return v128.or(f, i32x4.shl(v128.xor(h, a), 16));
}
