// Context distillation as one train/ step: σ (K, C) learns to stand in for the context.
import { PromptkilnError } from '../errors.js';
import type { Tensor } from '../kernels/index.js';
import type { Model } from '../model/index.js';
import {
  distillLoss, Fnv, modelIdentity, paramOf, train, type DistillObjective, type Schedule, type TeacherRows, type TrainCheckpoint,
} from '../train/index.js';
import { measure, type CompressionMeasures } from './measures.js';
import { studentSegments, studentTargets, teacherFor } from './teacher.js';

// The defaults of distill() — the CLI reads them from here.
export const DISTILL_DEFAULTS = {
  steps: 300, lr: 0.05, warmup: 10, schedule: 'cosine' as Schedule, batch: 8, init: 'chunks' as const, objective: 'kl' as DistillObjective,
  teacherTopK: 0, clip: 1, seed: 0,
};

export interface DistillOptions {
  tokens: number; // K soft tokens
  steps?: number; // optimizer steps
  lr?: number; // peak learning rate
  warmup?: number;
  schedule?: Schedule;
  batch?: number; // queries per step
  init?: 'chunks' | 'random'; // chunks: mean token embedding of K context chunks
  objective?: DistillObjective; // KL to the teacher or NLL of the teacher's greedy tokens
  teacherTopK?: number; // keep only the teacher's top-k per row (0 = full distributions)
  clip?: number; // global-norm clipping
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (e: DistillProgress) => void;
  evalQueries?: (readonly number[])[]; // held-out queries measured before and after
  checkpointEvery?: number; // steps between onCheckpoint calls (and one at the end; 0 = never)
  onCheckpoint?: (c: DistillCheckpoint) => void | Promise<void>;
  resume?: DistillCheckpoint | null; // continue exactly where that run stopped
  resumeFile?: string; // names the checkpoint in errors
}

// train/'s one checkpoint format: σ, the optimizer state, the step, the history and the run identity.
export type DistillCheckpoint = TrainCheckpoint;

export interface DistillProgress {
  step: number;
  steps: number;
  loss: number;
  lr: number;
}

export interface DistillResult {
  sigma: Float32Array; // (K, C)
  history: { step: number; loss: number; lr: number }[];
  before: CompressionMeasures | null; // no-context baseline on evalQueries
  after: CompressionMeasures | null; // with σ on evalQueries
}

// Context distillation: learn σ (K, C) so that P(· | σ, z) ≈ P(· | c, z) over the queries z,
// minimizing (1/rows) Σ KL(teacher ‖ student) on the z rows (the convention of
// ../shared/refs/README.md). The model stays frozen; only σ trains.
export async function distill(model: Model, context: readonly number[], queries: readonly (readonly number[])[], o: DistillOptions): Promise<DistillResult> {
  const D = DISTILL_DEFAULTS;
  const k = model.kernels;
  const K = o.tokens;
  checkShapes(model, context, queries, K);
  const objective = o.objective ?? D.objective;
  if (objective !== 'kl' && objective !== 'argmax') throw new PromptkilnError('ARGUMENT', `compress: objective must be kl or argmax, got "${objective}"`);
  const topK = o.teacherTopK ?? D.teacherTopK;
  if (!(Number.isInteger(topK) && topK >= 0)) throw new PromptkilnError('ARGUMENT', `compress: teacherTopK must be a non-negative integer, got ${topK}`);
  const teacher = teacherFor(model, context, queries, topK);
  const evalTeacher = o.evalQueries?.length ? teacherFor(model, context, o.evalQueries, 0) : null;
  const before = evalTeacher ? measure(model, null, 0, o.evalQueries!, evalTeacher) : null;
  const sigma = paramOf(k, 'sigma', initSigma(model, context, K, o.init ?? D.init, o.seed ?? D.seed)); // (K, C)
  try {
    const data = new Fnv().ids(context);
    for (const q of queries) data.ids(q);
    const steps = o.steps ?? D.steps;
    const r = await train(k, {
      params: [sigma],
      step: (idx) => ({ loss: studentStep(model, sigma.value, K, idx.map((i) => queries[i]), idx.map((i) => teacher[i]), objective, sigma.grad) }),
    }, {
      what: 'compression', steps, data: { size: queries.length, batchSize: Math.min(o.batch ?? D.batch, queries.length), order: 'cycle' },
      lr: o.lr ?? D.lr, schedule: o.schedule ?? D.schedule, warmup: o.warmup ?? D.warmup, clip: o.clip ?? D.clip, seed: o.seed ?? D.seed,
      identity: { model: modelIdentity(model), data: data.hex(), settings: { K, init: o.init ?? D.init, objective, teacherTopK: topK } },
      checkpointEvery: o.checkpointEvery, onCheckpoint: o.onCheckpoint, resume: o.resume, resumeFile: o.resumeFile, signal: o.signal,
      onProgress: o.onProgress && ((e) => o.onProgress!({ step: e.step, steps, loss: e.loss, lr: e.lr })),
    });
    const after = evalTeacher ? measure(model, sigma.value, K, o.evalQueries!, evalTeacher) : null;
    const history = r.history.map((h) => ({ step: h.step, loss: h.loss!, lr: h.lr! }));
    return { sigma: sigma.value.f32().slice(), history, before, after };
  } finally {
    sigma.value.free();
    sigma.grad.free();
  }
}

