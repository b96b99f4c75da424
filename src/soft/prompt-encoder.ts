// The transformer prompt encoder: a task description (its frozen token embeddings) and N learned
// slots through a few pre-norm blocks to N soft prompt rows — forward and backward side by side,
// the artifact it trains, and encodeTask (a new task's prompt from one forward pass).
//   x (D+N, E) = [emb(desc)·Winᵀ + bin + PE(0..D-1) ; slots]
//   h (D+N, E) = blocks(x)                      causal: slot n sees the description and slots < n
//   rows (N, C) = LN_f(h[D..])·Woutᵀ + bout
// The description rows carry a fixed sinusoidal position (a slot can learn to read "the k-th word");
// the slots need none, their learned embeddings tell them apart.
import { PromptkilnError } from '../errors.js';
import { Tensor } from '../kernels/index.js';
import type { Model } from '../model/index.js';
import { rng } from '../model/sampling.js';
import { checkModelIdentity, paramOf, type Param } from '../train/index.js';
import { modelIdentity } from './identity.js';
import { embeddingRms, normal } from './init.js';
import { blockTensorShapes, EncoderBlock, LN_EPS, layernormBackward, type BlockActs } from './prompt-encoder-block.js';
import type { PromptEncoderArtifact, PromptEncoderDims, SoftPromptArtifact, TaskDescription } from './types.js';

export type { PromptEncoderArtifact, PromptEncoderDims, TaskDescription };

// Defaults for a model of width C: a small network beside the frozen model.
export function promptEncoderDefaults(C: number, o: Partial<PromptEncoderDims> = {}): PromptEncoderDims {
  const width = o.width ?? Math.min(C, 128);
  return { width, layers: o.layers ?? 2, heads: o.heads ?? 4, hidden: o.hidden ?? 4 * width };
}

// What backward needs from one forward.
export interface EncoderActs {
  D: number; // description rows
  emb: Tensor; // (D, C) frozen token embeddings
  x: Tensor; // (D+N, E)
  blocks: BlockActs[];
  z: Tensor; // (N, E) LN_f of the slots' last hidden states
  mean: Tensor; rstd: Tensor; // (N), (N)
  rows: Tensor; // (N, C)
}

// Every tensor of an encoder with N slots over a model of width C: its file name and shape, in
// the order of PromptEncoder.params.
export function encoderTensorShapes(N: number, C: number, d: PromptEncoderDims): [string, number[]][] {
  const E = d.width;
  return [
    ['in_proj.weight', [E, C]], ['in_proj.bias', [E]], ['slots', [N, E]],
    ...Array.from({ length: d.layers }, (_, l) => blockTensorShapes({ C: E, hidden: d.hidden }).map(([n, s]): [string, number[]] => [`blocks.${l}.${n}`, s])).flat(),
    ['ln_f.weight', [E]], ['ln_f.bias', [E]], ['out_proj.weight', [C, E]], ['out_proj.bias', [C]],
  ];
}

// A description's token ids (text through the model's tokenizer with its BOS rule).
export function descriptionIds(model: Model, d: TaskDescription, where = 'prompt encoder'): number[] {
  const ids = typeof d === 'string' ? model.encodePrompt(d) : [...d];
  if (!ids.length) throw new PromptkilnError('ARGUMENT', `${where}: the task description ${JSON.stringify(d)} has no tokens`);
  return ids;
}

// sinusoidal position d, channel j of width E (Vaswani et al.)
function position(d: number, j: number, E: number): number {
  const f = d / Math.pow(10000, (2 * Math.floor(j / 2)) / E);
  return j % 2 ? Math.cos(f) : Math.sin(f);
}

export class PromptEncoder {
  readonly inW: Param; readonly inB: Param; // (E, C), (E)
  readonly slots: Param; // (N, E)
  readonly blocks: EncoderBlock[];
  readonly lnW: Param; readonly lnB: Param; // (E), (E)
  readonly outW: Param; readonly outB: Param; // (C, E), (C)
  readonly params: Param[];
  readonly C: number;

