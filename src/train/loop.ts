// The one training loop: optimizer, schedule, clipping, NaN guard, abort and yielding, progress,
// history, evaluation with early stopping and best-so-far, checkpoints and exact resume. A method
// (prompt tuning, prefix tuning, distillation, the recurrent compressor, the RL policy) only says
// what one step computes.
import { PromptkilnError, throwIfAborted } from '../errors.js';
import type { Kernels } from '../kernels/index.js';
import { rng } from '../model/sampling.js';
import type { HistoryEntry, TrainCheckpoint } from './checkpoint.js';
import { checkRunIdentity, type ModelIdentity, type RunIdentity } from './identity.js';
import { makeOptimizer, type Optimizer, type OptimizerSpec, type Param } from './optim.js';
import { learningRate, type Schedule } from './schedule.js';

export interface StepResult {
  loss: number; // mean loss of the batch
  tokens?: number; // tokens processed (throughput)
}

// A held-out evaluation: lower loss is better.
export interface Evaluation {
  loss: number;
}

// What a training method implements.
export interface TrainMethod<E extends Evaluation = Evaluation> {
  readonly params: Param[];
  // Loss of one batch (indices into the data) with its gradients accumulated into the params'
  // grads (the loop zeroes them before the step).
  step(batch: readonly number[], step: number): StepResult | Promise<StepResult>;
  evaluate?(): E | Promise<E>;
  // what of an evaluation goes into the history beside validLoss (e.g. exactMatch)
  historyOf?(e: E): Record<string, number | undefined>;
  // the loop wrote the params' values (resume, best restore): refresh anything derived from them
  restored?(): void;
}

export interface LoopProgress<E extends Evaluation = Evaluation> {
  step: number; // steps done
  totalSteps: number;
  epoch: number;
  loss: number; // this step's training loss
  lr: number;
  gradNorm: number;
  tokensPerSec: number;
  eta: number; // seconds
  valid?: E; // present when this step ended with an evaluation
}

export interface LoopOptions<E extends Evaluation = Evaluation> {
  what: string; // 'tuning', 'compression', … for messages
  steps: number; // total optimizer steps (Infinity: run() is called with an end each time)
  data: { size: number; batchSize: number; order: 'shuffle' | 'cycle' };
  lr: number; // peak learning rate
  optimizer?: OptimizerSpec; // default AdamW(0.9, 0.999, 1e-8, no decay)
  schedule?: Schedule; // default constant
  warmup?: number; // steps of linear warm-up (default 0)
  clip?: number; // global-norm clipping; default 1, 0 = off
  seed?: number; // the data order's seed (default 0)
  evalEvery?: number; // steps; default once per epoch (methods with evaluate())
  earlyStopping?: { patience: number; minDelta?: number } | null; // in evaluations, on validation loss
  // who the run is: settings of the method that change the math (the loop adds its own), the data, the model
  identity: { model: ModelIdentity | null; settings: Record<string, unknown>; data: string };
  checkpointEvery?: number; // steps between checkpoints (and one at the end); 0 = never
  onCheckpoint?: (c: TrainCheckpoint) => void | Promise<void>;
  resume?: TrainCheckpoint | null;
  resumeFile?: string; // names the checkpoint in errors
  signal?: AbortSignal;
  onProgress?: (e: LoopProgress<E>) => void;
}

export interface LoopResult<E extends Evaluation = Evaluation> {
  steps: number;
  history: HistoryEntry[];
  before: E | null; // evaluation of the starting params (kept in checkpoints: a resumed run reports it too)
  after: E | null; // evaluation of the returned params (the best ones)
  bestStep: number | null;
  stoppedEarly: boolean;
  seconds: number;
}

// The loop's timers and Ctrl-C get a turn at least this often (ms).
export const YIELD_MS = 20;

const tick = () => new Promise<void>((r) => setTimeout(r, 0));

