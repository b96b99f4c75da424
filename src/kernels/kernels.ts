// Kernels: typed TypeScript wrappers over the module's exports (shapes checked, offsets passed).
import { PromptkilnError } from '../errors.js';
import type { KernelExports } from './exports.js';
import { Heap, Tensor, type DType } from './memory.js';
import type { BuildName } from './module.js';

export type Opt = Tensor | null | undefined;

// A parallel executor for the heavy kernels (see threads.ts); absent means single thread. The
// GEMMs take w in f32 or bf16, as Kernels.matmul does.
export interface Parallel {
  readonly threads: number;
  matmul(out: Tensor, inp: Tensor, w: Tensor, bias: Opt, M: number, K: number, N: number): void;
  matmulBackwardInput(dinp: Tensor, dout: Tensor, w: Tensor, M: number, K: number, N: number): void;
  attention(out: Tensor, att: Tensor, q: Tensor, k: Tensor, v: Tensor, pk: Opt, pv: Opt, mask: Opt,
    B: number, Tq: number, Tk: number, P: number, H: number, Hkv: number, hd: number): void;
  attentionBackward(dq: Opt, dk: Opt, dv: Opt, dout: Tensor, att: Tensor, q: Tensor, k: Tensor, v: Tensor, pk: Opt, pv: Opt,
    B: number, Tq: number, Tk: number, P: number, H: number, Hkv: number, hd: number): void;
}

function need(t: Opt, count: number, name: string, kernel: string, dtypes: readonly DType[] = F32): number {
  if (!t) {
    if (count === 0) return 0;
    throw new PromptkilnError('SHAPE', `${kernel}: ${name} is required (${count} elements)`);
  }
  if (!dtypes.includes(t.dtype)) {
    throw new PromptkilnError('SHAPE', `${kernel}: ${name} holds ${t.dtype} elements, this kernel takes ${dtypes.join(' or ')}`);
  }
  if (t.n < count) {
    throw new PromptkilnError('SHAPE', `${kernel}: ${name} holds ${t.n} elements, the shape needs ${count}`);
  }
  return t.ptr;
}
const F32: readonly DType[] = ['f32'];
// a frozen layer's weight: f32, or bf16 widened in registers by the *_bf16 GEMMs (f16 checkpoint
// weights are converted first: f16ToBf16 or f16ToF32)
const WEIGHT: readonly DType[] = ['f32', 'bf16'];
const BF16: readonly DType[] = ['bf16'];
const F16: readonly DType[] = ['f16'];

function dims(kernel: string, d: Record<string, number>): void {
  for (const [k, v] of Object.entries(d)) {
    if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) {
      throw new PromptkilnError('SHAPE', `${kernel}: ${k} must be a non-negative integer, got ${v}`);
    }
  }
}
// Smallest calls the thread pool takes; smaller ones stay on the calling thread. Handing a job to a
// spinning worker costs ~0.6 µs (measured: a 1x4x8 GEMM through the pool), but a worker idle for
// more than its spin time (200 µs, threads.ts) sleeps, and waking it costs tens of µs. A GEMM of
// 2¹⁸ multiply-adds runs ~10 µs on one core at ~55 GFLOP/s: the smallest job whose other half is
// worth a wake-up. Attention's unit is one q·k (or p·v) multiply-add of B·H·Tq·(P+Tk)·hd; each
// costs several GEMM multiply-adds (exp, softmax, short rows: 2¹⁵ with 16-wide heads took 17 µs
// here), so 2¹⁶ is again tens of µs of work.
const PARALLEL_GEMM_MACS = 1 << 18;
const PARALLEL_ATTENTION_MACS = 1 << 16;

// the ABI's null pointer for an absent optional tensor
export const ptr = (t: Opt) => (t ? t.ptr : 0);

// The checked TypeScript face of the kernel module. Kernels themselves trust their arguments (it
// is an ABI); every method here validates sizes against the tensors it is given, so a wrong shape
// is a PromptkilnError('SHAPE') and never an out-of-bounds write.
export class Kernels {
  readonly heap: Heap;
  parallel: Parallel | null = null;

  constructor(readonly raw: KernelExports, readonly build: BuildName, maxMemoryBytes?: number) {
    this.heap = new Heap(raw.memory, raw.heap_base(), maxMemoryBytes);
  }

