// Distillation into a soft prompt (context distillation, as in Mu et al.'s gisting and Snell et
// al.): the teacher is the frozen model reading a long instruction with demonstrations before each
// example, or the model with a LoRA / IA3 adapter on (unmerged); the student is the same frozen
// model with N soft rows in place of that text / adapter. The loss is
// KL(teacher ‖ student) on the example's target rows — train/'s shared distillation step, the one
// context compression uses. The result is a plain prompt-tuning artifact (PEFT PROMPT_TUNING).
import { PromptkilnError } from '../errors.js';
import type { Conditioning, Model, Transformer } from '../model/index.js';
import { argmaxRow, distillLoss, Fnv, modelIdentity, train, type DistillObjective, type Evaluation } from '../train/index.js';
import { batchSequences, batchTargets } from './method.js';
import { layoutExample, type LaidExample } from './mixed.js';
import { PromptTuning } from './prompt-tuning.js';
import { TUNE_DEFAULTS, type TuneOptions, type TuneResult } from './trainer.js';
import type { Example } from './types.js';

export interface DistillPromptOptions extends Omit<TuneOptions, 'method' | 'template' | 'reparameterize' | 'encoder' | 'multitask' | 'taskId' | 'labels' | 'initial'> {
  // the teacher: the model reading `context` before each example's input (with the checkpoint's
  // BOS), or the model with `adapter`'s LoRA / IA3 hook on (linearConditioning) reading the input alone
  teacher: { context: string } | { adapter: Conditioning };
  objective?: DistillObjective; // default 'kl'
}

export const DISTILL_PROMPT_DEFAULTS = { objective: 'kl' as DistillObjective } as const;

type Teacher = DistillPromptOptions['teacher'];

// Teacher log-probs (targets, V) at an example's target rows: reading the context first, or
// through the adapter hook.
function teacherRows(model: Model, teacher: Teacher, e: Example, student: LaidExample): Float32Array {
  const ctx = 'context' in teacher;
  const t = layoutExample(model, ctx ? [{ text: teacher.context }, { input: true }] : [{ input: true }], e);
  if (t.targets.length !== student.targets.length || t.targets.some((x, j) => x !== student.targets[j])) {
    throw new PromptkilnError('DATA', `${e.source ?? 'example'}: the target tokenizes differently after the teacher's context than after the input alone; distillation compares the same target tokens`);
  }
  const V = model.config.vocabSize, k = model.kernels;
  const out = new Float32Array(t.targets.length * V);
  k.heap.scope(() => {
    const st = model.run(batchSequences(model, [t], null), ctx ? {} : { adapter: teacher.adapter.linear });
    const lp = k.alloc(t.targetRows.length * V, 'teacher logp');
    st.eachHeadChunk(t.targetRows, (lg, s, n) => {
      k.logSoftmax(lp.at(s * V, n * V), lg, n, V);
      return false;
    });
    out.set(lp.f32());
  });
  return out;
}

// Exactly one teacher: a non-empty context, or a conditioning that carries a LoRA / IA3 hook.
function checkTeacher(t: Teacher | undefined): void {
  const keys = t && typeof t === 'object' ? Object.keys(t) : [];
  if (keys.length !== 1 || !(keys[0] === 'context' || keys[0] === 'adapter')) {
    throw new PromptkilnError('ARGUMENT', `distillPrompt: teacher must be { context } (the instruction and demonstrations) or { adapter } (a LoRA / IA3 conditioning), got keys [${keys.join(', ')}]`);
  }
  if ('context' in t! && (typeof t.context !== 'string' || !t.context)) throw new PromptkilnError('ARGUMENT', 'distillPrompt: teacher.context (the instruction and demonstrations) must be a non-empty string');
  if ('adapter' in t! && !t.adapter?.linear) {
    throw new PromptkilnError('ARGUMENT', 'distillPrompt: teacher.adapter must be a LoRA / IA3 conditioning (linearConditioning, or loadAdapter on a LORA / IA3 folder); soft prompts and prefixes are not a teacher here', { field: 'teacher.adapter' });
  }
}

