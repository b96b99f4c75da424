// Pointwise nonlinearities over n elements; backward accumulates into the input gradient.

const GELU_C: f32 = 0.7978845608028654; // sqrt(2/pi)

// out (n) = 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³)))   (GPT-2 "gelu_new")
export function gelu_fwd(out: usize, inp: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(inp + o);
    const u = GELU_C * (x + 0.044715 * x * x * x);
    store<f32>(out + o, 0.5 * x * (1.0 + tanhf(u)));
  }
}

// dinp (n) += gelu'(inp) · dout
export function gelu_bwd(dinp: usize, inp: usize, dout: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(inp + o);
    const u = GELU_C * (x + 0.044715 * x * x * x);
    const t = tanhf(u);
    const sech2: f32 = 1.0 - t * t;
    const g: f32 = 0.5 * (1.0 + t) + 0.5 * x * sech2 * GELU_C * (1.0 + 3.0 * 0.044715 * x * x);
    store<f32>(dinp + o, load<f32>(dinp + o) + g * load<f32>(dout + o));
  }
}

// out (n) = x·σ(x)
export function silu_fwd(out: usize, inp: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(inp + o);
    store<f32>(out + o, x / (1.0 + Mathf.exp(-x)));
  }
}

// dinp (n) += silu'(inp) · dout
export function silu_bwd(dinp: usize, inp: usize, dout: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(inp + o);
    const s: f32 = 1.0 / (1.0 + Mathf.exp(-x));
    store<f32>(dinp + o, load<f32>(dinp + o) + load<f32>(dout + o) * s * (1.0 + x * (1.0 - s)));
  }
}

// out (n) = silu(a) · b   (Llama SwiGLU: a = w1·x, b = w3·x)
export function swiglu_fwd(out: usize, a: usize, b: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(a + o);
    store<f32>(out + o, x / (1.0 + Mathf.exp(-x)) * load<f32>(b + o));
  }
}

// da (n) += ∂/∂a, db (n) += ∂/∂b of swiglu given dout (n)
export function swiglu_bwd(da: usize, db: usize, dout: usize, a: usize, b: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(a + o);
    const s: f32 = 1.0 / (1.0 + Mathf.exp(-x));
    const g = load<f32>(dout + o);
    store<f32>(da + o, load<f32>(da + o) + g * load<f32>(b + o) * s * (1.0 + x * (1.0 - s)));
    store<f32>(db + o, load<f32>(db + o) + g * x * s);
  }
}

// out (n) = tanh(x)  (prefix reparameterization MLP, RL policy adaptor)
export function tanh_fwd(out: usize, inp: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, tanhf(load<f32>(inp + o)));
  }
}

// dinp (n) += (1 − out²) · dout, from the saved forward output
export function tanh_bwd(dinp: usize, out: usize, dout: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const y = load<f32>(out + o);
    store<f32>(dinp + o, load<f32>(dinp + o) + (1.0 - y * y) * load<f32>(dout + o));
  }
}

// @ts-ignore: decorator
@inline function tanhf(x: f32): f32 {
  // tanh via exp of a negative argument: no overflow for large |x|
  const ax = Mathf.abs(x);
  const e = Mathf.exp(-2.0 * ax);
  const t: f32 = (1.0 - e) / (1.0 + e);
  return x < 0 ? -t : t;
}