  private scratch: Tensor | null = null;
  // One W block for the *_packed GEMMs (dX, and the bf16 forward), allocated on first use and kept (192 KiB).
  gemmScratch(): Tensor {
    this.scratch ??= this.heap.alloc(this.raw.dx_scratch_floats(), 'GEMM packing scratch', false);
    return this.scratch;
  }

  alloc(n: number, what?: string, scoped = true, dtype: DType = 'f32'): Tensor {
    return this.heap.alloc(n, what, scoped, dtype);
  }
  from(data: ArrayLike<number>, what?: string): Tensor {
    return this.heap.allocFrom(data, what);
  }
  ids(data: ArrayLike<number>, what?: string): Tensor {
    return this.heap.allocI32(data, what);
  }
  // a 16-bit tensor holding these raw bits (bf16 or f16, e.g. straight from a safetensors file)
  from16(bits: ArrayLike<number>, dtype: 'bf16' | 'f16', what?: string, scoped = true): Tensor {
    return this.heap.alloc(bits.length, what, scoped, dtype).setU16(bits);
  }

  // dst (n) bf16 = src (n) f32, rounded to nearest even as PyTorch's .to(torch.bfloat16) (NaN → 0x7FC0)
  f32ToBf16(dst: Tensor, src: Tensor, n = src.n): void {
    const k = 'f32ToBf16';
    dims(k, { n });
    this.raw.f32_to_bf16(need(dst, n, 'dst', k, BF16), need(src, n, 'src', k), n);
  }
  // dst (n) f32 = src (n) bf16, exact
  bf16ToF32(dst: Tensor, src: Tensor, n = src.n): void {
    const k = 'bf16ToF32';
    dims(k, { n });
    this.raw.bf16_to_f32(need(dst, n, 'dst', k), need(src, n, 'src', k, BF16), n);
  }
  // dst (n) f32 = src (n) f16, exact (subnormals, ±Inf; NaNs keep their payload, made quiet as PyTorch does)
  f16ToF32(dst: Tensor, src: Tensor, n = src.n): void {
    const k = 'f16ToF32';
    dims(k, { n });
    this.raw.f16_to_f32(need(dst, n, 'dst', k), need(src, n, 'src', k, F16), n);
  }
  // dst (n) bf16 = src (n) f16 through f32, one rounding to nearest even (relative error ≤ 2⁻⁸,
  // PyTorch's .to(torch.bfloat16) on a float16 tensor)
  f16ToBf16(dst: Tensor, src: Tensor, n = src.n): void {
    const k = 'f16ToBf16';
    dims(k, { n });
    this.raw.f16_to_bf16(need(dst, n, 'dst', k, BF16), need(src, n, 'src', k, F16), n);
  }

  zero(x: Tensor, n = x.n): void {
    this.raw.zero(need(x, n, 'x', 'zero'), n);
  }
  copy(dst: Tensor, src: Tensor, n = src.n): void {
    this.raw.copy(need(dst, n, 'dst', 'copy'), need(src, n, 'src', 'copy'), n);
  }
  add(out: Tensor, a: Tensor, b: Tensor, n = out.n): void {
    this.raw.add(need(out, n, 'out', 'add'), need(a, n, 'a', 'add'), need(b, n, 'b', 'add'), n);
  }
  scale(x: Tensor, s: number, n = x.n): void {
    this.raw.scale(need(x, n, 'x', 'scale'), n, s);
  }
  axpy(y: Tensor, x: Tensor, a: number, n = y.n): void {
    this.raw.axpy(need(y, n, 'y', 'axpy'), need(x, n, 'x', 'axpy'), n, a);
  }
  sumsq(x: Tensor, n = x.n): number {
    return this.raw.sumsq(need(x, n, 'x', 'sumsq'), n);
  }
  nonfinite(x: Tensor, n = x.n): boolean {
    return this.raw.nonfinite(need(x, n, 'x', 'nonfinite'), n) !== 0;
  }

