import { PromptkilnError } from '../errors.js';
import type { Kernels, Tensor } from '../kernels/index.js';
import type { ModelConfig } from './types.js';
import type { LayerWeights, Weights } from './weights.js';
import { Workspace } from './workspace.js';

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
}

export const HEAD_CHUNK = 64; // LM-head rows per GEMM: bounds the (rows, V) logits buffer

// The frozen transformer stack: forward, LM head, and backward to the inputs only (frozen linear
// layers give dX = dY·W; no weight gradients). One code path serves scoring, generation with a KV
// cache, prompt/prefix tuning and compression.
export class Transformer {
  readonly ws: Workspace;
  private spec: RunSpec | null = null;
  private trained = false;
  private posT!: Tensor; // (B·T) i32
  private maskT: Tensor | null = null; // (B, Tk) f32

  constructor(readonly k: Kernels, readonly c: ModelConfig, readonly w: Weights,
    readonly rope: { cos: Tensor; sin: Tensor } | null) {
    this.ws = new Workspace(k);
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
    this.spec = spec;
    this.trained = false;
    this.posT = this.ws.get('pos', B * T).setI32(spec.pos);
    const Tk = spec.cache ? spec.cache.len + T : T;
    if (spec.mask) {
      if (spec.cache) throw new PromptkilnError('SHAPE', 'a padding mask cannot be combined with a KV cache');
      this.maskT = this.ws.get('mask', B * Tk).set(spec.mask);
    } else this.maskT = null;
    return this.residual(0);
  }

  private saved(name: string, l: number, n: number): Tensor {
    return this.ws.get(this.spec!.train ? `${name}.${l}` : `${name}.0`, n);
  }
  // Residual stream entering layer l (l = nLayers: the output). In inference one buffer is updated
  // in place; in training every layer's input is kept for the norm backward.
  private residual(l: number): Tensor {
    const n = this.rows * this.c.dim;
    return this.spec!.train ? this.ws.get(`res.${l}`, n) : this.ws.get('res', n);
  }
  private residualMid(l: number): Tensor {
    const n = this.rows * this.c.dim;
    return this.spec!.train ? this.ws.get(`resmid.${l}`, n) : this.ws.get('res', n);
  }

  // Adds learned positions (GPT-2) to the input rows, soft rows included, as HF inputs_embeds does.
  addPositions(): void {
    if (this.w.posEmbeddings) this.k.addPositions(this.residual(0), this.posT, this.w.posEmbeddings, this.rows, this.c.dim);
  }

  // Runs every layer and the final norm. Returns hf (B·T, C), the last hidden states.
  forward(): Tensor {
    const spec = this.spec;
    if (!spec) throw new Error('Transformer.forward before begin()');
    const { c, k } = this;
    const N = this.rows;
    for (let l = 0; l < c.nLayers; l++) this.layerForward(l);
    const hf = this.ws.get('hf', N * c.dim);
    const resOut = this.residual(c.nLayers);
    const rstd = this.ws.get('rstd_f', N);
    if (c.arch === 'gpt2') {
      k.layernorm(hf, this.ws.get('mean_f', N), rstd, resOut, this.w.finalNorm, this.w.finalNormBias!, N, c.dim, c.normEps);
    } else {
      k.rmsnorm(hf, rstd, resOut, this.w.finalNorm, N, c.dim, c.normEps);
    }
    if (spec.cache) spec.cache.len += spec.T;
    if (spec.train) {
      this.trained = true;
      this.ws.zeros('dhf', N * c.dim);
    }
    return hf;
  }

  private norm(out: Tensor, l: number, which: 1 | 2, inp: Tensor, w: Tensor, b: Tensor | null): void {
    const { c, k } = this;
    const N = this.rows;
    const rstd = this.saved(`rstd${which}`, l, N);
    if (c.arch === 'gpt2') k.layernorm(out, this.saved(`mean${which}`, l, N), rstd, inp, w, b!, N, c.dim, c.normEps);
    else k.rmsnorm(out, rstd, inp, w, N, c.dim, c.normEps);
  }

