// One pre-norm transformer block of the prompt encoder (trainable, through the kernels), forward and
// backward side by side: x1 = x + Wo·attn(LN1(x)); y = x1 + MLP(LN2(x1)).
// The attention kernel is causal (keys up to each query), so the encoder lays a task out as
// [description ; N query slots]: every slot sees the whole description and the slots before it,
// which is all the slots need, and the causal kernel's backward is reused as is.
import { PromptkilnError } from '../errors.js';
import type { Kernels, Tensor } from '../kernels/index.js';
import { rng } from '../model/sampling.js';
import { Mlp, paramOf, type MlpActs, type Param } from '../train/index.js';

export interface BlockDims { C: number; H: number; hidden: number }

export const LN_EPS = 1e-5;

// LayerNorm's backward with its own affine grads: dinp += the kernel's dx; w.grad, b.grad +=
// (in JS: the kernel has no dw/db; encoder tensors are small). inp (T, C), mean and rstd (T).
export function layernormBackward(k: Kernels, dinp: Tensor, dout: Tensor, inp: Tensor, w: Param, b: Param, mean: Tensor, rstd: Tensor, T: number, C: number): void {
  k.heap.scope(() => {
    const d = k.alloc(T * C, 'layernorm dx');
    k.zero(d);
    k.layernormBackward(d, dout, inp, w.value, mean, rstd, T, C);
    k.axpy(dinp, d, 1);
  });
  const g = dout.f32(), xv = inp.f32(), mu = mean.f32(), rs = rstd.f32(), dw = w.grad.f32(), db = b.grad.f32();
  for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) {
    const gi = g[t * C + c];
    dw[c] += gi * (xv[t * C + c] - mu[t]) * rs[t];
    db[c] += gi;
  }
}

// What backward needs from one forward, (T, ·) each.
export interface BlockActs {
  T: number;
  x: Tensor; h1: Tensor; mean1: Tensor; rstd1: Tensor; // (T, C), (T), (T)
  q: Tensor; k: Tensor; v: Tensor; att: Tensor; o: Tensor; // (T, C) ×3, (H, T, T), (T, C)
  x1: Tensor; h2: Tensor; mean2: Tensor; rstd2: Tensor; // (T, C), (T, C), (T), (T)
  mlp: MlpActs;
  y: Tensor; // (T, C)
}

// The block's tensors as the encoder's file names and shapes them, in `params` order.
export function blockTensorShapes({ C, hidden: F }: Pick<BlockDims, 'C' | 'hidden'>): [string, number[]][] {
  return [
    ['ln1.weight', [C]], ['ln1.bias', [C]], ['attn.q.weight', [C, C]], ['attn.q.bias', [C]], ['attn.k.weight', [C, C]],
    ['attn.v.weight', [C, C]], ['attn.v.bias', [C]], ['attn.o.weight', [C, C]], ['attn.o.bias', [C]], ['ln2.weight', [C]], ['ln2.bias', [C]],
    ['mlp.fc1.weight', [F, C]], ['mlp.fc1.bias', [F]], ['mlp.fc2.weight', [C, F]], ['mlp.fc2.bias', [C]],
  ];
}

export class EncoderBlock {
  readonly ln1w: Param; readonly ln1b: Param;
  readonly Wq: Param; readonly bq: Param; readonly Wk: Param; readonly Wv: Param; readonly bv: Param;
  readonly Wo: Param; readonly bo: Param;
  readonly ln2w: Param; readonly ln2b: Param;
  readonly mlp: Mlp;
  readonly params: Param[];

  // Weights ~ U(−1/√in, 1/√in), norms at (1, 0), from `seed`.
  constructor(private readonly kk: Kernels, readonly name: string, readonly dims: BlockDims, seed: number) {
    const { C, hidden } = dims;
    if (C % dims.H) throw new PromptkilnError('ARGUMENT', `${name}: width ${C} does not split over ${dims.H} heads`);
    const u = rng(seed);
    const w = (n: number, fan: number) => Float32Array.from({ length: n }, () => (2 * u() - 1) / Math.sqrt(fan));
    const p = (what: string, v: ArrayLike<number>) => paramOf(kk, `${name} ${what}`, v);
    this.ln1w = p('ln1.weight', new Float32Array(C).fill(1)); this.ln1b = p('ln1.bias', new Float32Array(C));
    this.Wq = p('q.weight', w(C * C, C)); this.bq = p('q.bias', new Float32Array(C));
    // no key bias: it adds the same score to every key of a query, which softmax cancels (its gradient is 0)
    this.Wk = p('k.weight', w(C * C, C));
    this.Wv = p('v.weight', w(C * C, C)); this.bv = p('v.bias', new Float32Array(C));
    this.Wo = p('o.weight', w(C * C, C)); this.bo = p('o.bias', new Float32Array(C));
    this.ln2w = p('ln2.weight', new Float32Array(C).fill(1)); this.ln2b = p('ln2.bias', new Float32Array(C));
    this.mlp = new Mlp(kk, `${name} mlp`, { in: C, hidden, out: C }, 'gelu', { W1: w(hidden * C, C), b1: new Float32Array(hidden), W2: w(C * hidden, hidden), b2: new Float32Array(C) });
    this.params = [this.ln1w, this.ln1b, this.Wq, this.bq, this.Wk, this.Wv, this.bv, this.Wo, this.bo, this.ln2w, this.ln2b, ...this.mlp.params];
  }

