// Helpers shared by the kernels. Each one compiles to plain SIMD in the simd build, to
// relaxed-SIMD FMA in the relaxed build; the portable build never reaches them (every
// caller guards its vector loop with ASC_FEATURE_SIMD).

// a*b + c. The relaxed build fuses it (one rounding); results differ from simd by float noise.
// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) +
    (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

// @ts-ignore: decorator
@inline export function hmax(v: v128): f32 {
  return max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)),
    max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}

// exp(x) on four lanes: range reduction x = n·ln2 + r, |r| ≤ ln2/2, degree-6 polynomial for e^r,
// then 2^n built in the exponent bits. Relative error ≈ 2e-7 (about one f32 ulp), enough for
// softmax / log-softmax over 50k-wide rows, where a scalar exp per element dominated the cost.
// Inputs below -87 flush to 0 (softmax arguments are ≤ 0 after the max is subtracted).
// @ts-ignore: decorator
@inline export function vexp(x: v128): v128 {
  const lo = f32x4.splat(-87.0);
  const hi = f32x4.splat(88.0);
  x = f32x4.max(f32x4.min(x, hi), lo);
  // n = round(x·log2 e) by the 1.5·2^23 shifter: t keeps n in its low mantissa bits, which then
  // become the exponent of 2^n below. Cheaper than nearest + trunc_sat, which x64 V8 expands into
  // a long sequence (measured: exp was the largest cost of the attention forward for small heads).
  const shifter = f32x4.splat(12582912.0);
  const t = f32x4.add(f32x4.mul(x, f32x4.splat(1.44269504088896341)), shifter);
  const n = f32x4.sub(t, shifter);
  // two-step Cody-Waite reduction keeps r accurate for |x| up to ~88
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = madd(p, r, f32x4.splat(1.3981999507e-3));
  p = madd(p, r, f32x4.splat(8.3334519073e-3));
  p = madd(p, r, f32x4.splat(4.1665795894e-2));
  p = madd(p, r, f32x4.splat(1.6666665459e-1));
  p = madd(p, r, f32x4.splat(5.0000001201e-1));
  const r2 = f32x4.mul(r, r);
  p = f32x4.add(madd(p, r2, r), f32x4.splat(1.0));
  const e = i32x4.shl(i32x4.add(t, i32x4.splat(127)), 23);
  const res = f32x4.mul(p, e);
  // exact zero below the flush point, so exp(-inf) of masked logits contributes nothing
  return v128.bitselect(f32x4.splat(0.0), res, f32x4.le(x, lo));
}

// [Σa, Σb, Σc, Σd]: the four horizontal sums of four accumulators in one vector, by two rounds
// of pairwise shuffles (cheaper than four hsum calls and the result stores as one v128).
// @ts-ignore: decorator
@inline export function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = f32x4.add(v128.shuffle<f32>(a, b, 0, 4, 1, 5), v128.shuffle<f32>(a, b, 2, 6, 3, 7));
  const cd = f32x4.add(v128.shuffle<f32>(c, d, 0, 4, 1, 5), v128.shuffle<f32>(c, d, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(ab, cd, 0, 1, 4, 5), v128.shuffle<f32>(ab, cd, 2, 3, 6, 7));
}

// 1 / (1 + e^{−x}) on four lanes. e^{−x} saturates at e^88 (vexp clamps), so very negative x
// gives a tiny σ instead of 1/∞, and the caller can form 1 − σ = e^{−x}·σ without cancellation.
// @ts-ignore: decorator
@inline export function vsigmoid(x: v128): v128 {
  return f32x4.div(f32x4.splat(1.0), f32x4.add(f32x4.splat(1.0), vexp(f32x4.neg(x))));
}

// tanh on four lanes: an odd polynomial below |x| = 0.625 (Cephes tanhf: 1 − e^{−2|x|} would lose
// relative precision there), (1 − e)/(1 + e) with e = e^{−2|x|} above, sign restored from x.
// @ts-ignore: decorator
@inline export function vtanh(x: v128): v128 {
  const ax = f32x4.abs(x);
  const e = vexp(f32x4.mul(ax, f32x4.splat(-2.0)));
  const big = f32x4.div(f32x4.sub(f32x4.splat(1.0), e), f32x4.add(f32x4.splat(1.0), e));
  const z = f32x4.mul(x, x);
  let p = f32x4.splat(-5.70498872745e-3);
  p = madd(p, z, f32x4.splat(2.06390887954e-2));
  p = madd(p, z, f32x4.splat(-5.37397155531e-2));
  p = madd(p, z, f32x4.splat(1.33314422036e-1));
  p = madd(p, z, f32x4.splat(-3.33332819422e-1));
  const small = madd(f32x4.mul(p, z), x, x);
  const sign = v128.and(x, i32x4.splat(0x80000000));
  return v128.bitselect(small, v128.or(big, sign), f32x4.lt(ax, f32x4.splat(0.625)));
}
