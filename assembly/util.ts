// Elementwise helper kernels (zero, copy, add, scale, sumsq, nonfinite) used between the big ones.
import { madd, hsum, hmax } from './simd';

// Elementwise helpers the model uses between the big kernels. Sizes are element counts.

// x (n) = 0
export function zero(x: usize, n: i32): void {
  memory.fill(x, 0, <usize>n << 2);
}

// dst (n) = src (n); regions may overlap
export function copy(dst: usize, src: usize, n: i32): void {
  memory.copy(dst, src, <usize>n << 2);
}

// out (n) = a (n) + b (n); out may alias a or b (residual connections)
export function add(out: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

// x (n) *= s
export function scale(x: usize, n: i32, s: f32): void {
  scaleRow(x, x, s, n);
}

// y (n) = x (n) · k; y may alias x. Inlined into the softmax and attention row loops.
// @ts-ignore: decorator
@inline export function scaleRow(y: usize, x: usize, k: f32, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vk = f32x4.splat(k);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(y + o, f32x4.mul(v128.load(x + o), vk));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(x + o) * k);
  }
}

// max over x (n); −∞ when n == 0
// @ts-ignore: decorator
@inline export function rowmax(x: usize, n: i32): f32 {
  let m: f32 = -Infinity;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let vm = f32x4.splat(-Infinity);
    for (; i + 4 <= n; i += 4) vm = f32x4.max(vm, v128.load(x + (<usize>i << 2)));
    m = hmax(vm);
  }
  for (; i < n; i++) m = max(m, load<f32>(x + (<usize>i << 2)));
  return m;
}

// y (n) += a · x (n). Exported, and inlined into the attention kernels' row loops.
// @ts-ignore: decorator
@inline export function axpy(y: usize, x: usize, n: i32, a: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const va = f32x4.splat(a);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(y + o, madd(va, v128.load(x + o), v128.load(y + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + a * load<f32>(x + o));
  }
}

// Σ a·b over n elements, two accumulators so a 768-wide row is not one long add chain.
// Inlined into the norm and attention row loops.
// @ts-ignore: decorator
@inline export function dot(a: usize, b: usize, n: i32): f32 {
  let s: f32 = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
    for (; i + 8 <= n; i += 8) {
      const o = <usize>i << 2;
      acc0 = madd(v128.load(a + o), v128.load(b + o), acc0);
      acc1 = madd(v128.load(a + o, 16), v128.load(b + o, 16), acc1);
    }
    if (i + 4 <= n) {
      const o = <usize>i << 2;
      acc0 = madd(v128.load(a + o), v128.load(b + o), acc0);
      i += 4;
    }
    s = hsum(f32x4.add(acc0, acc1));
  }
  for (; i < n; i++) s += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  return s;
}

// Σ x² over n elements, accumulated in f64 lanes so global-norm clipping over millions of
// parameters does not lose the small terms.
export function sumsq(x: usize, n: i32): f32 {
  let s: f64 = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let acc = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      const v = v128.load(x + (<usize>i << 2));
      acc = f32x4.add(acc, f32x4.mul(v, v));
      // flush the f32 partial every 4096 elements to keep the f32 error bounded
      if ((i & 4095) == 4092) { s += <f64>hsum(acc); acc = f32x4.splat(0); }
    }
    s += <f64>hsum(acc);
  }
  for (; i < n; i++) {
    const v = <f64>load<f32>(x + (<usize>i << 2));
    s += v * v;
  }
  return <f32>s;
}

// 1 if any element is NaN or ±Inf, else 0: the trainer's guard before an update
export function nonfinite(x: usize, n: i32): i32 {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    // v − v is 0 for every finite v and NaN for NaN or ±Inf; NaN survives the sum
    let acc = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      const v = v128.load(x + (<usize>i << 2));
      acc = f32x4.add(acc, f32x4.sub(v, v));
    }
    if (v128.any_true(f32x4.ne(acc, acc))) return 1;
  }
  for (; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    if (!isFinite<f32>(v)) return 1;
  }
  return 0;
}