  // Weights from `seed` (Linear: U(±1/√in); the output scaled so the rows start at the embedding
  // table's RMS), or the given tensors by file name (every one required, shapes checked).
  constructor(readonly model: Model, readonly N: number, readonly dims: PromptEncoderDims, seed: number, initial?: Record<string, Float32Array>, where = 'prompt encoder') {
    const k = model.kernels, C = model.config.dim, { width: E, layers: L, heads: H, hidden: F } = dims;
    this.C = C;
    for (const [key, v] of [['num_virtual_tokens', N], ['width', E], ['layers', L], ['heads', H], ['hidden', F]] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new PromptkilnError('ARGUMENT', `${where}: ${key} must be a positive integer, got ${v}`, { field: key });
    }
    if (E % H) throw new PromptkilnError('ARGUMENT', `${where}: width ${E} does not split over ${H} heads`, { field: 'heads' });
    const u = rng(seed ^ 0x3e7c);
    const unif = (n: number, bound: number) => Float32Array.from({ length: n }, () => (2 * u() - 1) * bound);
    const z = normal(rng(seed ^ 0x51a7));
    const p = (what: string, v: Float32Array) => paramOf(k, `${where} ${what}`, v);
    this.inW = p('in_proj.weight', unif(E * C, 1 / Math.sqrt(C))); this.inB = p('in_proj.bias', new Float32Array(E));
    this.slots = p('slots', Float32Array.from({ length: N * E }, () => z()));
    this.blocks = Array.from({ length: L }, (_, l) => new EncoderBlock(k, `${where} blocks.${l}`, { C: E, H, hidden: F }, seed + 101 * (l + 1)));
    this.lnW = p('ln_f.weight', new Float32Array(E).fill(1)); this.lnB = p('ln_f.bias', new Float32Array(E));
    this.outW = p('out_proj.weight', unif(C * E, (Math.sqrt(3) * embeddingRms(model)) / Math.sqrt(E))); this.outB = p('out_proj.bias', new Float32Array(C));
    this.params = this.named().map(([, q]) => q);
    if (initial) {
      try {
        this.load(initial, where);
      } catch (e) {
        this.free(); // a refused file leaves nothing allocated
        throw e;
      }
    }
  }

  // The given tensors by file name: every one required, each of its shape, none unknown.
  private load(initial: Record<string, Float32Array>, where: string): void {
    for (const [name, q] of this.named()) {
      const v = initial[name];
      if (!v) throw new PromptkilnError('ADAPTER', `${where}: tensor "${name}" is missing`, { key: name });
      if (v.length !== q.value.n) throw new PromptkilnError('ADAPTER', `${where}: tensor "${name}" has ${v.length} values, expected ${q.value.n}`, { key: name });
      q.value.set(v);
    }
    const known = new Set(this.named().map(([n]) => n));
    const extra = Object.keys(initial).find((n) => !known.has(n));
    if (extra) throw new PromptkilnError('ADAPTER', `${where}: tensor "${extra}" is not part of a ${this.dims.layers}-layer prompt encoder`, { key: extra });
  }

  // Every param under its file name, in `params` order.
  named(): [string, Param][] {
    const params = [this.inW, this.inB, this.slots, ...this.blocks.flatMap((b) => b.params), this.lnW, this.lnB, this.outW, this.outB];
    return encoderTensorShapes(this.N, this.C, this.dims).map(([n], i) => [n, params[i]]);
  }

