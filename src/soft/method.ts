import type { Tensor } from '../kernels/index.js';
import type { Model, Segment, Transformer } from '../model/index.js';
import { paramOf as trainParam, type Param } from '../train/index.js';
import type { LaidExample } from './mixed.js';
import type { SoftArtifact, TemplatePart } from './types.js';

// A tuning method (prompt/mixed or prefix): trainable parameters, a forward over a laid-out batch,
// a backward that ends in the parameters' gradients, and the trained artifact. trainer.ts turns it
// into one train/ step (loss of the batch's targets); the loop does the rest.
export interface TuningMethod {
  readonly kind: 'prompt' | 'prefix';
  readonly params: Param[];
  readonly template: TemplatePart[];
  readonly posOffset: number; // rows before the sequence (prefix: P)
  forward(batch: LaidExample[], train: boolean): Transformer;
  // after a loss put its gradient on the head: d(loss) into every param's grad (accumulates)
  backward(st: Transformer, batch: LaidExample[]): void;
  artifact(): SoftArtifact;
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
