// The module's ABI: every export here is declared, with its shapes, in wasm/promptkiln.h (from
// which src/kernels/exports.ts is generated; tests/hosts/header.test.ts checks all three agree).
// Pointers are byte offsets into the one exported memory; tensors are f32, row-major.
// Bump ABI_VERSION whenever an export's name, argument list or meaning changes.
import { matmul_fwd } from './gemm';
import { target_logprobs } from './loss';

export const ABI_VERSION: i32 = 1;

export function abi_version(): i32 { return ABI_VERSION; }

// First byte above the module's static data: hosts place their arena from here.
export function heap_base(): usize { return __heap_base; }

// 1 = simd, 2 = relaxed-simd, 0 = portable (scalar)
export function build_kind(): i32 {
  if (ASC_FEATURE_RELAXED_SIMD) return 2;
  if (ASC_FEATURE_SIMD) return 1;
  return 0;
}

export { zero, copy, add, scale, axpy, sumsq, nonfinite } from './util';
export { matmul_fwd, matmul_bwd_dx, matmul_bwd_dw } from './gemm';
export { matmul_fwd_range, matmul_bwd_dx_range, matmul_bwd_dx_packed, dx_scratch_floats } from './gemm';
export { matmul_fwd_bf16, matmul_fwd_bf16_packed, matmul_bwd_dx_bf16, matmul_bwd_dx_bf16_packed } from './gemm';
export { f32_to_bf16, bf16_to_f32, f16_to_f32, f16_to_bf16 } from './bf16';
export { rmsnorm_fwd, rmsnorm_bwd, layernorm_fwd, layernorm_bwd } from './norm';
export { gelu_fwd, gelu_bwd, silu_fwd, silu_bwd, swiglu_fwd, swiglu_bwd, tanh_fwd, tanh_bwd } from './activation';
export { rope } from './rope';
export { embed_fwd, add_pos } from './embed';
export { attention_fwd, attention_bwd, attention_bwd_range } from './attention';
export { logsumexp, softmax, log_softmax, target_logprobs, nll_bwd, kl_fwd, kl_bwd, argmax } from './loss';
export { adamw_step, sgd_step } from './optim';
// architectures beyond Llama / GPT-2: partial rotary (Phi-3), sliding windows (Mistral, Gemma 3), GeGLU (Gemma)
export { rope_partial } from './rope';
export { attention_window_fwd } from './attention';
export { geglu_fwd, geglu_bwd } from './geglu';

// Zero-argument self-test for hosts without a way to pass memory in (wasm-interp): a 3x5·(4x5)ᵀ
// GEMM and a log-likelihood on known values, written at heap_base. Returns 0 on success, else the
// number of the failed check.
export function self_test(): i32 {
  const base = (__heap_base + 15) & ~15;
  const x = base, w = base + 64, y = base + 160, tg = base + 224, lp = base + 240;
  // x (3, 5) = [[1..5], [0.5·(1..5)], [-1, 0, 1, 0, -1]]; w (4, 5) rows e0..e3 + 0.25
  for (let i = 0; i < 5; i++) {
    store<f32>(x + (<usize>i << 2), <f32>(i + 1));
    store<f32>(x + (<usize>(5 + i) << 2), 0.5 * <f32>(i + 1));
  }
  store<f32>(x + 40, -1); store<f32>(x + 44, 0); store<f32>(x + 48, 1); store<f32>(x + 52, 0); store<f32>(x + 56, -1);
  for (let n = 0; n < 4; n++) for (let k = 0; k < 5; k++) {
    store<f32>(w + (<usize>(n * 5 + k) << 2), (n == k ? 1.0 : 0.0) + 0.25);
  }
  matmul_fwd(y, x, w, 0, 3, 5, 4);
  // row 0: x·e_n + 0.25·15 = (n+1) + 3.75
  for (let n = 0; n < 4; n++) {
    if (Mathf.abs(load<f32>(y + (<usize>n << 2)) - (<f32>(n + 1) + 3.75)) > 1e-5) return 1;
  }
  // log-softmax of row 0 = [4.75, 5.75, 6.75, 7.75] at target 3: 7.75 − log Σ e^…
  store<i32>(tg, 3);
  const total = target_logprobs(lp, y, tg, 1, 4);
  const expect: f32 = -0.44018969856; // 3 − ln(e^0 + e^1 + e^2 + e^3)
  if (Mathf.abs(total - expect) > 1e-5) return 2;
  return 0;
}
