// P-tuning (Liu et al. 2021; PEFT P_TUNING): the N soft rows are the output of a trainable prompt
// encoder over N trainable input embeddings. encoder_reparameterization_type MLP (here):
//   E (N, C) → Linear(C, H) → ReLU → Linear(H, H) → ReLU → Linear(H, C) → rows (N, C),
// PEFT's mlp_head (encoder_num_layers does not change it: PEFT's MLP is always these three);
// LSTM: a bidirectional L-layer LSTM and a 2-layer head (p-tuning-lstm.ts).
// The rows then sit where prompt tuning's do (before BOS). Saved as PEFT saves it: the encoder's
// output rows only. encoder_dropout > 0 is refused (dropout would change the training math).
import { PromptkilnError } from '../errors.js';
import type { Tensor } from '../kernels/index.js';
import type { Model, Transformer } from '../model/index.js';
import { rng } from '../model/sampling.js';
import type { Param } from '../train/index.js';
import { modelIdentity } from './identity.js';
import { LstmHead, lstmHeadInit, lstmHeadShapes, type LstmDims, type LstmWeights } from './p-tuning-lstm.js';
import { initPromptRows, peftInitName, type InitSpec } from './init.js';
import { batchSequences, gatherSoftGrad, paramOf, type TuningMethod } from './method.js';
import { checkTemplate, softRows, type LaidExample } from './mixed.js';
import type { PromptEncoderConfig, SoftPromptArtifact, TemplatePart } from './types.js';

export interface PTuningOptions {
  hidden: number; // H (PEFT encoder_hidden_size)
  type?: 'MLP' | 'LSTM'; // PEFT encoder_reparameterization_type (default MLP)
  layers?: number; // PEFT encoder_num_layers: the LSTM's layers (default ENCODER_NUM_LAYERS; the MLP has no other)
  dropout?: number; // PEFT encoder_dropout: only 0
}

// PEFT's default encoder_num_layers
export const ENCODER_NUM_LAYERS = 2;

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
// LSTM: 'embedding.weight' and lstmHeadShapes' names (lstm_head.*, mlp_head.{0,2}.*), same layout.
export type PTuningLstmInit = LstmWeights;
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

// The encoder after the input embedding E (N, C): rows y (N, C) from E, and E's and its own
// tensors' gradients from d rows. One per encoder_reparameterization_type.
interface EncoderHead {
  encode(y: Tensor): void;
  encodeBackward(dy: Float32Array): void;
  free(): void;
}

// PEFT's mlp_head on the kernels: E → Linear(C, H) → ReLU → Linear(H, H) → ReLU → Linear(H, C).
class MlpHead implements EncoderHead {
  // activations (unscoped, reused every step)
  private readonly a1: Tensor; private readonly h1: Tensor; // (N, H) pre-ReLU, after
  private readonly a2: Tensor; private readonly h2: Tensor; // (N, H) pre-ReLU, after

  constructor(private readonly model: Model, private readonly p: Record<string, Param>, private readonly N: number, private readonly H: number) {
    const k = model.kernels;
    [this.a1, this.h1, this.a2, this.h2] = ['a1', 'h1', 'a2', 'h2'].map((n) => k.alloc(N * H, `p-tuning ${n}`, false));
  }

  encode(y: Tensor): void {
    const k = this.model.kernels, C = this.model.config.dim, { N, H, p } = this;
    k.matmul(this.a1, p['embedding.weight'].value, p['mlp_head.0.weight'].value, p['mlp_head.0.bias'].value, N, C, H);
    relu(this.h1, this.a1);
    k.matmul(this.a2, this.h1, p['mlp_head.2.weight'].value, p['mlp_head.2.bias'].value, N, H, H);
    relu(this.h2, this.a2);
    k.matmul(y, this.h2, p['mlp_head.4.weight'].value, p['mlp_head.4.bias'].value, N, H, C);
  }

  encodeBackward(dyData: Float32Array): void {
    const k = this.model.kernels, C = this.model.config.dim, { N, H, p } = this;
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

  free(): void {
    for (const t of [this.a1, this.h1, this.a2, this.h2]) t.free();
  }
}

// The LSTM head (p-tuning-lstm.ts) over views of the params, by PEFT's names.
class LstmEncoderHead implements EncoderHead {
  private readonly lstm: LstmHead;

  constructor(private readonly p: Record<string, Param>, private readonly names: readonly string[], dims: LstmDims) {
    this.lstm = new LstmHead(dims);
  }

  // the head's tensors (values or grads) by name, as views of the heap now
  private views(grad: boolean): LstmWeights {
    return Object.fromEntries(this.names.map((n) => [n, (grad ? this.p[n].grad : this.p[n].value).f32()]));
  }

  encode(y: Tensor): void {
    this.lstm.forward(this.views(false), this.p['embedding.weight'].value.f32(), y.f32());
  }

  encodeBackward(dy: Float32Array): void {
    const e = this.p['embedding.weight'];
    this.lstm.backward(this.views(false), e.value.f32(), this.views(true), dy, e.grad.f32());
  }

