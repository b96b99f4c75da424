// Optimizer steps on a flat parameter vector p (n) with gradient g (n).

// AdamW with PyTorch's bias correction (step t ≥ 1), m and v (n) updated in place:
//   p −= lr·wd·p;  m = β1 m + (1−β1) g;  v = β2 v + (1−β2) g²;
//   p −= (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + eps)
// wd = 0 is torch.optim.Adam.
export function adamw_step(p: usize, g: usize, m: usize, v: usize, n: i32, lr: f32, beta1: f32, beta2: f32,
  eps: f32, wd: f32, t: i32): void {
  const bc1: f32 = 1.0 - Mathf.pow(beta1, <f32>t);
  const bc2s: f32 = Mathf.sqrt(1.0 - Mathf.pow(beta2, <f32>t));
  const stepSize: f32 = lr / bc1;
  const decay: f32 = 1.0 - lr * wd;
  for (let i = 0; i < n; i++) {
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
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    let d = load<f32>(g + o);
    if (buf) {
      d = momentum * load<f32>(buf + o) + d;
      store<f32>(buf + o, d);
    }
    store<f32>(p + o, load<f32>(p + o) * (1.0 - lr * wd) - lr * d);
  }
}
