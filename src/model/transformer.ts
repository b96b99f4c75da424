// The frozen transformer stack of every family: forward, LM head, and backward to the inputs.
import { PromptkilnError } from '../errors.js';
import type { Kernels, Tensor } from '../kernels/index.js';
import { attentionWindow, geglu, gegluBackward, ropePartial } from '../kernels/layers.js';
import type { ModelConfig } from './types.js';
import { embedRows, type LayerWeights, type Weights } from './weights.js';
import { Activations, HEAD_CHUNK, type LayerActs } from './activations.js';
import type { LinearAdapter, ProjSite } from './adapter-hook.js';

// Per-layer prefix keys/values shared by every sequence of a batch: prefix tuning's learned
// past_key_values, or a prompt's cached K/V reused by many continuations. Keys are used as given
// (no RoPE), in the checkpoint's own head layout.
export interface Prefix {
  P: number;
  k: Tensor[]; // per layer (P, Hkv, hd)
  v: Tensor[]; // per layer (P, Hkv, hd)
}

// Incremental decoding state of one sequence (B = 1).
export interface KVCache {
  k: Tensor[]; // per layer (cap, Hkv·hd)
  v: Tensor[]; // per layer (cap, Hkv·hd)
  len: number; // rows filled
  cap: number;
}

export interface RunSpec {
  B: number;
  T: number; // rows per sequence (right-padded)
  pos: ArrayLike<number>; // (B·T) position of every row
  mask?: ArrayLike<number> | null; // (B·T) 1 = real, 0 = padding; only needed for left padding
  prefix?: Prefix | null;
  cache?: KVCache | null; // B must be 1; the T rows are appended to it
  train?: boolean; // keep activations for backward()
  adapter?: LinearAdapter | null; // LoRA / IA3 around the projections (unmerged), forward and backward
}

export { HEAD_CHUNK };

// RoPE angle tables in WASM, (maxSeqLen, rd/2) each; rd = dims rotated per head (partial rotary: < hd).
export interface RopeTable { cos: Tensor; sin: Tensor; rd: number }
// The full-attention layers' RoPE, and the sliding layers' own when it differs (Gemma 3's local θ).
export interface RopeSet { full: RopeTable; local: RopeTable | null }

// What differs between layers: sliding-window attention and its RoPE.
interface LayerPlan {
  window: number; // keys within this many rows of the query (itself included); 0 = all
  rope: RopeTable | null;
}

// The frozen transformer stack: forward, LM head, and backward to the inputs only (frozen linear
// layers give dX = dY·W; no weight gradients). One code path serves scoring, generation with a KV
// cache, prompt/prefix tuning and compression.
export class Transformer {
  readonly acts: Activations;
  private spec: RunSpec | null = null;
  private trained = false;
  private readonly plan: LayerPlan[];
  // q is multiplied by this after RoPE so the kernels' 1/√hd gives the config's scale
  // (Gemma: query_pre_attn_scalar^-½); 1 for every other family
  private readonly qScale: number;

  constructor(readonly k: Kernels, readonly c: ModelConfig, readonly w: Weights, readonly rope: RopeSet | null) {
    this.acts = new Activations(k, c);
    this.plan = Array.from({ length: c.nLayers }, (_, l) => {
      const sliding = c.layerTypes?.[l] === 'sliding_attention';
      return { window: sliding ? c.slidingWindow ?? 0 : 0, rope: rope ? (sliding && rope.local ? rope.local : rope.full) : null };
    });
    this.qScale = c.queryScale === undefined ? 1 : Math.fround(c.queryScale * Math.sqrt(c.headDim));
  }

  get rows(): number {
    return this.spec ? this.spec.B * this.spec.T : 0;
  }

