// RMSNorm and LayerNorm kernels, forward and input-gradient backward.
import { madd, hsum } from './simd';
import { dot } from './util';

// Normalizations over the last axis of (N, C) rows. The forward saves the per-row statistics
// the backward needs; weights are frozen, so the backward returns input gradients only.
// Each row is two or three passes; every pass runs on f32x4 in the SIMD builds with a scalar
// tail for C mod 4, and two accumulators so a 768-wide reduction is not one long add chain.

// Σ a over n elements
// @ts-ignore: decorator
@inline function sumRow(a: usize, n: i32): f32 {
  let s: f32 = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
    for (; i + 8 <= n; i += 8) {
      const o = <usize>i << 2;
      acc0 = f32x4.add(acc0, v128.load(a + o));
      acc1 = f32x4.add(acc1, v128.load(a + o, 16));
    }
    if (i + 4 <= n) { acc0 = f32x4.add(acc0, v128.load(a + (<usize>i << 2))); i += 4; }
    s = hsum(f32x4.add(acc0, acc1));
  }
  for (; i < n; i++) s += load<f32>(a + (<usize>i << 2));
  return s;
}

// Σ (a − m)² over n elements: the second pass of a two-pass variance (no cancellation)
// @ts-ignore: decorator
@inline function sqdevRow(a: usize, m: f32, n: i32): f32 {
  let s: f32 = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vm = f32x4.splat(m);
    let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
    for (; i + 8 <= n; i += 8) {
      const o = <usize>i << 2;
      const d0 = f32x4.sub(v128.load(a + o), vm), d1 = f32x4.sub(v128.load(a + o, 16), vm);
      acc0 = madd(d0, d0, acc0);
      acc1 = madd(d1, d1, acc1);
    }
    if (i + 4 <= n) {
      const d0 = f32x4.sub(v128.load(a + (<usize>i << 2)), vm);
      acc0 = madd(d0, d0, acc0);
      i += 4;
    }
    s = hsum(f32x4.add(acc0, acc1));
  }
  for (; i < n; i++) { const d = load<f32>(a + (<usize>i << 2)) - m; s += d * d; }
  return s;
}

// out (N, C) = inp · rstd · w;  rstd (N) = 1 / sqrt(mean(inp²) + eps)   (Llama RMSNorm)
export function rmsnorm_fwd(out: usize, rstd: usize, inp: usize, w: usize, N: i32, C: i32, eps: f32): void {
  for (let r = 0; r < N; r++) {
    const x = inp + (<usize>r * <usize>C << 2);
    const y = out + (<usize>r * <usize>C << 2);
    const s: f32 = 1.0 / Mathf.sqrt(dot(x, x, C) / <f32>C + eps);
    if (rstd) store<f32>(rstd + (<usize>r << 2), s);
    let i = 0;
    if (ASC_FEATURE_SIMD) {
      const vs = f32x4.splat(s);
      for (; i + 4 <= C; i += 4) {
        const o = <usize>i << 2;
        v128.store(y + o, f32x4.mul(v128.load(w + o), f32x4.mul(vs, v128.load(x + o))));
      }
    }
    for (; i < C; i++) {
      const o = <usize>i << 2;
      store<f32>(y + o, load<f32>(w + o) * (s * load<f32>(x + o)));
    }
  }
}

// dinp (N, C) += ∂/∂inp of rmsnorm given dout (N, C):
//   dx = s·w·dy − x · s³ · (Σ dy·w·x) / C
export function rmsnorm_bwd(dinp: usize, dout: usize, inp: usize, w: usize, rstd: usize, N: i32, C: i32): void {
  for (let r = 0; r < N; r++) {
    const x = inp + (<usize>r * <usize>C << 2);
    const dy = dout + (<usize>r * <usize>C << 2);
    const dx = dinp + (<usize>r * <usize>C << 2);
    const s = load<f32>(rstd + (<usize>r << 2));
    let dot: f32 = 0;
    let i = 0;
    if (ASC_FEATURE_SIMD) {
      let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
      for (; i + 8 <= C; i += 8) {
        const o = <usize>i << 2;
        acc0 = madd(f32x4.mul(v128.load(dy + o), v128.load(w + o)), v128.load(x + o), acc0);
        acc1 = madd(f32x4.mul(v128.load(dy + o, 16), v128.load(w + o, 16)), v128.load(x + o, 16), acc1);
      }
      dot = hsum(f32x4.add(acc0, acc1));
    }
    for (; i < C; i++) {
      const o = <usize>i << 2;
      dot += load<f32>(dy + o) * load<f32>(w + o) * load<f32>(x + o);
    }
    const c = dot * s * s * s / <f32>C;
    i = 0;
    if (ASC_FEATURE_SIMD) {
      const vs = f32x4.splat(s), vc = f32x4.splat(-c);
      for (; i + 4 <= C; i += 4) {
        const o = <usize>i << 2;
        const t = madd(f32x4.mul(vs, v128.load(w + o)), v128.load(dy + o), v128.load(dx + o));
        v128.store(dx + o, madd(vc, v128.load(x + o), t));
      }
    }
    for (; i < C; i++) {
      const o = <usize>i << 2;
      store<f32>(dx + o, load<f32>(dx + o) + s * load<f32>(w + o) * load<f32>(dy + o) - c * load<f32>(x + o));
    }
  }
}

