// 16-bit weights: the loads the GEMMs use to widen bf16 in registers, and the conversion
// kernels between f32, bf16 and f16 (IEEE half) buffers.
//
// bf16 is the high half of an f32 (sign, 8 exponent bits, 7 mantissa bits), so widening is exact:
// put 16 zero bits below it. Narrowing f32 → bf16 rounds to nearest, ties to even, NaN → 0x7FC0:
// PyTorch's `.to(torch.bfloat16)` (c10::BFloat16 round_to_nearest_even). f16 → f32 is exact for
// every value (subnormals, ±Inf; NaNs keep their payload and come out quiet); f16 → bf16 is f16 → f32 → bf16, PyTorch's path,
// so it rounds once: 10 mantissa bits to 7, a relative error of at most 2⁻⁸ (half a bf16 ulp);
// f16's range (±65504, subnormals down to 2⁻²⁴) lies inside bf16's, so nothing overflows or flushes.

// W element type of the bf16 kernels: the raw 16 bits
export type bf16 = u16;

// Byte offset, within a W row of element type T, of the element at byte offset `f32Bytes` of an f32
// row (the K index the f32 operand is at).
// @ts-ignore: decorator
@inline export function wofs<T>(f32Bytes: usize): usize {
  if (sizeof<T>() == 4) return f32Bytes;
  return f32Bytes >> 1;
}

// W elements 4i..4i+3 from p as f32x4; `i` is a literal 0..3 (folded away after inlining, so each
// call is one load with an immediate offset). bf16: one 64-bit load and one unpack with zeros
// (x64: movq + punpcklwd), which leaves each half in the top of its lane.
// @ts-ignore: decorator
@inline export function wload<T>(p: usize, i: i32): v128 {
  if (sizeof<T>() == 4) {
    if (i == 0) return v128.load(p);
    if (i == 1) return v128.load(p, 16);
    if (i == 2) return v128.load(p, 32);
    return v128.load(p, 48);
  }
  let h: v128;
  if (i == 0) h = v128.load64_zero(p);
  else if (i == 1) h = v128.load64_zero(p, 8);
  else if (i == 2) h = v128.load64_zero(p, 16);
  else h = v128.load64_zero(p, 24);
  return widen_lo(h);
}

// one W element as f32
// @ts-ignore: decorator
@inline export function wload1<T>(p: usize): f32 {
  if (sizeof<T>() == 4) return load<f32>(p);
  return reinterpret<f32>(<u32>load<u16>(p) << 16);
}

// bf16 lanes 0..3 / 4..7 of h as f32x4
// @ts-ignore: decorator
@inline function widen_lo(h: v128): v128 {
  return v128.shuffle<i16>(i16x8.splat(0), h, 0, 8, 1, 9, 2, 10, 3, 11);
}
// @ts-ignore: decorator
@inline function widen_hi(h: v128): v128 {
  return v128.shuffle<i16>(i16x8.splat(0), h, 4, 12, 5, 13, 6, 14, 7, 15);
}

// f32 bits → bf16 bits, round to nearest even; NaN → 0x7FC0 (finite values that round past the
// largest bf16 become ±Inf, as in PyTorch)
// @ts-ignore: decorator
@inline function round_bf16(u: u32): u32 {
  if ((u & 0x7FFFFFFF) > 0x7F800000) return 0x7FC0;
  return (u + 0x7FFF + ((u >> 16) & 1)) >> 16;
}
// @ts-ignore: decorator
@inline function round_bf16x4(f: v128): v128 {
  const u = f;
  const r = i32x4.shr_u(i32x4.add(i32x4.add(u, i32x4.splat(0x7FFF)), v128.and(i32x4.shr_u(u, 16), i32x4.splat(1))), 16);
  return v128.bitselect(i32x4.splat(0x7FC0), r, f32x4.ne(f, f));
}

