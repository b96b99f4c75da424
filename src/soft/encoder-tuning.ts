// Training the transformer prompt encoder across tasks: task t's prompt is the encoder's output for
// its description; every task's rows sit in one (T·N, C) soft tensor (as multitask prompts do), so a
// batch may mix tasks, and the frozen model's input gradient flows back through each task's encoder pass.
import { PromptkilnError } from '../errors.js';
import type { Model, Transformer } from '../model/index.js';
import type { Param } from '../train/index.js';
import { modelIdentity } from './identity.js';
import { batchSequences, gatherSoftGrad, taskLayout, type TuningMethod } from './method.js';
import { checkTemplate, softRows, type LaidExample } from './mixed.js';
import { descriptionIds, freeActs, PromptEncoder, type EncoderActs, type PromptEncoderArtifact, type PromptEncoderDims, type TaskDescription } from './prompt-encoder.js';
import type { Example, TemplatePart } from './types.js';

export class EncoderTuning implements TuningMethod<PromptEncoderArtifact> {
  readonly kind = 'encoder';
  readonly params: Param[];
  readonly posOffset = 0;
  readonly rows: number;
  readonly encoder: PromptEncoder;
  private readonly ids: number[][]; // each task's description ids
  private readonly soft: Float32Array; // (T·N, C) every task's prompt
  private readonly dsoft: Float32Array; // its gradient
  private live = new Map<number, EncoderActs>(); // task → the last forward's activations

  constructor(readonly model: Model, readonly template: TemplatePart[], readonly tasks: TaskDescription[], dims: PromptEncoderDims, seed: number,
    readonly defaultTask = 0, initial?: Record<string, Float32Array>) {
    checkTemplate(template);
    if (!tasks.length) throw new PromptkilnError('ARGUMENT', 'prompt encoder: at least one task description is required (task t is descriptions[t])');
    this.rows = softRows(template);
    if (this.rows === 0) throw new PromptkilnError('ARGUMENT', 'prompt encoder needs at least one soft(n) part in the template');
    this.ids = tasks.map((d, t) => descriptionIds(model, d, `prompt encoder task ${t}`)); // before anything is allocated
    this.encoder = new PromptEncoder(model, this.rows, dims, seed, initial);
    this.params = this.encoder.params;
    this.soft = new Float32Array(tasks.length * this.rows * model.config.dim);
    this.dsoft = new Float32Array(this.soft.length);
  }

  layout(e: Example, laid: LaidExample): LaidExample {
    return taskLayout(e, laid, this.rows, this.tasks.length, this.defaultTask, `${this.tasks.length} task descriptions`);
  }

  // the tasks a batch reads (its soft parts' rows)
  private tasksOf(batch: LaidExample[]): number[] {
    const s = new Set<number>();
    for (const ex of batch) for (const p of ex.parts) if (!('ids' in p)) s.add(Math.floor(p.softOffset / this.rows));
    return [...s].sort((a, b) => a - b);
  }

  private release(): void {
    for (const f of this.live.values()) freeActs(f);
    this.live.clear();
  }

  forward(batch: LaidExample[], train: boolean): Transformer {
    this.release();
    const NC = this.rows * this.model.config.dim;
    for (const t of this.tasksOf(batch)) {
      const f = this.encoder.forward(this.ids[t]);
      this.soft.set(f.rows.f32(), t * NC);
      if (train) this.live.set(t, f);
      else freeActs(f);
    }
    return this.model.run(batchSequences(this.model, batch, this.soft), { train });
  }

  backward(st: Transformer, batch: LaidExample[]): void {
    const NC = this.rows * this.model.config.dim;
    this.dsoft.fill(0);
    gatherSoftGrad(this.model, st, batch, this.dsoft);
    for (const t of this.tasksOf(batch)) {
      const f = this.live.get(t);
      if (!f) throw new Error(`prompt encoder: no forward of task ${t} before backward`);
      this.encoder.backward(f, this.dsoft.subarray(t * NC, (t + 1) * NC));
    }
    this.release();
  }

  artifact(): PromptEncoderArtifact {
    return {
      kind: 'encoder', rows: this.rows, dims: { ...this.encoder.dims }, tensors: this.encoder.snapshot(),
      tasks: this.tasks.map((d) => (typeof d === 'string' ? d : [...d])), template: this.template.map((p) => ({ ...p })), model: modelIdentity(this.model),
    };
  }

  snapshot(): Float32Array[] {
    return this.params.map((p) => p.value.f32().slice());
  }
  restore(values: ArrayLike<number>[]): void {
    this.params.forEach((p, i) => p.value.set(values[i]));
  }
  free(): void {
    this.release();
    this.encoder.free();
  }
}
