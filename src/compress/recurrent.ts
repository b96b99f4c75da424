// Segment-wise recurrent compression (AutoCompressor-style): training and applying a compressor.
import { PromptkilnError } from '../errors.js';
import type { Kernels, Tensor } from '../kernels/index.js';
import type { Model, Segment } from '../model/index.js';
import { distillLoss, Fnv, modelIdentity, train, type TrainCheckpoint } from '../train/index.js';
import { measure, type CompressionMeasures } from './measures.js';
import { studentSegments, studentTargets, teacherFor, type TeacherRows } from './teacher.js';

// Segment-wise recurrent compression (AutoCompressor-style, frozen base model).
// The context is split into S segments c_1..c_S. Step i reads [σ^{<i} ; c_i ; m summary slots];
// the last hidden states at the slots, through a learned projection into embedding space, are the
// new summary: σ^{<i+1} = σ^{<i} ⊕ summary (accumulate) or = summary (replace). Trainable: the
// slot embeddings (m, C) and the projection W (C, C), b (C); trained end to end through every
// segment (activations of earlier segments are recomputed during the backward, so one workspace
// serves the whole chain), on many contexts, so new contexts need no per-context optimization.

export interface CompressorSpec {
  slots: number; // m summary slots per segment
  segments: number; // S segments per context
  mode: 'accumulate' | 'replace';
}

export interface CompressorWeights {
  slots: Float32Array; // (m, C)
  projW: Float32Array; // (C, C) in the kernels' (out, in) layout
  projB: Float32Array; // (C)
}

export interface CorpusItem {
  context: readonly number[];
  queries: readonly (readonly number[])[];
}

// The defaults of RecurrentCompressor.train() — the CLI reads them from here.
export const RECURRENT_DEFAULTS = { steps: 200, lr: 0.003, warmup: 10, queriesPerStep: 4, clip: 1, seed: 0, slots: 4, segments: 2 };

export interface RecurrentTrainOptions {
  steps?: number;
  lr?: number; // peak (cosine schedule)
  warmup?: number;
  queriesPerStep?: number;
  clip?: number;
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (e: { step: number; steps: number; loss: number; lr: number }) => void;
  checkpointEvery?: number; // steps between onCheckpoint calls (and one at the end; 0 = never)
  onCheckpoint?: (c: TrainCheckpoint) => void | Promise<void>;
  resume?: TrainCheckpoint | null;
  resumeFile?: string; // names the checkpoint in errors
}

export class RecurrentCompressor {
  readonly spec: CompressorSpec;
  private readonly k: Kernels;
  readonly slots: Tensor; // (m, C)
  readonly projW: Tensor; // (C, C)
  readonly projB: Tensor; // (C)

  constructor(readonly model: Model, spec: CompressorSpec, w: CompressorWeights) {
    const C = model.config.dim;
    if (!(spec.slots >= 1 && spec.segments >= 1)) throw new PromptkilnError('ARGUMENT', 'compressor: slots and segments must be ≥ 1');
    if (w.slots.length !== spec.slots * C || w.projW.length !== C * C || w.projB.length !== C) {
      throw new PromptkilnError('ADAPTER', `compressor weights do not fit a model of width ${C}: slots ${w.slots.length} (expected ${spec.slots * C}), proj ${w.projW.length} (expected ${C * C})`);
    }
    this.spec = spec;
    this.k = model.kernels;
    this.slots = this.k.alloc(w.slots.length, 'compressor slots', false).set(w.slots);
    this.projW = this.k.alloc(w.projW.length, 'compressor W', false).set(w.projW);
    this.projB = this.k.alloc(w.projB.length, 'compressor b', false).set(w.projB);
  }

  // Fresh weights: slots = embeddings of random vocabulary tokens; W = s·I with s matching the
  // scale of token embeddings to that of the final hidden states, b = 0.
  static init(model: Model, spec: CompressorSpec, sample: readonly number[], seed = 0): RecurrentCompressor {
    const { dim: C, vocabSize: V } = model.config;
    let a = (seed >>> 0) || 7;
    const next = () => { a ^= a << 13; a >>>= 0; a ^= a >>> 17; a ^= a << 5; a >>>= 0; return a; };
    const ids = Array.from({ length: spec.slots }, () => 3 + (next() % (V - 3)));
    const slots = model.embeddingRows(ids);
    const emb = model.embeddingRows(sample);
    const h = model.stack; // hidden-state scale from one forward of the sample
    model.run([[{ ids: sample }]], {});
    const hf = h.hidden().f32();
    const rms = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
    const s = rms(emb) / Math.max(1e-6, rms(hf));
    const projW = new Float32Array(C * C);
    for (let i = 0; i < C; i++) projW[i * C + i] = s;
    return new RecurrentCompressor(model, spec, { slots, projW, projB: new Float32Array(C) });
  }