  // The (B·T, C) input buffer to fill (token embeddings, soft rows) before forward().
  begin(spec: RunSpec): Tensor {
    const { B, T } = spec;
    if (!(B > 0 && T > 0)) throw new PromptkilnError('SHAPE', `forward needs at least one row, got B=${B} T=${T}`);
    if (spec.cache && B !== 1) throw new PromptkilnError('SHAPE', 'a KV cache serves one sequence (B = 1)');
    if (spec.pos.length !== B * T) throw new PromptkilnError('SHAPE', `positions: ${spec.pos.length} given for ${B * T} rows`);
    for (let i = 0; i < spec.pos.length; i++) {
      const p = spec.pos[i];
      if (p < 0 || p >= this.c.maxSeqLen) {
        throw new PromptkilnError('CONTEXT', `position ${p} is beyond the model's context of ${this.c.maxSeqLen} tokens`);
      }
    }
    if (spec.cache && spec.cache.len + T > spec.cache.cap) {
      throw new PromptkilnError('CONTEXT', `the KV cache holds ${spec.cache.cap} rows; ${spec.cache.len} + ${T} do not fit`);
    }
    if (spec.mask && spec.cache) throw new PromptkilnError('SHAPE', 'a padding mask cannot be combined with a KV cache');
    this.spec = spec;
    this.trained = false;
    const Tk = spec.cache ? spec.cache.len + T : T;
    this.acts.layout({ B, T, Tk, P: spec.prefix?.P ?? 0, masked: !!spec.mask, train: !!spec.train });
    spec.adapter?.layout(B * T, !!spec.train);
    const a = this.acts.step;
    a.pos.setI32(spec.pos);
    if (spec.mask) a.mask.set(spec.mask);
    return this.residual(0);
  }

  // Saved activations of layer l (inference: one set reused by every layer).
  private saved(l: number): LayerActs {
    return this.spec!.train ? this.acts.layers[l] : this.acts.layers[0];
  }
  // Residual stream entering layer l (l = nLayers: the output). In inference one buffer is updated
  // in place; in training every layer's input is kept for the norm backward.
  private residual(l: number): Tensor {
    const a = this.acts;
    if (!this.spec!.train) return a.step.res;
    return l < this.c.nLayers ? a.layers[l].res : a.step.resOut;
  }
  private residualMid(l: number): Tensor {
    return this.spec!.train ? this.acts.layers[l].resMid : this.acts.step.res;
  }

  // Last hidden states hf (B·T, C), after the final norm.
  hidden(): Tensor {
    return this.acts.step.hf;
  }

  // Writes token embeddings of ids (B·T; −1 = leave the row as it is) into the input rows.
  embedTokens(ids: Int32Array): void {
    const { c, k } = this;
    const idsT = this.acts.step.ids.setI32(ids);
    const x = this.residual(0);
    embedRows(k, x, idsT, ids, this.w.tokEmbeddings, c.dim, c.vocabSize); // f32 or bf16 table
    // Gemma scales inside its embedding module, so only token rows are scaled: the caller writes
    // soft rows after this (PEFT's soft rows are not scaled)
    if (c.embedScale !== undefined && c.embedScale !== 1) {
      for (let r = 0; r < ids.length; r++) if (ids[r] >= 0) k.scale(x.at(r * c.dim, c.dim), c.embedScale);
    }
  }

  // Adds learned positions (GPT-2) to the input rows, soft rows included, as HF inputs_embeds does.
  addPositions(): void {
    if (this.w.posEmbeddings) this.k.addPositions(this.residual(0), this.acts.step.pos, this.w.posEmbeddings, this.rows, this.c.dim);
  }

  // Runs every layer and the final norm. Returns hf (B·T, C), the last hidden states.
  forward(): Tensor {
    const spec = this.spec;
    if (!spec) throw new Error('Transformer.forward before begin()');
    const { c, k } = this;
    const a = this.acts.step;
    const N = this.rows;
    for (let l = 0; l < c.nLayers; l++) this.layerForward(l);
    const resOut = this.residual(c.nLayers);
    if (c.arch === 'gpt2') {
      k.layernorm(a.hf, a.meanF, a.rstdF, resOut, this.w.finalNorm, this.w.finalNormBias!, N, c.dim, c.normEps);
    } else {
      k.rmsnorm(a.hf, a.rstdF, resOut, this.w.finalNorm, N, c.dim, c.normEps);
    }
    if (spec.cache) spec.cache.len += spec.T;
    if (spec.train) {
      this.trained = true;
      k.zero(this.acts.grads.dhf);
    }
    return a.hf;
  }

