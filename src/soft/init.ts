// Initial values of virtual tokens: random, sampled vocabulary rows, or a text's embeddings.
import { PromptkilnError } from '../errors.js';
import type { Model } from '../model/index.js';
import { rng } from '../model/sampling.js';
import { sumSquares } from '../model/weights.js';

// How virtual tokens start. PEFT names: RANDOM, SAMPLE_VOCAB, TEXT.
export type InitSpec = { type: 'random'; std?: number } | { type: 'vocab' } | { type: 'text'; text: string };

export function parseInit(s: string | undefined): InitSpec {
  if (!s || s === 'random') return { type: 'random' };
  if (s === 'vocab') return { type: 'vocab' };
  if (s.startsWith('text:')) return { type: 'text', text: s.slice(5) };
  throw new PromptkilnError('ARGUMENT', `--init expects random, vocab or text:"…", got "${s}"`);
}

export function peftInitName(i: InitSpec): 'RANDOM' | 'SAMPLE_VOCAB' | 'TEXT' {
  return i.type === 'random' ? 'RANDOM' : i.type === 'vocab' ? 'SAMPLE_VOCAB' : 'TEXT';
}

// Standard normal draws from a seeded uniform stream (Box–Muller), identical on every engine.
export function normal(rand: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) { const s = spare; spare = null; return s; }
    const u = Math.max(rand(), 1e-12), v = rand();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

// The token ids a text init uses: PEFT semantics — the text's tokens (with the checkpoint's BOS
// rule, as PEFT calls the tokenizer with special tokens) truncated to n, or repeated until n.
export function initTokenIds(model: Model, n: number, i: InitSpec, seed: number): number[] | null {
  if (i.type === 'random') return null;
  if (i.type === 'vocab') {
    const r = rng(seed ^ 0x5eed);
    return Array.from({ length: n }, () => Math.floor(r() * model.config.vocabSize));
  }
  const ids = model.encodePrompt(i.text);
  if (!ids.length) throw new PromptkilnError('ARGUMENT', `init text "${i.text}" encodes to no tokens`);
  const out: number[] = [];
  while (out.length < n) out.push(...ids);
  return out.slice(0, n);
}

// Token embedding rows (ids.length, C) as the model's embedding module gives them (Gemma scales
// them, as PEFT's text init gets them through the scaled module).
export function embedRows(model: Model, ids: readonly number[]): Float32Array {
  return model.embeddingRows(ids);
}

// RMS of the embedding table: the scale of a random init that looks like real tokens.
export function embeddingRms(model: Model): number {
  const t = model.stack.w.tokEmbeddings; // f32 or bf16
  return Math.sqrt(sumSquares(t) / t.n);
}

// (n, C) initial soft prompt rows.
export function initPromptRows(model: Model, n: number, i: InitSpec, seed: number): Float32Array {
  const ids = initTokenIds(model, n, i, seed);
  if (ids) return embedRows(model, ids);
  const std = i.type === 'random' && i.std !== undefined ? i.std : embeddingRms(model);
  const z = normal(rng(seed));
  const out = new Float32Array(n * model.config.dim);
  for (let j = 0; j < out.length; j++) out[j] = std * z();
  return out;
}
