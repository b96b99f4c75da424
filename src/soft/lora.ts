// LoRA (Hu et al. 2021, PEFT LORA) around the frozen projections: y = W·x + (α/r)·B·(A·x), unmerged.
import { PromptkilnError } from '../errors.js';
import type { Tensor } from '../kernels/index.js';
import type { LinearAdapter, ProjSite } from '../model/adapter-hook.js';
import type { Model } from '../model/index.js';
import { rng } from '../model/sampling.js';
import { paramOf, type Param } from '../train/index.js';
import { AdapterBuffers, resolveTargets, type Targeted } from './adapter-modules.js';
import { modelIdentity, type ModelRef } from './identity.js';
import type { ModelIdentity } from './types.js';

// A LoRA adapter as PEFT stores it: per targeted module, A (r, in) and B (out, r) with rows in
// transformers' order (q/k heads rotate-half), under the module's full name.
export interface LoraArtifact {
  kind: 'lora';
  r: number;
  alpha: number;
  targetModules: string[] | string; // as configured (written back as given)
  fanInFanOut: boolean; // GPT-2 Conv1D: only changes how a merge transposes B·A
  dropout: number; // training-time only in PEFT; our training runs without it (recorded, not applied)
  modules: { name: string; A: Float32Array; B: Float32Array }[];
  model: ModelIdentity;
}

// PEFT LoraConfig's defaults
export const LORA_DEFAULTS = { r: 8, alpha: 8 } as const;

export interface LoraOptions {
  r: number;
  alpha: number;
  targetModules: string[] | string;
  seed: number;
  dropout?: number;
}

// PEFT's init: A ~ kaiming_uniform(a = √5) = U(−1/√in, 1/√in), B = 0 (the adapter starts as the identity).
export function initLora(model: ModelRef, o: LoraOptions): LoraArtifact {
  const where = 'LoRA options';
  const r = o.r;
  if (!Number.isInteger(r) || r <= 0) throw new PromptkilnError('ADAPTER', `${where}: rank r must be a positive integer, got ${r}`, { field: 'r' });
  if (!(Number.isFinite(o.alpha) && o.alpha > 0)) throw new PromptkilnError('ADAPTER', `${where}: lora_alpha must be a positive number, got ${o.alpha}`, { field: 'lora_alpha' });
  const targets = resolveTargets(model, o.targetModules, where);
  const u = rng(o.seed);
  const modules = targets.map((t) => {
    checkRank(t, r, where);
    const bound = 1 / Math.sqrt(t.spec.inDim);
    return { name: t.name, A: Float32Array.from({ length: r * t.spec.inDim }, () => (2 * u() - 1) * bound), B: new Float32Array(t.spec.outDim * r) };
  });
  return {
    kind: 'lora', r, alpha: o.alpha, targetModules: o.targetModules, fanInFanOut: model.config.arch === 'gpt2', dropout: o.dropout ?? 0,
    modules, model: modelIdentity(model),
  };
}

// A rank above min(in, out) cannot be reached by B·A and PEFT's r must fit the layer: refused.
export function checkRank(t: Targeted, r: number, where: string): void {
  const lim = Math.min(t.spec.inDim, t.spec.outDim);
  if (r > lim) throw new PromptkilnError('ADAPTER', `${where}: rank r = ${r} exceeds ${t.name} (${t.spec.outDim} × ${t.spec.inDim}: at most ${lim})`, { field: 'r', module: t.name });
}

// Row permutation of one head-structured output (transformers' rotate-half order → this model's):
// llama2.c checkpoints keep RoPE pairs interleaved, so q/k rows of a file are moved on the way in.
export function headRowPerm(model: ModelRef, t: Targeted, part: number): Int32Array | null {
  const c = model.config;
  if (c.arch !== 'llama' || c.ropeMode !== 'interleaved' || t.spec.site !== 'qkv' || t.spec.parts[part].out === 2) return null;
  const hd = c.headDim, half = hd / 2, n = t.spec.parts[part].n;
  const p = new Int32Array(n); // p[file row] = model row
  for (let h = 0; h < n / hd; h++) for (let j = 0; j < half; j++) for (let s = 0; s < 2; s++) p[h * hd + s * half + j] = h * hd + 2 * j + s;
  return p;
}

interface Mod {
  t: Targeted;
  A: Param; // (r, in)
  B: Param; // (out, r), rows in this model's order
  perms: (Int32Array | null)[]; // per part: file row → model row
}

// The hook: after a site's projections, out_j += s·(x·Aᵀ)·B_jᵀ for every module there.
export class LoraAdapter implements LinearAdapter {
  readonly id: string;
  readonly params: Param[];
  readonly scaling: number;
  private readonly sites = new Map<string, Mod[]>();
  private readonly mods: Mod[] = [];
  private readonly buf: AdapterBuffers;
  private N = 0;
  private train = false;

