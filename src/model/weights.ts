import { PromptkilnError } from '../errors.js';
import type { Kernels, Tensor } from '../kernels/index.js';
import { ropeOf, ropeTables as ropeTablesOf } from './rope.js';
import type { ModelConfig, TensorMap } from './types.js';

export interface LayerWeights {
  attnNorm: Tensor; // (C)
  attnNormBias: Tensor | null; // (C) gpt2
  wq: Tensor; // (H·hd, C)
  wk: Tensor; // (Hkv·hd, C)
  wv: Tensor; // (Hkv·hd, C)
  bq: Tensor | null; bk: Tensor | null; bv: Tensor | null;
  wo: Tensor; // (C, H·hd)
  bo: Tensor | null; // (C)
  mlpNorm: Tensor; // (C)
  mlpNormBias: Tensor | null;
  w1: Tensor; // (hidden, C): llama gate, gpt2 c_fc
  b1: Tensor | null;
  w3: Tensor | null; // (hidden, C): llama up
  b3: Tensor | null; // (hidden): llama up bias (mlp_bias)
  w2: Tensor; // (C, hidden): down / c_proj
  b2: Tensor | null;
  qNorm: Tensor | null; // (hd) per-head RMSNorm of q (qkNorm)
  kNorm: Tensor | null; // (hd) per-head RMSNorm of k (qkNorm)
  postAttnNorm: Tensor | null; // (C) norm of the attention output before the residual (sandwichNorm)
  postMlpNorm: Tensor | null; // (C) norm of the MLP output before the residual (sandwichNorm)
}

export interface Weights {
  tokEmbeddings: Tensor; // (V, C)
  posEmbeddings: Tensor | null; // (maxSeqLen, C) gpt2
  layers: LayerWeights[];
  finalNorm: Tensor; // (C)
  finalNormBias: Tensor | null;
  lmHead: Tensor; // (V, C); the embedding table when tied
  all: Tensor[]; // every allocation, for dispose()
}

// Every tensor the architecture needs with its expected shape, so a checkpoint that lacks one or
// has it in the wrong size fails at load naming the tensor, not later inside a kernel.
export function expectedShapes(c: ModelConfig): Map<string, number[]> {
  const C = c.dim, qd = c.nHeads * c.headDim, kvd = c.nKvHeads * c.headDim, F = c.hiddenDim;
  const gpt2 = c.arch === 'gpt2';
  const m = new Map<string, number[]>();
  m.set('tok_embeddings', [c.vocabSize, C]);
  if (gpt2) m.set('pos_embeddings', [c.maxSeqLen, C]);
  for (let i = 0; i < c.nLayers; i++) {
    const p = `layers.${i}.`;
    m.set(p + 'attn_norm', [C]);
    if (gpt2) m.set(p + 'attn_norm_bias', [C]);
    m.set(p + 'wq', [qd, C]); m.set(p + 'wk', [kvd, C]); m.set(p + 'wv', [kvd, C]); m.set(p + 'wo', [C, qd]);
    if (c.attnBias) { m.set(p + 'bq', [qd]); m.set(p + 'bk', [kvd]); m.set(p + 'bv', [kvd]); }
    if (c.attnOutBias ?? c.attnBias) m.set(p + 'bo', [C]);
    if (c.qkNorm) { m.set(p + 'q_norm', [c.headDim]); m.set(p + 'k_norm', [c.headDim]); }
    if (c.sandwichNorm) { m.set(p + 'post_attn_norm', [C]); m.set(p + 'post_mlp_norm', [C]); }
    m.set(p + 'mlp_norm', [C]);
    if (gpt2) m.set(p + 'mlp_norm_bias', [C]);
    m.set(p + 'w1', [F, C]); m.set(p + 'w2', [C, F]);
    if (!gpt2) m.set(p + 'w3', [F, C]);
    if (c.mlpBias) { m.set(p + 'b1', [F]); m.set(p + 'b2', [C]); if (!gpt2) m.set(p + 'b3', [F]); }
  }
  m.set('final_norm', [C]);
  if (gpt2) m.set('final_norm_bias', [C]);
  if (!c.tiedEmbeddings) m.set('lm_head', [c.vocabSize, C]);
  return m;
}

