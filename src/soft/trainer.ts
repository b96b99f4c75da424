// tune(): prompt or prefix tuning as one train/ step — the NLL of a batch's targets through the
// frozen model — with validation (loss, exact match, label accuracy) as the loop's evaluation.
import { PromptkilnError } from '../errors.js';
import type { Model } from '../model/model.js';
import {
  Fnv, modelIdentity, train, type HistoryEntry as LoopHistoryEntry, type LoopProgress, type Schedule, type TrainCheckpoint,
  type TrainMethod,
} from '../train/index.js';
import { evaluateLaid, type EvalMetrics } from './evaluate.js';
import type { InitSpec } from './init.js';
import { batchTargets, type TuningMethod } from './method.js';
import { layoutExample, type LaidExample } from './mixed.js';
import { EncoderTuning } from './encoder-tuning.js';
import { MultitaskTuning } from './multitask.js';
import { PrefixTuning } from './prefix-tuning.js';
import { PromptTuning } from './prompt-tuning.js';
import { PTuning } from './p-tuning.js';
import { defaultTargets } from './adapter-modules.js';
import { initIa3 } from './ia3.js';
import { LinearTuning } from './linear-tuning.js';
import { initLora, LORA_DEFAULTS } from './lora.js';
import type { LinearArtifact } from './peft-linear.js';
import { promptEncoderDefaults, type PromptEncoderArtifact, type PromptEncoderDims, type TaskDescription } from './prompt-encoder.js';
import type { Example, SoftArtifact, TemplatePart, TunedArtifact } from './types.js';

export type { TunedArtifact };

// The defaults of tune() — the CLI and the docs read them from here.
export const TUNE_DEFAULTS = {
  method: 'prompt', virtualTokens: 8, epochs: 1, batchSize: 8, lr: 0.03, weightDecay: 0, betas: [0.9, 0.999] as [number, number],
  warmup: 0, schedule: 'cosine' as Schedule, clip: 1, seed: 0,
} as const;

export interface TuneOptions {
  method?: TuneMethodName; // default TUNE_DEFAULTS.method
  virtualTokens?: number; // N (plain prompt tuning / prefix P)
  template?: TemplatePart[]; // mixed prompt (method 'prompt': soft parts; 'prefix': text + input)
  init?: InitSpec; // default random
  reparameterize?: { hidden: number } | null; // prefix only
  encoder?: { hidden?: number; type?: 'MLP' | 'LSTM'; layers?: number; dropout?: number }; // p-tuning: the prompt encoder (default hidden: the model's dim; layers: PEFT encoder_num_layers, LSTM only; dropout: only 0)
  multitask?: { tasks: number; rank?: number }; // multitask: T tasks, rank r (default 1)
  // encoder: the transformer prompt encoder, trained across tasks — task t's prompt is its output for
  // descriptions[t] (an example's taskId picks its task); dims default to promptEncoderDefaults
  promptEncoder?: { descriptions: TaskDescription[] } & Partial<PromptEncoderDims>;
  taskId?: number; // multitask / encoder: the task of examples that carry no taskId (default 0)
  // lora: rank, alpha (defaults LORA_DEFAULTS), target modules (default: PEFT's for the family)
  lora?: { r?: number; alpha?: number; targetModules?: string[] | string; dropout?: number };
  // ia3: target and feed-forward (input-scaled) modules (default: PEFT's for the family)
  ia3?: { targetModules?: string[] | string; feedforwardModules?: string[] | string };
  // starting values instead of `init`: soft rows (N, C), or per-layer prefix K/V (P, Hkv, hd)
  initial?: Float32Array | { k: Float32Array[]; v: Float32Array[] } | null;
  epochs?: number;
  maxSteps?: number; // overrides epochs
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  betas?: [number, number];
  warmup?: number; // steps of linear warm-up
  schedule?: Schedule;
  clip?: number; // global-norm clipping, 0 = off
  seed?: number;
  valid?: Example[];
  evalEvery?: number; // steps; default once per epoch
  labels?: string[] | null; // label accuracy by log-likelihood over these choices
  earlyStopping?: { patience: number; minDelta?: number } | null; // in evaluations, on valid loss
  checkpointEvery?: number; // steps; 0 = never
  onCheckpoint?: (c: TrainCheckpoint) => void | Promise<void>;
  resume?: TrainCheckpoint | null;
  resumeFile?: string; // names the checkpoint in errors
  signal?: AbortSignal;
  onProgress?: (e: ProgressEvent) => void;
}