  private layerForward(l: number): void {
    const { c, k } = this;
    const spec = this.spec!;
    const lw: LayerWeights = this.w.layers[l];
    const { B, T } = spec;
    const N = B * T, C = c.dim, H = c.nHeads, Hkv = c.nKvHeads, hd = c.headDim, F = c.hiddenDim;
    const qd = H * hd, kvd = Hkv * hd;
    const rin = this.residual(l), rmid = this.residualMid(l), rnext = this.residual(l + 1);

    // attention block
    const ln = this.ws.get('ln', N * C); // (N, C)
    this.norm(ln, l, 1, rin, lw.attnNorm, lw.attnNormBias);
    const q = this.saved('q', l, N * qd); // (B, T, H, hd)
    const kk = this.saved('k', l, N * kvd); // (B, T, Hkv, hd)
    const v = this.saved('v', l, N * kvd);
    k.matmul(q, ln, lw.wq, lw.bq, N, C, qd);
    k.matmul(kk, ln, lw.wk, lw.bk, N, C, kvd);
    k.matmul(v, ln, lw.wv, lw.bv, N, C, kvd);
    if (this.rope) {
      k.rope(q, this.posT, this.rope.cos, this.rope.sin, N, H, hd, c.ropeMode);
      k.rope(kk, this.posT, this.rope.cos, this.rope.sin, N, Hkv, hd, c.ropeMode);
    }
    let keys = kk, vals = v, Tk = T;
    if (spec.cache) {
      const cache = spec.cache;
      keys = cache.k[l].at(0, (cache.len + T) * kvd);
      vals = cache.v[l].at(0, (cache.len + T) * kvd);
      k.copy(keys.at(cache.len * kvd, T * kvd), kk);
      k.copy(vals.at(cache.len * kvd, T * kvd), v);
      Tk = cache.len + T;
    }
    const P = spec.prefix?.P ?? 0;
    const att = this.saved('att', l, B * H * T * (P + Tk)); // (B, H, T, P + Tk)
    const atty = this.ws.get('atty', N * qd); // (B, T, H, hd)
    k.attention(atty, att, q, keys, vals, spec.prefix?.k[l], spec.prefix?.v[l], this.maskT, B, T, Tk, P, H, Hkv, hd);
    const proj = this.ws.get('proj', N * C); // (N, C)
    k.matmul(proj, atty, lw.wo, lw.bo, N, qd, C);
    k.add(rmid, rin, proj);

    // MLP block
    this.norm(ln, l, 2, rmid, lw.mlpNorm, lw.mlpNormBias);
    const h1 = this.saved('h1', l, N * F); // (N, F) pre-activation
    const act = this.ws.get('act', N * F); // (N, F)
    k.matmul(h1, ln, lw.w1, lw.b1, N, C, F);
    if (c.arch === 'gpt2') {
      k.gelu(act, h1);
    } else {
      const h3 = this.saved('h3', l, N * F);
      k.matmul(h3, ln, lw.w3!, lw.b3, N, C, F);
      k.swiglu(act, h1, h3);
    }
    k.matmul(proj, act, lw.w2, lw.b2, N, F, C);
    k.add(rnext, rmid, proj);
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
    const hf = this.ws.get('hf', this.rows * C);
    for (let s = 0; s < rows.length; s += HEAD_CHUNK) {
      const n = Math.min(HEAD_CHUNK, rows.length - s);
      const hx = this.ws.get('head_x', n * C); // (n, C)
      for (let i = 0; i < n; i++) k.copy(hx.at(i * C, C), hf.at(rows[s + i] * C, C));
      const lg = this.ws.get('head_logits', n * V); // (n, V)
      this.logits(lg, hx, n);
      if (fn(lg, s, n)) {
        if (!this.trained) throw new Error('head gradient without a training forward');
        const dhx = this.ws.zeros('head_dx', n * C);
        k.matmulBackwardInput(dhx, lg, this.w.lmHead, n, C, V);
        const dhf = this.ws.get('dhf', this.rows * C);
        for (let i = 0; i < n; i++) k.axpy(dhf.at(rows[s + i] * C, C), dhx.at(i * C, C), 1);
      }
    }
  }

