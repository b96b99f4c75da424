// Prefix tuning: learned per-layer keys and values in front of the sequence's own.
import { PromptkilnError } from '../errors.js';
import type { Tensor } from '../kernels/index.js';
import type { Model, Prefix, Transformer } from '../model/index.js';
import { Mlp, type MlpActs, type Param } from '../train/index.js';
import { rng } from '../model/sampling.js';
import { modelIdentity as identity } from './identity.js';
import { embedRows, initTokenIds, normal, peftInitName, type InitSpec } from './init.js';
import { batchSequences, paramOf, type TuningMethod } from './method.js';
import { checkTemplate, type LaidExample } from './mixed.js';
import type { PrefixArtifact, TemplatePart } from './types.js';

// Prefix tuning (Li & Liang 2021): P learned keys and values in front of every layer's own,
// shared by all sequences. Conventions (PEFT past_key_values, `hf_peft` in ../shared/refs):
// prefix keys get no RoPE; sequence token t sits at position P + t. Keys are kept in the
// checkpoint's internal head layout (llama2.c: interleaved RoPE pairs); peft.ts converts to the
// HF layout on the way out and back on the way in. GQA: P × kv_heads × head_dim per layer.
//
// Optional reparameterization (PEFT prefix_projection): E (P, C) → tanh(E·W1ᵀ + b1) (P, hidden)
// → ·W2ᵀ + b2 (P, layers·2·kv_dim) — train/'s Mlp pair — merged into plain prefixes at the end
// (the saved file holds only the merged K/V, as PEFT's inference mode does).

export interface PrefixOptions {
  P: number;
  init: InitSpec;
  seed: number;
  reparameterize?: { hidden: number } | null;
}

export class PrefixTuning implements TuningMethod {
  readonly kind = 'prefix';
  readonly params: Param[];
  readonly posOffset: number;
  readonly P: number;
  private readonly kvd: number;
  // all prefixes (L, 2, P, Hkv, hd): layer l keys at [2l], values at [2l+1]
  private readonly pref: Tensor;
  private readonly dpref: Tensor | null; // its gradient when reparameterized (else pref's param grad)
  readonly prefix: Prefix;
  private readonly dprefix: { k: Tensor[]; v: Tensor[] };
  private readonly mlp: { E: Param; net: Mlp; acts: MlpActs } | null;

  constructor(readonly model: Model, readonly template: TemplatePart[], readonly o: PrefixOptions, initial?: { k: Float32Array[]; v: Float32Array[] }) {
    checkTemplate(template);
    if (template.some((p) => 'soft' in p)) throw new PromptkilnError('ARGUMENT', 'prefix tuning: the template may hold text and the input, not soft(n) parts');
    const c = model.config, k = model.kernels;
    const P = o.P;
    if (!Number.isInteger(P) || P <= 0) throw new PromptkilnError('ARGUMENT', `prefix tuning needs a positive number of virtual tokens, got ${P}`);
    this.P = P;
    this.posOffset = P;
    this.kvd = c.nKvHeads * c.headDim;
    const L = c.nLayers, n = P * this.kvd;
    const mk = (t: Tensor) => ({
      k: Array.from({ length: L }, (_, l) => t.at(2 * l * n, n)),
      v: Array.from({ length: L }, (_, l) => t.at((2 * l + 1) * n, n)),
    });
    if (o.reparameterize && !initial) {
      const hidden = o.reparameterize.hidden;
      if (!Number.isInteger(hidden) || hidden <= 0) throw new PromptkilnError('ARGUMENT', `reparameterization hidden size must be a positive integer, got ${hidden}`);
      const C = c.dim, out = L * 2 * this.kvd;
      const u = rng(o.seed ^ 0x3e9);
      // torch.nn.Linear's default init: U(−1/√in, 1/√in)
      const unif = (len: number, fanIn: number) => Float32Array.from({ length: len }, () => (2 * u() - 1) / Math.sqrt(fanIn));
      const ids = initTokenIds(model, P, o.init, o.seed);
      const z = normal(rng(o.seed));
      const E = paramOf(model, 'prefix embedding', ids ? embedRows(model, ids) : Float32Array.from({ length: P * C }, () => z())); // (P, C)
      // W1 (hidden, C), b1 (hidden), W2 (L·2·kvd, hidden), b2 (L·2·kvd), drawn in that order
      const W1 = unif(hidden * C, C), b1 = unif(hidden, C), W2 = unif(out * hidden, hidden), b2 = unif(out, hidden);
      const net = new Mlp(k, 'prefix', { in: C, hidden, out }, 'tanh', { W1, b1, W2, b2 });
      const acts: MlpActs = {
        N: P, x: E.value,
        a: k.alloc(P * hidden, 'prefix mlp a', false), // (P, hidden) pre-activation
        h: k.alloc(P * hidden, 'prefix mlp h', false), // (P, hidden) tanh
        y: k.alloc(P * out, 'prefix mlp out', false), // (P, L·2·kvd) PEFT row layout
      };
      this.mlp = { E, net, acts };
      this.pref = k.alloc(L * 2 * n, 'prefix');
      this.dpref = k.alloc(L * 2 * n, 'prefix grad');
      this.params = [E, ...net.params];
      this.prefix = { P, ...mk(this.pref) };
      this.dprefix = mk(this.dpref);
      this.materialize();
    } else {
      this.mlp = null;
      const p = paramOf(model, 'prefix', initial ? packPrefix(initial, L, n) : this.initialPrefix());
      this.pref = p.value;
      this.dpref = null;
      this.params = [p];
      this.prefix = { P, ...mk(p.value) };
      this.dprefix = mk(p.grad);
    }
  }