// The epoch's example order: a pure function of (seed, epoch), so a resumed run sees the same.
export function epochOrder(n: number, seed: number, epoch: number): number[] {
  const r = rng((seed * 1000003 + epoch * 7919 + 1) >>> 0);
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

function positiveInt(x: number, name: string, what: string, allowInf = false): void {
  if (!((Number.isInteger(x) || (allowInf && x === Infinity)) && x > 0)) throw new PromptkilnError('ARGUMENT', `${what}: ${name} must be a positive integer, got ${x}`);
}

export class Trainer<E extends Evaluation = Evaluation> {
  readonly opt: Optimizer;
  step = 0;
  history: HistoryEntry[] = [];
  before: E | null = null;
  stoppedEarly = false;
  private best: TrainCheckpoint['best'] = null;
  private badEvals = 0;
  private lastCheckpoint = 0;
  private readonly identity: RunIdentity;
  private readonly perEpoch: number;
  private order: { epoch: number; idx: number[] } | null = null;
  private readonly t0 = Date.now();
  private tokens = 0;
  private started = false;

  constructor(k: Kernels, readonly method: TrainMethod<E>, readonly o: LoopOptions<E>) {
    const w = o.what;
    positiveInt(o.steps, 'steps', w, true);
    positiveInt(o.data.size, 'data size', w);
    positiveInt(o.data.batchSize, 'batchSize', w);
    if (!(o.lr > 0) || !Number.isFinite(o.lr)) throw new PromptkilnError('ARGUMENT', `${w}: lr must be a positive number, got ${o.lr}`);
    if (!((o.clip ?? 1) >= 0)) throw new PromptkilnError('ARGUMENT', `${w}: clip must be ≥ 0, got ${o.clip}`);
    if (!(Number.isInteger(o.warmup ?? 0) && (o.warmup ?? 0) >= 0)) throw new PromptkilnError('ARGUMENT', `${w}: warmup must be a non-negative integer, got ${o.warmup}`);
    if (o.evalEvery !== undefined) positiveInt(o.evalEvery, 'evalEvery', w);
    if (o.earlyStopping) positiveInt(o.earlyStopping.patience, 'patience', w);
    if (o.data.order !== 'shuffle' && o.data.order !== 'cycle') throw new PromptkilnError('ARGUMENT', `${w}: data order must be 'shuffle' or 'cycle', got ${JSON.stringify(o.data.order)}`);
    // both act on evaluations: without a validation set they would be ignored
    if (!method.evaluate && (o.evalEvery !== undefined || o.earlyStopping)) {
      const key = o.evalEvery !== undefined ? `evalEvery ${o.evalEvery}` : `earlyStopping ${JSON.stringify(o.earlyStopping)}`;
      throw new PromptkilnError('ARGUMENT', `${w}: ${key} needs a validation set, and this run has none`, { key: key.split(' ')[0] });
    }
    this.perEpoch = Math.ceil(o.data.size / o.data.batchSize);
    this.identity = {
      model: o.identity.model,
      data: o.identity.data,
      settings: {
        steps: o.steps, batchSize: o.data.batchSize, order: o.data.order, lr: o.lr, optimizer: o.optimizer ?? { type: 'adamw' },
        schedule: o.schedule ?? 'constant', warmup: o.warmup ?? 0, clip: o.clip ?? 1, seed: o.seed ?? 0,
        evalEvery: method.evaluate ? o.evalEvery ?? this.perEpoch : null, earlyStopping: o.earlyStopping ?? null,
        ...o.identity.settings,
      },
    };
    this.opt = makeOptimizer(k, method.params, o.lr, o.optimizer);
    if (o.resume) {
      try {
        this.load(o.resume);
      } catch (e) {
        this.opt.free();
        throw e;
      }
    }
  }

  private load(r: TrainCheckpoint): void {
    checkRunIdentity(r.identity, this.identity, this.o.resumeFile ?? 'resume');
    if (r.params.length !== this.method.params.length) throw new PromptkilnError('DATA', `${this.o.resumeFile ?? 'resume'}: ${r.params.length} tensors, this run trains ${this.method.params.length}`);
    this.method.params.forEach((p, i) => p.value.set(r.params[i]));
    this.method.restored?.();
    this.opt.load(r.optimizer);
    this.step = r.step;
    this.lastCheckpoint = r.step;
    this.history = r.history.slice();
    this.best = r.best ? { ...r.best, params: r.best.params.map((p) => p.slice()) } : null;
    this.badEvals = r.badEvals;
    this.before = (r.before ?? null) as E | null;
    this.started = true;
  }

  private snapshot(): Float32Array[] {
    return this.method.params.map((p) => p.value.f32().slice());
  }

  checkpoint(): TrainCheckpoint {
    return {
      step: this.step, params: this.snapshot(), optimizer: this.opt.state(), best: this.best, badEvals: this.badEvals,
      history: this.history.slice(), before: this.before, identity: this.identity,
    };
  }

  epochOf(step: number): number {
    const d = this.o.data;
    return d.order === 'shuffle' ? Math.floor(step / this.perEpoch) : Math.floor((step * d.batchSize) / d.size);
  }

  // Indices into the data for one step: a shuffled epoch in order, or a cycle through the data.
  batchAt(step: number): number[] {
    const { size, batchSize: bs, order } = this.o.data;
    if (order === 'cycle') return Array.from({ length: bs }, (_, i) => (step * bs + i) % size);
    const epoch = this.epochOf(step);
    if (this.order?.epoch !== epoch) this.order = { epoch, idx: epochOrder(size, this.o.seed ?? 0, epoch) };
    const at = (step % this.perEpoch) * bs;
    return this.order.idx.slice(at, at + bs);
  }

  private async evaluate(): Promise<E | null> {
    return this.method.evaluate ? await this.method.evaluate() : null;
  }

  private record(e: E, entry: HistoryEntry): void {
    entry.validLoss = e.loss;
    for (const [key, v] of Object.entries(this.method.historyOf?.(e) ?? {})) if (v !== undefined) entry[key] = v;
  }

  // Runs steps until `until` (default: all), an early stop, an abort (ABORTED) or a NaN (NAN).
  async run(until = this.o.steps): Promise<void> {
    const o = this.o, total = o.steps;
    if (!this.started) {
      this.started = true;
      this.before = await this.evaluate();
      if (this.before) {
        const entry: HistoryEntry = { step: 0, epoch: 0 };
        this.record(this.before, entry);
        this.history.push(entry);
        this.best = { loss: this.before.loss, step: 0, params: this.snapshot() }; // training may never beat the start
      }
    }
    const evalEvery = o.evalEvery ?? this.perEpoch;
    const startStep = this.step;
    const t0 = Date.now();
    let lastTick = Date.now();
    while (this.step < Math.min(until, total) && !this.stoppedEarly) {
      throwIfAborted(o.signal, o.what);
      const step = this.step, epoch = this.epochOf(step);
      const batch = this.batchAt(step);
      this.opt.zeroGrad();
      const r = await this.method.step(batch, step);
      if (!Number.isFinite(r.loss)) {
        throw new PromptkilnError('NAN', `${o.what}: training loss is ${r.loss} at step ${step + 1}; the parameters were not updated and the last good checkpoint (step ${this.lastCheckpoint}) is kept`, { step: step + 1, lastGoodStep: this.lastCheckpoint });
      }
      const gradNorm = this.opt.clip(o.clip ?? 1);
      const lr = learningRate(step, { lr: o.lr, warmup: o.warmup ?? 0, totalSteps: total, schedule: o.schedule ?? 'constant' });
      this.opt.update(lr);
      this.step++;
      this.tokens += r.tokens ?? 0;
      const secs = Math.max(1e-3, (Date.now() - this.t0) / 1000);
      const entry: HistoryEntry = { step: this.step, epoch, loss: r.loss, lr, gradNorm, tokensPerSec: this.tokens / secs };
      let valid: E | undefined;
      if (this.method.evaluate && (this.step % evalEvery === 0 || this.step === total)) {
        valid = (await this.evaluate())!;
        this.record(valid, entry);
        if (!this.best || valid.loss < this.best.loss - (o.earlyStopping?.minDelta ?? 0)) {
          this.best = { loss: valid.loss, step: this.step, params: this.snapshot() };
          this.badEvals = 0;
        } else this.badEvals++;
        if (o.earlyStopping && this.badEvals >= o.earlyStopping.patience) this.stoppedEarly = true;
      }
      this.history.push(entry);
      const eta = ((Date.now() - t0) / 1000 / (this.step - startStep)) * (total - this.step);
      o.onProgress?.({ step: this.step, totalSteps: total, epoch, loss: r.loss, lr, gradNorm, tokensPerSec: this.tokens / secs, eta, valid });
      if (o.checkpointEvery && o.onCheckpoint && (this.step % o.checkpointEvery === 0 || this.step === total || this.stoppedEarly)) {
        await o.onCheckpoint(this.checkpoint());
        this.lastCheckpoint = this.step;
      }
      if (Date.now() - lastTick > YIELD_MS) {
        await tick(); // lets abort signals and progress rendering run
        lastTick = Date.now();
      }
    }
  }

  // The best params (when evaluated) back in place, and the evaluation of what is returned.
  async finish(): Promise<LoopResult<E>> {
    if (this.best && this.method.evaluate) {
      this.method.params.forEach((p, i) => p.value.set(this.best!.params[i]));
      this.method.restored?.();
    }
    const after = this.method.evaluate ? await this.evaluate() : null;
    return {
      steps: this.step, history: this.history, before: this.before, after, bestStep: this.best?.step ?? null,
      stoppedEarly: this.stoppedEarly, seconds: (Date.now() - this.t0) / 1000,
    };
  }

  free(): void {
    this.opt.free();
  }
}

// Trains `method` to the end and returns the loop's result; the optimizer is freed either way.
export async function train<E extends Evaluation>(k: Kernels, method: TrainMethod<E>, o: LoopOptions<E>): Promise<LoopResult<E>> {
  const t = new Trainer(k, method, o);
  try {
    await t.run();
    return await t.finish();
  } finally {
    t.free();
  }
}
