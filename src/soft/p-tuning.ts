// P-tuning (Liu et al. 2021; PEFT P_TUNING with encoder_reparameterization_type MLP): the N soft
// rows are the output of a trainable prompt encoder over N trainable input embeddings,
//   E (N, C) → Linear(C, H) → ReLU → Linear(H, H) → ReLU → Linear(H, C) → rows (N, C),
// PEFT's mlp_head (encoder_num_layers does not change it: PEFT's MLP is always these three).
// The rows then sit where prompt tuning's do (before BOS). Saved as PEFT saves it: the encoder's
// output rows only. The LSTM encoder is not implemented (refused by name).
import { PromptkilnError } from '../errors.js';
import type { Tensor } from '../kernels/index.js';
import type { Model, Transformer } from '../model/index.js';
import { rng } from '../model/sampling.js';
import type { Param } from '../train/index.js';
import { modelIdentity } from './identity.js';
import { initPromptRows, peftInitName, type InitSpec } from './init.js';
import { batchSequences, gatherSoftGrad, paramOf, type TuningMethod } from './method.js';
import { checkTemplate, softRows, type LaidExample } from './mixed.js';
import type { PromptEncoderConfig, SoftPromptArtifact, TemplatePart } from './types.js';

export interface PTuningOptions {
  hidden: number; // H (PEFT encoder_hidden_size)
  type?: 'MLP' | 'LSTM';
}

// Starting values under PEFT's names (trainable_params.safetensors without the prefix).
export interface PTuningInit {
  'embedding.weight': Float32Array; // (N, C)
  'mlp_head.0.weight': Float32Array; // (H, C)
  'mlp_head.0.bias': Float32Array; // (H)
  'mlp_head.2.weight': Float32Array; // (H, H)
  'mlp_head.2.bias': Float32Array; // (H)
  'mlp_head.4.weight': Float32Array; // (C, H)
  'mlp_head.4.bias': Float32Array; // (C)
}
export const P_TUNING_PARAMS = ['embedding.weight', 'mlp_head.0.weight', 'mlp_head.0.bias', 'mlp_head.2.weight', 'mlp_head.2.bias', 'mlp_head.4.weight', 'mlp_head.4.bias'] as const;

// ReLU forward and backward side by side (tiny (N, H) tensors: plain loops).
function relu(out: Tensor, inp: Tensor): void {
  const o = out.f32(), x = inp.f32();
  for (let i = 0; i < x.length; i++) o[i] = x[i] > 0 ? x[i] : 0;
}
function reluBackward(din: Tensor, pre: Tensor): void {
  const d = din.f32(), a = pre.f32();
  for (let i = 0; i < d.length; i++) if (!(a[i] > 0)) d[i] = 0;
}

export class PTuning implements TuningMethod {
  readonly kind = 'p-tuning';
  readonly params: Param[];
  readonly posOffset = 0;
  readonly rows: number;
  readonly hidden: number;
  private readonly p: Record<(typeof P_TUNING_PARAMS)[number], Param>;
  // activations (unscoped, reused every step)
  private readonly a1: Tensor; // (N, H) pre-ReLU
  private readonly h1: Tensor; // (N, H)
  private readonly a2: Tensor; // (N, H) pre-ReLU
  private readonly h2: Tensor; // (N, H)
  private readonly y: Tensor; // (N, C) the soft rows
  private readonly dy: Float32Array; // (N, C)

  constructor(readonly model: Model, readonly template: TemplatePart[], readonly init: InitSpec, seed: number, readonly o: PTuningOptions, initial?: PTuningInit) {
    checkTemplate(template);
    if ((o.type ?? 'MLP') !== 'MLP') throw new PromptkilnError('ARGUMENT', `P-tuning: encoder_reparameterization_type "${o.type}" is not implemented (only MLP)`, { field: 'encoder_reparameterization_type' });
    const H = o.hidden;
    if (!Number.isInteger(H) || H <= 0) throw new PromptkilnError('ARGUMENT', `P-tuning: encoder hidden size must be a positive integer, got ${H}`);
    this.rows = softRows(template);
    if (this.rows === 0) throw new PromptkilnError('ARGUMENT', 'P-tuning needs at least one soft(n) part in the template');
    this.hidden = H;
    const C = model.config.dim, N = this.rows, k = model.kernels;
    const u = rng(seed ^ 0x9e7);
    // torch.nn.Linear's default init: U(−1/√in, 1/√in), weight then bias, layer by layer
    const unif = (len: number, fanIn: number) => Float32Array.from({ length: len }, () => (2 * u() - 1) / Math.sqrt(fanIn));
    const v: PTuningInit = initial ?? {
      'embedding.weight': initPromptRows(model, N, init, seed),
      'mlp_head.0.weight': unif(H * C, C), 'mlp_head.0.bias': unif(H, C),
      'mlp_head.2.weight': unif(H * H, H), 'mlp_head.2.bias': unif(H, H),
      'mlp_head.4.weight': unif(C * H, H), 'mlp_head.4.bias': unif(C, H),
    };
    const sizes = [N * C, H * C, H, H * H, H, C * H, C];
    this.p = {} as PTuning['p'];
    P_TUNING_PARAMS.forEach((name, i) => {
      if (v[name].length !== sizes[i]) throw new PromptkilnError('SHAPE', `P-tuning ${name} has ${v[name].length} values, expected ${sizes[i]}`);
      this.p[name] = paramOf(model, `p-tuning ${name}`, v[name]);
    });
    this.params = P_TUNING_PARAMS.map((n) => this.p[n]);
    this.a1 = k.alloc(N * H, 'p-tuning a1', false);
    this.h1 = k.alloc(N * H, 'p-tuning h1', false);
    this.a2 = k.alloc(N * H, 'p-tuning a2', false);
    this.h2 = k.alloc(N * H, 'p-tuning h2', false);
    this.y = k.alloc(N * C, 'p-tuning rows', false);
    this.dy = new Float32Array(N * C);
    this.encode();
  }