  free(): void {}
}

export class PTuning implements TuningMethod {
  readonly kind = 'p-tuning';
  readonly params: Param[];
  readonly posOffset = 0;
  readonly rows: number;
  readonly hidden: number;
  readonly type: 'MLP' | 'LSTM';
  readonly layers: number;
  private readonly p: Record<string, Param>; // by PEFT's names
  private readonly head: EncoderHead;
  private readonly y: Tensor; // (N, C) the soft rows
  private readonly dy: Float32Array; // (N, C)

  constructor(readonly model: Model, readonly template: TemplatePart[], readonly init: InitSpec, seed: number, readonly o: PTuningOptions, initial?: PTuningInit | PTuningLstmInit) {
    checkTemplate(template);
    const type = o.type ?? 'MLP';
    if (type !== 'MLP' && type !== 'LSTM') throw new PromptkilnError('ARGUMENT', `P-tuning: encoder_reparameterization_type "${type}" is unknown (expected MLP or LSTM)`, { field: 'encoder_reparameterization_type' });
    // PEFT passes encoder_dropout to the LSTM (between layers, in training); its MLP ignores it
    if ((o.dropout ?? 0) !== 0) throw new PromptkilnError('ARGUMENT', `P-tuning: encoder_dropout ${o.dropout} is not supported (only 0: dropout would change the training math)`, { field: 'encoder_dropout' });
    const L = o.layers ?? ENCODER_NUM_LAYERS;
    if (!Number.isInteger(L) || L <= 0) throw new PromptkilnError('ARGUMENT', `P-tuning: encoder_num_layers must be a positive integer, got ${L}`, { field: 'encoder_num_layers' });
    if (type === 'MLP' && L !== ENCODER_NUM_LAYERS) throw new PromptkilnError('ARGUMENT', `P-tuning: encoder_num_layers ${L} would be ignored by the MLP encoder (always three linears; layers apply to LSTM)`, { field: 'encoder_num_layers' });
    const H = o.hidden;
    if (!Number.isInteger(H) || H <= 0) throw new PromptkilnError('ARGUMENT', `P-tuning: encoder hidden size must be a positive integer, got ${H}`);
    this.rows = softRows(template);
    if (this.rows === 0) throw new PromptkilnError('ARGUMENT', 'P-tuning needs at least one soft(n) part in the template');
    this.hidden = H;
    this.type = type;
    this.layers = L;
    const C = model.config.dim, N = this.rows, k = model.kernels;
    const u = rng(seed ^ 0x9e7);
    let names: readonly string[], sizes: number[], v: LstmWeights;
    if (type === 'LSTM') {
      const dims = { N, C, H, L }, shapes = lstmHeadShapes(dims);
      names = ['embedding.weight', ...shapes.map((s) => s.name)];
      sizes = [N * C, ...shapes.map((s) => s.size)];
      v = (initial as LstmWeights | undefined) ?? { 'embedding.weight': initPromptRows(model, N, init, seed), ...lstmHeadInit(dims, u) };
    } else {
      // torch.nn.Linear's default init: U(−1/√in, 1/√in), weight then bias, layer by layer
      const unif = (len: number, fanIn: number) => Float32Array.from({ length: len }, () => (2 * u() - 1) / Math.sqrt(fanIn));
      const mlp: PTuningInit = (initial as PTuningInit | undefined) ?? {
        'embedding.weight': initPromptRows(model, N, init, seed),
        'mlp_head.0.weight': unif(H * C, C), 'mlp_head.0.bias': unif(H, C),
        'mlp_head.2.weight': unif(H * H, H), 'mlp_head.2.bias': unif(H, H),
        'mlp_head.4.weight': unif(C * H, H), 'mlp_head.4.bias': unif(C, H),
      };
      names = P_TUNING_PARAMS;
      sizes = [N * C, H * C, H, H * H, H, C * H, C];
      v = { ...mlp };
    }
    this.p = {};
    names.forEach((name, i) => {
      if (v[name]?.length !== sizes[i]) throw new PromptkilnError('SHAPE', `P-tuning ${name} has ${v[name]?.length ?? 'no'} values, expected ${sizes[i]}`);
      this.p[name] = paramOf(model, `p-tuning ${name}`, v[name]);
    });
    this.params = names.map((n) => this.p[n]);
    this.head = type === 'LSTM' ? new LstmEncoderHead(this.p, names.slice(1), { N, C, H, L }) : new MlpHead(model, this.p, N, H);
    this.y = k.alloc(N * C, 'p-tuning rows', false);
    this.dy = new Float32Array(N * C);
    this.encode();
  }

  // E (N, C) → rows (N, C)
  private encode(): void {
    this.head.encode(this.y);
  }

  forward(batch: LaidExample[], train: boolean): Transformer {
    this.encode();
    return this.model.run(batchSequences(this.model, batch, this.y), { train });
  }

  backward(st: Transformer, batch: LaidExample[]): void {
    this.dy.fill(0);
    gatherSoftGrad(this.model, st, batch, this.dy);
    this.head.encodeBackward(this.dy);
  }

  // The encoder's current output rows (N, C).
  values(): Float32Array {
    this.encode();
    return this.y.f32().slice();
  }

  encoderConfig(): PromptEncoderConfig {
    // MLP: encoder_num_layers is PEFT's default, which its MLP ignores
    return { encoder_reparameterization_type: this.type, encoder_hidden_size: this.hidden, encoder_num_layers: this.layers, encoder_dropout: 0 };
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
    this.head.free();
    this.y.free();
  }
}