  // out (M, N) = inp (M, K) · w (N, K)ᵀ + bias (N); w f32 or bf16 (its dtype picks the kernel)
  matmul(out: Tensor, inp: Tensor, w: Tensor, bias: Opt, M: number, K: number, N: number): void {
    const k = 'matmul';
    dims(k, { M, K, N });
    need(out, M * N, 'out', k); need(inp, M * K, 'inp', k); need(w, N * K, 'w', k, WEIGHT); need(bias, bias ? N : 0, 'bias', k);
    if (this.parallel && M * K * N >= PARALLEL_GEMM_MACS) return this.parallel.matmul(out, inp, w, bias, M, K, N);
    if (w.dtype === 'bf16') this.raw.matmul_fwd_bf16_packed(out.ptr, inp.ptr, w.ptr, ptr(bias), M >= 4 ? this.gemmScratch().ptr : 0, M, K, N, 0, N);
    else this.raw.matmul_fwd(out.ptr, inp.ptr, w.ptr, ptr(bias), M, K, N);
  }
  // dinp (M, K) += dout (M, N) · w (N, K); w f32 or bf16
  matmulBackwardInput(dinp: Tensor, dout: Tensor, w: Tensor, M: number, K: number, N: number): void {
    const k = 'matmulBackwardInput';
    dims(k, { M, K, N });
    need(dinp, M * K, 'dinp', k); need(dout, M * N, 'dout', k); need(w, N * K, 'w', k, WEIGHT);
    if (this.parallel && M * K * N >= PARALLEL_GEMM_MACS) return this.parallel.matmulBackwardInput(dinp, dout, w, M, K, N);
    const scratch = M > 1 ? this.gemmScratch().ptr : 0;
    if (w.dtype === 'bf16') this.raw.matmul_bwd_dx_bf16_packed(dinp.ptr, dout.ptr, w.ptr, scratch, M, K, N, 0, K);
    else this.raw.matmul_bwd_dx_packed(dinp.ptr, dout.ptr, w.ptr, scratch, M, K, N, 0, K);
  }
  // dw (N, K) += dout (M, N)ᵀ · inp (M, K); db (N) += Σ_m dout
  matmulBackwardWeight(dw: Tensor, db: Opt, dout: Tensor, inp: Tensor, M: number, K: number, N: number): void {
    const k = 'matmulBackwardWeight';
    dims(k, { M, K, N });
    need(dw, N * K, 'dw', k); need(db, db ? N : 0, 'db', k); need(dout, M * N, 'dout', k); need(inp, M * K, 'inp', k);
    this.raw.matmul_bwd_dw(dw.ptr, ptr(db), dout.ptr, inp.ptr, M, K, N);
  }

  rmsnorm(out: Tensor, rstd: Opt, inp: Tensor, w: Tensor, N: number, C: number, eps: number): void {
    const k = 'rmsnorm';
    dims(k, { N, C });
    need(out, N * C, 'out', k); need(rstd, rstd ? N : 0, 'rstd', k); need(inp, N * C, 'inp', k); need(w, C, 'w', k);
    this.raw.rmsnorm_fwd(out.ptr, ptr(rstd), inp.ptr, w.ptr, N, C, eps);
  }
  rmsnormBackward(dinp: Tensor, dout: Tensor, inp: Tensor, w: Tensor, rstd: Tensor, N: number, C: number): void {
    const k = 'rmsnormBackward';
    dims(k, { N, C });
    need(dinp, N * C, 'dinp', k); need(dout, N * C, 'dout', k); need(inp, N * C, 'inp', k); need(w, C, 'w', k); need(rstd, N, 'rstd', k);
    this.raw.rmsnorm_bwd(dinp.ptr, dout.ptr, inp.ptr, w.ptr, rstd.ptr, N, C);
  }
  layernorm(out: Tensor, mean: Opt, rstd: Opt, inp: Tensor, w: Tensor, b: Tensor, N: number, C: number, eps: number): void {
    const k = 'layernorm';
    dims(k, { N, C });
    need(out, N * C, 'out', k); need(mean, mean ? N : 0, 'mean', k); need(rstd, rstd ? N : 0, 'rstd', k);
    need(inp, N * C, 'inp', k); need(w, C, 'w', k); need(b, C, 'b', k);
    this.raw.layernorm_fwd(out.ptr, ptr(mean), ptr(rstd), inp.ptr, w.ptr, b.ptr, N, C, eps);
  }
  layernormBackward(dinp: Tensor, dout: Tensor, inp: Tensor, w: Tensor, mean: Tensor, rstd: Tensor, N: number, C: number): void {
    const k = 'layernormBackward';
    dims(k, { N, C });
    need(dinp, N * C, 'dinp', k); need(dout, N * C, 'dout', k); need(inp, N * C, 'inp', k); need(w, C, 'w', k);
    need(mean, N, 'mean', k); need(rstd, N, 'rstd', k);
    this.raw.layernorm_bwd(dinp.ptr, dout.ptr, inp.ptr, w.ptr, mean.ptr, rstd.ptr, N, C);
  }