  constructor(readonly model: Model, readonly art: LoraArtifact) {
    const where = `LoRA adapter for ${model.id}`;
    const r = art.r;
    this.scaling = art.alpha / r;
    const byName = new Map(resolveTargets(model, 'all-linear', where).map((t) => [t.name, t]));
    for (const m of art.modules) {
      const t = byName.get(m.name);
      if (!t) throw new PromptkilnError('ADAPTER', `${where}: module ${m.name} is not in ${model.id}`, { module: m.name });
      checkRank(t, r, where);
      const perms = t.spec.parts.map((_, j) => headRowPerm(model, t, j));
      const B = new Float32Array(m.B.length);
      let off = 0;
      t.spec.parts.forEach((p, j) => {
        const perm = perms[j];
        for (let i = 0; i < p.n; i++) B.set(m.B.subarray((off + i) * r, (off + i + 1) * r), (off + (perm ? perm[i] : i)) * r);
        off += p.n;
      });
      const mod: Mod = { t, A: paramOf(model.kernels, `lora ${m.name} A`, m.A), B: paramOf(model.kernels, `lora ${m.name} B`, B), perms };
      this.mods.push(mod);
      const key = `${t.l}:${t.spec.site}`;
      this.sites.set(key, [...(this.sites.get(key) ?? []), mod]);
    }
    this.params = this.mods.flatMap((m) => [m.A, m.B]);
    this.buf = new AdapterBuffers(model.kernels, 'lora');
    this.id = `lora:r${r}:a${art.alpha}:${art.modules.length}:${seq++}`;
  }

  layout(N: number, train: boolean): void {
    this.N = N;
    this.train = train;
  }

  input(_l: number, _site: ProjSite, x: Tensor): Tensor {
    return x;
  }

  // u = x·Aᵀ (N, r) per module; kept per (layer, module) in training with a copy of x (the site's
  // input buffers are reused by the next layer)
  output(l: number, site: ProjSite, x: Tensor, outs: Tensor[]): void {
    const mods = this.sites.get(`${l}:${site}`);
    if (!mods) return;
    const k = this.model.kernels, N = this.N, r = this.art.r;
    const inDim = mods[0].t.spec.inDim;
    if (this.train) k.copy(this.buf.get(`x ${l} ${site}`, N * inDim), x, N * inDim);
    for (const m of mods) {
      const u = this.buf.get(this.train ? `u ${m.t.name}` : 'u', N * r); // (N, r)
      k.matmul(u, x, m.A.value, null, N, inDim, r);
      let off = 0;
      for (const p of m.t.spec.parts) {
        const y = this.buf.get('y', N * p.n); // (N, n) = u·B_jᵀ
        k.matmul(y, u, m.B.value.at(off * r, p.n * r), null, N, r, p.n);
        k.axpy(outs[p.out], y, this.scaling, N * p.n);
        off += p.n;
      }
    }
  }

  // dB_j += (s·dout_j)ᵀ·u; du = Σ_j (s·dout_j)·B_j; dA += duᵀ·x; dx += du·A
  outputBackward(l: number, site: ProjSite, douts: Tensor[], dx: Tensor): Tensor[] {
    const mods = this.sites.get(`${l}:${site}`);
    if (!mods) return douts;
    const k = this.model.kernels, N = this.N, r = this.art.r;
    const inDim = mods[0].t.spec.inDim;
    const x = this.buf.get(`x ${l} ${site}`, N * inDim);
    for (const m of mods) {
      const u = this.buf.get(`u ${m.t.name}`, N * r);
      const du = this.buf.get('du', N * r); // (N, r)
      k.zero(du);
      let off = 0;
      for (const p of m.t.spec.parts) {
        const ds = this.buf.get('ds', N * p.n); // (N, n) s·dout_j
        k.copy(ds, douts[p.out], N * p.n);
        k.scale(ds, this.scaling);
        k.matmulBackwardWeight(m.B.grad.at(off * r, p.n * r), null, ds, u, N, r, p.n);
        k.matmulBackwardInput(du, ds, m.B.value.at(off * r, p.n * r), N, r, p.n);
        off += p.n;
      }
      k.matmulBackwardWeight(m.A.grad, null, du, x, N, inDim, r);
      k.matmulBackwardInput(dx, du, m.A.value, N, inDim, r);
    }
    return douts;
  }

  inputBackward(): void {}

  // The current weights as PEFT stores them (rows back in transformers' order).
  artifact(): LoraArtifact {
    const r = this.art.r;
    const modules = this.mods.map((m) => {
      const B = m.B.value.f32();
      const out = new Float32Array(B.length);
      let off = 0;
      m.t.spec.parts.forEach((p, j) => {
        const perm = m.perms[j];
        for (let i = 0; i < p.n; i++) out.set(B.subarray((off + (perm ? perm[i] : i)) * r, (off + (perm ? perm[i] : i) + 1) * r), (off + i) * r);
        off += p.n;
      });
      return { name: m.t.name, A: m.A.value.f32().slice(), B: out };
    });
    return { ...this.art, modules };
  }

  free(): void {
    for (const p of this.params) { p.value.free(); p.grad.free(); }
    this.buf.free();
  }
}

let seq = 0;