  // description ids → rows (N, C). Activations are unscoped: the caller frees them (freeActs).
  forward(ids: readonly number[]): EncoderActs {
    const k = this.model.kernels, { N, C } = this, E = this.dims.width, D = ids.length;
    const a = (n: number, what: string) => k.alloc(n, `prompt encoder ${what}`, false);
    const emb = a(D * C, 'description embeddings').set(this.model.embeddingRows(ids));
    const x = a((D + N) * E, 'x');
    k.matmul(x.at(0, D * E), emb, this.inW.value, this.inB.value, D, C, E);
    const xv = x.f32();
    for (let d = 0; d < D; d++) for (let j = 0; j < E; j++) xv[d * E + j] += position(d, j, E);
    x.at(D * E, N * E).set(this.slots.value.f32());
    const blocks: BlockActs[] = [];
    let h = x;
    // a block allocates in the current scope; these live until backward, so they leave it
    for (const b of this.blocks) {
      const m = k.heap.mark();
      const f = b.forward(h, D + N);
      k.heap.persist(m);
      blocks.push(f);
      h = f.y;
    }
    const z = a(N * E, 'z'), mean = a(N, 'ln_f mean'), rstd = a(N, 'ln_f rstd');
    k.layernorm(z, mean, rstd, h.at(D * E, N * E), this.lnW.value, this.lnB.value, N, E, LN_EPS);
    const rows = a(N * C, 'rows');
    k.matmul(rows, z, this.outW.value, this.outB.value, N, E, C);
    return { D, emb, x, blocks, z, mean, rstd, rows };
  }

  // d rows (N, C) → accumulates every param's grad (the description's embeddings are frozen).
  backward(f: EncoderActs, drows: Float32Array): void {
    const k = this.model.kernels, { N, C } = this, E = this.dims.width, D = f.D, T = D + N;
    k.heap.scope(() => {
      const zero = (n: number, what: string) => { const t = k.alloc(n, `prompt encoder ${what}`); k.zero(t); return t; };
      const dr = k.from(drows, 'prompt encoder drows'); // (N, C)
      k.matmulBackwardWeight(this.outW.grad, this.outB.grad, dr, f.z, N, E, C);
      const dz = zero(N * E, 'dz');
      k.matmulBackwardInput(dz, dr, this.outW.value, N, E, C);
      let dh = zero(T * E, 'dh'); // (D+N, E): the description rows' outputs are not read
      const hLast = f.blocks.length ? f.blocks[f.blocks.length - 1].y : f.x;
      layernormBackward(k, dh.at(D * E, N * E), dz, hLast.at(D * E, N * E), this.lnW, this.lnB, f.mean, f.rstd, N, E);
      for (let l = this.blocks.length - 1; l >= 0; l--) {
        const dx = zero(T * E, `dx${l}`);
        this.blocks[l].backward(f.blocks[l], dh, dx);
        dh = dx;
      }
      k.axpy(this.slots.grad, dh.at(D * E, N * E), 1);
      k.matmulBackwardWeight(this.inW.grad, this.inB.grad, dh.at(0, D * E), f.emb, D, C, E);
    });
  }

  // The rows of one description (N, C), activations freed.
  encode(d: TaskDescription): Float32Array {
    const f = this.forward(descriptionIds(this.model, d));
    try {
      return f.rows.f32().slice();
    } finally {
      freeActs(f);
    }
  }

  snapshot(): Record<string, Float32Array> {
    return Object.fromEntries(this.named().map(([n, q]) => [n, q.value.f32().slice()]));
  }

  free(): void {
    for (const q of this.params) { q.value.free(); q.grad.free(); } // the blocks' included
  }
}

// Frees every tensor an EncoderActs holds.
export function freeActs(f: EncoderActs): void {
  const seen = new Set<Tensor>();
  const walk = (v: unknown): void => {
    if (v instanceof Tensor) { if (!seen.has(v)) { seen.add(v); v.free(); } return; }
    if (v && typeof v === 'object') for (const x of Object.values(v)) walk(x);
  };
  walk(f);
}

// A new task's prompt from one forward pass: the encoder's rows for `description` as a prompt-
// tuning artifact (score / generate with it, save it as PEFT files, or fine-tune it with
// tune({ method: 'prompt', initial: a.data })).
export function encodeTask(model: Model, a: PromptEncoderArtifact, description: TaskDescription): SoftPromptArtifact {
  // its rows feed this model's embedding space: an encoder of another model (or shape) is refused
  checkModelIdentity(a.model, model, 'prompt encoder');
  const enc = new PromptEncoder(model, a.rows, a.dims, 0, a.tensors);
  try {
    return {
      kind: 'prompt', rows: a.rows, data: enc.encode(description), template: a.template.map((p) => ({ ...p })),
      init: { type: 'RANDOM', text: null }, model: modelIdentity(model),
    };
  } finally {
    enc.free();
  }
}
