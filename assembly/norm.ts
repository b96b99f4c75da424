// Normalizations over the last axis of (N, C) rows. The forward saves the per-row statistics
// the backward needs; weights are frozen, so the backward returns input gradients only.

// out (N, C) = inp · rstd · w;  rstd (N) = 1 / sqrt(mean(inp²) + eps)   (Llama RMSNorm)
export function rmsnorm_fwd(out: usize, rstd: usize, inp: usize, w: usize, N: i32, C: i32, eps: f32): void {
  for (let r = 0; r < N; r++) {
    const x = inp + (<usize>r * <usize>C << 2);
    const y = out + (<usize>r * <usize>C << 2);
    let ss: f32 = 0;
    for (let i = 0; i < C; i++) { const v = load<f32>(x + (<usize>i << 2)); ss += v * v; }
    const s: f32 = 1.0 / Mathf.sqrt(ss / <f32>C + eps);
    if (rstd) store<f32>(rstd + (<usize>r << 2), s);
    for (let i = 0; i < C; i++) {
      const o = <usize>i << 2;
      store<f32>(y + o, load<f32>(w + o) * (s * load<f32>(x + o)));
    }
  }
}

// dinp (N, C) += ∂/∂inp of rmsnorm given dout (N, C)
export function rmsnorm_bwd(dinp: usize, dout: usize, inp: usize, w: usize, rstd: usize, N: i32, C: i32): void {
  for (let r = 0; r < N; r++) {
    const x = inp + (<usize>r * <usize>C << 2);
    const dy = dout + (<usize>r * <usize>C << 2);
    const dx = dinp + (<usize>r * <usize>C << 2);
    const s = load<f32>(rstd + (<usize>r << 2));
    let dot: f32 = 0;
    for (let i = 0; i < C; i++) {
      const o = <usize>i << 2;
      dot += load<f32>(dy + o) * load<f32>(w + o) * load<f32>(x + o);
    }
    const c = dot * s * s * s / <f32>C;
    for (let i = 0; i < C; i++) {
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
    let m: f32 = 0;
    for (let i = 0; i < C; i++) m += load<f32>(x + (<usize>i << 2));
    m /= <f32>C;
    let v: f32 = 0;
    for (let i = 0; i < C; i++) { const d = load<f32>(x + (<usize>i << 2)) - m; v += d * d; }
    v /= <f32>C;
    const s: f32 = 1.0 / Mathf.sqrt(v + eps);
    if (mean) store<f32>(mean + (<usize>r << 2), m);
    if (rstd) store<f32>(rstd + (<usize>r << 2), s);
    for (let i = 0; i < C; i++) {
      const o = <usize>i << 2;
      store<f32>(y + o, (load<f32>(x + o) - m) * s * load<f32>(w + o) + load<f32>(b + o));
    }
  }
}

// dinp (N, C) += ∂/∂inp of layernorm given dout (N, C)
export function layernorm_bwd(dinp: usize, dout: usize, inp: usize, w: usize, mean: usize, rstd: usize,
  N: i32, C: i32): void {
  for (let r = 0; r < N; r++) {
    const x = inp + (<usize>r * <usize>C << 2);
    const dy = dout + (<usize>r * <usize>C << 2);
    const dx = dinp + (<usize>r * <usize>C << 2);
    const m = load<f32>(mean + (<usize>r << 2));
    const s = load<f32>(rstd + (<usize>r << 2));
    let dmean: f32 = 0, dnx: f32 = 0;
    for (let i = 0; i < C; i++) {
      const o = <usize>i << 2;
      const dn = load<f32>(dy + o) * load<f32>(w + o);
      dmean += dn;
      dnx += dn * (load<f32>(x + o) - m) * s;
    }
    dmean /= <f32>C;
    dnx /= <f32>C;
    for (let i = 0; i < C; i++) {
      const o = <usize>i << 2;
      const nx = (load<f32>(x + o) - m) * s;
      const dn = load<f32>(dy + o) * load<f32>(w + o);
      store<f32>(dx + o, load<f32>(dx + o) + s * (dn - dmean - nx * dnx));
    }
  }
}
