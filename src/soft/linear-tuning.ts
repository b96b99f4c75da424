// LoRA / IA3 as a tuning method: the frozen model with the adapter's hook; one step's gradient
// lands in the adapter's own parameters (the hook's backward), nothing else trains.
import type { Model, Transformer } from '../model/index.js';
import type { Param } from '../train/index.js';
import { linearAdapter, type LinearAdapterOf } from './linear-adapter.js';
import { batchSequences, type TuningMethod } from './method.js';
import type { LaidExample } from './mixed.js';
import type { LinearArtifact } from './peft-linear.js';
import type { TemplatePart } from './types.js';

export class LinearTuning implements TuningMethod<LinearArtifact> {
  readonly kind: 'lora' | 'ia3';
  readonly params: Param[];
  readonly template: TemplatePart[] = [{ input: true }];
  readonly posOffset = 0;
  readonly adapter: LinearAdapterOf;

  constructor(readonly model: Model, initial: LinearArtifact) {
    this.kind = initial.kind;
    this.adapter = linearAdapter(model, initial);
    this.params = this.adapter.params;
  }

  forward(batch: LaidExample[], train: boolean): Transformer {
    return this.model.run(batchSequences(this.model, batch, null), { train, adapter: this.adapter });
  }

  backward(st: Transformer, _batch: LaidExample[]): void {
    st.backward(); // the hook accumulates d(loss) into every param's grad on the way down
  }

  artifact(): LinearArtifact {
    return this.adapter.artifact();
  }

  snapshot(): Float32Array[] {
    return this.params.map((p) => p.value.f32().slice());
  }
  restore(values: ArrayLike<number>[]): void {
    this.params.forEach((p, i) => p.value.set(values[i]));
  }
  free(): void {
    this.adapter.free();
  }
}