  gelu(out: Tensor, inp: Tensor, n = inp.n): void {
    this.raw.gelu_fwd(need(out, n, 'out', 'gelu'), need(inp, n, 'inp', 'gelu'), n);
  }
  geluBackward(dinp: Tensor, inp: Tensor, dout: Tensor, n = inp.n): void {
    const k = 'geluBackward';
    this.raw.gelu_bwd(need(dinp, n, 'dinp', k), need(inp, n, 'inp', k), need(dout, n, 'dout', k), n);
  }
  silu(out: Tensor, inp: Tensor, n = inp.n): void {
    this.raw.silu_fwd(need(out, n, 'out', 'silu'), need(inp, n, 'inp', 'silu'), n);
  }
  siluBackward(dinp: Tensor, inp: Tensor, dout: Tensor, n = inp.n): void {
    const k = 'siluBackward';
    this.raw.silu_bwd(need(dinp, n, 'dinp', k), need(inp, n, 'inp', k), need(dout, n, 'dout', k), n);
  }
  swiglu(out: Tensor, a: Tensor, b: Tensor, n = a.n): void {
    this.raw.swiglu_fwd(need(out, n, 'out', 'swiglu'), need(a, n, 'a', 'swiglu'), need(b, n, 'b', 'swiglu'), n);
  }
  swigluBackward(da: Tensor, db: Tensor, dout: Tensor, a: Tensor, b: Tensor, n = a.n): void {
    const k = 'swigluBackward';
    this.raw.swiglu_bwd(need(da, n, 'da', k), need(db, n, 'db', k), need(dout, n, 'dout', k), need(a, n, 'a', k), need(b, n, 'b', k), n);
  }
  tanh(out: Tensor, inp: Tensor, n = inp.n): void {
    this.raw.tanh_fwd(need(out, n, 'out', 'tanh'), need(inp, n, 'inp', 'tanh'), n);
  }
  tanhBackward(dinp: Tensor, out: Tensor, dout: Tensor, n = out.n): void {
    const k = 'tanhBackward';
    this.raw.tanh_bwd(need(dinp, n, 'dinp', k), need(out, n, 'out', k), need(dout, n, 'dout', k), n);
  }

  // x (N, nh, hd) rotated in place by the angles of pos (N, i32); cos/sin (maxPos, hd/2)
  rope(x: Tensor, pos: Tensor, cos: Tensor, sin: Tensor, N: number, nh: number, hd: number,
    mode: 'interleaved' | 'half', inverse = false): void {
    const k = 'rope';
    dims(k, { N, nh, hd });
    if (hd % 2) throw new PromptkilnError('SHAPE', `rope: head_dim must be even, got ${hd}`);
    need(x, N * nh * hd, 'x', k); need(pos, N, 'pos', k);
    const maxPos = Math.floor(cos.n / (hd / 2));
    need(sin, maxPos * (hd / 2), 'sin', k);
    const p = pos.i32();
    for (let i = 0; i < N; i++) {
      if (p[i] < 0 || p[i] >= maxPos) {
        throw new PromptkilnError('CONTEXT', `rope: position ${p[i]} outside the table of ${maxPos} positions`);
      }
    }
    this.raw.rope(x.ptr, pos.ptr, cos.ptr, sin.ptr, N, nh, hd, mode === 'interleaved' ? 0 : 1, inverse ? 1 : 0);
  }