  // Every param under its tensor name in the encoder's file (`params` order).
  named(): [string, Param][] {
    return blockTensorShapes(this.dims).map(([n], i) => [n, this.params[i]]);
  }

  // x (T, C) → y (T, C); activations in the current heap scope.
  forward(x: Tensor, T: number): BlockActs {
    const { kk: k, dims: { C, H } } = this, hd = C / H;
    const a = (n: number, what: string) => k.alloc(n, `${this.name} ${what}`);
    const h1 = a(T * C, 'h1'), mean1 = a(T, 'mean1'), rstd1 = a(T, 'rstd1');
    k.layernorm(h1, mean1, rstd1, x, this.ln1w.value, this.ln1b.value, T, C, LN_EPS);
    const q = a(T * C, 'q'), kt = a(T * C, 'k'), v = a(T * C, 'v'); // (T, H, hd) each
    k.matmul(q, h1, this.Wq.value, this.bq.value, T, C, C);
    k.matmul(kt, h1, this.Wk.value, null, T, C, C);
    k.matmul(v, h1, this.Wv.value, this.bv.value, T, C, C);
    const att = a(H * T * T, 'att'), o = a(T * C, 'o');
    k.attention(o, att, q, kt, v, null, null, null, 1, T, T, 0, H, H, hd);
    const x1 = a(T * C, 'x1');
    k.matmul(x1, o, this.Wo.value, this.bo.value, T, C, C);
    k.add(x1, x1, x);
    const h2 = a(T * C, 'h2'), mean2 = a(T, 'mean2'), rstd2 = a(T, 'rstd2');
    k.layernorm(h2, mean2, rstd2, x1, this.ln2w.value, this.ln2b.value, T, C, LN_EPS);
    const mlp = this.mlp.forward(h2, T);
    const y = a(T * C, 'y');
    k.add(y, x1, mlp.y);
    return { T, x, h1, mean1, rstd1, q, k: kt, v, att, o, x1, h2, mean2, rstd2, mlp, y };
  }

  // dy (T, C) → accumulates every param's grad and dx (T, C) += d(x).
  backward(f: BlockActs, dy: Tensor, dx: Tensor): void {
    const { kk: k, dims: { C, H } } = this, hd = C / H, T = f.T;
    k.heap.scope(() => {
      const z = (n: number, what: string) => { const t = k.alloc(n, `${this.name} ${what}`); k.zero(t); return t; };
      // y = x1 + mlp(LN2(x1))
      const dx1 = z(T * C, 'dx1');
      k.copy(dx1, dy);
      const dh2 = z(T * C, 'dh2');
      this.mlp.backward(f.mlp, dy, dh2);
      layernormBackward(k, dx1, dh2, f.x1, this.ln2w, this.ln2b, f.mean2, f.rstd2, T, C);
      // x1 = x + Wo·o + bo
      k.axpy(dx, dx1, 1);
      k.matmulBackwardWeight(this.Wo.grad, this.bo.grad, dx1, f.o, T, C, C);
      const dO = z(T * C, 'do');
      k.matmulBackwardInput(dO, dx1, this.Wo.value, T, C, C);
      const dq = z(T * C, 'dq'), dk = z(T * C, 'dk'), dv = z(T * C, 'dv');
      k.attentionBackward(dq, dk, dv, null, null, dO, f.att, f.q, f.k, f.v, null, null, 1, T, T, 0, H, H, hd);
      const dh1 = z(T * C, 'dh1');
      for (const [W, b, d] of [[this.Wq, this.bq, dq], [this.Wk, null, dk], [this.Wv, this.bv, dv]] as const) {
        k.matmulBackwardWeight(W.grad, b?.grad ?? null, d, f.h1, T, C, C);
        k.matmulBackwardInput(dh1, d, W.value, T, C, C);
      }
      layernormBackward(k, dx, dh1, f.x, this.ln1w, this.ln1b, f.mean1, f.rstd1, T, C);
    });
  }

  free(): void {
    for (const p of this.params.slice(0, 11)) { p.value.free(); p.grad.free(); }
    this.mlp.free();
  }
}