  // Block norms: layernorm (gpt2) or RMSNorm; `which` picks the attention (1) or MLP (2) statistics.
  private norm(out: Tensor, s: LayerActs, which: 1 | 2, inp: Tensor, w: Tensor, b: Tensor | null): void {
    const { c, k } = this;
    const N = this.rows;
    const rstd = which === 1 ? s.rstd1 : s.rstd2;
    if (c.arch === 'gpt2') k.layernorm(out, which === 1 ? s.mean1 : s.mean2, rstd, inp, w, b!, N, c.dim, c.normEps);
    else k.rmsnorm(out, rstd, inp, w, N, c.dim, c.normEps);
  }
  private normBackward(dres: Tensor, dln: Tensor, s: LayerActs, which: 1 | 2, inp: Tensor, w: Tensor): void {
    const { c, k } = this;
    const N = this.rows;
    const rstd = which === 1 ? s.rstd1 : s.rstd2;
    if (c.arch === 'gpt2') k.layernormBackward(dres, dln, inp, w, which === 1 ? s.mean1 : s.mean2, rstd, N, c.dim);
    else k.rmsnormBackward(dres, dln, inp, w, rstd, N, c.dim);
  }

  private layerForward(l: number): void {
    const { c, k } = this;
    const spec = this.spec!;
    const lw: LayerWeights = this.w.layers[l];
    const a = this.acts.step, s = this.saved(l);
    const { B, T } = spec;
    const N = B * T, C = c.dim, H = c.nHeads, Hkv = c.nKvHeads, hd = c.headDim, F = c.hiddenDim;
    const qd = H * hd, kvd = Hkv * hd;
    const rin = this.residual(l), rmid = this.residualMid(l), rnext = this.residual(l + 1);

    const plan = this.plan[l];
    const ad = spec.adapter ?? null;

    // attention block
    this.norm(a.ln, s, 1, rin, lw.attnNorm, lw.attnNormBias);
    this.proj(ad, l, 'qkv', a.ln, [lw.qNorm ? s.qRaw : s.q, lw.kNorm ? s.kRaw : s.k, s.v], [lw.wq, lw.wk, lw.wv], [lw.bq, lw.bk, lw.bv], N, C, [qd, kvd, kvd]);
    if (lw.qNorm && lw.kNorm) {
      // per-head RMSNorm: (B·T·H) rows of hd
      k.rmsnorm(s.q, s.rstdQ, s.qRaw, lw.qNorm, N * H, hd, c.normEps);
      k.rmsnorm(s.k, s.rstdK, s.kRaw, lw.kNorm, N * Hkv, hd, c.normEps);
    }
    if (plan.rope) {
      this.rotate(s.q, H, plan.rope, false);
      this.rotate(s.k, Hkv, plan.rope, false);
    }
    if (this.qScale !== 1) k.scale(s.q, this.qScale);
    let keys = s.k, vals = s.v, Tk = T;
    if (spec.cache) {
      const cache = spec.cache;
      keys = cache.k[l].at(0, (cache.len + T) * kvd);
      vals = cache.v[l].at(0, (cache.len + T) * kvd);
      k.copy(keys.at(cache.len * kvd, T * kvd), s.k);
      k.copy(vals.at(cache.len * kvd, T * kvd), s.v);
      Tk = cache.len + T;
    }
    const P = spec.prefix?.P ?? 0;
    const mask = spec.mask ? a.mask : null;
    if (plan.window > 0) {
      attentionWindow(k, a.atty, s.att, s.q, keys, vals, spec.prefix?.k[l], spec.prefix?.v[l], mask, B, T, Tk, P, H, Hkv, hd, plan.window);
    } else {
      k.attention(a.atty, s.att, s.q, keys, vals, spec.prefix?.k[l], spec.prefix?.v[l], mask, B, T, Tk, P, H, Hkv, hd);
    }
    this.proj(ad, l, 'o', a.atty, [lw.postAttnNorm ? s.attnOut : a.proj], [lw.wo], [lw.bo], N, qd, [C]);
    if (lw.postAttnNorm) k.rmsnorm(a.proj, s.rstdPA, s.attnOut, lw.postAttnNorm, N, C, c.normEps);
    k.add(rmid, rin, a.proj);

    // MLP block
    this.norm(a.ln, s, 2, rmid, lw.mlpNorm, lw.mlpNormBias);
    if (c.arch === 'gpt2') {
      this.proj(ad, l, 'up', a.ln, [s.h1], [lw.w1], [lw.b1], N, C, [F]);
      k.gelu(a.act, s.h1);
    } else {
      this.proj(ad, l, 'up', a.ln, [s.h1, s.h3], [lw.w1, lw.w3!], [lw.b1, lw.b3], N, C, [F, F]);
      if (c.activation === 'gelu_tanh') geglu(k, a.act, s.h1, s.h3);
      else k.swiglu(a.act, s.h1, s.h3);
    }
    this.proj(ad, l, 'down', a.act, [lw.postMlpNorm ? s.mlpOut : a.proj], [lw.w2], [lw.b2], N, F, [C]);
    if (lw.postMlpNorm) k.rmsnorm(a.proj, s.rstdPM, s.mlpOut, lw.postMlpNorm, N, C, c.normEps);
    k.add(rnext, rmid, a.proj);
  }