// f16 bits → f32 bits, exact (F. Giesen's half_to_float: rebias the exponent; Inf/NaN get the
// top exponent; subnormals are renormalized by one float subtraction, which is exact). A NaN keeps
// its payload and comes out quiet, as x86's vcvtph2ps (PyTorch's .float()) makes it.
// @ts-ignore: decorator
@inline function f16_bits_to_f32(h: u32): u32 {
  let o = (h & 0x7FFF) << 13;
  const e = o & 0x0F800000;
  o += 0x38000000; // (127 − 15) << 23
  if (e == 0x0F800000) {
    o += 0x38000000;
    if (o & 0x007FFFFF) o |= 0x00400000;
  } else if (e == 0) {
    o = reinterpret<u32>(reinterpret<f32>(o + 0x00800000) - reinterpret<f32>(<u32>0x38800000));
  }
  return o | ((h & 0x8000) << 16);
}
// @ts-ignore: decorator
@inline function f16x4_to_f32x4(h: v128): v128 {
  let o = i32x4.shl(v128.and(h, i32x4.splat(0x7FFF)), 13);
  const e = v128.and(o, i32x4.splat(0x0F800000));
  o = i32x4.add(o, i32x4.splat(0x38000000));
  const top = i32x4.eq(e, i32x4.splat(0x0F800000));
  o = i32x4.add(o, v128.and(top, i32x4.splat(0x38000000)));
  // NaN (top exponent, mantissa ≠ 0): set the quiet bit
  const nan = v128.andnot(top, i32x4.eq(v128.and(o, i32x4.splat(0x007FFFFF)), i32x4.splat(0)));
  o = v128.or(o, v128.and(nan, i32x4.splat(0x00400000)));
  const sub = f32x4.sub(i32x4.add(o, i32x4.splat(0x00800000)), i32x4.splat(0x38800000));
  o = v128.bitselect(sub, o, i32x4.eq(e, i32x4.splat(0)));
  return v128.or(o, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}

// dst (n) bf16 = src (n) f32, rounded to nearest even
export function f32_to_bf16(dst: usize, src: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 8 <= n; i += 8) {
      const lo = round_bf16x4(v128.load(src + (<usize>i << 2)));
      const hi = round_bf16x4(v128.load(src + (<usize>i << 2), 16));
      // every lane is 0..0xFFFF, so the saturating narrow is exact
      v128.store(dst + (<usize>i << 1), i16x8.narrow_i32x4_u(lo, hi));
    }
  }
  for (; i < n; i++) store<u16>(dst + (<usize>i << 1), <u16>round_bf16(load<u32>(src + (<usize>i << 2))));
}

// dst (n) f32 = src (n) bf16 (exact)
export function bf16_to_f32(dst: usize, src: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 8 <= n; i += 8) {
      const h = v128.load(src + (<usize>i << 1));
      v128.store(dst + (<usize>i << 2), widen_lo(h));
      v128.store(dst + (<usize>i << 2), widen_hi(h), 16);
    }
  }
  for (; i < n; i++) store<u32>(dst + (<usize>i << 2), <u32>load<u16>(src + (<usize>i << 1)) << 16);
}

// dst (n) f32 = src (n) f16 (exact)
export function f16_to_f32(dst: usize, src: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 8 <= n; i += 8) {
      const h = v128.load(src + (<usize>i << 1));
      v128.store(dst + (<usize>i << 2), f16x4_to_f32x4(i32x4.extend_low_i16x8_u(h)));
      v128.store(dst + (<usize>i << 2), f16x4_to_f32x4(i32x4.extend_high_i16x8_u(h)), 16);
    }
  }
  for (; i < n; i++) store<u32>(dst + (<usize>i << 2), f16_bits_to_f32(<u32>load<u16>(src + (<usize>i << 1))));
}

// dst (n) bf16 = src (n) f16, through f32 (exact) then rounded to nearest even: one rounding
export function f16_to_bf16(dst: usize, src: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 8 <= n; i += 8) {
      const h = v128.load(src + (<usize>i << 1));
      const lo = round_bf16x4(f16x4_to_f32x4(i32x4.extend_low_i16x8_u(h)));
      const hi = round_bf16x4(f16x4_to_f32x4(i32x4.extend_high_i16x8_u(h)));
      v128.store(dst + (<usize>i << 1), i16x8.narrow_i32x4_u(lo, hi));
    }
  }
  for (; i < n; i++) {
    store<u16>(dst + (<usize>i << 1), <u16>round_bf16(f16_bits_to_f32(<u32>load<u16>(src + (<usize>i << 1)))));
  }
}
