// Optimizer step kernels (AdamW, SGD) on flat parameter vectors.
import { madd } from './simd';

// Optimizer steps on a flat parameter vector p (n) with gradient g (n).

// AdamW with PyTorch's bias correction (step t ≥ 1), m and v (n) updated in place:
//   p −= lr·wd·p;  m = β1 m + (1−β1) g;  v = β2 v + (1−β2) g²;
//   p −= (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + eps)
// wd = 0 is torch.optim.Adam.
export function adamw_step(p: usize, g: usize, m: usize, v: usize, n: i32, lr: f32, beta1: f32, beta2: f32,
  eps: f32, wd: f32, t: i32): void {
  // bias corrections in f64, as PyTorch computes them (Python floats), then rounded once
  const bc1: f64 = 1.0 - Math.pow(<f64>beta1, <f64>t);
  const bc2s = <f32>Math.sqrt(1.0 - Math.pow(<f64>beta2, <f64>t));
  const stepSize = <f32>(<f64>lr / bc1);
  const decay: f32 = 1.0 - lr * wd;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const b1 = f32x4.splat(beta1), b2 = f32x4.splat(beta2), c1 = f32x4.splat(1.0 - beta1), c2 = f32x4.splat(1.0 - beta2);
    const vdec = f32x4.splat(decay), vstep = f32x4.splat(stepSize), vbc = f32x4.splat(1.0 / bc2s), veps = f32x4.splat(eps);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const gi = v128.load(g + o);
      const mi = madd(b1, v128.load(m + o), f32x4.mul(c1, gi));
      const vi = madd(b2, v128.load(v + o), f32x4.mul(c2, f32x4.mul(gi, gi)));
      v128.store(m + o, mi);
      v128.store(v + o, vi);
      // √v / √(1 − β2^t) as a multiply by the reciprocal: differs from the scalar division by ≤ 1 ulp
      const den = madd(f32x4.sqrt(vi), vbc, veps);
      const pi = f32x4.mul(v128.load(p + o), vdec);
      v128.store(p + o, f32x4.sub(pi, f32x4.div(f32x4.mul(vstep, mi), den)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const gi = load<f32>(g + o);
    const mi = beta1 * load<f32>(m + o) + (1.0 - beta1) * gi;
    const vi = beta2 * load<f32>(v + o) + (1.0 - beta2) * gi * gi;
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
    const pi = load<f32>(p + o) * decay;
    store<f32>(p + o, pi - stepSize * mi / (Mathf.sqrt(vi) / bc2s + eps));
  }
}

// SGD with optional momentum (buf (n), 0 = none) and decoupled weight decay
export function sgd_step(p: usize, g: usize, buf: usize, n: i32, lr: f32, momentum: f32, wd: f32): void {
  const decay: f32 = 1.0 - lr * wd;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vdec = f32x4.splat(decay), vlr = f32x4.splat(lr), vmom = f32x4.splat(momentum);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      let d = v128.load(g + o);
      if (buf) {
        d = madd(vmom, v128.load(buf + o), d);
        v128.store(buf + o, d);
      }
      v128.store(p + o, f32x4.sub(f32x4.mul(v128.load(p + o), vdec), f32x4.mul(vlr, d)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    let d = load<f32>(g + o);
    if (buf) {
      d = momentum * load<f32>(buf + o) + d;
      store<f32>(buf + o, d);
    }
    store<f32>(p + o, load<f32>(p + o) * decay - lr * d);
  }
}
