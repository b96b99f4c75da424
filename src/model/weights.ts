// Copying checkpoint tensors into WASM memory, f32 or bf16, in the model's internal layout.
import { PromptkilnError } from '../errors.js';
import type { DType, Kernels, Tensor } from '../kernels/index.js';
import { ropeOf, ropeTables as ropeTablesOf } from './rope.js';
import type { ModelConfig } from './types.js';
import { UPLOAD_CHUNK, type WeightRef } from './weight-ref.js';

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

// Weights are f32, except in bf16 mode the matrices and the token table (memory-plan.ts).
export interface Weights {
  tokEmbeddings: Tensor; // (V, C)
  posEmbeddings: Tensor | null; // (maxSeqLen, C) gpt2
  layers: LayerWeights[];
  finalNorm: Tensor; // (C)
  finalNormBias: Tensor | null;
  lmHead: Tensor; // (V, C); the embedding table when tied
  all: Tensor[]; // every allocation, for dispose()
}

export type WeightsMode = 'f32' | 'bf16';

// The tensors bf16 mode keeps in 16 bits: the matrices the GEMMs read (widened in registers) and
// the token table (rows widened on lookup; it is also the tied LM head). Norm weights, biases,
// GPT-2's learned positions and the RoPE tables stay f32: they are < 0.1% of the bytes, and their
// kernels (norms, bias adds, position adds) take f32.
const SIXTEEN_BIT = /^(tok_embeddings|lm_head|layers\.\d+\.(wq|wk|wv|wo|w1|w2|w3))$/;
export function weightDtype(name: string, mode: WeightsMode): DType {
  return mode === 'bf16' && SIXTEEN_BIT.test(name) ? 'bf16' : 'f32';
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

// Copy a checkpoint's tensors into WASM memory once, each as f32 or bf16 (memory-plan.ts says
// which), read in chunks straight from the file when the checkpoint was opened lazily. Every
// name and size is checked before the first allocation.
export async function uploadWeights(k: Kernels, c: ModelConfig, tensors: Map<string, WeightRef>, source: string,
  mode: WeightsMode = 'f32', signal?: AbortSignal): Promise<Weights> {
  validateConfig(c, source);
  const shapes = expectedShapes(c);
  const refs = new Map<string, WeightRef>();
  for (const [name, shape] of shapes) {
    const ref = tensors.get(name);
    const n = shape.reduce((a, b) => a * b, 1);
    if (!ref) throw new PromptkilnError('CHECKPOINT', `${source}: tensor ${name} ${JSON.stringify(shape)} is missing`);
    if (ref.count !== n) {
      throw new PromptkilnError('CHECKPOINT', `${source}: tensor ${name} has ${ref.count} values, expected ${JSON.stringify(shape)} = ${n}`);
    }
    // Gemma's (1 + w) RMSNorm: the 1 is added once here, in f32 as transformers adds it
    refs.set(name, c.normPlusOne && isRmsNormWeight(name) ? ref.map((d) => d.map((x) => Math.fround(1 + x))) : ref);
  }
  const all: Tensor[] = [];
  const got = new Map<string, Tensor>();
  let staging: Tensor | null = null;
  try {
    for (const [name, ref] of refs) {
      const t = k.alloc(ref.count, name, false, weightDtype(name, mode));
      all.push(t);
      got.set(name, t);
    }
    // after the weights, so freeing it gives its bytes back to the top of the heap
    const largest = Math.max(...[...refs.values()].map((r) => r.count));
    staging = k.alloc(Math.min(UPLOAD_CHUNK, largest), 'weight upload staging', false);
    for (const [name, ref] of refs) await ref.upload(k, got.get(name)!, staging, signal);
  } catch (e) {
    for (const t of all) t.free();
    throw e;
  } finally {
    staging?.free();
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

// out rows (N, C) ← table (V, C) rows of ids (N; negative ids leave the row alone). A bf16 table's
// rows are widened one by one (exact), so no f32 copy of the table exists.
export function embedRows(k: Kernels, out: Tensor, idsT: Tensor, ids: Int32Array, table: Tensor, C: number, V: number): void {
  if (table.dtype === 'f32') return k.embed(out, idsT, table, ids.length, C, V);
  for (let r = 0; r < ids.length; r++) {
    const id = ids[r];
    if (id < 0) continue;
    if (id >= V) throw new PromptkilnError('TOKEN', `token id ${id} at row ${r} is outside the vocabulary of ${V}`);
    k.bf16ToF32(out.at(r * C, C), table.at(id * C, C));
  }
}

// Rows (ids.length, C) of a table (V, C) of f32 or bf16, as f32 values.
export function tableRows(table: Tensor, ids: readonly number[], C: number): Float32Array {
  const out = new Float32Array(ids.length * C);
  if (table.dtype === 'f32') {
    const t = table.f32();
    ids.forEach((id, i) => out.set(t.subarray(id * C, (id + 1) * C), i * C));
    return out;
  }
  const t = table.u16(), bits = new Uint32Array(out.buffer);
  ids.forEach((id, i) => { for (let j = 0; j < C; j++) bits[i * C + j] = t[id * C + j] << 16; });
  return out;
}

// Σ x² over a tensor of f32 or bf16 values, accumulated in f64.
export function sumSquares(t: Tensor): number {
  let s = 0;
  if (t.dtype === 'f32') {
    const a = t.f32();
    for (let i = 0; i < a.length; i++) s += a[i] * a[i];
    return s;
  }
  const u = t.u16(), one = new Uint32Array(1), f = new Float32Array(one.buffer);
  for (let i = 0; i < u.length; i++) {
    one[0] = u[i] << 16;
    s += f[0] * f[0];
  }
  return s;
}
