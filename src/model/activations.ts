// The transformer's activation buffers: each declared once below with its shape and sized in one
// place (llm.c's ActivationTensors), so a misspelt buffer fails to compile instead of silently
// allocating a new one.
import { Tensor, type Kernels } from '../kernels/index.js';
import type { ModelConfig } from './types.js';

// The shape of one pass. N = B·T rows; Tk keys per sequence (T, or the KV cache's rows + T).
export interface Dims {
  B: number;
  T: number;
  Tk: number;
  P: number; // shared prefix rows
  masked: boolean; // a padding mask was given
  train: boolean; // keep every layer's activations for backward()
}

export const HEAD_CHUNK = 64; // LM-head rows per GEMM: bounds the (rows, V) logits buffer

// Buffers of one pass, shared by every layer. A size of 0 means "not used by this pass / arch".
function stepSizes(c: ModelConfig, d: Dims) {
  const N = d.B * d.T, C = c.dim, F = c.hiddenDim, qd = c.nHeads * c.headDim;
  const gpt2 = c.arch === 'gpt2';
  return {
    ids: N, // (B·T) i32 token ids, −1 on soft rows
    pos: N, // (B·T) i32 position of each row
    mask: d.masked ? d.B * d.Tk : 0, // (B, Tk) 1 = real row, 0 = padding
    res: d.train ? 0 : N * C, // (N, C) the residual stream, updated in place (inference)
    resOut: d.train ? N * C : 0, // (N, C) the last layer's output (training; inference uses res)
    ln: N * C, // (N, C) normed input of the current block
    atty: N * qd, // (B, T, H, hd) attention output, before the output projection
    proj: N * C, // (N, C) a block's output projection
    act: N * F, // (N, F) MLP activation
    hf: N * C, // (N, C) last hidden states, after the final norm
    meanF: gpt2 ? N : 0, // (N) final layernorm means
    rstdF: N, // (N) final norm reciprocal std
  };
}

// What backward needs of one layer: one set per layer in training, one set reused by every layer
// in inference.
function layerSizes(c: ModelConfig, d: Dims) {
  const N = d.B * d.T, C = c.dim, F = c.hiddenDim, H = c.nHeads, hd = c.headDim;
  const qd = H * hd, kvd = c.nKvHeads * hd;
  const gpt2 = c.arch === 'gpt2', qkn = c.qkNorm ? 1 : 0, sw = c.sandwichNorm ? 1 : 0;
  return {
    res: d.train ? N * C : 0, // (N, C) residual entering the layer (training)
    resMid: d.train ? N * C : 0, // (N, C) residual between attention and MLP (training)
    mean1: gpt2 ? N : 0, // (N) attention-norm means (layernorm)
    rstd1: N, // (N) attention-norm reciprocal std
    qRaw: qkn * N * qd, // (B, T, H, hd) queries before their per-head norm (qkNorm)
    kRaw: qkn * N * kvd, // (B, T, Hkv, hd) keys before their per-head norm (qkNorm)
    rstdQ: qkn * N * H, // (B, T, H) q-norm reciprocal std
    rstdK: qkn * N * c.nKvHeads, // (B, T, Hkv) k-norm reciprocal std
    q: N * qd, // (B, T, H, hd) queries after RoPE (and the query scale)
    k: N * kvd, // (B, T, Hkv, hd) keys after RoPE
    v: N * kvd, // (B, T, Hkv, hd)
    att: d.B * H * d.T * (d.P + d.Tk), // (B, H, T, P + Tk) attention probabilities
    attnOut: sw * N * C, // (N, C) attention block output before its post norm (sandwichNorm)
    rstdPA: sw * N, // (N) post-attention norm reciprocal std
    mean2: gpt2 ? N : 0, // (N) MLP-norm means (layernorm)
    rstd2: N, // (N) MLP-norm reciprocal std
    h1: N * F, // (N, F) MLP pre-activation: llama gate, gpt2 c_fc
    h3: gpt2 ? 0 : N * F, // (N, F) llama up projection
    mlpOut: sw * N * C, // (N, C) MLP output before its post norm (sandwichNorm)
    rstdPM: sw * N, // (N) post-MLP norm reciprocal std
  };
}