export function validateConfig(c: ModelConfig, source: string): void {
  const ints: (keyof ModelConfig)[] = ['dim', 'nLayers', 'nHeads', 'nKvHeads', 'headDim', 'hiddenDim', 'vocabSize', 'maxSeqLen'];
  for (const k of ints) {
    const v = c[k] as number;
    if (!Number.isInteger(v) || v <= 0) throw new PromptkilnError('CONFIG', `${source}: config field ${k} must be a positive integer, got ${v}`);
  }
  if (c.nHeads % c.nKvHeads) {
    throw new PromptkilnError('CONFIG', `${source}: ${c.nHeads} attention heads are not a multiple of ${c.nKvHeads} kv heads`);
  }
  if (c.arch === 'llama' && c.headDim % 2) throw new PromptkilnError('CONFIG', `${source}: head_dim ${c.headDim} must be even for RoPE`);
  if (!(c.normEps > 0)) throw new PromptkilnError('CONFIG', `${source}: norm epsilon must be > 0, got ${c.normEps}`);
}

// RMSNorm weights among the canonical names (GPT-2's layernorm weights are never (1 + w)).
function isRmsNormWeight(name: string): boolean {
  return /(^|\.)(attn_norm|mlp_norm|final_norm|q_norm|k_norm|post_attn_norm|post_mlp_norm)$/.test(name);
}

// Copy a checkpoint's tensors into WASM memory once. The JS copies can be dropped afterwards.
export function uploadWeights(k: Kernels, c: ModelConfig, tensors: TensorMap, source: string): Weights {
  validateConfig(c, source);
  const shapes = expectedShapes(c);
  const all: Tensor[] = [];
  const got = new Map<string, Tensor>();
  try {
    for (const [name, shape] of shapes) {
      const data = tensors.get(name);
      const n = shape.reduce((a, b) => a * b, 1);
      if (!data) throw new PromptkilnError('CHECKPOINT', `${source}: tensor ${name} ${JSON.stringify(shape)} is missing`);
      if (data.length !== n) {
        throw new PromptkilnError('CHECKPOINT', `${source}: tensor ${name} has ${data.length} values, expected ${JSON.stringify(shape)} = ${n}`);
      }
      // Gemma's (1 + w) RMSNorm: the 1 is added once here, in f32 as transformers adds it
      const values = c.normPlusOne && isRmsNormWeight(name) ? data.map((x) => Math.fround(1 + x)) : data;
      const t = k.alloc(data.length, name, false).set(values);
      all.push(t);
      got.set(name, t);
    }
  } catch (e) {
    for (const t of all) t.free();
    throw e;
  }
  const g = (n: string) => got.get(n)!;
  const o = (n: string) => got.get(n) ?? null;
  const layers: LayerWeights[] = [];
  for (let i = 0; i < c.nLayers; i++) {
    const p = `layers.${i}.`;
    layers.push({
      attnNorm: g(p + 'attn_norm'), attnNormBias: o(p + 'attn_norm_bias'),
      wq: g(p + 'wq'), wk: g(p + 'wk'), wv: g(p + 'wv'), bq: o(p + 'bq'), bk: o(p + 'bk'), bv: o(p + 'bv'),
      wo: g(p + 'wo'), bo: o(p + 'bo'),
      mlpNorm: g(p + 'mlp_norm'), mlpNormBias: o(p + 'mlp_norm_bias'),
      w1: g(p + 'w1'), b1: o(p + 'b1'), w3: o(p + 'w3'), b3: o(p + 'b3'), w2: g(p + 'w2'), b2: o(p + 'b2'),
      qNorm: o(p + 'q_norm'), kNorm: o(p + 'k_norm'), postAttnNorm: o(p + 'post_attn_norm'), postMlpNorm: o(p + 'post_mlp_norm'),
    });
  }
  const tok = g('tok_embeddings');
  return {
    tokEmbeddings: tok,
    posEmbeddings: o('pos_embeddings'),
    layers,
    finalNorm: g('final_norm'),
    finalNormBias: o('final_norm_bias'),
    lmHead: c.tiedEmbeddings ? tok : g('lm_head'),
    all,
  };
}

// RoPE tables (maxSeqLen, rotaryDim/2) of the config's full-attention layers; rope.ts computes them.
export function ropeTables(c: ModelConfig): { cos: Float32Array; sin: Float32Array } {
  return ropeTablesOf(ropeOf(c), c.maxSeqLen);
}
