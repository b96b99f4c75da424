// Multitask prompt tuning (Wang et al. 2023; PEFT MULTITASK_PROMPT_TUNING): one shared prompt
// (N, C) times per-task rank-r factors, prompt_t = shared ⊙ (cols[t] (N, r) · rows[t] (r, C)).
// All T tasks' prompts are laid out as one (T·N, C) soft tensor; an example of task t reads rows
// t·N.. of it, so a batch may mix tasks.
import { PromptkilnError } from '../errors.js';
import type { Model, Transformer } from '../model/index.js';
import { rng } from '../model/sampling.js';
import type { Param } from '../train/index.js';
import { modelIdentity } from './identity.js';
import { initPromptRows, normal, peftInitName, type InitSpec } from './init.js';
import { batchSequences, gatherSoftGrad, paramOf, taskLayout, type TuningMethod } from './method.js';
import { checkTemplate, softRows, type LaidExample } from './mixed.js';
import type { Example, MultitaskArtifact, TemplatePart } from './types.js';

export interface MultitaskOptions {
  tasks: number; // T
  rank: number; // r (PEFT num_ranks)
}

// PEFT's factor init: N(0, 0.02) for both.
const FACTOR_STD = 0.02;

// The task's prompt rows (N, C) of `out` at row offset t·N, for every task (forward). M_t = cols[t]·rows[t].
export function multitaskPrompts(shared: Float32Array, cols: Float32Array, rows: Float32Array, N: number, C: number, T: number, r: number, out: Float32Array): void {
  for (let t = 0; t < T; t++) {
    for (let n = 0; n < N; n++) {
      const o = (t * N + n) * C;
      for (let c = 0; c < C; c++) {
        let m = 0;
        for (let j = 0; j < r; j++) m += cols[(t * N + n) * r + j] * rows[(t * r + j) * C + c];
        out[o + c] = shared[n * C + c] * m;
      }
    }
  }
}

// Backward of multitaskPrompts: dP (T·N, C) → accumulates dshared (N, C), dcols (T, N, r), drows (T, r, C).
export function multitaskPromptsBackward(shared: Float32Array, cols: Float32Array, rows: Float32Array, N: number, C: number, T: number, r: number,
  dP: Float32Array, dshared: Float32Array, dcols: Float32Array, drows: Float32Array): void {
  const dM = new Float32Array(C);
  for (let t = 0; t < T; t++) {
    for (let n = 0; n < N; n++) {
      const o = (t * N + n) * C;
      for (let c = 0; c < C; c++) {
        let m = 0;
        for (let j = 0; j < r; j++) m += cols[(t * N + n) * r + j] * rows[(t * r + j) * C + c];
        dshared[n * C + c] += dP[o + c] * m;
        dM[c] = dP[o + c] * shared[n * C + c];
      }
      for (let j = 0; j < r; j++) {
        let s = 0;
        const cr = cols[(t * N + n) * r + j];
        for (let c = 0; c < C; c++) {
          s += dM[c] * rows[(t * r + j) * C + c];
          drows[(t * r + j) * C + c] += cr * dM[c];
        }
        dcols[(t * N + n) * r + j] += s;
      }
    }
  }
}

// One task's prompt rows (N, C) of a saved artifact.
export function taskPrompt(a: MultitaskArtifact, taskId: number | undefined, where = 'multitask prompt'): Float32Array {
  if (taskId === undefined) throw new PromptkilnError('ADAPTER', `${where}: a multitask prompt needs a task id (0..${a.tasks - 1}): pass taskId (CLI --task-id N)`);
  if (!Number.isInteger(taskId) || taskId < 0 || taskId >= a.tasks) throw new PromptkilnError('ADAPTER', `${where}: task id ${taskId} is out of range: this prompt has ${a.tasks} tasks (0..${a.tasks - 1})`, { taskId });
  const C = a.model.dim, N = a.rows, r = a.rank;
  const out = new Float32Array(N * C);
  multitaskPrompts(a.shared, a.taskCols.subarray(taskId * N * r, (taskId + 1) * N * r), a.taskRows.subarray(taskId * r * C, (taskId + 1) * r * C), N, C, 1, r, out);
  return out;
}

