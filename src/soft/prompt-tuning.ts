// Prompt tuning and mixed prompts: trainable soft rows among frozen token embeddings.
import { PromptkilnError } from '../errors.js';
import type { Model, Transformer } from '../model/index.js';
import type { Param } from '../train/index.js';
import { initPromptRows, peftInitName, type InitSpec } from './init.js';
import { batchSequences, batchTargets, paramOf, type TuningMethod } from './method.js';
import { checkTemplate, softRows, type LaidExample } from './mixed.js';
import { modelIdentity } from './identity.js';
import type { SoftPromptArtifact, TemplatePart } from './types.js';

// Prompt tuning (Lester et al. 2021) and mixed prompts: the soft rows of a template are one
// trainable tensor (N, C); everything else is frozen. Gradients reach the rows through the
// frozen stack's backward to its inputs (GPT-2's learned positions are added to soft rows too,
// as HF inputs_embeds does, so their gradient is the input rows' gradient unchanged).
export class PromptTuning implements TuningMethod {
  readonly kind = 'prompt';
  readonly params: Param[];
  readonly posOffset = 0;
  readonly rows: number;
  private readonly soft: Param;

  constructor(readonly model: Model, readonly template: TemplatePart[], readonly init: InitSpec, seed: number, initial?: Float32Array) {
    checkTemplate(template);
    this.rows = softRows(template);
    if (this.rows === 0) throw new PromptkilnError('ARGUMENT', 'prompt tuning needs at least one soft(n) part in the template');
    const C = model.config.dim;
    const data = initial ?? initPromptRows(model, this.rows, init, seed);
    if (data.length !== this.rows * C) throw new PromptkilnError('SHAPE', `soft prompt has ${data.length} values, expected ${this.rows} × ${C}`);
    this.soft = paramOf(model, 'soft prompt', data); // (N, C)
    this.params = [this.soft];
  }

  static plain(model: Model, n: number, init: InitSpec, seed: number): PromptTuning {
    return new PromptTuning(model, [{ soft: n }, { input: true }], init, seed);
  }

  forward(batch: LaidExample[], train: boolean): Transformer {
    return this.model.run(batchSequences(this.model, batch, this.soft.value), { train });
  }

  backward(st: Transformer, batch: LaidExample[]): void {
    const k = this.model.kernels, C = this.model.config.dim;
    const dx = st.backward(); // (B·T, C) d(input rows)
    const { T } = batchTargets(batch);
    const g = this.soft.grad;
    batch.forEach((ex, b) => {
      let t = 0;
      for (const p of ex.parts) {
        if ('ids' in p) { t += p.ids.length; continue; }
        for (let r = 0; r < p.rows; r++) k.axpy(g.at((p.softOffset + r) * C, C), dx.at((b * T + t + r) * C, C), 1);
        t += p.rows;
      }
    });
  }

  values(): Float32Array {
    return this.soft.value.f32().slice();
  }

  artifact(): SoftPromptArtifact {
    const text = this.init.type === 'text' ? this.init.text : null;
    return {
      kind: 'prompt', rows: this.rows, data: this.values(), template: this.template.map((p) => ({ ...p })),
      init: { type: peftInitName(this.init), text }, model: modelIdentity(this.model),
    };
  }

  snapshot(): Float32Array[] {
    return [this.values()];
  }
  restore(values: ArrayLike<number>[]): void {
    this.soft.value.set(values[0]);
  }
  free(): void {
    this.soft.value.free();
    this.soft.grad.free();
  }
}
