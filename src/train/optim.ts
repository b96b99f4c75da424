// Optimizers for trainable tensors in WASM memory (soft prompts, prefixes, small MLPs); the loop in
// loop.ts owns one. A frozen model owns none, so they live here rather than in model/.
import { PromptkilnError } from '../errors.js';
import type { Kernels, Tensor } from '../kernels/index.js';

export interface Param {
  name: string;
  value: Tensor; // (n)
  grad: Tensor; // (n), accumulated by backward, zeroed by zeroGrad()
}

export interface AdamWOptions {
  lr: number;
  beta1?: number; // 0.9
  beta2?: number; // 0.999
  eps?: number; // 1e-8
  weightDecay?: number; // 0 (= torch.optim.Adam)
}

export interface SGDOptions {
  lr: number;
  momentum?: number; // 0
  weightDecay?: number; // 0
}

// What the loop asks of an optimizer, and what a checkpoint holds of it: a step count and
// per-parameter state tensors (AdamW: m then v; SGD with momentum: the momentum buffer).
export interface OptimizerState {
  step: number;
  slots: Float32Array[][]; // [slot][param]
}

export interface Optimizer {
  readonly kind: 'adamw' | 'sgd';
  readonly params: Param[];
  step: number;
  zeroGrad(): void;
  gradNorm(): number;
  clip(maxNorm: number): number;
  update(lr?: number): void;
  state(): OptimizerState;
  load(s: OptimizerState): void;
  free(): void;
}

abstract class Base {
  step = 0;
  protected readonly slots: Tensor[][];
  constructor(protected readonly k: Kernels, readonly params: Param[], names: string[]) {
    this.slots = names.map((s) => params.map((p) => {
      const t = k.alloc(p.value.n, `${s} ${p.name}`, false);
      k.zero(t);
      return t;
    }));
  }

  zeroGrad(): void {
    for (const p of this.params) this.k.zero(p.grad);
  }

  // √Σ g² over every parameter
  gradNorm(): number {
    let s = 0;
    for (const p of this.params) s += this.k.sumsq(p.grad);
    return Math.sqrt(s);
  }

  // Scales gradients so their global norm is at most maxNorm (0 = off); returns the norm before.
  clip(maxNorm: number): number {
    const n = this.gradNorm();
    if (maxNorm > 0 && n > maxNorm) for (const p of this.params) this.k.scale(p.grad, maxNorm / (n + 1e-6));
    return n;
  }

  // NaN/Inf gradients are refused before they touch the parameters, so the last good state survives.
  protected checkFinite(): void {
    for (const p of this.params) {
      if (this.k.nonfinite(p.grad)) throw new PromptkilnError('NAN', `gradient of ${p.name} is NaN or Inf at step ${this.step + 1}`);
    }
  }

  state(): OptimizerState {
    return { step: this.step, slots: this.slots.map((s) => s.map((t) => t.f32().slice())) };
  }

  load(s: OptimizerState): void {
    const want = this.params.length;
    if (s.slots.length !== this.slots.length || s.slots.some((x) => x.length !== want)) {
      throw new PromptkilnError('DATA', `optimizer state has ${s.slots.length}×${s.slots[0]?.length ?? 0} tensors, expected ${this.slots.length}×${want}`);
    }
    this.step = s.step;
    s.slots.forEach((x, i) => x.forEach((a, j) => this.slots[i][j].set(a)));
  }

  free(): void {
    for (const t of this.slots.flat()) t.free();
  }
}

export class AdamW extends Base implements Optimizer {
  readonly kind = 'adamw';
  constructor(k: Kernels, params: Param[], readonly o: AdamWOptions) {
    super(k, params, ['adam m', 'adam v']);
  }

  update(lr = this.o.lr): void {
    this.checkFinite();
    this.step++;
    const [m, v] = this.slots;
    this.params.forEach((p, i) => {
      this.k.adamw(p.value, p.grad, m[i], v[i], {
        lr, beta1: this.o.beta1 ?? 0.9, beta2: this.o.beta2 ?? 0.999, eps: this.o.eps ?? 1e-8,
        weightDecay: this.o.weightDecay ?? 0, step: this.step,
      });
    });
  }
}

export class SGD extends Base implements Optimizer {
  readonly kind = 'sgd';
  constructor(k: Kernels, params: Param[], readonly o: SGDOptions) {
    super(k, params, o.momentum ? ['sgd momentum'] : []);
  }

  update(lr = this.o.lr): void {
    this.checkFinite();
    this.step++;
    this.params.forEach((p, i) => {
      this.k.sgd(p.value, p.grad, this.slots[0]?.[i] ?? null, { lr, momentum: this.o.momentum ?? 0, weightDecay: this.o.weightDecay ?? 0 });
    });
  }
}

export type OptimizerSpec =
  | ({ type?: 'adamw' } & Omit<AdamWOptions, 'lr'>)
  | ({ type: 'sgd' } & Omit<SGDOptions, 'lr'>);

export function makeOptimizer(k: Kernels, params: Param[], lr: number, spec: OptimizerSpec = {}): Optimizer {
  if (spec.type === 'sgd') return new SGD(k, params, { ...spec, lr });
  if (spec.type !== undefined && spec.type !== 'adamw') {
    throw new PromptkilnError('ARGUMENT', `optimizer must be "adamw" or "sgd", got "${(spec as { type: string }).type}"`);
  }
  return new AdamW(k, params, { ...spec, lr });
}

// A trainable tensor (value and zeroed grad) initialized from `init`; long-lived (freed by its owner).
export function paramOf(k: Kernels, name: string, init: ArrayLike<number>): Param {
  const value = k.alloc(init.length, name, false).set(init);
  const grad = k.alloc(init.length, `${name} grad`, false);
  k.zero(grad);
  return { name, value, grad };
}
