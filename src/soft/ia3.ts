// IA3 (Liu et al. 2022, PEFT IA3): learned vectors rescaling the frozen projections, unmerged.
// PEFT's semantics: a module in feedforward_modules scales its INPUT, y = W·(x ⊙ l) (l: (1, in));
// any other target scales its OUTPUT, y = (W·x) ⊙ l (l: (out, 1)), bias included as PEFT does.
import { PromptkilnError } from '../errors.js';
import type { Tensor } from '../kernels/index.js';
import type { LinearAdapter, ProjSite } from '../model/adapter-hook.js';
import type { Model } from '../model/index.js';
import { paramOf, type Param } from '../train/index.js';
import { AdapterBuffers, resolveTargets, type Targeted } from './adapter-modules.js';
import { modelIdentity, type ModelRef } from './identity.js';
import { headRowPerm } from './lora.js';
import type { ModelIdentity } from './types.js';

export interface Ia3Artifact {
  kind: 'ia3';
  targetModules: string[] | string;
  feedforwardModules: string[] | string;
  fanInFanOut: boolean;
  // per targeted module: its vector, (in) when feed-forward else (out) in transformers' row order
  modules: { name: string; feedforward: boolean; l: Float32Array }[];
  model: ModelIdentity;
}

export interface Ia3Options {
  targetModules: string[] | string;
  feedforwardModules: string[] | string;
}

// Which targets scale their input; PEFT requires feedforward_modules ⊆ target_modules. One input
// feeds every output of a site (q/k/v, gate/up), so input scaling must cover the whole site
// (down_proj, o_proj, GPT-2's c_attn / c_fc / c_proj, Phi-3's fused modules); scaling only
// gate_proj's input while up_proj reads the unscaled one is refused.
export function resolveIa3(model: ModelRef, targetModules: unknown, feedforwardModules: unknown, where: string): { t: Targeted; ff: boolean }[] {
  const targets = resolveTargets(model, targetModules, where);
  const ffSet = new Set(feedforwardModules === null || feedforwardModules === undefined ? [] : resolveTargets(model, feedforwardModules, where, 'feedforward_modules').map((t) => t.name));
  for (const n of ffSet) {
    if (!targets.some((t) => t.name === n)) throw new PromptkilnError('ADAPTER', `${where}: feedforward_modules holds ${n}, which target_modules does not (PEFT requires a subset)`, { field: 'feedforward_modules', module: n });
  }
  const out = targets.map((t) => ({ t, ff: ffSet.has(t.name) }));
  for (const { t, ff } of out) {
    const siteOuts = new Set(out.filter((o) => o.t.l === t.l && o.t.spec.site === t.spec.site).flatMap((o) => o.t.spec.parts.map((p) => p.out)));
    const whole = t.spec.site === 'qkv' ? 3 : t.spec.site === 'up' && model.config.arch !== 'gpt2' ? 2 : 1;
    if (ff && (t.spec.parts.length !== whole)) {
      throw new PromptkilnError('ADAPTER', `${where}: IA3 input scaling of ${t.name} alone is not implemented (its input also feeds ${siteOuts.size > 1 ? 'the other' : 'other'} projections of the same site); use it as an output-scaled target`, { field: 'feedforward_modules', module: t.name });
    }
  }
  return out;
}

// PEFT's init_ia3_weights: every vector starts at 1 (the identity).
export function initIa3(model: ModelRef, o: Ia3Options): Ia3Artifact {
  const mods = resolveIa3(model, o.targetModules, o.feedforwardModules, 'IA3 options');
  return {
    kind: 'ia3', targetModules: o.targetModules, feedforwardModules: o.feedforwardModules, fanInFanOut: model.config.arch === 'gpt2',
    modules: mods.map(({ t, ff }) => ({ name: t.name, feedforward: ff, l: new Float32Array(ff ? t.spec.inDim : t.spec.outDim).fill(1) })),
    model: modelIdentity(model),
  };
}

interface Mod { t: Targeted; ff: boolean; v: Param; perms: (Int32Array | null)[] }

export class Ia3Adapter implements LinearAdapter {
  readonly id: string;
  readonly params: Param[];
  private readonly mods: Mod[] = [];
  private readonly sites = new Map<string, Mod[]>();
  private readonly buf: AdapterBuffers;
  private N = 0;
  private train = false;

  constructor(readonly model: Model, readonly art: Ia3Artifact) {
    const where = `IA3 adapter for ${model.id}`;
    const byName = new Map(resolveTargets(model, 'all-linear', where).map((t) => [t.name, t]));
    for (const m of art.modules) {
      const t = byName.get(m.name);
      if (!t) throw new PromptkilnError('ADAPTER', `${where}: module ${m.name} is not in ${model.id}`, { module: m.name });
      const want = m.feedforward ? t.spec.inDim : t.spec.outDim;
      if (m.l.length !== want) throw new PromptkilnError('ADAPTER', `${where}: ${m.name} vector has ${m.l.length} values, expected ${want}`, { module: m.name });
      const perms = m.feedforward ? [] : t.spec.parts.map((_, j) => headRowPerm(model, t, j));
      const v = new Float32Array(want);
      if (m.feedforward) v.set(m.l);
      else permuteInto(v, m.l, t, perms, false);
      const mod: Mod = { t, ff: m.feedforward, v: paramOf(model.kernels, `ia3 ${m.name}`, v), perms };
      this.mods.push(mod);
      const key = `${t.l}:${t.spec.site}`;
      this.sites.set(key, [...(this.sites.get(key) ?? []), mod]);
    }
    this.params = this.mods.map((m) => m.v);
    this.buf = new AdapterBuffers(model.kernels, 'ia3');
    this.id = `ia3:${art.modules.length}:${seq++}`;
  }