  // out (N, C) rows ← table (V, C) rows ids (N, i32); negative ids leave the row alone
  embed(out: Tensor, ids: Tensor, table: Tensor, N: number, C: number, V: number): void {
    const k = 'embed';
    dims(k, { N, C, V });
    need(out, N * C, 'out', k); need(ids, N, 'ids', k); need(table, V * C, 'table', k);
    const a = ids.i32();
    for (let i = 0; i < N; i++) {
      if (a[i] >= V) throw new PromptkilnError('TOKEN', `token id ${a[i]} at row ${i} is outside the vocabulary of ${V}`);
    }
    this.raw.embed_fwd(out.ptr, ids.ptr, table.ptr, N, C);
  }
  // out (N, C) += table[pos] (maxPos, C)
  addPositions(out: Tensor, pos: Tensor, table: Tensor, N: number, C: number): void {
    const k = 'addPositions';
    dims(k, { N, C });
    need(out, N * C, 'out', k); need(pos, N, 'pos', k);
    const maxPos = Math.floor(table.n / C);
    const p = pos.i32();
    for (let i = 0; i < N; i++) {
      if (p[i] < 0 || p[i] >= maxPos) throw new PromptkilnError('CONTEXT', `position ${p[i]} outside the ${maxPos} learned positions`);
    }
    this.raw.add_pos(out.ptr, pos.ptr, table.ptr, N, C);
  }

  attention(out: Tensor, att: Tensor, q: Tensor, kk: Tensor, v: Tensor, pk: Opt, pv: Opt, mask: Opt,
    B: number, Tq: number, Tk: number, P: number, H: number, Hkv: number, hd: number): void {
    const k = 'attention';
    dims(k, { B, Tq, Tk, P, H, Hkv, hd });
    if (Hkv === 0 || H % Hkv) throw new PromptkilnError('SHAPE', `attention: ${H} query heads do not group over ${Hkv} kv heads`);
    if (Tk < Tq) throw new PromptkilnError('SHAPE', `attention: ${Tk} keys for ${Tq} queries (keys include every query)`);
    need(out, B * Tq * H * hd, 'out', k); need(att, B * H * Tq * (P + Tk), 'att', k);
    need(q, B * Tq * H * hd, 'q', k); need(kk, B * Tk * Hkv * hd, 'k', k); need(v, B * Tk * Hkv * hd, 'v', k);
    need(pk, P * Hkv * hd, 'pk', k); need(pv, P * Hkv * hd, 'pv', k); need(mask, mask ? B * Tk : 0, 'mask', k);
    if (this.parallel && B * H > 1 && B * H * Tq * (P + Tk) * hd >= PARALLEL_ATTENTION_MACS) {
      return this.parallel.attention(out, att, q, kk, v, pk, pv, mask, B, Tq, Tk, P, H, Hkv, hd);
    }
    this.raw.attention_fwd(out.ptr, att.ptr, q.ptr, kk.ptr, v.ptr, ptr(pk), ptr(pv), ptr(mask), B, Tq, Tk, P, H, Hkv, hd, 0, B * H);
  }
  attentionBackward(dq: Opt, dk: Opt, dv: Opt, dpk: Opt, dpv: Opt, dout: Tensor, att: Tensor, q: Tensor, kk: Tensor,
    v: Tensor, pk: Opt, pv: Opt, B: number, Tq: number, Tk: number, P: number, H: number, Hkv: number, hd: number): void {
    const k = 'attentionBackward';
    dims(k, { B, Tq, Tk, P, H, Hkv, hd });
    const nq = B * Tq * H * hd, nk = B * Tk * Hkv * hd, np = P * Hkv * hd;
    need(dq, dq ? nq : 0, 'dq', k); need(dk, dk ? nk : 0, 'dk', k); need(dv, dv ? nk : 0, 'dv', k);
    need(dpk, dpk ? np : 0, 'dpk', k); need(dpv, dpv ? np : 0, 'dpv', k);
    need(dout, nq, 'dout', k); need(att, B * H * Tq * (P + Tk), 'att', k); need(q, nq, 'q', k);
    need(kk, nk, 'k', k); need(v, nk, 'v', k); need(pk, np, 'pk', k); need(pv, np, 'pv', k);
    if (this.parallel && B > 1 && !dpk && !dpv) {
      return this.parallel.attentionBackward(dq, dk, dv, dout, att, q, kk, v, pk, pv, B, Tq, Tk, P, H, Hkv, hd);
    }
    this.raw.attention_bwd(ptr(dq), ptr(dk), ptr(dv), ptr(dpk), ptr(dpv), dout.ptr, att.ptr, q.ptr, kk.ptr, v.ptr,
      ptr(pk), ptr(pv), B, Tq, Tk, P, H, Hkv, hd);
  }