export class MultitaskTuning implements TuningMethod {
  readonly kind = 'multitask';
  readonly params: Param[];
  readonly posOffset = 0;
  readonly rows: number;
  private readonly shared: Param; // (N, C)
  private readonly cols: Param; // (T, N, r)
  private readonly taskRows: Param; // (T, r, C)
  private readonly soft: Float32Array; // (T·N, C) every task's prompt
  private readonly dsoft: Float32Array; // its gradient

  constructor(readonly model: Model, readonly template: TemplatePart[], readonly init: InitSpec, seed: number, readonly o: MultitaskOptions,
    readonly defaultTask = 0, initial?: { shared: Float32Array; taskCols: Float32Array; taskRows: Float32Array }) {
    checkTemplate(template);
    const { tasks: T, rank: r } = o;
    if (!Number.isInteger(T) || T <= 0) throw new PromptkilnError('ARGUMENT', `multitask prompt tuning: tasks must be a positive integer, got ${T}`);
    if (!Number.isInteger(r) || r <= 0) throw new PromptkilnError('ARGUMENT', `multitask prompt tuning: rank must be a positive integer, got ${r}`);
    this.rows = softRows(template);
    if (this.rows === 0) throw new PromptkilnError('ARGUMENT', 'multitask prompt tuning needs at least one soft(n) part in the template');
    const C = model.config.dim, N = this.rows;
    const z = normal(rng(seed ^ 0x7a5c));
    const factor = (n: number) => Float32Array.from({ length: n }, () => FACTOR_STD * z());
    this.shared = paramOf(model, 'multitask shared prompt', initial?.shared ?? initPromptRows(model, N, init, seed));
    this.cols = paramOf(model, 'multitask task cols', initial?.taskCols ?? factor(T * N * r));
    this.taskRows = paramOf(model, 'multitask task rows', initial?.taskRows ?? factor(T * r * C));
    for (const [p, n] of [[this.shared, N * C], [this.cols, T * N * r], [this.taskRows, T * r * C]] as const) {
      if (p.value.n !== n) throw new PromptkilnError('SHAPE', `${p.name} has ${p.value.n} values, expected ${n}`);
    }
    this.params = [this.shared, this.cols, this.taskRows];
    this.soft = new Float32Array(T * N * C);
    this.dsoft = new Float32Array(T * N * C);
  }

  layout(e: Example, laid: LaidExample): LaidExample {
    return taskLayout(e, laid, this.rows, this.o.tasks, this.defaultTask, `training ${this.o.tasks} tasks`);
  }

  private materialize(): void {
    const C = this.model.config.dim;
    multitaskPrompts(this.shared.value.f32(), this.cols.value.f32(), this.taskRows.value.f32(), this.rows, C, this.o.tasks, this.o.rank, this.soft);
  }

  forward(batch: LaidExample[], train: boolean): Transformer {
    this.materialize();
    return this.model.run(batchSequences(this.model, batch, this.soft), { train });
  }

  backward(st: Transformer, batch: LaidExample[]): void {
    const C = this.model.config.dim;
    this.dsoft.fill(0);
    gatherSoftGrad(this.model, st, batch, this.dsoft);
    // the grads are WASM views: accumulate into copies, write back (tiny tensors)
    const ds = this.shared.grad.f32().slice(), dc = this.cols.grad.f32().slice(), dr = this.taskRows.grad.f32().slice();
    multitaskPromptsBackward(this.shared.value.f32(), this.cols.value.f32(), this.taskRows.value.f32(), this.rows, C, this.o.tasks, this.o.rank, this.dsoft, ds, dc, dr);
    this.shared.grad.set(ds);
    this.cols.grad.set(dc);
    this.taskRows.grad.set(dr);
  }

  artifact(): MultitaskArtifact {
    return {
      kind: 'multitask', rows: this.rows, tasks: this.o.tasks, rank: this.o.rank,
      shared: this.shared.value.f32().slice(), taskCols: this.cols.value.f32().slice(), taskRows: this.taskRows.value.f32().slice(),
      template: this.template.map((p) => ({ ...p })),
      init: { type: peftInitName(this.init), text: this.init.type === 'text' ? this.init.text : null }, model: modelIdentity(this.model),
    };
  }

  snapshot(): Float32Array[] {
    return this.params.map((p) => p.value.f32().slice());
  }
  restore(values: ArrayLike<number>[]): void {
    this.params.forEach((p, i) => p.value.set(values[i]));
  }
  free(): void {
    for (const p of this.params) { p.value.free(); p.grad.free(); }
  }
}