export type ProgressEvent = LoopProgress<EvalMetrics>;

export interface HistoryEntry extends LoopHistoryEntry {
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

export interface TuneResult<A = SoftArtifact> {
  prompt: A; // lora / ia3: the adapter (LinearArtifact); encoder: the prompt encoder
  metrics: TuneMetrics;
  history: HistoryEntry[];
}

// Every tuning method, by the name `tune({ method })` and `promptkiln tune --method` take: one
// entry each. (n: virtual tokens, init, seed: the shared settings.)
type MethodBuilder = (model: Model, o: TuneOptions, s: { n: number; init: InitSpec; seed: number }) => TuningMethod<TunedArtifact>;
const METHODS = {
  prompt: (model, o, { n, init, seed }) => {
    if (o.initial && !(o.initial instanceof Float32Array)) throw new PromptkilnError('ARGUMENT', 'prompt tuning: initial must be a Float32Array of soft rows');
    return new PromptTuning(model, o.template ?? [{ soft: n }, { input: true }], init, seed, o.initial ?? undefined);
  },
  prefix: (model, o, { n, init, seed }) => new PrefixTuning(model, o.template ?? [{ input: true }], { P: n, init, seed, reparameterize: o.reparameterize ?? null },
    o.initial instanceof Float32Array ? undefined : o.initial ?? undefined),
  'p-tuning': (model, o, { n, init, seed }) => {
    noInitial(o, 'p-tuning');
    return new PTuning(model, o.template ?? [{ soft: n }, { input: true }], init, seed, { hidden: o.encoder?.hidden ?? model.config.dim, type: o.encoder?.type, layers: o.encoder?.layers, dropout: o.encoder?.dropout });
  },
  multitask: (model, o, { n, init, seed }) => {
    noInitial(o, 'multitask');
    if (!o.multitask) throw new PromptkilnError('ARGUMENT', 'multitask prompt tuning: multitask.tasks (the number of tasks) is required');
    return new MultitaskTuning(model, o.template ?? [{ soft: n }, { input: true }], init, seed, { tasks: o.multitask.tasks, rank: o.multitask.rank ?? 1 }, o.taskId ?? 0);
  },
  encoder: (model, o, { n, seed }) => {
    noInitial(o, 'encoder');
    // the rows come from the encoder: an init for them would be silently unused
    if (o.init) throw new PromptkilnError('ARGUMENT', 'encoder: option "init" applies to prompt rows; the prompt encoder starts from its seed');
    if (!o.promptEncoder?.descriptions?.length) throw new PromptkilnError('ARGUMENT', 'encoder: promptEncoder.descriptions (one per task; an example\'s taskId picks it) is required');
    const { descriptions, ...dims } = o.promptEncoder;
    return new EncoderTuning(model, o.template ?? [{ soft: n }, { input: true }], descriptions, promptEncoderDefaults(model.config.dim, dims), seed, o.taskId ?? 0);
  },
  lora: (model, o, { seed }) => {
    noPromptRows(o, 'lora');
    const l = o.lora ?? {};
    return new LinearTuning(model, initLora(model, {
      r: l.r ?? LORA_DEFAULTS.r, alpha: l.alpha ?? LORA_DEFAULTS.alpha, targetModules: l.targetModules ?? defaultTargets(model.config, 'lora').targetModules,
      seed, dropout: l.dropout,
    }));
  },
  ia3: (model, o) => {
    noPromptRows(o, 'ia3');
    const d = defaultTargets(model.config, 'ia3');
    return new LinearTuning(model, initIa3(model, { targetModules: o.ia3?.targetModules ?? d.targetModules, feedforwardModules: o.ia3?.feedforwardModules ?? (o.ia3?.targetModules ? [] : d.feedforwardModules) }));
  },
} satisfies Record<string, MethodBuilder>;

export type TuneMethodName = keyof typeof METHODS;
export const TUNE_METHODS = Object.keys(METHODS) as TuneMethodName[];

function noInitial(o: TuneOptions, kind: string): void {
  if (o.initial) throw new PromptkilnError('ARGUMENT', `${kind}: "initial" is not supported (it starts from init and seed)`);
}

// LoRA / IA3 act on the projections: the prompt-row options mean nothing there (refused, not ignored)
function noPromptRows(o: TuneOptions, kind: string): void {
  noInitial(o, kind);
  for (const k of ['virtualTokens', 'template', 'init', 'reparameterize', 'encoder', 'multitask', 'promptEncoder'] as const) {
    if (o[k] !== undefined && o[k] !== null) throw new PromptkilnError('ARGUMENT', `${kind}: option "${k}" applies to prompt methods, not to an adapter on the projections`);
  }
  if (kind === 'lora' && o.ia3) throw new PromptkilnError('ARGUMENT', 'lora: option "ia3" given (use "lora": { r, alpha, targetModules })');
  if (kind === 'ia3' && o.lora) throw new PromptkilnError('ARGUMENT', 'ia3: option "lora" given (use "ia3": { targetModules, feedforwardModules })');
}

export function buildMethod(model: Model, o: TuneOptions): TuningMethod<TunedArtifact> {
  const kind = o.method ?? TUNE_DEFAULTS.method;
  const build: MethodBuilder | undefined = (METHODS as Record<string, MethodBuilder>)[kind];
  if (!build || !Object.hasOwn(METHODS, kind)) throw new PromptkilnError('ARGUMENT', `method must be one of ${TUNE_METHODS.join(', ')}, got "${kind}"`);
  if (o.taskId !== undefined && kind !== 'multitask' && kind !== 'encoder') throw new PromptkilnError('ARGUMENT', `taskId applies to methods "multitask" and "encoder" only, got method "${kind}"`);
  if (o.promptEncoder && kind !== 'encoder') throw new PromptkilnError('ARGUMENT', `promptEncoder applies to method "encoder" only, got method "${kind}"`);
  return build(model, o, { n: o.virtualTokens ?? TUNE_DEFAULTS.virtualTokens, init: o.init ?? { type: 'random' }, seed: o.seed ?? TUNE_DEFAULTS.seed });
}

// Fingerprint of the examples (train, then validation) and of any given starting values.
function dataHash(data: Example[], valid: Example[] | undefined, initial: TuneOptions['initial']): string {
  const h = new Fnv();
  for (const set of [data, valid ?? []]) {
    h.int(set.length);
    for (const e of set) {
      h.value(typeof e.input === 'string' ? e.input : [...e.input]).value(typeof e.target === 'string' ? e.target : [...e.target]);
      if (e.taskId !== undefined) h.int(e.taskId);
    }
  }
  if (initial instanceof Float32Array) h.floats(initial);
  else if (initial) for (const t of [...initial.k, ...initial.v]) h.floats(t);
  return h.hex();
}

// Learns a soft prompt (or prefix) for `data` with the model frozen. Same seed, same data and
// build → the same prompt, bit for bit.
export async function tune(model: Model, data: Example[], o: TuneOptions & { method: 'lora' | 'ia3' }): Promise<TuneResult<LinearArtifact>>;
export async function tune(model: Model, data: Example[], o: TuneOptions & { method: 'encoder' }): Promise<TuneResult<PromptEncoderArtifact>>;
export async function tune(model: Model, data: Example[], o?: TuneOptions & { method?: Exclude<TuneMethodName, 'lora' | 'ia3' | 'encoder'> }): Promise<TuneResult>;
export async function tune(model: Model, data: Example[], o?: TuneOptions): Promise<TuneResult<TunedArtifact>>;
export async function tune(model: Model, data: Example[], o: TuneOptions = {}): Promise<TuneResult<TunedArtifact>> {
  const D = TUNE_DEFAULTS;
  if (!data.length) throw new PromptkilnError('DATA', 'tune: no training examples');
  const bs = o.batchSize ?? D.batchSize;
  if (!Number.isInteger(bs) || bs <= 0) throw new PromptkilnError('ARGUMENT', `batchSize must be a positive integer, got ${bs}`);
  // labels only score validation examples: without a validation set they would be silently unused
  if (o.labels?.length && !o.valid?.length) throw new PromptkilnError('ARGUMENT', 'tune: labels are scored on the validation set; pass valid (--valid FILE) or drop labels');
  const perEpoch = Math.ceil(data.length / bs);
  const total = o.maxSteps ?? Math.max(1, Math.round((o.epochs ?? D.epochs) * perEpoch));
  const method = buildMethod(model, o);
  try {
    const lay = (e: Example): LaidExample => {
      const l = layoutExample(model, method.template, e, method.posOffset);
      return method.layout?.(e, l) ?? l;
    };
    const laid: LaidExample[] = data.map(lay);
    const validLaid = o.valid?.map(lay) ?? null;
    const step: TrainMethod<EvalMetrics> = {
      params: method.params,
      step(idx) {
        const batch = idx.map((i) => laid[i]);
        const st = method.forward(batch, true);
        const { rows, targets } = batchTargets(batch);
        const loss = st.nll(rows, targets, 1 / rows.length, true).sum / rows.length;
        if (Number.isFinite(loss)) method.backward(st, batch);
        return { loss, tokens: batch.reduce((a, e) => a + e.length, 0) };
      },
      ...(validLaid && o.valid ? {
        evaluate: () => evaluateLaid({ model, template: method.template, posOffset: method.posOffset, forward: (b) => method.forward(b, false), batchSize: bs, labels: o.labels, signal: o.signal, layout: lay }, o.valid!, validLaid),
        historyOf: (e: EvalMetrics) => ({ exactMatch: e.exactMatch, labelAccuracy: e.labelAccuracy }),
      } : {}),
    };
    const betas = o.betas ?? D.betas;
    const r = await train(model.kernels, step, {
      what: 'tuning', steps: total, data: { size: data.length, batchSize: bs, order: 'shuffle' },
      lr: o.lr ?? D.lr, optimizer: { type: 'adamw', beta1: betas[0], beta2: betas[1], weightDecay: o.weightDecay ?? D.weightDecay },
      schedule: o.schedule ?? D.schedule, warmup: o.warmup ?? D.warmup, clip: o.clip ?? D.clip, seed: o.seed ?? D.seed,
      evalEvery: o.evalEvery, earlyStopping: o.earlyStopping,
      identity: {
        model: modelIdentity(model), data: dataHash(data, o.valid, o.initial),
        settings: {
          method: method.kind, template: method.template, virtualTokens: o.virtualTokens ?? D.virtualTokens, init: o.init ?? { type: 'random' },
          reparameterize: o.reparameterize ?? null, labels: o.labels ?? null,
          ...(o.encoder ? { encoder: o.encoder } : {}), ...(o.multitask ? { multitask: o.multitask, taskId: o.taskId ?? 0 } : {}),
          ...(o.promptEncoder ? { promptEncoder: o.promptEncoder, taskId: o.taskId ?? 0 } : {}),
          ...(o.lora ? { lora: o.lora } : {}), ...(o.ia3 ? { ia3: o.ia3 } : {}),
        },
      },
      checkpointEvery: o.checkpointEvery, onCheckpoint: o.onCheckpoint, resume: o.resume, resumeFile: o.resumeFile,
      signal: o.signal, onProgress: o.onProgress,
    });
    const history = r.history as HistoryEntry[];
    const lastEpoch = history.filter((h) => h.loss !== undefined && h.epoch === Math.floor((r.steps - 1) / perEpoch));
    return {
      prompt: method.artifact(),
      metrics: {
        steps: r.steps,
        trainLoss: lastEpoch.length ? lastEpoch.reduce((a, h) => a + h.loss!, 0) / lastEpoch.length : NaN,
        before: r.before, after: r.after, bestStep: r.bestStep, stoppedEarly: r.stoppedEarly, seconds: r.seconds,
      },
      history,
    };
  } finally {
    method.free();
  }
}
