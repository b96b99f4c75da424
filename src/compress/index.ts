// compress(): distill a long context into K soft tokens against the full-context teacher.
import { PromptkilnError } from '../errors.js';
import type { Conditioning, Model, Text } from '../model/index.js';
import { identity, loadCompressed, toConditioning, CONVENTION, type CompressedContext, type ModelInfo } from './artifact.js';
import { distill, type DistillOptions, type DistillProgress } from './distill.js';
import { measure, type CompressionMeasures } from './measures.js';
import type { RecurrentCompressor } from './recurrent.js';
import { teacherFor } from './teacher.js';

export { RecurrentCompressor, RECURRENT_DEFAULTS, type CompressorSpec, type CorpusItem, type RecurrentTrainOptions } from './recurrent.js';
export { saveCompressor, loadCompressor } from './compressor-file.js';
export { saveCompressed, loadCompressed, toConditioning, CONVENTION, type CompressedContext, type ModelInfo } from './artifact.js';
export { distill, DISTILL_DEFAULTS, type DistillOptions, type DistillProgress, type DistillResult, type DistillCheckpoint } from './distill.js';
export { measure, type CompressionMeasures } from './measures.js';

export interface CompressOptions extends Omit<DistillOptions, 'tokens' | 'evalQueries' | 'onProgress'> {
  tokens?: number; // K (distill; a recurrent compressor fixes its own K)
  method?: 'distill' | 'recurrent';
  compressor?: RecurrentCompressor; // required for method 'recurrent'
  queries?: Text[]; // continuations to distill against (default: sampled from the model after c)
  heldOut?: Text[]; // continuations for the measures (default: another sample)
  numQueries?: number; // sampled training continuations (default 32)
  numHeldOut?: number; // sampled held-out continuations (default 5)
  queryTokens?: number; // length of sampled continuations (default 16)
  onProgress?: (e: DistillProgress) => void;
}

export interface CompressReport {
  compressed: CompressedContext;
  before: CompressionMeasures; // the no-context baseline (z alone, no BOS)
  after: CompressionMeasures; // with σ
  history: { step: number; loss: number; lr: number }[];
  tokensSavedPerQuery: number;
  rowsPerQuery: { context: number; sigma: number }; // mean rows one held-out query's forward reads
  msPerQuery: { context: number; sigma: number }; // measured, for the report (wall clock: not for tests)
}

// Context ids, and query ids as they follow the context (encoded together and split, as scoring does).
export function encodeContext(model: Model, context: Text, queries: Text[]): { ctx: number[]; zs: number[][] } {
  const ctx = model.encodePrompt(context);
  const zs = queries.map((q) => {
    if (typeof q !== 'string') {
      model.checkIds(q, 'query');
      return [...q];
    }
    const { full, cut } = model.splitPromptTarget(context, q);
    return cut === ctx.length ? full.slice(cut) : model.requireTokenizer('text queries').encode(q, { bos: false });
  });
  return { ctx, zs };
}

// The model's own continuations of the context: what σ must reproduce by default.
export async function sampleContinuations(model: Model, ctx: number[], n: number, len: number, seed: number, signal?: AbortSignal): Promise<number[][]> {
  const out: number[][] = [];
  for (let i = 0; i < n; i++) {
    const r = await model.generate(ctx, { temperature: 1, seed: seed + i, maxTokens: len, stopAtEos: false, signal });
    if (r.tokens.length) out.push(r.tokens);
  }
  return out;
}

// Compress a context into K soft tokens σ: per-context distillation, or one pass of a trained
// recurrent compressor. The student reads σ then z (σ replaces the whole context, BOS included).
export async function compress(model: Model, context: Text, o: CompressOptions = {}): Promise<CompressReport> {
  const method = o.method ?? 'distill';
  const seed = o.seed ?? 0;
  const qLen = o.queryTokens ?? 16;
  const { ctx } = encodeContext(model, context, []);
  if (ctx.length === 0) throw new PromptkilnError('ARGUMENT', 'compress: the context is empty');
  if (ctx.length + qLen > model.config.maxSeqLen) {
    throw new PromptkilnError('CONTEXT', `compress: the context has ${ctx.length} tokens; with ${qLen}-token queries it exceeds the model's context of ${model.config.maxSeqLen}`);
  }
  const zs = o.queries ? encodeContext(model, context, o.queries).zs : await sampleContinuations(model, ctx, o.numQueries ?? 32, qLen, seed, o.signal);
  const held = o.heldOut ? encodeContext(model, context, o.heldOut).zs : await sampleContinuations(model, ctx, o.numHeldOut ?? 5, qLen, seed + 100_000, o.signal);
  let sigma: Float32Array;
  let history: CompressReport['history'] = [];
  if (method === 'distill') {
    if (o.tokens === undefined) throw new PromptkilnError('ARGUMENT', 'compress: tokens (K) is required for method distill');
    const r = await distill(model, ctx, zs, { ...o, tokens: o.tokens });
    sigma = r.sigma;
    history = r.history;
  } else if (method === 'recurrent') {
    if (!o.compressor) throw new PromptkilnError('ARGUMENT', 'compress: method recurrent needs a trained compressor (--compressor FILE)');
    if (o.tokens !== undefined && o.tokens !== o.compressor.tokens) {
      throw new PromptkilnError('ARGUMENT', `compress: this compressor produces ${o.compressor.tokens} soft tokens, not ${o.tokens}`);
    }
    sigma = o.compressor.compress(ctx);
  } else {
    throw new PromptkilnError('ARGUMENT', `compress: unknown method "${method}" (distill or recurrent)`);
  }
  const K = sigma.length / model.config.dim;
  const teacher = teacherFor(model, ctx, held);
  const before = measure(model, null, 0, held, teacher);
  const after = measure(model, sigma, K, held, teacher);
  const msPerQuery = timeQueries(model, ctx, sigma, K, held);
  const compressed: CompressedContext = {
    sigma, tokens: K, method, model: identity(model), convention: CONVENTION,
    contextTokens: ctx.length, ratio: ctx.length / K, measures: { before, after },
  };
  const meanZ = held.reduce((a, z) => a + z.length, 0) / Math.max(1, held.length);
  return { compressed, before, after, history, tokensSavedPerQuery: ctx.length - K, rowsPerQuery: { context: ctx.length + meanZ, sigma: K + meanZ }, msPerQuery };
}

// Forward time of answering each held-out query with the full context vs with σ.
function timeQueries(model: Model, ctx: number[], sigma: Float32Array, K: number, zs: number[][]): { context: number; sigma: number } {
  const t = (fn: () => void) => {
    const t0 = performance.now();
    for (let r = 0; r < 3; r++) fn();
    return (performance.now() - t0) / (3 * zs.length);
  };
  const context = t(() => { for (const z of zs) model.run([[{ ids: [...ctx, ...z] }]], {}); });
  const withSigma = t(() => { for (const z of zs) model.run([[{ embeds: sigma, rows: K }, { ids: z }]], {}); });
  return { context, sigma: withSigma };
}

// --compressed DIR for score/generate.
export async function loadCompressedConditioning(dir: string, model: ModelInfo): Promise<Conditioning> {
  return toConditioning(await loadCompressed(dir, model), model);
}
