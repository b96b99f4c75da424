// The raw exports of the kernel module (see wasm/promptkiln.h). Pointers are byte offsets.
type P = number; // byte offset into memory
type I = number; // i32 size
type F = number; // f32 scalar

export interface KernelExports {
  memory: WebAssembly.Memory;
  abi_version(): number;
  heap_base(): number;
  build_kind(): number;
  self_test(): number;
  zero(x: P, n: I): void;
  copy(dst: P, src: P, n: I): void;
  add(out: P, a: P, b: P, n: I): void;
  scale(x: P, n: I, s: F): void;
  axpy(y: P, x: P, n: I, a: F): void;
  sumsq(x: P, n: I): number;
  nonfinite(x: P, n: I): number;
  matmul_fwd(out: P, inp: P, w: P, bias: P, M: I, K: I, N: I): void;
  matmul_bwd_dx(dinp: P, dout: P, w: P, M: I, K: I, N: I): void;
  matmul_bwd_dw(dw: P, db: P, dout: P, inp: P, M: I, K: I, N: I): void;
  // columns [n0, n1) of matmul_fwd / [k0, k1) of matmul_bwd_dx: one thread's share
  matmul_fwd_range(out: P, inp: P, w: P, bias: P, M: I, K: I, N: I, n0: I, n1: I): void;
  matmul_bwd_dx_range(dinp: P, dout: P, w: P, M: I, K: I, N: I, k0: I, k1: I): void;
  matmul_bwd_dx_packed(dinp: P, dout: P, w: P, scratch: P, M: I, K: I, N: I, k0: I, k1: I): void;
  dx_scratch_floats(): number;
  rmsnorm_fwd(out: P, rstd: P, inp: P, w: P, N: I, C: I, eps: F): void;
  rmsnorm_bwd(dinp: P, dout: P, inp: P, w: P, rstd: P, N: I, C: I): void;
  layernorm_fwd(out: P, mean: P, rstd: P, inp: P, w: P, b: P, N: I, C: I, eps: F): void;
  layernorm_bwd(dinp: P, dout: P, inp: P, w: P, mean: P, rstd: P, N: I, C: I): void;
  gelu_fwd(out: P, inp: P, n: I): void;
  gelu_bwd(dinp: P, inp: P, dout: P, n: I): void;
  silu_fwd(out: P, inp: P, n: I): void;
  silu_bwd(dinp: P, inp: P, dout: P, n: I): void;
  swiglu_fwd(out: P, a: P, b: P, n: I): void;
  swiglu_bwd(da: P, db: P, dout: P, a: P, b: P, n: I): void;
  tanh_fwd(out: P, inp: P, n: I): void;
  tanh_bwd(dinp: P, out: P, dout: P, n: I): void;
  rope(x: P, pos: P, cos: P, sin: P, N: I, nh: I, hd: I, mode: I, inverse: I): void;
  embed_fwd(out: P, ids: P, table: P, N: I, C: I): void;
  add_pos(out: P, pos: P, table: P, N: I, C: I): void;
  attention_fwd(out: P, att: P, q: P, k: P, v: P, pk: P, pv: P, mask: P,
    B: I, Tq: I, Tk: I, Pn: I, H: I, Hkv: I, hd: I, bh0: I, bh1: I): void;
  attention_bwd(dq: P, dk: P, dv: P, dpk: P, dpv: P, dout: P, att: P, q: P, k: P, v: P, pk: P, pv: P,
    B: I, Tq: I, Tk: I, Pn: I, H: I, Hkv: I, hd: I): void;
  attention_bwd_range(dq: P, dk: P, dv: P, dpk: P, dpv: P, dout: P, att: P, q: P, k: P, v: P, pk: P, pv: P,
    B: I, Tq: I, Tk: I, Pn: I, H: I, Hkv: I, hd: I, b0: I, b1: I): void;
  logsumexp(x: P, V: I): number;
  softmax(out: P, inp: P, N: I, V: I): void;
  log_softmax(out: P, inp: P, N: I, V: I): void;
  target_logprobs(logp: P, logits: P, targets: P, N: I, V: I): number;
  nll_bwd(dlogits: P, logits: P, targets: P, scale: F, N: I, V: I): void;
  kl_fwd(kl: P, tlogp: P, slogits: P, N: I, V: I): number;
  kl_bwd(dslogits: P, tlogp: P, slogits: P, scale: F, N: I, V: I): void;
  argmax(x: P, V: I): number;
  adamw_step(p: P, g: P, m: P, v: P, n: I, lr: F, beta1: F, beta2: F, eps: F, wd: F, t: I): void;
  sgd_step(p: P, g: P, buf: P, n: I, lr: F, momentum: F, wd: F): void;
}

export const ABI_VERSION = 1;
