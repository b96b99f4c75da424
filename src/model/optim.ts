import { PromptkilnError } from '../errors.js';
import type { Kernels, Tensor } from '../kernels/index.js';

// Optimizer state for trainable tensors living in WASM memory (soft prompts, prefixes, the small
// MLPs of prefix reparameterization, compression and the RL policy). Shared by soft/, compress/ and
// search/ so every trainer steps, clips and schedules the same way.

export interface AdamWOptions {
  lr: number;
  beta1?: number; // 0.9
  beta2?: number; // 0.999
  eps?: number; // 1e-8
  weightDecay?: number; // 0 (= torch.optim.Adam)
}

export interface Param {
  name: string;
  value: Tensor; // (n)
  grad: Tensor; // (n), accumulated by backward, zeroed by zeroGrad()
}

export class AdamW {
  step = 0;
  private readonly m: Tensor[];
  private readonly v: Tensor[];
  constructor(private readonly k: Kernels, readonly params: Param[], readonly o: AdamWOptions) {
    this.m = params.map((p) => k.alloc(p.value.n, `adam m ${p.name}`));
    this.v = params.map((p) => k.alloc(p.value.n, `adam v ${p.name}`));
    for (const t of [...this.m, ...this.v]) k.zero(t);
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

  // Scales gradients so their global norm is at most maxNorm; returns the norm before clipping.
  clip(maxNorm: number): number {
    const n = this.gradNorm();
    if (maxNorm > 0 && n > maxNorm) for (const p of this.params) this.k.scale(p.grad, maxNorm / (n + 1e-6));
    return n;
  }

  // One update at learning rate lr (default o.lr). NaN/Inf gradients are refused before they
  // touch the parameters, so the last good state survives.
  update(lr = this.o.lr): void {
    for (const p of this.params) {
      if (this.k.nonfinite(p.grad)) {
        throw new PromptkilnError('NAN', `gradient of ${p.name} is NaN or Inf at step ${this.step + 1}`);
      }
    }
    this.step++;
    this.params.forEach((p, i) => {
      this.k.adamw(p.value, p.grad, this.m[i], this.v[i], {
        lr, beta1: this.o.beta1 ?? 0.9, beta2: this.o.beta2 ?? 0.999, eps: this.o.eps ?? 1e-8,
        weightDecay: this.o.weightDecay ?? 0, step: this.step,
      });
    });
  }

  // Moments and step, for checkpoints (exact resume).
  state(): { step: number; m: Float32Array[]; v: Float32Array[] } {
    return { step: this.step, m: this.m.map((t) => t.f32().slice()), v: this.v.map((t) => t.f32().slice()) };
  }
  load(s: { step: number; m: ArrayLike<number>[]; v: ArrayLike<number>[] }): void {
    if (s.m.length !== this.m.length || s.v.length !== this.v.length) {
      throw new PromptkilnError('DATA', `optimizer state has ${s.m.length} tensors, expected ${this.m.length}`);
    }
    this.step = s.step;
    s.m.forEach((a, i) => this.m[i].set(a));
    s.v.forEach((a, i) => this.v[i].set(a));
  }

  free(): void {
    for (const t of [...this.m, ...this.v]) t.free();
  }
}

export type Schedule = 'constant' | 'linear' | 'cosine';

// Linear warm-up to the peak, then constant, linear or cosine decay to 0 at totalSteps.
export function learningRate(step: number, o: { lr: number; warmup?: number; totalSteps: number; schedule?: Schedule }): number {
  const w = o.warmup ?? 0;
  if (w > 0 && step < w) return (o.lr * (step + 1)) / w;
  const sched = o.schedule ?? 'constant';
  if (sched === 'constant' || o.totalSteps <= w) return o.lr;
  const t = Math.min(1, (step - w) / Math.max(1, o.totalSteps - w));
  return sched === 'linear' ? o.lr * (1 - t) : o.lr * 0.5 * (1 + Math.cos(Math.PI * t));
}