// One forward/backward of the student on a batch of queries; accumulates dσ into grad and returns
// the mean loss over the batch's z rows.
export function studentStep(model: Model, sigma: Tensor, K: number, zs: readonly (readonly number[])[], teacher: TeacherRows[],
  objective: DistillObjective, grad: Tensor): number {
  const { config: c, kernels: k } = model;
  const C = c.dim, V = c.vocabSize;
  const st = model.run(zs.map((z) => studentSegments(sigma, K, z)), { train: true });
  const T = st.rows / zs.length;
  const { rows, t } = studentTargets(zs, teacher, K, T, V);
  const mark = k.heap.mark();
  try {
    const loss = distillLoss(model, st, rows, t, objective);
    if (!Number.isFinite(loss)) return loss; // the loop stops before σ moves
    const dx = st.backward();
    for (let b = 0; b < zs.length; b++) k.axpy(grad, dx.at(b * T * C, K * C), 1);
    return loss;
  } finally {
    k.heap.reset(mark);
  }
}

// σ init. 'chunks': split the context into K contiguous chunks and take each chunk's mean token
// embedding — σ starts as a blurred copy of the context; 'random': N(0, s²) with s the embedding
// table's RMS, so σ starts at the scale the first layer expects.
export function initSigma(model: Model, context: readonly number[], K: number, how: 'chunks' | 'random', seed: number): Float32Array {
  const { config: c } = model;
  const C = c.dim;
  const emb = model.embeddingRows(context);
  const out = new Float32Array(K * C);
  if (how === 'chunks') {
    for (let i = 0; i < K; i++) {
      const a = Math.floor((i * context.length) / K), b = Math.max(a + 1, Math.floor(((i + 1) * context.length) / K));
      for (let r = a; r < b; r++) for (let j = 0; j < C; j++) out[i * C + j] += emb[r * C + j] / (b - a);
    }
    return out;
  }
  let ss = 0;
  for (const x of emb) ss += x * x;
  const s = Math.sqrt(ss / emb.length);
  const rand = gaussian(seed);
  for (let i = 0; i < out.length; i++) out[i] = s * rand();
  return out;
}

function gaussian(seed: number): () => number {
  let a = seed >>> 0 || 1;
  const u = () => {
    a ^= a << 13; a >>>= 0; a ^= a >>> 17; a ^= a << 5; a >>>= 0;
    return (a + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

export function checkShapes(model: Model, context: readonly number[], queries: readonly (readonly number[])[], K: number): void {
  const c = model.config;
  if (context.length === 0) throw new PromptkilnError('ARGUMENT', 'compress: the context is empty');
  if (context.length > c.maxSeqLen) {
    throw new PromptkilnError('CONTEXT', `compress: the context has ${context.length} tokens, the model's context is ${c.maxSeqLen}`);
  }
  if (!Number.isInteger(K) || K < 1) throw new PromptkilnError('ARGUMENT', `compress: tokens must be a positive integer, got ${K}`);
  if (K >= context.length) {
    throw new PromptkilnError('ARGUMENT', `compress: ${K} soft tokens for a context of ${context.length} tokens compresses nothing (K must be smaller)`);
  }
  if (queries.length === 0) throw new PromptkilnError('ARGUMENT', 'compress: at least one query (continuation) is needed to distill against');
  for (const z of queries) {
    if (z.length === 0) throw new PromptkilnError('ARGUMENT', 'compress: a query is empty');
    if (context.length + z.length > c.maxSeqLen) {
      throw new PromptkilnError('CONTEXT', `compress: context (${context.length}) + query (${z.length}) tokens exceed the model's context of ${c.maxSeqLen}`);
    }
  }
}
