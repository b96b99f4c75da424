import { PromptkilnError, throwIfAborted } from '../errors.js';
import type { Model } from '../model/model.js';
import { AdamW, learningRate, type Schedule } from '../model/optim.js';
import type { TrainCheckpoint } from './checkpoint.js';
import { evaluateLaid, type EvalMetrics } from './evaluate.js';
import type { InitSpec } from './init.js';
import { batchTargets, type TuningMethod } from './method.js';
import { layoutExample, type LaidExample } from './mixed.js';
import { PrefixTuning } from './prefix-tuning.js';
import { PromptTuning } from './prompt-tuning.js';
import { rng } from '../model/sampling.js';
import type { Example, SoftArtifact, TemplatePart } from './types.js';

export interface TuneOptions {
  method?: 'prompt' | 'prefix'; // default 'prompt'
  virtualTokens?: number; // N (plain prompt tuning / prefix P); default 8
  template?: TemplatePart[]; // mixed prompt (method 'prompt': soft parts; 'prefix': text + input)
  init?: InitSpec; // default random
  reparameterize?: { hidden: number } | null; // prefix only
  // starting values instead of `init`: soft rows (N, C), or per-layer prefix K/V (P, Hkv, hd)
  initial?: Float32Array | { k: Float32Array[]; v: Float32Array[] } | null;
  epochs?: number; // default 1
  maxSteps?: number; // overrides epochs
  batchSize?: number; // default 8
  lr?: number; // default 0.03
  weightDecay?: number; // default 0
  betas?: [number, number];
  warmup?: number; // steps of linear warm-up; default 0
  schedule?: Schedule; // default 'cosine'
  clip?: number; // global-norm clipping; default 1, 0 = off
  seed?: number; // default 0
  valid?: Example[];
  evalEvery?: number; // steps; default once per epoch
  labels?: string[] | null; // label accuracy by log-likelihood over these choices
  earlyStopping?: { patience: number; minDelta?: number } | null; // in evaluations, on valid loss
  checkpointEvery?: number; // steps; 0 = never
  onCheckpoint?: (c: TrainCheckpoint) => void | Promise<void>;
  resume?: TrainCheckpoint | null;
  signal?: AbortSignal;
  onProgress?: (e: ProgressEvent) => void;
}

export interface ProgressEvent {
  step: number; // steps done
  totalSteps: number;
  epoch: number;
  loss: number; // this step's training loss
  lr: number;
  gradNorm: number;
  tokensPerSec: number;
  eta: number; // seconds
  valid?: EvalMetrics; // present when this step ended with an evaluation
}

export interface HistoryEntry {
  step: number;
  epoch: number;
  loss?: number;
  lr?: number;
  gradNorm?: number;
  tokensPerSec?: number;
  validLoss?: number;
  exactMatch?: number;
  labelAccuracy?: number;
}

export interface TuneMetrics {
  steps: number;
  trainLoss: number; // mean of the last epoch's step losses
  before: EvalMetrics | null; // validation with the initial prompt
  after: EvalMetrics | null; // validation with the returned prompt
  bestStep: number | null;
  stoppedEarly: boolean;
  seconds: number;
}

export interface TuneResult {
  prompt: SoftArtifact;
  metrics: TuneMetrics;
  history: HistoryEntry[];
}

// The settings a checkpoint must agree with to resume.
function signature(model: Model, o: TuneOptions, method: TuningMethod, n: number): string {
  return JSON.stringify({
    model: model.id, method: method.kind, template: method.template, params: method.params.map((p) => p.value.n),
    batch: o.batchSize ?? 8, lr: o.lr ?? 0.03, seed: o.seed ?? 0, data: n, epochs: o.epochs ?? 1, maxSteps: o.maxSteps ?? null,
  });
}

export function buildMethod(model: Model, o: TuneOptions): TuningMethod {
  const kind = o.method ?? 'prompt';
  const n = o.virtualTokens ?? 8;
  const init = o.init ?? { type: 'random' };
  const seed = o.seed ?? 0;
  if (kind === 'prompt') {
    const t = o.template ?? [{ soft: n }, { input: true }];
    if (o.initial && !(o.initial instanceof Float32Array)) throw new PromptkilnError('ARGUMENT', 'prompt tuning: initial must be a Float32Array of soft rows');
    return new PromptTuning(model, t, init, seed, o.initial ?? undefined);
  }
  if (kind === 'prefix') {
    return new PrefixTuning(model, o.template ?? [{ input: true }], { P: n, init, seed, reparameterize: o.reparameterize ?? null },
      o.initial instanceof Float32Array ? undefined : o.initial ?? undefined);
  }
  throw new PromptkilnError('ARGUMENT', `method must be "prompt" or "prefix", got "${kind}"`);
}