  // RoPE (or its inverse, the backward) on the first rd dims of each of the nh heads of x (B·T, nh, hd)
  private rotate(x: Tensor, nh: number, rt: RopeTable, inverse: boolean): void {
    const { c, k } = this;
    const pos = this.acts.step.pos;
    if (rt.rd === c.headDim) k.rope(x, pos, rt.cos, rt.sin, this.rows, nh, c.headDim, c.ropeMode, inverse);
    else ropePartial(k, x, pos, rt.cos, rt.sin, this.rows, nh, c.headDim, rt.rd, c.ropeMode, inverse);
  }

  // d(a block's output) through its post norm (sandwichNorm), or dres itself without one
  private postNormBackward(dres: Tensor, w: Tensor | null, inp: Tensor, rstd: Tensor): Tensor {
    if (!w) return dres;
    const dout = this.acts.grads.dout;
    this.k.zero(dout);
    this.k.rmsnormBackward(dout, dres, inp, w, rstd, this.rows, this.c.dim);
    return dout;
  }

  // dres (N, C) holds d(residual leaving layer l); on return, d(residual entering layer l).
  private layerBackward(l: number, dres: Tensor, dprefix: { k: Tensor[]; v: Tensor[] } | null): void {
    const { c, k } = this;
    const spec = this.spec!;
    const lw = this.w.layers[l];
    const s = this.saved(l), g = this.acts.grads;
    const plan = this.plan[l];
    const { B, T } = spec;
    const N = B * T, C = c.dim, H = c.nHeads, Hkv = c.nKvHeads, hd = c.headDim, F = c.hiddenDim;
    const qd = H * hd, kvd = Hkv * hd;
    const P = spec.prefix?.P ?? 0;
    const ad = spec.adapter ?? null;

    // MLP block: rnext = rmid + [post norm](W2·act(h1[, h3]))
    k.zero(g.dact);
    this.projBackward(ad, l, 'down', g.dact, [this.postNormBackward(dres, lw.postMlpNorm, s.mlpOut, s.rstdPM)], [lw.w2], N, F, [C]);
    k.zero(g.dh1);
    k.zero(g.dln);
    if (c.arch === 'gpt2') {
      k.geluBackward(g.dh1, s.h1, g.dact);
      this.projBackward(ad, l, 'up', g.dln, [g.dh1], [lw.w1], N, C, [F]);
    } else {
      k.zero(g.dh3);
      if (c.activation === 'gelu_tanh') gegluBackward(k, g.dh1, g.dh3, g.dact, s.h1, s.h3);
      else k.swigluBackward(g.dh1, g.dh3, g.dact, s.h1, s.h3);
      this.projBackward(ad, l, 'up', g.dln, [g.dh1, g.dh3], [lw.w1, lw.w3!], N, C, [F, F]);
    }
    this.normBackward(dres, g.dln, s, 2, this.residualMid(l), lw.mlpNorm);

    // attention block: rmid = rin + [post norm](Wo·attention(q, k, v))
    k.zero(g.datty);
    this.projBackward(ad, l, 'o', g.datty, [this.postNormBackward(dres, lw.postAttnNorm, s.attnOut, s.rstdPA)], [lw.wo], N, qd, [C]);
    k.zero(g.dq);
    k.zero(g.dk);
    k.zero(g.dv);
    k.attentionBackward(g.dq, g.dk, g.dv, dprefix?.k[l], dprefix?.v[l], g.datty, s.att,
      s.q, s.k, s.v, spec.prefix?.k[l], spec.prefix?.v[l], B, T, T, P, H, Hkv, hd);
    if (this.qScale !== 1) k.scale(g.dq, this.qScale);
    if (plan.rope) {
      this.rotate(g.dq, H, plan.rope, true);
      this.rotate(g.dk, Hkv, plan.rope, true);
    }
    let dq = g.dq, dk = g.dk;
    if (lw.qNorm && lw.kNorm) {
      k.zero(g.dqRaw);
      k.zero(g.dkRaw);
      k.rmsnormBackward(g.dqRaw, g.dq, s.qRaw, lw.qNorm, s.rstdQ, N * H, hd);
      k.rmsnormBackward(g.dkRaw, g.dk, s.kRaw, lw.kNorm, s.rstdK, N * Hkv, hd);
      dq = g.dqRaw;
      dk = g.dkRaw;
    }
    k.zero(g.dln);
    this.projBackward(ad, l, 'qkv', g.dln, [dq, dk, g.dv], [lw.wq, lw.wk, lw.wv], N, C, [qd, kvd, kvd]);
    this.normBackward(dres, g.dln, s, 1, this.residual(l), lw.attnNorm);
  }