// Learns N soft rows that make the bare model act as it does with the teacher's context.
export async function distillPrompt(model: Model, data: Example[], o: DistillPromptOptions): Promise<TuneResult> {
  const D = TUNE_DEFAULTS;
  if (!data.length) throw new PromptkilnError('DATA', 'distillPrompt: no training examples');
  checkTeacher(o.teacher);
  const objective = o.objective ?? DISTILL_PROMPT_DEFAULTS.objective;
  if (objective !== 'kl' && objective !== 'argmax') throw new PromptkilnError('ARGUMENT', `distillPrompt: objective must be kl or argmax, got "${objective}"`);
  const bs = o.batchSize ?? D.batchSize;
  const n = o.virtualTokens ?? D.virtualTokens;
  const total = o.maxSteps ?? Math.max(1, Math.round((o.epochs ?? D.epochs) * Math.ceil(data.length / bs)));
  const method = new PromptTuning(model, [{ soft: n }, { input: true }], o.init ?? { type: 'random' }, o.seed ?? D.seed);
  const V = model.config.vocabSize;
  try {
    const prep = (set: Example[]) => set.map((e) => {
      const laid = layoutExample(model, method.template, e);
      return { laid, teacher: teacherRows(model, o.teacher, e, laid) };
    });
    const items = prep(data);
    const validItems = o.valid ? prep(o.valid) : null;
    // mean loss of a batch against its teachers; gradients into the prompt when `grad`
    const lossOf = (batch: typeof items, grad: boolean): { loss: number; tokens: number } => {
      const laid = batch.map((b) => b.laid);
      const { rows } = batchTargets(laid);
      const t = new Float32Array(rows.length * V);
      let at = 0;
      for (const b of batch) { t.set(b.teacher, at); at += b.teacher.length; }
      const st = method.forward(laid, grad);
      const loss = grad ? model.kernels.heap.scope(() => distillLoss(model, st, rows, t, objective)) : heldOut(st, rows, t);
      if (grad && Number.isFinite(loss)) method.backward(st, laid);
      return { loss, tokens: laid.reduce((a, e) => a + e.length, 0) };
    };
    // the objective without a gradient (validation): mean KL, or mean NLL of the teacher's argmax
    const heldOut = (st: Transformer, rows: number[], t: Float32Array): number => {
      const k = model.kernels, nr = rows.length;
      if (objective === 'argmax') return st.nll(rows, rows.map((_, r) => argmaxRow(t, r * V, V)), 1, false).sum / nr;
      return k.heap.scope(() => st.kl(rows, k.from(t, 'teacher batch'), 1, false).sum / nr);
    };
    // an adapter teacher is identified by what it outputs on the training examples (its weights
    // live in the hook, behind the LinearAdapter interface)
    const h = 'context' in o.teacher ? new Fnv().text(o.teacher.context) : new Fnv().text('adapter');
    if (!('context' in o.teacher)) for (const it of items) h.floats(it.teacher);
    for (const set of [data, o.valid ?? []]) {
      h.int(set.length);
      for (const e of set) h.value(typeof e.input === 'string' ? e.input : [...e.input]).value(typeof e.target === 'string' ? e.target : [...e.target]);
    }
    const betas = o.betas ?? D.betas;
    const r = await train<Evaluation>(model.kernels, {
      params: method.params,
      step: (idx) => lossOf(idx.map((i) => items[i]), true),
      ...(validItems ? {
        // validation: the same objective on held-out examples (lower is better)
        evaluate: () => {
          let sum = 0, rows = 0;
          for (let i = 0; i < validItems.length; i += bs) {
            const b = validItems.slice(i, i + bs);
            const nr = b.reduce((a, x) => a + x.laid.targets.length, 0);
            sum += lossOf(b, false).loss * nr;
            rows += nr;
          }
          return { loss: sum / rows };
        },
      } : {}),
    }, {
      what: 'prompt distillation', steps: total, data: { size: data.length, batchSize: bs, order: 'shuffle' },
      lr: o.lr ?? D.lr, optimizer: { type: 'adamw', beta1: betas[0], beta2: betas[1], weightDecay: o.weightDecay ?? D.weightDecay },
      schedule: o.schedule ?? D.schedule, warmup: o.warmup ?? D.warmup, clip: o.clip ?? D.clip, seed: o.seed ?? D.seed,
      evalEvery: o.evalEvery, earlyStopping: o.earlyStopping,
      identity: {
        model: modelIdentity(model), data: h.hex(),
        settings: { method: 'distill', virtualTokens: n, init: o.init ?? { type: 'random' }, objective },
      },
      checkpointEvery: o.checkpointEvery, onCheckpoint: o.onCheckpoint, resume: o.resume, resumeFile: o.resumeFile,
      signal: o.signal, onProgress: o.onProgress as never,
    });
    const last = r.history.filter((x) => x.loss !== undefined).slice(-Math.ceil(data.length / bs));
    const ev = (e: Evaluation | null) => (e ? { loss: e.loss, tokens: 0, exactMatch: NaN } : null);
    return {
      prompt: method.artifact(),
      metrics: {
        steps: r.steps, trainLoss: last.reduce((a, x) => a + x.loss!, 0) / Math.max(1, last.length),
        before: ev(r.before), after: ev(r.after), bestStep: r.bestStep, stoppedEarly: r.stoppedEarly, seconds: r.seconds,
      },
      history: r.history,
    };
  } finally {
    method.free();
  }
}