  // E (N, C) → rows (N, C)
  private encode(): void {
    const k = this.model.kernels, C = this.model.config.dim, N = this.rows, H = this.hidden, p = this.p;
    k.matmul(this.a1, p['embedding.weight'].value, p['mlp_head.0.weight'].value, p['mlp_head.0.bias'].value, N, C, H);
    relu(this.h1, this.a1);
    k.matmul(this.a2, this.h1, p['mlp_head.2.weight'].value, p['mlp_head.2.bias'].value, N, H, H);
    relu(this.h2, this.a2);
    k.matmul(this.y, this.h2, p['mlp_head.4.weight'].value, p['mlp_head.4.bias'].value, N, H, C);
  }

  // d rows (N, C) → accumulates every param's grad
  private encodeBackward(dyData: Float32Array): void {
    const k = this.model.kernels, C = this.model.config.dim, N = this.rows, H = this.hidden, p = this.p;
    k.heap.scope(() => {
      const dy = k.from(dyData, 'p-tuning dy'); // (N, C)
      const dh2 = k.alloc(N * H, 'p-tuning dh2'); // (N, H)
      const dh1 = k.alloc(N * H, 'p-tuning dh1'); // (N, H)
      k.zero(dh2);
      k.zero(dh1);
      k.matmulBackwardWeight(p['mlp_head.4.weight'].grad, p['mlp_head.4.bias'].grad, dy, this.h2, N, H, C);
      k.matmulBackwardInput(dh2, dy, p['mlp_head.4.weight'].value, N, H, C);
      reluBackward(dh2, this.a2); // now d a2
      k.matmulBackwardWeight(p['mlp_head.2.weight'].grad, p['mlp_head.2.bias'].grad, dh2, this.h1, N, H, H);
      k.matmulBackwardInput(dh1, dh2, p['mlp_head.2.weight'].value, N, H, H);
      reluBackward(dh1, this.a1); // now d a1
      k.matmulBackwardWeight(p['mlp_head.0.weight'].grad, p['mlp_head.0.bias'].grad, dh1, p['embedding.weight'].value, N, C, H);
      k.matmulBackwardInput(p['embedding.weight'].grad, dh1, p['mlp_head.0.weight'].value, N, C, H);
    });
  }

  forward(batch: LaidExample[], train: boolean): Transformer {
    this.encode();
    return this.model.run(batchSequences(this.model, batch, this.y), { train });
  }

  backward(st: Transformer, batch: LaidExample[]): void {
    this.dy.fill(0);
    gatherSoftGrad(this.model, st, batch, this.dy);
    this.encodeBackward(this.dy);
  }

  // The encoder's current output rows (N, C).
  values(): Float32Array {
    this.encode();
    return this.y.f32().slice();
  }

  encoderConfig(): PromptEncoderConfig {
    // encoder_num_layers: PEFT's default (2); its MLP ignores it
    return { encoder_reparameterization_type: 'MLP', encoder_hidden_size: this.hidden, encoder_num_layers: 2, encoder_dropout: 0 };
  }

  artifact(): SoftPromptArtifact {
    return {
      kind: 'prompt', rows: this.rows, data: this.values(), template: this.template.map((q) => ({ ...q })),
      init: { type: peftInitName(this.init), text: this.init.type === 'text' ? this.init.text : null }, model: modelIdentity(this.model),
      encoder: this.encoderConfig(),
    };
  }

  snapshot(): Float32Array[] {
    return this.params.map((q) => q.value.f32().slice());
  }
  restore(values: ArrayLike<number>[]): void {
    this.params.forEach((q, i) => q.value.set(values[i]));
    this.encode();
  }
  free(): void {
    for (const q of this.params) { q.value.free(); q.grad.free(); }
    for (const t of [this.a1, this.h1, this.a2, this.h2, this.y]) t.free();
  }
}
