// The TuningMethod interface every soft method implements, and the laid-out batch it works on.
import { PromptkilnError } from '../errors.js';
import type { Tensor } from '../kernels/index.js';
import type { Model, Segment, Transformer } from '../model/index.js';
import { paramOf as trainParam, type Param } from '../train/index.js';
import type { LaidExample } from './mixed.js';
import type { Example, SoftArtifact, TemplatePart } from './types.js';

// A tuning method (prompt/mixed, prefix, P-tuning, multitask, LoRA / IA3, prompt encoder): trainable parameters, a forward
// over a laid-out batch, a backward that ends in the parameters' gradients, and the trained
// artifact. trainer.ts turns it into one train/ step (loss of the batch's targets); the loop does
// the rest.
export interface TuningMethod<A = SoftArtifact> {
  readonly kind: 'prompt' | 'prefix' | 'p-tuning' | 'multitask' | 'lora' | 'ia3' | 'encoder';
  readonly params: Param[];
  readonly template: TemplatePart[];
  readonly posOffset: number; // rows before the sequence (prefix: P)
  forward(batch: LaidExample[], train: boolean): Transformer;
  // after a loss put its gradient on the head: d(loss) into every param's grad (accumulates)
  backward(st: Transformer, batch: LaidExample[]): void;
  artifact(): A;
  // where an example's soft rows come from, when not the template's own offsets (multitask: its task's rows)
  layout?(e: Example, laid: LaidExample): LaidExample;
  // every param's values, concatenated in `params` order (checkpoints, best-so-far)
  snapshot(): Float32Array[];
  restore(values: ArrayLike<number>[]): void;
  free(): void;
}

// Row sequences of a batch; soft parts read rows of `soft` ((rows, C), may be null).
export function batchSequences(model: Model, batch: LaidExample[], soft: Tensor | Float32Array | null): Segment[][] {
  const C = model.config.dim;
  return batch.map((ex) => ex.parts.map((p): Segment => {
    if ('ids' in p) return { ids: p.ids };
    if (!soft) throw new Error('a soft part without soft rows');
    const n = p.rows * C, off = p.softOffset * C;
    return { embeds: soft instanceof Float32Array ? soft.subarray(off, off + n) : soft.at(off, n), rows: p.rows };
  }));
}

// (rows of the whole batch, targets) of every target token, and the batch's row stride T.
export function batchTargets(batch: LaidExample[]): { rows: number[]; targets: number[]; T: number } {
  const T = Math.max(...batch.map((e) => e.length));
  const rows: number[] = [], targets: number[] = [];
  batch.forEach((ex, b) => {
    ex.targetRows.forEach((r, j) => {
      rows.push(b * T + r);
      targets.push(ex.targets[j]);
    });
  });
  return { rows, targets, T };
}

export function paramOf(model: Model, name: string, init: ArrayLike<number>): Param {
  return trainParam(model.kernels, name, init);
}

// d(loss)/d(soft rows) of a batch that read rows of one soft tensor (batchSequences): the frozen
// stack's backward to its inputs, each soft row's gradient added at its softOffset of `into` ((rows, C)).
export function gatherSoftGrad(model: Model, st: Transformer, batch: LaidExample[], into: Float32Array): void {
  const C = model.config.dim;
  const dx = st.backward().f32(); // (B·T, C) d(input rows)
  const { T } = batchTargets(batch);
  batch.forEach((ex, b) => {
    let t = 0;
    for (const p of ex.parts) {
      if ('ids' in p) { t += p.ids.length; continue; }
      for (let r = 0; r < p.rows; r++) {
        const d = (p.softOffset + r) * C, s = (b * T + t + r) * C;
        for (let c = 0; c < C; c++) into[d + c] += dx[s + c];
      }
      t += p.rows;
    }
  });
}

// An example of task t (its taskId, else `dflt`) reads the soft rows t·N.. of one (T·N, C) tensor
// holding every task's prompt (multitask prompts, the prompt encoder). `tasks` names the T tasks in
// the out-of-range error.
export function taskLayout(e: Example, laid: LaidExample, N: number, T: number, dflt: number, tasks: string): LaidExample {
  const t = e.taskId ?? dflt;
  if (!Number.isInteger(t) || t < 0 || t >= T) {
    throw new PromptkilnError('DATA', `${e.source ?? 'example'}: task_id ${t} is out of range: ${tasks} (0..${T - 1})`, { taskId: t });
  }
  return { ...laid, parts: laid.parts.map((p) => ('ids' in p ? p : { ...p, softOffset: p.softOffset + t * N })) };
}