  get tokens(): number {
    return this.spec.mode === 'accumulate' ? this.spec.slots * this.spec.segments : this.spec.slots;
  }

  weights(): CompressorWeights {
    return { slots: this.slots.f32().slice(), projW: this.projW.f32().slice(), projB: this.projB.f32().slice() };
  }

  dispose(): void {
    this.slots.free(); this.projW.free(); this.projB.free();
  }

  segmentsOf(context: readonly number[]): number[][] {
    const S = this.spec.segments;
    if (context.length < S) throw new PromptkilnError('ARGUMENT', `compressor: a context of ${context.length} tokens cannot fill ${S} segments`);
    const out: number[][] = [];
    for (let i = 0; i < S; i++) out.push(context.slice(Math.floor((i * context.length) / S), Math.floor(((i + 1) * context.length) / S)));
    return out;
  }

  // Forward chain. Returns σ (K, C) and, for training, every step's memory input and slot hiddens.
  run(context: readonly number[]): { sigma: Float32Array; mems: Float32Array[]; hiddens: Float32Array[] } {
    const { model, k } = this;
    const C = model.config.dim, m = this.spec.slots;
    const segs = this.segmentsOf(context);
    let mem: Float32Array = new Float32Array(0);
    const mems: Float32Array[] = [], hiddens: Float32Array[] = [];
    const mark = k.heap.mark();
    try {
      const h = k.alloc(m * C, 'slot hidden');
      const s = k.alloc(m * C, 'summary');
      for (const seg of segs) {
        mems.push(mem);
        const rows = mem.length / C;
        const st = model.run([this.stepSegments(mem, seg)], {});
        k.copy(h, st.hidden().at((rows + seg.length) * C, m * C));
        k.matmul(s, h, this.projW, this.projB, m, C, C);
        hiddens.push(h.f32().slice());
        const summary = s.f32().slice();
        mem = this.spec.mode === 'accumulate' ? concat(mem, summary) : summary;
      }
    } finally {
      k.heap.reset(mark);
    }
    return { sigma: mem, mems, hiddens };
  }

  private stepSegments(mem: Float32Array, seg: readonly number[]): Segment[] {
    const C = this.model.config.dim;
    const out: Segment[] = [];
    if (mem.length) out.push({ embeds: mem, rows: mem.length / C });
    out.push({ ids: seg });
    out.push({ embeds: this.slots, rows: this.spec.slots });
    return out;
  }

  compress(context: readonly number[]): Float32Array {
    return this.run(context).sigma;
  }

  // One end-to-end gradient: KL(teacher(c, z) ‖ student(σ(c), z)) over the queries' z rows,
  // backpropagated through the student, the projection and every segment. Accumulates into
  // the given gradients; returns the mean loss.
  gradient(context: readonly number[], zs: readonly (readonly number[])[], teacher: TeacherRows[],
    g: { slots: Tensor; projW: Tensor; projB: Tensor }): number {
    const { model, k } = this;
    const C = model.config.dim, V = model.config.vocabSize, m = this.spec.slots;
    const { sigma, mems, hiddens } = this.run(context);
    const K = sigma.length / C;
    const mark = k.heap.mark();
    try {
      // student pass
      const st = model.run(zs.map((z) => studentSegments(sigma, K, z)), { train: true });
      const T = st.rows / zs.length;
      const { rows, t } = studentTargets(zs, teacher, K, T, V);
      const loss = distillLoss(model, st, rows, t, 'kl');
      if (!Number.isFinite(loss)) return loss; // the loop stops before anything moves
      const dx = st.backward();
      let dmem = new Float32Array(K * C);
      const dxv = dx.f32();
      for (let b = 0; b < zs.length; b++) for (let i = 0; i < K * C; i++) dmem[i] += dxv[b * T * C + i];

      // back through the chain, newest segment first
      const segs = this.segmentsOf(context);
      const dnew = k.alloc(m * C, 'dsummary'), hT = k.alloc(m * C, 'slot hidden'), dh = k.alloc(m * C, 'dhidden');
      for (let i = segs.length - 1; i >= 0; i--) {
        const prevRows = mems[i].length / C;
        const newRows = this.spec.mode === 'accumulate' ? dmem.subarray(prevRows * C) : dmem;
        dnew.set(newRows);
        hT.set(hiddens[i]);
        k.matmulBackwardWeight(g.projW, g.projB, dnew, hT, m, C, C);
        k.zero(dh);
        k.matmulBackwardInput(dh, dnew, this.projW, m, C, C);
        const dprev = this.spec.mode === 'accumulate' ? dmem.slice(0, prevRows * C) : new Float32Array(prevRows * C);
        // recompute segment i with activations kept, inject d(hidden) at the slot rows
        const st2 = model.run([this.stepSegments(mems[i], segs[i])], { train: true });
        const N = st2.rows;
        const dhf = k.alloc(N * C, 'dhf');
        k.zero(dhf);
        k.copy(dhf.at((prevRows + segs[i].length) * C, m * C), dh);
        st2.addHiddenGrad(dhf);
        const d = st2.backward().f32();
        for (let j = 0; j < prevRows * C; j++) dprev[j] += d[j];
        k.axpy(g.slots, k.from(d.subarray((prevRows + segs[i].length) * C, N * C), 'dslots'), 1);
        dmem = dprev;
      }
      return loss;
    } finally {
      k.heap.reset(mark);
    }
  }

