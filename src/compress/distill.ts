import { PromptkilnError, throwIfAborted } from '../errors.js';
import type { Tensor } from '../kernels/index.js';
import { AdamW, learningRate, type Model, type Schedule } from '../model/index.js';
import { measure, type CompressionMeasures } from './measures.js';
import { argmaxRow, studentSegments, studentTargets, teacherFor, type TeacherRows } from './teacher.js';

export interface DistillOptions {
  tokens: number; // K soft tokens
  steps?: number; // optimizer steps (default 300)
  lr?: number; // peak learning rate (default 0.05)
  warmup?: number; // default 10
  schedule?: Schedule; // default cosine
  batch?: number; // queries per step (default 8)
  init?: 'chunks' | 'random'; // default chunks: mean token embedding of K context chunks
  objective?: 'kl' | 'argmax'; // KL to the teacher (default) or NLL of the teacher's greedy tokens
  teacherTopK?: number; // keep only the teacher's top-k per row (0 = full distributions)
  clip?: number; // global-norm clipping (default 1)
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (e: DistillProgress) => void;
  evalQueries?: (readonly number[])[]; // held-out queries measured before and after
  checkpointEvery?: number; // steps between onCheckpoint calls (0 = never)
  onCheckpoint?: (c: DistillCheckpoint) => void | Promise<void>;
  resume?: DistillCheckpoint | null; // continue exactly where that run stopped
}

// Everything a run needs to continue bit for bit: σ, the optimizer moments, the step, the history,
// and a fingerprint of the settings and data it was made with (resuming anything else is refused).
export interface DistillCheckpoint {
  fingerprint: string;
  step: number;
  sigma: number[];
  adam: { step: number; m: number[][]; v: number[][] };
  history: { step: number; loss: number; lr: number }[];
}

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
  const { config: c, kernels: k } = model;
  const K = o.tokens, C = c.dim;
  checkShapes(model, context, queries, K);
  const steps = o.steps ?? 300;
  const batch = Math.min(o.batch ?? 8, queries.length);
  const fingerprint = fingerprintOf(model, context, queries, o, steps, batch);
  if (o.resume && o.resume.fingerprint !== fingerprint) {
    throw new PromptkilnError('DATA', 'compress --resume: the checkpoint was made with other settings, data or model; start without --resume');
  }
  const teacher = teacherFor(model, context, queries, o.teacherTopK ?? 0);
  const evalTeacher = o.evalQueries?.length ? teacherFor(model, context, o.evalQueries, 0) : null;
  const before = evalTeacher ? measure(model, null, 0, o.evalQueries!, evalTeacher) : null;

  const sigma = k.alloc(K * C, 'sigma', false).set(o.resume ? o.resume.sigma : initSigma(model, context, K, o.init ?? 'chunks', o.seed ?? 0));
  const grad = k.alloc(K * C, 'sigma grad', false);
  const opt = new AdamW(k, [{ name: 'sigma', value: sigma, grad }], { lr: o.lr ?? 0.05 });
  if (o.resume) opt.load(o.resume.adam);
  const history: DistillResult['history'] = o.resume ? [...o.resume.history] : [];
  const checkpoint = (step: number): DistillCheckpoint => {
    const st = opt.state();
    return { fingerprint, step, sigma: Array.from(sigma.f32()), adam: { step: st.step, m: st.m.map((a) => Array.from(a)), v: st.v.map((a) => Array.from(a)) }, history: [...history] };
  };
  try {
    let lastYield = Date.now();
    for (let step = o.resume?.step ?? 0; step < steps; step++) {
      // let timers and signals (Ctrl-C) run between steps
      if (Date.now() - lastYield > 50) {
        await new Promise((r) => setTimeout(r, 0));
        lastYield = Date.now();
      }
      throwIfAborted(o.signal, 'compression');
      const idx = Array.from({ length: batch }, (_, i) => (step * batch + i) % queries.length);
      const lr = learningRate(step, { lr: o.lr ?? 0.05, warmup: o.warmup ?? 10, totalSteps: steps, schedule: o.schedule ?? 'cosine' });
      opt.zeroGrad();
      const loss = studentStep(model, sigma, K, idx.map((i) => queries[i]), idx.map((i) => teacher[i]), o.objective ?? 'kl', grad);
      if (!Number.isFinite(loss)) throw new PromptkilnError('NAN', `compression loss is ${loss} at step ${step + 1}; σ kept from step ${step}`);
      opt.clip(o.clip ?? 1);
      opt.update(lr);
      history.push({ step: step + 1, loss, lr });
      o.onProgress?.({ step: step + 1, steps, loss, lr });
      if (o.onCheckpoint && o.checkpointEvery && (step + 1) % o.checkpointEvery === 0 && step + 1 < steps) await o.onCheckpoint(checkpoint(step + 1));
    }
    const after = evalTeacher ? measure(model, sigma, K, o.evalQueries!, evalTeacher) : null;
    return { sigma: sigma.f32().slice(), history, before, after };
  } finally {
    opt.free();
    sigma.free();
    grad.free();
  }
}

// The settings and data a checkpoint must agree with to be resumed.
function fingerprintOf(model: Model, context: readonly number[], queries: readonly (readonly number[])[], o: DistillOptions,
  steps: number, batch: number): string {
  let h = 0x811c9dc5;
  const mix = (x: number) => { h = Math.imul(h ^ (x & 0xffff), 0x01000193); h = Math.imul(h ^ (x >>> 16), 0x01000193); };
  for (const t of context) mix(t);
  for (const q of queries) { mix(-1); for (const t of q) mix(t); }
  return JSON.stringify({
    model: model.id, K: o.tokens, steps, batch, lr: o.lr ?? 0.05, warmup: o.warmup ?? 10, schedule: o.schedule ?? 'cosine',
    init: o.init ?? 'chunks', objective: o.objective ?? 'kl', topK: o.teacherTopK ?? 0, clip: o.clip ?? 1, seed: o.seed ?? 0,
    data: (h >>> 0).toString(16),
  });
}

// One forward/backward of the student on a batch of queries; accumulates dσ into grad and returns
// the mean loss over the batch's z rows.
export function studentStep(model: Model, sigma: Tensor, K: number, zs: readonly (readonly number[])[], teacher: TeacherRows[],
  objective: 'kl' | 'argmax', grad: Tensor): number {
  const { config: c, kernels: k } = model;
  const C = c.dim, V = c.vocabSize;
  const st = model.run(zs.map((z) => studentSegments(sigma, K, z)), { train: true });
  const T = st.rows / zs.length;
  const { rows, t } = studentTargets(zs, teacher, K, T, V);
  const n = rows.length;
  const mark = k.heap.mark();
  try {
    let loss: number;
    if (objective === 'kl') {
      const tT = k.from(t, 'teacher batch');
      loss = st.kl(rows, tT, 1 / n, true).sum / n;
    } else {
      const targets = Array.from({ length: n }, (_, r) => argmaxRow(t, r * V, V));
      loss = st.nll(rows, targets, 1 / n, true).sum / n;
    }
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
