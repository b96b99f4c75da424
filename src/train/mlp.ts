// A two-layer MLP, forward and backward side by side: y = act(x·W1ᵀ + b1)·W2ᵀ + b2. Shared by the
// prefix reparameterization (tanh) and the RL policy (gelu); its weights are trainable params.
import type { Kernels, Tensor } from '../kernels/index.js';
import { paramOf, type Param } from './optim.js';

export interface MlpInit {
  W1: Float32Array; // (hidden, in)
  b1: Float32Array; // (hidden)
  W2: Float32Array; // (out, hidden)
  b2: Float32Array; // (out)
}

// What backward needs from one forward: the input and the activations, (N, ·) each.
export interface MlpActs {
  N: number;
  x: Tensor; // (N, in)
  a: Tensor; // (N, hidden) pre-activation
  h: Tensor; // (N, hidden) act(a)
  y: Tensor; // (N, out)
}

export class Mlp {
  readonly W1: Param;
  readonly b1: Param;
  readonly W2: Param;
  readonly b2: Param;
  readonly params: Param[];

  constructor(private readonly k: Kernels, readonly name: string, readonly dims: { in: number; hidden: number; out: number },
    readonly act: 'tanh' | 'gelu', init: MlpInit) {
    this.W1 = paramOf(k, `${name} W1`, init.W1);
    this.b1 = paramOf(k, `${name} b1`, init.b1);
    this.W2 = paramOf(k, `${name} W2`, init.W2);
    this.b2 = paramOf(k, `${name} b2`, init.b2);
    this.params = [this.W1, this.b1, this.W2, this.b2];
  }

  // x (N, in) → y (N, out); the activations are allocated in the current heap scope unless given.
  forward(x: Tensor, N: number, into?: Omit<MlpActs, 'N' | 'x'>): MlpActs {
    const { k, dims: d } = this;
    const a = into?.a ?? k.alloc(N * d.hidden, `${this.name} a`); // (N, hidden)
    const h = into?.h ?? k.alloc(N * d.hidden, `${this.name} h`); // (N, hidden)
    const y = into?.y ?? k.alloc(N * d.out, `${this.name} y`); // (N, out)
    k.matmul(a, x, this.W1.value, this.b1.value, N, d.in, d.hidden);
    if (this.act === 'tanh') k.tanh(h, a);
    else k.gelu(h, a);
    k.matmul(y, h, this.W2.value, this.b2.value, N, d.hidden, d.out);
    return { N, x, a, h, y };
  }

  // dy (N, out) → accumulates dW1, db1, dW2, db2 and, when given, dx (N, in).
  backward(f: MlpActs, dy: Tensor, dx: Tensor | null): void {
    const { k, dims: d } = this;
    const N = f.N;
    k.heap.scope(() => {
      k.matmulBackwardWeight(this.W2.grad, this.b2.grad, dy, f.h, N, d.hidden, d.out);
      const dh = k.alloc(N * d.hidden, `${this.name} dh`); // (N, hidden)
      k.zero(dh);
      k.matmulBackwardInput(dh, dy, this.W2.value, N, d.hidden, d.out);
      const da = k.alloc(N * d.hidden, `${this.name} da`); // (N, hidden)
      k.zero(da);
      if (this.act === 'tanh') k.tanhBackward(da, f.h, dh); // from the output
      else k.geluBackward(da, f.a, dh); // from the pre-activation
      k.matmulBackwardWeight(this.W1.grad, this.b1.grad, da, f.x, N, d.in, d.hidden);
      if (dx) k.matmulBackwardInput(dx, da, this.W1.value, N, d.in, d.hidden);
    });
  }

  free(): void {
    for (const p of this.params) { p.value.free(); p.grad.free(); }
  }
}
