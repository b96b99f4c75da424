// Softmax-family kernels over rows of logits: logsumexp, log-softmax, target log-probs, NLL and KL, argmax.
import { vexp, hsum } from './simd';
import { rowmax, scaleRow } from './util';

// Row-wise softmax family over logits (N, V), natural log. The max is subtracted first.

// f32x4 partial sums are folded into an f64 total every FLUSH elements: a 50257-wide row summed
// in one f32 accumulator was off by ~6e-5 relative (measured against f64 in the tests), enough to
// shift a log-likelihood by more than the PyTorch references' tolerance.
const FLUSH = 1024;

// Σ exp(x − m), accumulated in f64; when dst != 0 also writes exp(x − m) (V) there
// @ts-ignore: decorator
@inline function sumexp(dst: usize, x: usize, m: f32, V: i32): f64 {
  let s: f64 = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vm = f32x4.splat(m);
    const V4 = V & ~3;
    while (i < V4) {
      const end = min(i + FLUSH, V4);
      let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
      for (; i + 8 <= end; i += 8) {
        const o = <usize>i << 2;
        const e0 = vexp(f32x4.sub(v128.load(x + o), vm));
        const e1 = vexp(f32x4.sub(v128.load(x + o, 16), vm));
        if (dst) { v128.store(dst + o, e0); v128.store(dst + o, e1, 16); }
        acc0 = f32x4.add(acc0, e0);
        acc1 = f32x4.add(acc1, e1);
      }
      if (i < end) {
        const o = <usize>i << 2;
        const e0 = vexp(f32x4.sub(v128.load(x + o), vm));
        if (dst) v128.store(dst + o, e0);
        acc0 = f32x4.add(acc0, e0);
        i += 4;
      }
      s += <f64>hsum(f32x4.add(acc0, acc1));
    }
  }
  for (; i < V; i++) {
    const e = Mathf.exp(load<f32>(x + (<usize>i << 2)) - m);
    if (dst) store<f32>(dst + (<usize>i << 2), e);
    s += <f64>e;
  }
  return s;
}

// log Σ exp over one row (V)
export function logsumexp(x: usize, V: i32): f32 {
  const m = rowmax(x, V);
  return m + <f32>Math.log(sumexp(0, x, m, V));
}

// out (N, V) = softmax(inp); out may alias inp
export function softmax(out: usize, inp: usize, N: i32, V: i32): void {
  for (let r = 0; r < N; r++) {
    const x = inp + (<usize>r * <usize>V << 2);
    const y = out + (<usize>r * <usize>V << 2);
    const m = rowmax(x, V);
    scaleRow(y, y, <f32>(1.0 / sumexp(y, x, m, V)), V);
  }
}

// out (N, V) = log_softmax(inp); out may alias inp
export function log_softmax(out: usize, inp: usize, N: i32, V: i32): void {
  for (let r = 0; r < N; r++) {
    const x = inp + (<usize>r * <usize>V << 2);
    const y = out + (<usize>r * <usize>V << 2);
    const lse = logsumexp(x, V);
    let i = 0;
    if (ASC_FEATURE_SIMD) {
      const vl = f32x4.splat(lse);
      for (; i + 4 <= V; i += 4) v128.store(y + (<usize>i << 2), f32x4.sub(v128.load(x + (<usize>i << 2)), vl));
    }
    for (; i < V; i++) store<f32>(y + (<usize>i << 2), load<f32>(x + (<usize>i << 2)) - lse);
  }
}

// logp (N) = log_softmax(logits)[r, targets[r]]; targets (N) i32, a negative target gives 0.
// Returns Σ logp: the per-token log-likelihoods of scoring and −(masked NLL sum).
export function target_logprobs(logp: usize, logits: usize, targets: usize, N: i32, V: i32): f32 {
  let total: f64 = 0;
  for (let r = 0; r < N; r++) {
    const t = load<i32>(targets + (<usize>r << 2));
    let lp: f32 = 0;
    if (t >= 0) {
      const x = logits + (<usize>r * <usize>V << 2);
      lp = load<f32>(x + (<usize>t << 2)) - logsumexp(x, V);
      total += <f64>lp;
    }
    if (logp) store<f32>(logp + (<usize>r << 2), lp);
  }
  return <f32>total;
}