// out (N, C) = (inp − mean) · rstd · w + b;  mean, rstd (N)   (GPT-2 LayerNorm, biased variance)
export function layernorm_fwd(out: usize, mean: usize, rstd: usize, inp: usize, w: usize, b: usize,
  N: i32, C: i32, eps: f32): void {
  for (let r = 0; r < N; r++) {
    const x = inp + (<usize>r * <usize>C << 2);
    const y = out + (<usize>r * <usize>C << 2);
    const m: f32 = sumRow(x, C) / <f32>C;
    const s: f32 = 1.0 / Mathf.sqrt(sqdevRow(x, m, C) / <f32>C + eps);
    if (mean) store<f32>(mean + (<usize>r << 2), m);
    if (rstd) store<f32>(rstd + (<usize>r << 2), s);
    let i = 0;
    if (ASC_FEATURE_SIMD) {
      const vm = f32x4.splat(m), vs = f32x4.splat(s);
      for (; i + 4 <= C; i += 4) {
        const o = <usize>i << 2;
        const nx = f32x4.mul(f32x4.sub(v128.load(x + o), vm), vs);
        v128.store(y + o, madd(nx, v128.load(w + o), v128.load(b + o)));
      }
    }
    for (; i < C; i++) {
      const o = <usize>i << 2;
      store<f32>(y + o, (load<f32>(x + o) - m) * s * load<f32>(w + o) + load<f32>(b + o));
    }
  }
}

// dinp (N, C) += ∂/∂inp of layernorm given dout (N, C):
//   dn = dy·w, nx = (x − m)·s;  dx = s · (dn − mean(dn) − nx · mean(dn·nx))
export function layernorm_bwd(dinp: usize, dout: usize, inp: usize, w: usize, mean: usize, rstd: usize,
  N: i32, C: i32): void {
  for (let r = 0; r < N; r++) {
    const x = inp + (<usize>r * <usize>C << 2);
    const dy = dout + (<usize>r * <usize>C << 2);
    const dx = dinp + (<usize>r * <usize>C << 2);
    const m = load<f32>(mean + (<usize>r << 2));
    const s = load<f32>(rstd + (<usize>r << 2));
    let dmean: f32 = 0, dnx: f32 = 0;
    let i = 0;
    if (ASC_FEATURE_SIMD) {
      const vm = f32x4.splat(m), vs = f32x4.splat(s);
      let am = f32x4.splat(0), ax = f32x4.splat(0);
      for (; i + 4 <= C; i += 4) {
        const o = <usize>i << 2;
        const dn = f32x4.mul(v128.load(dy + o), v128.load(w + o));
        am = f32x4.add(am, dn);
        ax = madd(dn, f32x4.mul(f32x4.sub(v128.load(x + o), vm), vs), ax);
      }
      dmean = hsum(am);
      dnx = hsum(ax);
    }
    for (; i < C; i++) {
      const o = <usize>i << 2;
      const dn = load<f32>(dy + o) * load<f32>(w + o);
      dmean += dn;
      dnx += dn * (load<f32>(x + o) - m) * s;
    }
    dmean /= <f32>C;
    dnx /= <f32>C;
    i = 0;
    if (ASC_FEATURE_SIMD) {
      const vm = f32x4.splat(m), vs = f32x4.splat(s), vdm = f32x4.splat(dmean), vdx = f32x4.splat(-dnx);
      for (; i + 4 <= C; i += 4) {
        const o = <usize>i << 2;
        const nx = f32x4.mul(f32x4.sub(v128.load(x + o), vm), vs);
        const dn = f32x4.mul(v128.load(dy + o), v128.load(w + o));
        const t = madd(nx, vdx, f32x4.sub(dn, vdm)); // dn − dmean − nx·dnx
        v128.store(dx + o, madd(vs, t, v128.load(dx + o)));
      }
    }
    for (; i < C; i++) {
      const o = <usize>i << 2;
      const nx = (load<f32>(x + o) - m) * s;
      const dn = load<f32>(dy + o) * load<f32>(w + o);
      store<f32>(dx + o, load<f32>(dx + o) + s * (dn - dmean - nx * dnx));
    }
  }
}