  // Trains slots and projection end to end on the corpus, one context a step (cycling), its queries
  // taken q at a time in turn.
  async train(corpus: readonly CorpusItem[], o: RecurrentTrainOptions = {}): Promise<{ history: { step: number; loss: number; lr: number }[] }> {
    const { model, k } = this;
    const D = RECURRENT_DEFAULTS;
    if (corpus.length === 0) throw new PromptkilnError('ARGUMENT', 'compressor training needs at least one context');
    const teachers = corpus.map((c) => teacherFor(model, c.context, c.queries));
    const grads = {
      slots: k.alloc(this.slots.n, 'dslots', false),
      projW: k.alloc(this.projW.n, 'dW', false),
      projB: k.alloc(this.projB.n, 'db', false),
    };
    const steps = o.steps ?? D.steps;
    const q = o.queriesPerStep ?? D.queriesPerStep;
    const data = new Fnv();
    for (const c of corpus) {
      data.ids(c.context).int(c.queries.length);
      for (const z of c.queries) data.ids(z);
    }
    try {
      const r = await train(k, {
        params: [
          { name: 'slots', value: this.slots, grad: grads.slots },
          { name: 'proj.weight', value: this.projW, grad: grads.projW },
          { name: 'proj.bias', value: this.projB, grad: grads.projB },
        ],
        step: ([ci], step) => {
          const item = corpus[ci];
          const start = (Math.floor(step / corpus.length) * q) % item.queries.length;
          const idx = Array.from({ length: Math.min(q, item.queries.length) }, (_, j) => (start + j) % item.queries.length);
          return { loss: this.gradient(item.context, idx.map((j) => item.queries[j]), idx.map((j) => teachers[ci][j]), grads) };
        },
      }, {
        what: 'compressor training', steps, data: { size: corpus.length, batchSize: 1, order: 'cycle' },
        lr: o.lr ?? D.lr, schedule: 'cosine', warmup: o.warmup ?? D.warmup, clip: o.clip ?? D.clip, seed: o.seed ?? D.seed,
        identity: { model: modelIdentity(model), data: data.hex(), settings: { spec: this.spec, queriesPerStep: q } },
        checkpointEvery: o.checkpointEvery, onCheckpoint: o.onCheckpoint, resume: o.resume, resumeFile: o.resumeFile, signal: o.signal,
        onProgress: o.onProgress && ((e) => o.onProgress!({ step: e.step, steps, loss: e.loss, lr: e.lr })),
      });
      return { history: r.history.map((h) => ({ step: h.step, loss: h.loss!, lr: h.lr! })) };
    } finally {
      grads.slots.free(); grads.projW.free(); grads.projB.free();
    }
  }

  // KL / top-1 / NLL of σ(c) on queries, with the no-context baseline beside it.
  evaluate(context: readonly number[], queries: readonly (readonly number[])[]): { before: CompressionMeasures; after: CompressionMeasures } {
    const t = teacherFor(this.model, context, queries);
    const sigma = this.compress(context);
    return {
      before: measure(this.model, null, 0, queries, t),
      after: measure(this.model, sigma, sigma.length / this.model.config.dim, queries, t),
    };
  }
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const o = new Float32Array(a.length + b.length);
  o.set(a);
  o.set(b, a.length);
  return o;
}
