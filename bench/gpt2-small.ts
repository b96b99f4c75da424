// A GPT-2-small-shaped checkpoint (12 × 768, vocab 50257, 1024 positions) with seeded random
// weights, built in memory: speed does not depend on the values. Shared by the model, soft and
// ort suites.
import type { Checkpoint, ModelConfig } from '../src/model/types.js';

export const GPT2_SMALL: ModelConfig = {
  arch: 'gpt2', dim: 768, nLayers: 12, nHeads: 12, nKvHeads: 12, headDim: 64, hiddenDim: 3072, vocabSize: 50257,
  maxSeqLen: 1024, normEps: 1e-5, ropeTheta: 10000, ropeMode: 'half', tiedEmbeddings: true, attnBias: true, mlpBias: true,
  bosId: null, eosId: null,
};

function randn(seed: number): () => number {
  let a = seed >>> 0 || 1;
  const u = () => { a ^= a << 13; a >>>= 0; a ^= a >>> 17; a ^= a << 5; a >>>= 0; return (a + 0.5) / 4294967296; };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

export function gpt2SmallCheckpoint(seed = 0, cfg: ModelConfig = GPT2_SMALL): Checkpoint {
  const r = randn(seed);
  const t = new Map<string, Float32Array>();
  const C = cfg.dim, F = cfg.hiddenDim;
  const fill = (n: number, s: number) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = s * r(); return a; };
  const ones = (n: number) => new Float32Array(n).fill(1);
  t.set('tok_embeddings', fill(cfg.vocabSize * C, 0.02));
  t.set('pos_embeddings', fill(cfg.maxSeqLen * C, 0.01));
  for (let l = 0; l < cfg.nLayers; l++) {
    const p = `layers.${l}.`;
    t.set(p + 'attn_norm', ones(C)); t.set(p + 'attn_norm_bias', new Float32Array(C));
    for (const w of ['wq', 'wk', 'wv', 'wo']) t.set(p + w, fill(C * C, 0.02));
    for (const b of ['bq', 'bk', 'bv', 'bo']) t.set(p + b, new Float32Array(C));
    t.set(p + 'mlp_norm', ones(C)); t.set(p + 'mlp_norm_bias', new Float32Array(C));
    t.set(p + 'w1', fill(F * C, 0.02)); t.set(p + 'b1', new Float32Array(F));
    t.set(p + 'w2', fill(C * F, 0.02)); t.set(p + 'b2', new Float32Array(C));
  }
  t.set('final_norm', ones(C)); t.set('final_norm_bias', new Float32Array(C));
  return { config: cfg, tensors: t, tokenizer: null, source: 'memory:gpt2-small-shape', id: `gpt2-small-shape-seed${seed}` };
}

// Batch of B random token sequences of length T (seeded).
export function randomTokens(B: number, T: number, V: number, seed = 0): number[][] {
  let a = seed * 2654435761 + 1;
  const next = () => { a = (Math.imul(a, 1664525) + 1013904223) >>> 0; return a; };
  return Array.from({ length: B }, () => Array.from({ length: T }, () => next() % V));
}