  layout(N: number, train: boolean): void {
    this.N = N;
    this.train = train;
  }

  // feed-forward: x' = x ⊙ l, each row (resolveIa3 guarantees one such module covers the site)
  input(l: number, site: ProjSite, x: Tensor): Tensor {
    const m = this.sites.get(`${l}:${site}`)?.find((m) => m.ff);
    if (!m) return x;
    const N = this.N, d = m.t.spec.inDim;
    if (this.train) this.model.kernels.copy(this.buf.get(`x ${l} ${site}`, N * d), x, N * d);
    const xs = this.buf.get(this.train ? `xs ${l} ${site}` : 'xs', N * d);
    const xv = x.f32(), ov = xs.f32(), lv = m.v.value.f32();
    for (let i = 0; i < N; i++) for (let j = 0; j < d; j++) ov[i * d + j] = xv[i * d + j] * lv[j];
    return xs;
  }

  // output-scaled targets: out_j ⊙= l_j, the unscaled output kept for dl in training
  output(l: number, site: ProjSite, _x: Tensor, outs: Tensor[]): void {
    for (const m of this.sites.get(`${l}:${site}`) ?? []) {
      if (m.ff) continue;
      let off = 0;
      for (const p of m.t.spec.parts) {
        const o = outs[p.out];
        if (this.train) this.model.kernels.copy(this.buf.get(`y ${m.t.name} ${p.out}`, this.N * p.n), o, this.N * p.n);
        scaleRows(o.f32(), m.v.value.f32().subarray(off, off + p.n), this.N, p.n);
        off += p.n;
      }
    }
  }

  // dl_j += Σ_rows dout_j ⊙ y_j; the projection backpropagates dout_j ⊙ l_j (a copy: douts may be
  // the residual gradient itself)
  outputBackward(l: number, site: ProjSite, douts: Tensor[], _dx: Tensor): Tensor[] {
    const mods = this.sites.get(`${l}:${site}`)?.filter((m) => !m.ff);
    if (!mods?.length) return douts;
    const out = douts.slice();
    const N = this.N;
    for (const m of mods) {
      let off = 0;
      for (const p of m.t.spec.parts) {
        const ds = this.buf.get(`dy ${p.out}`, N * p.n);
        this.model.kernels.copy(ds, douts[p.out], N * p.n);
        const y = this.buf.get(`y ${m.t.name} ${p.out}`, N * p.n).f32();
        const g = m.v.grad.f32().subarray(off, off + p.n), dv = ds.f32();
        colDot(g, dv, y, N, p.n);
        scaleRows(dv, m.v.value.f32().subarray(off, off + p.n), N, p.n);
        out[p.out] = ds;
        off += p.n;
      }
    }
    return out;
  }

  // feed-forward: dl += Σ_rows dx' ⊙ x; dx = dx' ⊙ l
  inputBackward(l: number, site: ProjSite, dx: Tensor): void {
    const m = this.sites.get(`${l}:${site}`)?.find((m) => m.ff);
    if (!m) return;
    const N = this.N, d = m.t.spec.inDim;
    const x = this.buf.get(`x ${l} ${site}`, N * d).f32(), dv = dx.f32();
    colDot(m.v.grad.f32(), dv, x, N, d);
    scaleRows(dv, m.v.value.f32(), N, d);
  }

  artifact(): Ia3Artifact {
    const modules = this.mods.map((m) => {
      const v = m.v.value.f32();
      const l = new Float32Array(v.length);
      if (m.ff) l.set(v);
      else permuteInto(l, v, m.t, m.perms, true);
      return { name: m.t.name, feedforward: m.ff, l };
    });
    return { ...this.art, modules };
  }

  free(): void {
    for (const p of this.params) { p.value.free(); p.grad.free(); }
    this.buf.free();
  }
}

// x (N, d) ⊙= l (d), row by row
function scaleRows(x: Float32Array, l: Float32Array, N: number, d: number): void {
  for (let i = 0; i < N; i++) for (let j = 0; j < d; j++) x[i * d + j] *= l[j];
}

// g (d) += Σ_i a[i, :] ⊙ b[i, :] (f64 sums, one f32 rounding per element)
function colDot(g: Float32Array, a: Float32Array, b: Float32Array, N: number, d: number): void {
  for (let j = 0; j < d; j++) {
    let s = 0;
    for (let i = 0; i < N; i++) s += a[i * d + j] * b[i * d + j];
    g[j] += s;
  }
}

// output-vector rows between the file's order and this model's (headRowPerm), per part
function permuteInto(dst: Float32Array, src: Float32Array, t: Targeted, perms: (Int32Array | null)[], toFile: boolean): void {
  let off = 0;
  t.spec.parts.forEach((p, j) => {
    const perm = perms[j];
    for (let i = 0; i < p.n; i++) {
      const m = off + (perm ? perm[i] : i), f = off + i;
      if (toFile) dst[f] = src[m];
      else dst[m] = src[f];
    }
    off += p.n;
  });
}

let seq = 0;
