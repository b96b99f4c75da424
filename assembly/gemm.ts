import { madd, hsum } from './simd';

// Linear layers. Weights are kept in one internal layout, W (N, K) row-major ("out, in"),
// the PyTorch nn.Linear layout; GPT-2's Conv1D (in, out) is transposed once at load.
// Backward kernels accumulate into their outputs (llm.c convention): callers zero first.

// out (M, N) = inp (M, K) · w (N, K)ᵀ + bias (N); bias == 0 means no bias.
export function matmul_fwd(out: usize, inp: usize, w: usize, bias: usize, M: i32, K: i32, N: i32): void {
  const K4 = K & ~3;
  const rowIn = <usize>K << 2;
  for (let m = 0; m < M; m++) {
    const x = inp + <usize>m * rowIn;
    const y = out + (<usize>m * <usize>N << 2);
    for (let n = 0; n < N; n++) {
      const wr = w + <usize>n * rowIn;
      let s: f32 = 0;
      let k = 0;
      if (ASC_FEATURE_SIMD) {
        let acc = f32x4.splat(0);
        for (; k < K4; k += 4) {
          const o = <usize>k << 2;
          acc = madd(v128.load(x + o), v128.load(wr + o), acc);
        }
        s = hsum(acc);
      }
      for (; k < K; k++) s += load<f32>(x + (<usize>k << 2)) * load<f32>(wr + (<usize>k << 2));
      if (bias) s += load<f32>(bias + (<usize>n << 2));
      store<f32>(y + (<usize>n << 2), s);
    }
  }
}

// dinp (M, K) += dout (M, N) · w (N, K). The input gradient of a frozen layer.
export function matmul_bwd_dx(dinp: usize, dout: usize, w: usize, M: i32, K: i32, N: i32): void {
  const K4 = K & ~3;
  for (let m = 0; m < M; m++) {
    const dx = dinp + (<usize>m * <usize>K << 2);
    const dy = dout + (<usize>m * <usize>N << 2);
    for (let n = 0; n < N; n++) {
      const a = load<f32>(dy + (<usize>n << 2));
      if (a == 0) continue;
      const wr = w + (<usize>n * <usize>K << 2);
      let k = 0;
      if (ASC_FEATURE_SIMD) {
        const va = f32x4.splat(a);
        for (; k < K4; k += 4) {
          const o = <usize>k << 2;
          v128.store(dx + o, madd(va, v128.load(wr + o), v128.load(dx + o)));
        }
      }
      for (; k < K; k++) {
        const o = <usize>k << 2;
        store<f32>(dx + o, load<f32>(dx + o) + a * load<f32>(wr + o));
      }
    }
  }
}

// dw (N, K) += dout (M, N)ᵀ · inp (M, K); db (N) += Σ_m dout (M, N). For trainable MLPs only.
export function matmul_bwd_dw(dw: usize, db: usize, dout: usize, inp: usize, M: i32, K: i32, N: i32): void {
  const K4 = K & ~3;
  for (let m = 0; m < M; m++) {
    const x = inp + (<usize>m * <usize>K << 2);
    const dy = dout + (<usize>m * <usize>N << 2);
    for (let n = 0; n < N; n++) {
      const a = load<f32>(dy + (<usize>n << 2));
      if (db) store<f32>(db + (<usize>n << 2), load<f32>(db + (<usize>n << 2)) + a);
      const wr = dw + (<usize>n * <usize>K << 2);
      let k = 0;
      if (ASC_FEATURE_SIMD) {
        const va = f32x4.splat(a);
        for (; k < K4; k += 4) {
          const o = <usize>k << 2;
          v128.store(wr + o, madd(va, v128.load(x + o), v128.load(wr + o)));
        }
      }
      for (; k < K; k++) {
        const o = <usize>k << 2;
        store<f32>(wr + o, load<f32>(wr + o) + a * load<f32>(x + o));
      }
    }
  }
}