// The epoch's example order: a pure function of (seed, epoch), so a resumed run sees the same.
function epochOrder(n: number, seed: number, epoch: number): number[] {
  const r = rng((seed * 1000003 + epoch * 7919 + 1) >>> 0);
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

const tick = () => new Promise<void>((r) => setTimeout(r, 0));

// Learns a soft prompt (or prefix) for `data` with the model frozen. Same seed, same data and
// build → the same prompt, bit for bit.
export async function tune(model: Model, data: Example[], o: TuneOptions = {}): Promise<TuneResult> {
  if (!data.length) throw new PromptkilnError('DATA', 'tune: no training examples');
  const bs = o.batchSize ?? 8;
  if (!Number.isInteger(bs) || bs <= 0) throw new PromptkilnError('ARGUMENT', `batchSize must be a positive integer, got ${bs}`);
  const epochs = o.epochs ?? 1;
  const perEpoch = Math.ceil(data.length / bs);
  const total = o.maxSteps ?? Math.max(1, Math.round(epochs * perEpoch));
  const lr = o.lr ?? 0.03;
  if (!(lr > 0) || !Number.isFinite(lr)) throw new PromptkilnError('ARGUMENT', `lr must be a positive number, got ${lr}`);
  const seed = o.seed ?? 0;
  const method = buildMethod(model, o);
  const opt = new AdamW(model.kernels, method.params, {
    lr, beta1: o.betas?.[0] ?? 0.9, beta2: o.betas?.[1] ?? 0.999, weightDecay: o.weightDecay ?? 0,
  });
  try {
    const train: LaidExample[] = data.map((e) => layoutExample(model, method.template, e, method.posOffset));
    const validLaid = o.valid?.map((e) => layoutExample(model, method.template, e, method.posOffset)) ?? null;
    const evalEvery = o.evalEvery ?? perEpoch;
    const evaluate = (): EvalMetrics | null => validLaid && o.valid
      ? evaluateLaid({ model, template: method.template, posOffset: method.posOffset, forward: (b) => method.forward(b, false), batchSize: bs, labels: o.labels, signal: o.signal }, o.valid, validLaid)
      : null;

    const sig = signature(model, o, method, data.length);
    let step = 0;
    let history: HistoryEntry[] = [];
    let best: TrainCheckpoint['best'] = null;
    let badEvals = 0;
    if (o.resume) {
      const r = o.resume;
      if (r.signature !== sig) {
        throw new PromptkilnError('ARGUMENT', `resume: the checkpoint was made with different settings (${r.signature}), this run has ${sig}`);
      }
      method.restore(r.params);
      opt.load(r.adam);
      step = r.step;
      history = r.history.slice();
      best = r.best ? { ...r.best, params: r.best.params.map((p) => p.slice()) } : null;
      badEvals = r.badEvals;
    }
    const snapshot = (): TrainCheckpoint => ({
      step, params: method.snapshot(), adam: opt.state(), best, badEvals, history: history.slice(), signature: sig,
    });
    const before = step === 0 ? evaluate() : null;
    if (before) {
      history.push({ step: 0, epoch: 0, validLoss: before.loss, exactMatch: before.exactMatch, labelAccuracy: before.labelAccuracy });
      best = { loss: before.loss, step: 0, params: method.snapshot() }; // training may never beat the start
    }

    const t0 = Date.now();
    let tokens = 0, stoppedEarly = false, lastCheckpoint = step;
    let lastTick = Date.now();
    while (step < total) {
      throwIfAborted(o.signal, 'tuning');
      const epoch = Math.floor(step / perEpoch);
      const order = epochOrder(data.length, seed, epoch);
      const at = (step % perEpoch) * bs;
      const batch = order.slice(at, at + bs).map((i) => train[i]);

      opt.zeroGrad();
      const st = method.forward(batch, true);
      const { rows, targets } = batchTargets(batch);
      const { sum } = st.nll(rows, targets, 1 / rows.length, true);
      const loss = sum / rows.length;
      if (!Number.isFinite(loss)) {
        throw new PromptkilnError('NAN', `training loss is ${loss} at step ${step + 1}; the parameters were not updated and the last good checkpoint (step ${lastCheckpoint}) is kept`, { step: step + 1, lastGoodStep: lastCheckpoint });
      }
      method.backward(st, batch);
      const gradNorm = opt.clip(o.clip ?? 1);
      const rate = learningRate(step, { lr, warmup: o.warmup ?? 0, totalSteps: total, schedule: o.schedule ?? 'cosine' });
      opt.update(rate);
      step++;
      tokens += batch.reduce((a, e) => a + e.length, 0);
      const secs = Math.max(1e-3, (Date.now() - t0) / 1000);
      const entry: HistoryEntry = { step, epoch, loss, lr: rate, gradNorm, tokensPerSec: tokens / secs };
      let valid: EvalMetrics | undefined;
      if (validLaid && (step % evalEvery === 0 || step === total)) {
        valid = evaluate()!;
        entry.validLoss = valid.loss;
        entry.exactMatch = valid.exactMatch;
        entry.labelAccuracy = valid.labelAccuracy;
        if (!best || valid.loss < best.loss - (o.earlyStopping?.minDelta ?? 0)) {
          best = { loss: valid.loss, step, params: method.snapshot() };
          badEvals = 0;
        } else badEvals++;
        if (o.earlyStopping && badEvals >= o.earlyStopping.patience) stoppedEarly = true;
      }
      history.push(entry);
      o.onProgress?.({ step, totalSteps: total, epoch, loss, lr: rate, gradNorm, tokensPerSec: tokens / secs, eta: (secs / (step - (o.resume?.step ?? 0))) * (total - step), valid });
      if (o.checkpointEvery && o.onCheckpoint && (step % o.checkpointEvery === 0 || step === total || stoppedEarly)) {
        await o.onCheckpoint(snapshot());
        lastCheckpoint = step;
      }
      if (stoppedEarly) break;
      if (Date.now() - lastTick > 20) {
        await tick(); // lets abort signals and progress rendering run
        lastTick = Date.now();
      }
    }
    if (best) method.restore(best.params);
    const after = validLaid ? (best ? evaluate() : null) : null;
    const lastEpoch = history.filter((h) => h.loss !== undefined && h.epoch === Math.floor((step - 1) / perEpoch));
    return {
      prompt: method.artifact(),
      metrics: {
        steps: step,
        trainLoss: lastEpoch.length ? lastEpoch.reduce((a, h) => a + h.loss!, 0) / lastEpoch.length : NaN,
        before, after, bestStep: best?.step ?? null, stoppedEarly, seconds: (Date.now() - t0) / 1000,
      },
      history,
    };
  } finally {
    opt.free();
    method.free();
  }
}