  // PEFT's prefix init is nn.Embedding's N(0, 1). TEXT / SAMPLE_VOCAB (our extension): the K/V a
  // real prompt of those tokens leaves in the cache, so before training the prefix acts exactly
  // like that hard prompt read at positions 0..P-1.
  private initialPrefix(): Float32Array {
    const { model, o } = this;
    const c = model.config, L = c.nLayers, n = o.P * this.kvd;
    const out = new Float32Array(L * 2 * n);
    const ids = initTokenIds(model, o.P, o.init, o.seed);
    if (!ids) {
      const z = normal(rng(o.seed));
      const std = o.init.type === 'random' && o.init.std !== undefined ? o.init.std : 1;
      for (let i = 0; i < out.length; i++) out[i] = std * z();
      return out;
    }
    const cache = model.stack.newCache(o.P);
    try {
      model.run([[{ ids }]], { cache });
      for (let l = 0; l < L; l++) {
        out.set(cache.k[l].f32().subarray(0, n), 2 * l * n);
        out.set(cache.v[l].f32().subarray(0, n), (2 * l + 1) * n);
      }
    } finally {
      model.stack.freeCache(cache);
    }
    return out;
  }

  // Reparameterized: prefix ← MLP(E), scattered from PEFT rows (P, [l][kv][kvd]) into (L, 2, P, kvd).
  private materialize(): void {
    const m = this.mlp;
    if (!m) return;
    const k = this.model.kernels, c = this.model.config;
    const P = this.P, kvd = this.kvd, L = c.nLayers, out = L * 2 * kvd;
    m.net.forward(m.E.value, P, m.acts);
    for (let p = 0; p < P; p++) {
      for (let j = 0; j < 2 * L; j++) k.copy(this.pref.at((j * P + p) * kvd, kvd), m.acts.y.at(p * out + j * kvd, kvd));
    }
  }

  forward(batch: LaidExample[], train: boolean): Transformer {
    this.materialize();
    return this.model.run(batchSequences(this.model, batch, null), { train, prefix: this.prefix, posOffset: this.P });
  }

  backward(st: Transformer, _batch: LaidExample[]): void {
    const m = this.mlp;
    if (!m) {
      st.backward(this.dprefix); // accumulates straight into the prefix param's grad
      return;
    }
    const k = this.model.kernels, c = this.model.config;
    const P = this.P, kvd = this.kvd, L = c.nLayers, out = L * 2 * kvd;
    k.zero(this.dpref!);
    st.backward(this.dprefix);
    k.heap.scope(() => {
      const dout = k.alloc(P * out, 'prefix mlp dout'); // (P, L·2·kvd)
      for (let p = 0; p < P; p++) {
        for (let j = 0; j < 2 * L; j++) k.copy(dout.at(p * out + j * kvd, kvd), this.dpref!.at((j * P + p) * kvd, kvd));
      }
      m.net.backward(m.acts, dout, m.E.grad);
    });
  }

  // Current (merged) prefix: per layer (P, Hkv, hd).
  merged(): { k: Float32Array[]; v: Float32Array[] } {
    this.materialize();
    return { k: this.prefix.k.map((t) => t.f32().slice()), v: this.prefix.v.map((t) => t.f32().slice()) };
  }

  artifact(): PrefixArtifact {
    const { k, v } = this.merged();
    const i = this.o.init;
    return {
      kind: 'prefix', P: this.P, k, v, template: this.template.map((p) => ({ ...p })),
      init: { type: peftInitName(i), text: i.type === 'text' ? i.text : null }, model: identity(this.model),
    };
  }

  snapshot(): Float32Array[] {
    return this.params.map((p) => p.value.f32().slice());
  }
  restore(values: ArrayLike<number>[]): void {
    this.params.forEach((p, i) => p.value.set(values[i]));
    this.materialize();
  }
  free(): void {
    for (const p of this.params) { p.value.free(); p.grad.free(); }
    if (this.mlp) { this.mlp.acts.a.free(); this.mlp.acts.h.free(); this.mlp.acts.y.free(); this.pref.free(); this.dpref!.free(); }
  }
}

// per-layer k/v lists → one (L, 2, P·kvd) buffer
function packPrefix(p: { k: Float32Array[]; v: Float32Array[] }, L: number, n: number): Float32Array {
  if (p.k.length !== L || p.v.length !== L) throw new PromptkilnError('ADAPTER', `prefix has ${p.k.length} layers, the model has ${L}`);
  const out = new Float32Array(L * 2 * n);
  for (let l = 0; l < L; l++) {
    if (p.k[l].length !== n || p.v[l].length !== n) throw new PromptkilnError('ADAPTER', `prefix layer ${l} has ${p.k[l].length} values, expected ${n}`);
    out.set(p.k[l], 2 * l * n);
    out.set(p.v[l], (2 * l + 1) * n);
  }
  return out;
}