// dlogits (N, V) = scale · (softmax(logits) − onehot(target)) for rows with target ≥ 0, else 0.
// The gradient of scale · Σ_r NLL_r. Writes (does not accumulate); may alias logits.
export function nll_bwd(dlogits: usize, logits: usize, targets: usize, scale: f32, N: i32, V: i32): void {
  for (let r = 0; r < N; r++) {
    const t = load<i32>(targets + (<usize>r << 2));
    const x = logits + (<usize>r * <usize>V << 2);
    const d = dlogits + (<usize>r * <usize>V << 2);
    if (t < 0) { memory.fill(d, 0, <usize>V << 2); continue; }
    const m = rowmax(x, V);
    scaleRow(d, d, <f32>(<f64>scale / sumexp(d, x, m, V)), V);
    store<f32>(d + (<usize>t << 2), load<f32>(d + (<usize>t << 2)) - scale);
  }
}

// kl (N) = KL(P ‖ Q) per row, P given as teacher log-probs tlogp (N, V), Q = softmax(slogits (N, V)).
// Returns the sum over rows.
export function kl_fwd(kl: usize, tlogp: usize, slogits: usize, N: i32, V: i32): f32 {
  let total: f64 = 0;
  for (let r = 0; r < N; r++) {
    const tp = tlogp + (<usize>r * <usize>V << 2);
    const s = slogits + (<usize>r * <usize>V << 2);
    const lse = logsumexp(s, V);
    let acc: f64 = 0;
    let i = 0;
    if (ASC_FEATURE_SIMD) {
      const vl = f32x4.splat(lse), ninf = f32x4.splat(-Infinity), zero = f32x4.splat(0);
      const V4 = V & ~3;
      while (i < V4) {
        const end = min(i + FLUSH, V4);
        let a = f32x4.splat(0);
        for (; i < end; i += 4) {
          const o = <usize>i << 2;
          const lp = v128.load(tp + o);
          // p·(log p − log q); a teacher p = 0 (lp = −∞) contributes 0, not 0·∞
          const term = f32x4.mul(vexp(lp), f32x4.sub(lp, f32x4.sub(v128.load(s + o), vl)));
          a = f32x4.add(a, v128.bitselect(zero, term, f32x4.eq(lp, ninf)));
        }
        acc += <f64>hsum(a);
      }
    }
    for (; i < V; i++) {
      const lp = load<f32>(tp + (<usize>i << 2));
      if (lp == -Infinity) continue;
      acc += <f64>(Mathf.exp(lp) * (lp - (load<f32>(s + (<usize>i << 2)) - lse)));
    }
    if (kl) store<f32>(kl + (<usize>r << 2), <f32>acc);
    total += acc;
  }
  return <f32>total;
}

// dslogits (N, V) = scale · (softmax(slogits) − exp(tlogp)): gradient of scale · Σ_r KL_r.
// Writes (does not accumulate); may alias slogits.
export function kl_bwd(dslogits: usize, tlogp: usize, slogits: usize, scale: f32, N: i32, V: i32): void {
  for (let r = 0; r < N; r++) {
    const tp = tlogp + (<usize>r * <usize>V << 2);
    const s = slogits + (<usize>r * <usize>V << 2);
    const d = dslogits + (<usize>r * <usize>V << 2);
    const m = rowmax(s, V);
    const k = <f32>(1.0 / sumexp(d, s, m, V));
    let i = 0;
    if (ASC_FEATURE_SIMD) {
      const vk = f32x4.splat(k), vs = f32x4.splat(scale);
      for (; i + 4 <= V; i += 4) {
        const o = <usize>i << 2;
        v128.store(d + o, f32x4.mul(vs, f32x4.sub(f32x4.mul(v128.load(d + o), vk), vexp(v128.load(tp + o)))));
      }
    }
    for (; i < V; i++) {
      const o = <usize>i << 2;
      store<f32>(d + o, scale * (load<f32>(d + o) * k - Mathf.exp(load<f32>(tp + o))));
    }
  }
}

// index of the largest element of x (V); the first one on ties
export function argmax(x: usize, V: i32): i32 {
  let best = 0;
  let bv = load<f32>(x);
  for (let i = 1; i < V; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    if (v > bv) { bv = v; best = i; }
  }
  return best;
}
