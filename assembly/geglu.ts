// GeGLU activation kernels (Gemma's gated MLP), forward and backward.
import { madd, vexp } from './simd';

// GeGLU: the gated MLP activation of Gemma (gelu_pytorch_tanh on the gate), as swiglu is SiLU's.
// GELU(tanh) is written as x·σ(2u), u = √(2/π)(x + 0.044715x³), with e = e^{−2u} kept, as in
// activation.ts: one exp per element serves forward and backward.

const GELU_C: f32 = 0.7978845608028654; // sqrt(2/pi)
const GELU_A: f32 = 0.044715;
const EXP_CAP: f32 = 88.0;

// out (n) = gelu_tanh(a) · b
export function geglu_fwd(out: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const c2 = f32x4.splat(-2.0 * GELU_C), ca = f32x4.splat(GELU_A), one = f32x4.splat(1.0);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const x = v128.load(a + o);
      const m2u = f32x4.mul(f32x4.mul(c2, x), madd(ca, f32x4.mul(x, x), one));
      v128.store(out + o, f32x4.mul(f32x4.div(x, f32x4.add(one, vexp(m2u))), v128.load(b + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(a + o);
    const e = Mathf.exp(min<f32>(-2.0 * GELU_C * x * (1.0 + GELU_A * x * x), EXP_CAP));
    store<f32>(out + o, x / (1.0 + e) * load<f32>(b + o));
  }
}

// da (n) += ∂/∂a, db (n) += ∂/∂b of geglu given dout (n):
//   db += g·gelu(a);  da += g·b·gelu'(a),  gelu' = σ + 2c·x·(1 + 3a·x²)·σ·e·σ,  σ = σ(2u)
export function geglu_bwd(da: usize, db: usize, dout: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const c2 = f32x4.splat(-2.0 * GELU_C), twoC = f32x4.splat(2.0 * GELU_C), ca = f32x4.splat(GELU_A);
    const a3 = f32x4.splat(3.0 * GELU_A), one = f32x4.splat(1.0);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const x = v128.load(a + o);
      const x2 = f32x4.mul(x, x);
      const e = vexp(f32x4.mul(f32x4.mul(c2, x), madd(ca, x2, one)));
      const s = f32x4.div(one, f32x4.add(one, e));
      const g = v128.load(dout + o);
      const dgelu = madd(f32x4.mul(f32x4.mul(twoC, x), madd(a3, x2, one)), f32x4.mul(f32x4.mul(s, e), s), s);
      v128.store(db + o, madd(g, f32x4.mul(x, s), v128.load(db + o)));
      v128.store(da + o, madd(f32x4.mul(g, v128.load(b + o)), dgelu, v128.load(da + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(a + o);
    const e = Mathf.exp(min<f32>(-2.0 * GELU_C * x * (1.0 + GELU_A * x * x), EXP_CAP));
    const s: f32 = 1.0 / (1.0 + e);
    const g = load<f32>(dout + o);
    const dgelu = s + 2.0 * GELU_C * x * (1.0 + 3.0 * GELU_A * x * x) * s * e * s;
    store<f32>(db + o, load<f32>(db + o) + g * x * s);
    store<f32>(da + o, load<f32>(da + o) + g * load<f32>(b + o) * dgelu);
  }
}