  // Σ over rows of −log p(target) with the gradient of scale·Σ NLL accumulated into dhf
  // (train) — rows (n) index into the B·T rows, targets (n) the token each row must predict.
  nll(rows: ArrayLike<number>, targets: ArrayLike<number>, scale: number, backward: boolean): { sum: number; logprobs: Float32Array } {
    const logprobs = new Float32Array(rows.length);
    let sum = 0;
    const tg = this.ws.get('head_tg', Math.min(HEAD_CHUNK, rows.length) || 1);
    const lp = this.ws.get('head_lp', Math.min(HEAD_CHUNK, rows.length) || 1);
    this.eachHeadChunk(rows, (lg, s, n) => {
      const t = tg.at(0, n).setI32(Array.from({ length: n }, (_, i) => targets[s + i]));
      sum -= this.k.targetLogprobs(lp.at(0, n), lg, t, n, this.c.vocabSize);
      logprobs.set(lp.at(0, n).f32(), s);
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
    const out = this.ws.get('head_kl', Math.min(HEAD_CHUNK, rows.length) || 1);
    let sum = 0;
    this.eachHeadChunk(rows, (lg, s, n) => {
      const tp = teacher.at(s * V, n * V);
      sum += this.k.kl(out.at(0, n), tp, lg, n, V);
      perRow.set(out.at(0, n).f32(), s);
      if (backward) this.k.klBackward(lg, tp, lg, scale, n, V);
      return backward;
    });
    return { sum, perRow };
  }

  // Adds a gradient on the last hidden states hf (B·T, C) (e.g. compression summary slots).
  addHiddenGrad(dh: Tensor): void {
    const dhf = this.ws.get('dhf', this.rows * this.c.dim);
    this.k.add(dhf, dhf, dh);
  }

  // Backpropagates dhf to the inputs. Returns d(input rows) (B·T, C); prefix gradients
  // (per layer (P, Hkv, hd)) are accumulated into `dprefix` when given.
  backward(dprefix?: { k: Tensor[]; v: Tensor[] } | null): Tensor {
    const spec = this.spec;
    if (!spec || !spec.train || !this.trained) throw new Error('backward() needs a forward() with train: true');
    if (spec.cache) throw new PromptkilnError('SHAPE', 'backward through a KV cache is not supported');
    const { c, k } = this;
    const N = this.rows, C = c.dim;
    const dres = this.ws.zeros('dres', N * C); // (N, C)
    const dhf = this.ws.get('dhf', N * C);
    const resOut = this.residual(c.nLayers);
    if (c.arch === 'gpt2') {
      k.layernormBackward(dres, dhf, resOut, this.w.finalNorm, this.ws.get('mean_f', N), this.ws.get('rstd_f', N), N, C);
    } else {
      k.rmsnormBackward(dres, dhf, resOut, this.w.finalNorm, this.ws.get('rstd_f', N), N, C);
    }
    for (let l = c.nLayers - 1; l >= 0; l--) this.layerBackward(l, dres, dprefix ?? null);
    return dres;
  }

  private normBackward(dres: Tensor, dln: Tensor, l: number, which: 1 | 2, inp: Tensor, w: Tensor): void {
    const { c, k } = this;
    const N = this.rows;
    const rstd = this.saved(`rstd${which}`, l, N);
    if (c.arch === 'gpt2') k.layernormBackward(dres, dln, inp, w, this.saved(`mean${which}`, l, N), rstd, N, c.dim);
    else k.rmsnormBackward(dres, dln, inp, w, rstd, N, c.dim);
  }

  // dres (N, C) holds d(residual leaving layer l); on return, d(residual entering layer l).
  private layerBackward(l: number, dres: Tensor, dprefix: { k: Tensor[]; v: Tensor[] } | null): void {
    const { c, k } = this;
    const spec = this.spec!;
    const lw = this.w.layers[l];
    const { B, T } = spec;
    const N = B * T, C = c.dim, H = c.nHeads, Hkv = c.nKvHeads, hd = c.headDim, F = c.hiddenDim;
    const qd = H * hd, kvd = Hkv * hd;
    const P = spec.prefix?.P ?? 0;

    // MLP block: rnext = rmid + W2·act(h1[, h3])
    const dact = this.ws.zeros('dact', N * F); // (N, F)
    k.matmulBackwardInput(dact, dres, lw.w2, N, F, C);
    const dh1 = this.ws.zeros('dh1', N * F); // (N, F)
    const dln = this.ws.zeros('dln', N * C); // (N, C)
    if (c.arch === 'gpt2') {
      k.geluBackward(dh1, this.saved('h1', l, N * F), dact);
      k.matmulBackwardInput(dln, dh1, lw.w1, N, C, F);
    } else {
      const dh3 = this.ws.zeros('dh3', N * F);
      k.swigluBackward(dh1, dh3, dact, this.saved('h1', l, N * F), this.saved('h3', l, N * F));
      k.matmulBackwardInput(dln, dh1, lw.w1, N, C, F);
      k.matmulBackwardInput(dln, dh3, lw.w3!, N, C, F);
    }
    this.normBackward(dres, dln, l, 2, this.residualMid(l), lw.mlpNorm);

    // attention block: rmid = rin + Wo·attention(q, k, v)
    const datty = this.ws.zeros('datty', N * qd); // (B, T, H, hd)
    k.matmulBackwardInput(datty, dres, lw.wo, N, qd, C);
    const dq = this.ws.zeros('dq', N * qd);
    const dk = this.ws.zeros('dk', N * kvd);
    const dv = this.ws.zeros('dv', N * kvd);
    const q = this.saved('q', l, N * qd), kk = this.saved('k', l, N * kvd), v = this.saved('v', l, N * kvd);
    k.attentionBackward(dq, dk, dv, dprefix?.k[l], dprefix?.v[l], datty, this.saved('att', l, B * H * T * (P + T)),
      q, kk, v, spec.prefix?.k[l], spec.prefix?.v[l], B, T, T, P, H, Hkv, hd);
    if (this.rope) {
      k.rope(dq, this.posT, this.rope.cos, this.rope.sin, N, H, hd, c.ropeMode, true);
      k.rope(dk, this.posT, this.rope.cos, this.rope.sin, N, Hkv, hd, c.ropeMode, true);
    }
    k.zero(dln);
    k.matmulBackwardInput(dln, dq, lw.wq, N, C, qd);
    k.matmulBackwardInput(dln, dk, lw.wk, N, C, kvd);
    k.matmulBackwardInput(dln, dv, lw.wv, N, C, kvd);
    this.normBackward(dres, dln, l, 1, this.residual(l), lw.attnNorm);
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