  softmax(out: Tensor, inp: Tensor, N: number, V: number): void {
    dims('softmax', { N, V });
    this.raw.softmax(need(out, N * V, 'out', 'softmax'), need(inp, N * V, 'inp', 'softmax'), N, V);
  }
  logSoftmax(out: Tensor, inp: Tensor, N: number, V: number): void {
    dims('logSoftmax', { N, V });
    this.raw.log_softmax(need(out, N * V, 'out', 'logSoftmax'), need(inp, N * V, 'inp', 'logSoftmax'), N, V);
  }
  // logp (N) = log p(targets[r] | row r); negative targets give 0. Returns the sum.
  targetLogprobs(logp: Opt, logits: Tensor, targets: Tensor, N: number, V: number): number {
    const k = 'targetLogprobs';
    dims(k, { N, V });
    need(logp, logp ? N : 0, 'logp', k); need(logits, N * V, 'logits', k); need(targets, N, 'targets', k);
    this.checkTargets(targets, N, V, k);
    return this.raw.target_logprobs(ptr(logp), logits.ptr, targets.ptr, N, V);
  }
  // dlogits (N, V) = scale · (softmax − onehot) on rows with a target
  nllBackward(dlogits: Tensor, logits: Tensor, targets: Tensor, scale: number, N: number, V: number): void {
    const k = 'nllBackward';
    dims(k, { N, V });
    need(dlogits, N * V, 'dlogits', k); need(logits, N * V, 'logits', k); need(targets, N, 'targets', k);
    this.checkTargets(targets, N, V, k);
    this.raw.nll_bwd(dlogits.ptr, logits.ptr, targets.ptr, scale, N, V);
  }
  // kl (N) = KL(exp(tlogp) ‖ softmax(slogits)); returns the sum
  kl(kl: Opt, tlogp: Tensor, slogits: Tensor, N: number, V: number): number {
    const k = 'kl';
    dims(k, { N, V });
    need(kl, kl ? N : 0, 'kl', k); need(tlogp, N * V, 'tlogp', k); need(slogits, N * V, 'slogits', k);
    return this.raw.kl_fwd(ptr(kl), tlogp.ptr, slogits.ptr, N, V);
  }
  klBackward(dslogits: Tensor, tlogp: Tensor, slogits: Tensor, scale: number, N: number, V: number): void {
    const k = 'klBackward';
    dims(k, { N, V });
    need(dslogits, N * V, 'dslogits', k); need(tlogp, N * V, 'tlogp', k); need(slogits, N * V, 'slogits', k);
    this.raw.kl_bwd(dslogits.ptr, tlogp.ptr, slogits.ptr, scale, N, V);
  }
  argmax(x: Tensor, V: number): number {
    dims('argmax', { V });
    // the kernel reads x[0] before comparing: an empty row has no answer
    if (V === 0) throw new PromptkilnError('SHAPE', 'argmax: V must be at least 1, got 0');
    return this.raw.argmax(need(x, V, 'x', 'argmax'), V);
  }

  adamw(p: Tensor, g: Tensor, m: Tensor, v: Tensor, o: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; step: number }, n = p.n): void {
    const k = 'adamw';
    if (!(o.step >= 1)) throw new PromptkilnError('ARGUMENT', `adamw: step must be ≥ 1, got ${o.step}`);
    this.raw.adamw_step(need(p, n, 'p', k), need(g, n, 'g', k), need(m, n, 'm', k), need(v, n, 'v', k), n,
      o.lr, o.beta1, o.beta2, o.eps, o.weightDecay, o.step);
  }
  sgd(p: Tensor, g: Tensor, buf: Opt, o: { lr: number; momentum?: number; weightDecay?: number }, n = p.n): void {
    const k = 'sgd';
    this.raw.sgd_step(need(p, n, 'p', k), need(g, n, 'g', k), need(buf, buf ? n : 0, 'buf', k), n, o.lr, o.momentum ?? 0, o.weightDecay ?? 0);
  }

  private checkTargets(targets: Tensor, N: number, V: number, k: string): void {
    const t = targets.i32();
    for (let i = 0; i < N; i++) {
      if (t[i] >= V) throw new PromptkilnError('TOKEN', `${k}: target id ${t[i]} at row ${i} is outside the vocabulary of ${V}`);
    }
  }
}