  // outs[i] (N, outDims[i]) = x' · ws[i]ᵀ + bs[i] for one projection site, x' = the adapter's input
  // hook of x (IA3 input scaling), then the adapter's output hook (LoRA's update, IA3 output scaling).
  private proj(ad: LinearAdapter | null, l: number, site: ProjSite, x: Tensor, outs: Tensor[], ws: Tensor[], bs: (Tensor | null | undefined)[], N: number, inDim: number, outDims: number[]): void {
    const xin = ad ? ad.input(l, site, x) : x;
    for (let i = 0; i < ws.length; i++) this.k.matmul(outs[i], xin, ws[i], bs[i] ?? null, N, inDim, outDims[i]);
    ad?.output(l, site, xin, outs);
  }

  // dx (N, inDim) += Σ_i dys[i] · ws[i] for one projection site (ws[i]: (outDims[i], inDim)), with
  // the adapter's output and input hooks around it; the caller zeroes dx.
  private projBackward(ad: LinearAdapter | null, l: number, site: ProjSite, dx: Tensor, dys: Tensor[], ws: Tensor[], N: number, inDim: number, outDims: number[]): void {
    const d = ad ? ad.outputBackward(l, site, dys, dx) : dys;
    for (let i = 0; i < ws.length; i++) this.k.matmulBackwardInput(dx, d[i], ws[i], N, inDim, outDims[i]);
    ad?.inputBackward(l, site, dx);
  }

  // logits (n, V) of hidden rows (n, C)
  logits(out: Tensor, hidden: Tensor, n: number): void {
    this.k.matmul(out, hidden, this.w.lmHead, null, n, this.c.dim, this.c.vocabSize);
  }

  // Gathers rows of hf into a chunk, runs the LM head on it, hands the logits to `fn`, and if fn
  // returns true, backpropagates the gradient it left in the logits buffer into dhf.
  eachHeadChunk(rows: ArrayLike<number>, fn: (logits: Tensor, start: number, n: number) => boolean): void {
    const { c, k } = this;
    const C = c.dim, V = c.vocabSize;
    const hf = this.acts.step.hf;
    const h = this.acts.layoutHead(rows.length, this.trained);
    for (let s = 0; s < rows.length; s += HEAD_CHUNK) {
      const n = Math.min(HEAD_CHUNK, rows.length - s);
      const hx = h.x.at(0, n * C); // (n, C)
      for (let i = 0; i < n; i++) k.copy(hx.at(i * C, C), hf.at(rows[s + i] * C, C));
      const lg = h.logits.at(0, n * V); // (n, V)
      this.logits(lg, hx, n);
      if (fn(lg, s, n)) {
        if (!this.trained) throw new Error('head gradient without a training forward');
        const dhx = h.dx.at(0, n * C);
        k.zero(dhx);
        k.matmulBackwardInput(dhx, lg, this.w.lmHead, n, C, V);
        const dhf = this.acts.grads.dhf;
        for (let i = 0; i < n; i++) k.axpy(dhf.at(rows[s + i] * C, C), dhx.at(i * C, C), 1);
      }
    }
  }

