// Activation kernels (GELU, SiLU, tanh, SwiGLU), forward and backward.
import { madd, vexp, vsigmoid, vtanh } from './simd';

// Pointwise nonlinearities over n elements; backward accumulates into the input gradient.
//
// Every sigmoid-shaped curve is written through σ(z) = 1 / (1 + e^{−z}) with e = e^{−z} kept:
//   GELU(tanh) = x·σ(2u), since ½(1 + tanh u) = σ(2u), and 1 − σ = e·σ (no cancellation near σ ≈ 1),
// so one exp per element does both forward and backward, on four lanes in the SIMD builds.
// The scalar loops (portable build, and the n mod 4 tails) use the same formulas with Mathf.exp,
// its argument capped at 88 so e stays finite (e·σ·σ is then 0, never ∞·0).

const GELU_C: f32 = 0.7978845608028654; // sqrt(2/pi)
const GELU_A: f32 = 0.044715;
const EXP_CAP: f32 = 88.0;

// out (n) = 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³)))   (GPT-2 "gelu_new")
export function gelu_fwd(out: usize, inp: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const c2 = f32x4.splat(-2.0 * GELU_C), a = f32x4.splat(GELU_A), one = f32x4.splat(1.0);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const x = v128.load(inp + o);
      // −2u = −2c·x·(1 + a·x²)
      const m2u = f32x4.mul(f32x4.mul(c2, x), madd(a, f32x4.mul(x, x), one));
      v128.store(out + o, f32x4.div(x, f32x4.add(one, vexp(m2u))));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(inp + o);
    const e = Mathf.exp(min<f32>(-2.0 * GELU_C * x * (1.0 + GELU_A * x * x), EXP_CAP));
    store<f32>(out + o, x / (1.0 + e));
  }
}

// dinp (n) += gelu'(inp) · dout;  gelu' = σ + 2c·x·(1 + 3a·x²)·σ(1 − σ),  σ = σ(2u)
export function gelu_bwd(dinp: usize, inp: usize, dout: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const c2 = f32x4.splat(-2.0 * GELU_C), a = f32x4.splat(GELU_A), a3 = f32x4.splat(3.0 * GELU_A);
    const one = f32x4.splat(1.0), c2p = f32x4.splat(2.0 * GELU_C);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const x = v128.load(inp + o);
      const x2 = f32x4.mul(x, x);
      const e = vexp(f32x4.mul(f32x4.mul(c2, x), madd(a, x2, one)));
      const s = f32x4.div(one, f32x4.add(one, e));
      const s1s = f32x4.mul(f32x4.mul(e, s), s); // σ(1 − σ)
      const g = madd(f32x4.mul(f32x4.mul(c2p, x), madd(a3, x2, one)), s1s, s);
      v128.store(dinp + o, madd(g, v128.load(dout + o), v128.load(dinp + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(inp + o);
    const e = Mathf.exp(min<f32>(-2.0 * GELU_C * x * (1.0 + GELU_A * x * x), EXP_CAP));
    const s: f32 = 1.0 / (1.0 + e);
    const g: f32 = s + 2.0 * GELU_C * x * (1.0 + 3.0 * GELU_A * x * x) * (e * s * s);
    store<f32>(dinp + o, load<f32>(dinp + o) + g * load<f32>(dout + o));
  }
}

// out (n) = x·σ(x)
export function silu_fwd(out: usize, inp: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const x = v128.load(inp + o);
      v128.store(out + o, f32x4.mul(x, vsigmoid(x)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(inp + o);
    store<f32>(out + o, x / (1.0 + Mathf.exp(min<f32>(-x, EXP_CAP))));
  }
}

// dinp (n) += silu'(inp) · dout;  silu' = σ·(1 + x·(1 − σ))
export function silu_bwd(dinp: usize, inp: usize, dout: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const one = f32x4.splat(1.0);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const x = v128.load(inp + o);
      const e = vexp(f32x4.neg(x));
      const s = f32x4.div(one, f32x4.add(one, e));
      const g = f32x4.mul(s, madd(x, f32x4.mul(e, s), one));
      v128.store(dinp + o, madd(g, v128.load(dout + o), v128.load(dinp + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(inp + o);
    const e = Mathf.exp(min<f32>(-x, EXP_CAP));
    const s: f32 = 1.0 / (1.0 + e);
    store<f32>(dinp + o, load<f32>(dinp + o) + load<f32>(dout + o) * s * (1.0 + x * (e * s)));
  }
}

// out (n) = silu(a) · b   (Llama SwiGLU: a = w1·x, b = w3·x)
export function swiglu_fwd(out: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const x = v128.load(a + o);
      v128.store(out + o, f32x4.mul(f32x4.mul(x, vsigmoid(x)), v128.load(b + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(a + o);
    store<f32>(out + o, x / (1.0 + Mathf.exp(min<f32>(-x, EXP_CAP))) * load<f32>(b + o));
  }
}

// da (n) += ∂/∂a, db (n) += ∂/∂b of swiglu given dout (n)
export function swiglu_bwd(da: usize, db: usize, dout: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const one = f32x4.splat(1.0);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const x = v128.load(a + o);
      const e = vexp(f32x4.neg(x));
      const s = f32x4.div(one, f32x4.add(one, e));
      const g = v128.load(dout + o);
      const gs = f32x4.mul(g, s);
      // da += g·b·σ(1 + x(1 − σ));  db += g·x·σ
      const dsilu = f32x4.mul(gs, madd(x, f32x4.mul(e, s), one));
      v128.store(da + o, madd(dsilu, v128.load(b + o), v128.load(da + o)));
      v128.store(db + o, madd(gs, x, v128.load(db + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(a + o);
    const e = Mathf.exp(min<f32>(-x, EXP_CAP));
    const s: f32 = 1.0 / (1.0 + e);
    const g = load<f32>(dout + o);
    store<f32>(da + o, load<f32>(da + o) + g * load<f32>(b + o) * s * (1.0 + x * (e * s)));
    store<f32>(db + o, load<f32>(db + o) + g * x * s);
  }
}

// out (n) = tanh(x)  (prefix reparameterization MLP, RL policy adaptor)
export function tanh_fwd(out: usize, inp: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(out + o, vtanh(v128.load(inp + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, tanhf(load<f32>(inp + o)));
  }
}

// dinp (n) += (1 − out²) · dout, from the saved forward output
export function tanh_bwd(dinp: usize, out: usize, dout: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const one = f32x4.splat(1.0);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const y = v128.load(out + o);
      const g = f32x4.mul(f32x4.sub(one, f32x4.mul(y, y)), v128.load(dout + o));
      v128.store(dinp + o, f32x4.add(v128.load(dinp + o), g));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const y = load<f32>(out + o);
    store<f32>(dinp + o, load<f32>(dinp + o) + (1.0 - y * y) * load<f32>(dout + o));
  }
}

// The scalar twin of vtanh: polynomial below 0.625, exp of a negative argument above (no overflow).
// @ts-ignore: decorator
@inline function tanhf(x: f32): f32 {
  const ax = Mathf.abs(x);
  if (ax < 0.625) {
    const z = x * x;
    const p: f32 = (((-5.70498872745e-3 * z + 2.06390887954e-2) * z - 5.37397155531e-2) * z +
      1.33314422036e-1) * z - 3.33332819422e-1;
    return p * z * x + x;
  }
  const e = Mathf.exp(-2.0 * ax);
  const t: f32 = (1.0 - e) / (1.0 + e);
  return x < 0 ? -t : t;
}