// Gradients of the backward pass (training only).
function gradSizes(c: ModelConfig, d: Dims) {
  const n = d.train ? d.B * d.T : 0, C = c.dim, F = c.hiddenDim, hd = c.headDim;
  const qd = c.nHeads * hd, kvd = c.nKvHeads * hd;
  return {
    dhf: n * C, // (N, C) d(last hidden states): the LM head and addHiddenGrad accumulate here
    dres: n * C, // (N, C) d(residual) flowing down the layers; at the end, d(input rows)
    dln: n * C, // (N, C) d(normed block input)
    dact: n * F, // (N, F) d(MLP activation)
    dh1: n * F, // (N, F)
    dh3: c.arch === 'gpt2' ? 0 : n * F, // (N, F)
    datty: n * qd, // (B, T, H, hd)
    dq: n * qd, // (B, T, H, hd)
    dk: n * kvd, // (B, T, Hkv, hd)
    dv: n * kvd, // (B, T, Hkv, hd)
    dqRaw: c.qkNorm ? n * qd : 0, // (B, T, H, hd) d(queries before their norm)
    dkRaw: c.qkNorm ? n * kvd : 0, // (B, T, Hkv, hd)
    dout: c.sandwichNorm ? n * C : 0, // (N, C) d(a block's output before its post norm)
  };
}

// The LM head's buffers for chunks of up to n rows.
function headSizes(c: ModelConfig, n: number, train: boolean) {
  const C = c.dim, V = c.vocabSize;
  return {
    x: n * C, // (n, C) gathered hidden rows
    logits: n * V, // (n, V) logits, overwritten by their gradient in training
    dx: train ? n * C : 0, // (n, C) d(gathered hidden rows)
    targets: n, // (n) i32
    logprobs: n, // (n)
    kl: n, // (n)
  };
}

type Views<S> = { readonly [K in keyof S]: Tensor };
export type StepActs = Views<ReturnType<typeof stepSizes>>;
export type LayerActs = Views<ReturnType<typeof layerSizes>>;
export type GradActs = Views<ReturnType<typeof gradSizes>>;
export type HeadActs = Views<ReturnType<typeof headSizes>>;

// Storage grows to the largest shape seen and is reused: a model laid out once per (batch,
// length) pays no allocation on later calls of that size. Every view is exact-size, so
// elementwise kernels never touch the slack; an unused buffer is an empty view (a kernel handed
// it fails its shape check).
export class Activations {
  private readonly store = new Map<string, Tensor>();
  private readonly empty: Tensor;
  step!: StepActs;
  layers: LayerActs[] = []; // nLayers in training, else 1
  grads!: GradActs;
  head!: HeadActs;

  constructor(private readonly k: Kernels, private readonly c: ModelConfig) {
    this.empty = new Tensor(k.heap, 0, 0);
  }

  layout(d: Dims): void {
    this.step = this.views('', stepSizes(this.c, d));
    this.layers = Array.from({ length: d.train ? this.c.nLayers : 1 }, (_, l) => this.views(`layer${l}.`, layerSizes(this.c, d)));
    this.grads = this.views('grad.', gradSizes(this.c, d));
  }

  // Head buffers for chunks of up to min(HEAD_CHUNK, rows) rows.
  layoutHead(rows: number, train: boolean): HeadActs {
    this.head = this.views('head.', headSizes(this.c, Math.max(1, Math.min(HEAD_CHUNK, rows)), train));
    return this.head;
  }

  private views<S extends Record<string, number>>(group: string, sizes: S): Views<S> {
    const out: Record<string, Tensor> = {};
    for (const [name, n] of Object.entries(sizes)) {
      if (n === 0) {
        out[name] = this.empty;
        continue;
      }
      const key = group + name;
      let t = this.store.get(key);
      if (!t || t.n < n) {
        t?.free();
        t = this.k.alloc(n, `activation ${key}`, false);
        this.store.set(key, t);
      }
      out[name] = t.n === n ? t : t.at(0, n);
    }
    return out as Views<S>;
  }

  bytes(): number {
    let s = 0;
    for (const t of this.store.values()) s += t.n * 4;
    return s;
  }

  release(): void {
    for (const t of this.store.values()) t.free();
    this.store.clear();
  }
}