  // Σ over rows of −log p(target) with the gradient of scale·Σ NLL accumulated into dhf
  // (train) — rows (n) index into the B·T rows, targets (n) the token each row must predict.
  nll(rows: ArrayLike<number>, targets: ArrayLike<number>, scale: number, backward: boolean): { sum: number; logprobs: Float32Array } {
    const logprobs = new Float32Array(rows.length);
    let sum = 0;
    const h = this.acts.layoutHead(rows.length, this.trained);
    this.eachHeadChunk(rows, (lg, s, n) => {
      const t = h.targets.at(0, n).setI32(Array.from({ length: n }, (_, i) => targets[s + i]));
      const lp = h.logprobs.at(0, n);
      sum -= this.k.targetLogprobs(lp, lg, t, n, this.c.vocabSize);
      logprobs.set(lp.f32(), s);
      if (backward) this.k.nllBackward(lg, lg, t, scale, n, this.c.vocabSize);
      return backward;
    });
    return { sum, logprobs };
  }

  // Σ over rows of KL(teacher ‖ model); teacher (n, V) log-probs in row order. Gradient of
  // scale·Σ KL into dhf when backward.
  kl(rows: ArrayLike<number>, teacher: Tensor, scale: number, backward: boolean): { sum: number; perRow: Float32Array } {
    const V = this.c.vocabSize;
    const perRow = new Float32Array(rows.length);
    const h = this.acts.layoutHead(rows.length, this.trained);
    let sum = 0;
    this.eachHeadChunk(rows, (lg, s, n) => {
      const tp = teacher.at(s * V, n * V);
      const out = h.kl.at(0, n);
      sum += this.k.kl(out, tp, lg, n, V);
      perRow.set(out.f32(), s);
      if (backward) this.k.klBackward(lg, tp, lg, scale, n, V);
      return backward;
    });
    return { sum, perRow };
  }

  // Adds a gradient on the last hidden states hf (B·T, C) (e.g. compression summary slots).
  addHiddenGrad(dh: Tensor): void {
    const dhf = this.acts.grads.dhf;
    this.k.add(dhf, dhf, dh);
  }

  // Backpropagates dhf to the inputs. Returns d(input rows) (B·T, C); prefix gradients
  // (per layer (P, Hkv, hd)) are accumulated into `dprefix` when given.
  backward(dprefix?: { k: Tensor[]; v: Tensor[] } | null): Tensor {
    const spec = this.spec;
    if (!spec || !spec.train || !this.trained) throw new Error('backward() needs a forward() with train: true');
    if (spec.cache) throw new PromptkilnError('SHAPE', 'backward through a KV cache is not supported');
    const { c, k } = this;
    const a = this.acts.step, g = this.acts.grads;
    const N = this.rows, C = c.dim;
    k.zero(g.dres);
    const resOut = this.residual(c.nLayers);
    if (c.arch === 'gpt2') {
      k.layernormBackward(g.dres, g.dhf, resOut, this.w.finalNorm, a.meanF, a.rstdF, N, C);
    } else {
      k.rmsnormBackward(g.dres, g.dhf, resOut, this.w.finalNorm, a.rstdF, N, C);
    }
    for (let l = c.nLayers - 1; l >= 0; l--) this.layerBackward(l, g.dres, dprefix ?? null);
    return g.dres;
  }

  newCache(cap: number): KVCache {
    const kvd = this.c.nKvHeads * this.c.headDim;
    const k: Tensor[] = [], v: Tensor[] = [];
    for (let l = 0; l < this.c.nLayers; l++) {
      k.push(this.k.alloc(cap * kvd, 'kv cache', false));
      v.push(this.k.alloc(cap * kvd, 'kv cache', false));
    }
    return { k, v, len: 0, cap };
  }

  freeCache(cache: KVCache): void {
    for (const t of cache.k) t.free();
    for (const t of cache.v) t.free();
    cache.k.length = 0;
    cache.v.length = 0;
  }
}
