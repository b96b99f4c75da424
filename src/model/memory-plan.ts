// How a model's weights are stored in the kernel heap (f32 or bf16) and whether they fit, decided
// from the config alone, before anything is allocated.
import { PromptkilnError } from '../errors.js';
import { HEAD_CHUNK } from './transformer.js';
import type { ModelConfig } from './types.js';
import { expectedShapes, weightDtype, type WeightsMode } from './weights.js';

export type { WeightsMode } from './weights.js';

const ALIGN = 64; // the heap's block alignment (memory.ts)
const aligned = (bytes: number) => Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);

// Heap bytes of every weight tensor in a mode.
export function weightBytes(c: ModelConfig, mode: WeightsMode): number {
  let total = 0;
  for (const [name, shape] of expectedShapes(c)) {
    total += aligned(shape.reduce((a, b) => a * b, 1) * (weightDtype(name, mode) === 'bf16' ? 2 : 4));
  }
  return total;
}

// Room the default mode leaves beside the weights: an estimate of a prompt-tuning step at batch 1
// of min(128, context) rows (each layer's saved activations, the backward's gradients, one LM-head
// chunk of logits) and the bf16 upload's staging. The choice needs a margin, not an exact figure:
// the heap itself still refuses (OOM) any allocation past its cap.
export function activationRoom(c: ModelConfig): number {
  const T = Math.min(128, c.maxSeqLen);
  const C = c.dim, F = c.hiddenDim, qd = c.nHeads * c.headDim, kvd = c.nKvHeads * c.headDim;
  const perLayer = T * (3 * C + 2 * F + 2 * qd + 2 * kvd) + c.nHeads * T * T;
  const grads = T * (3 * C + 3 * F + 2 * qd + 2 * kvd);
  const head = HEAD_CHUNK * (c.vocabSize + 2 * C);
  return 4 * (c.nLayers * perLayer + grads + head) + 16 * 2 ** 20;
}

export interface MemoryPlan {
  mode: WeightsMode;
  weightBytes: number; // in the chosen mode
  room: number; // activationRoom
  capacity: number; // the heap's cap
  note: string | null; // why the default chose bf16, when it did
}

// Picks the mode (`requested`, or the default: f32 when f32 weights and the room fit under the cap,
// else bf16, with a note saying so) and refuses with OOM, naming the bytes, a model whose weights
// and room fit in no mode, or in the mode asked for.
export function planWeights(c: ModelConfig, capacity: number, requested: WeightsMode | 'auto', source: string): MemoryPlan {
  const room = activationRoom(c);
  const f32 = weightBytes(c, 'f32'), bf16 = weightBytes(c, 'bf16');
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
  const fits = (w: number) => w + room <= capacity;
  const needs = (mode: WeightsMode, w: number) =>
    `${mode} weights need ${w} bytes (${mib(w)}) + ${room} bytes (${mib(room)}) for activations = ${w + room} bytes; the heap holds ${capacity} bytes (${mib(capacity)})`;
  if (requested === 'f32' || requested === 'bf16') {
    const w = requested === 'f32' ? f32 : bf16;
    if (!fits(w)) {
      throw new PromptkilnError('OOM', `${source}: ${needs(requested, w)}${requested === 'f32' && fits(bf16) ? "; weights: 'bf16' would fit" : ''}`,
        { requested: w + room, available: capacity, weights: requested });
    }
    return { mode: requested, weightBytes: w, room, capacity, note: null };
  }
  if (fits(f32)) return { mode: 'f32', weightBytes: f32, room, capacity, note: null };
  if (fits(bf16)) {
    return { mode: 'bf16', weightBytes: bf16, room, capacity,
      note: `${source}: loading weights as bf16: as f32 they need ${f32} bytes (${mib(f32)}) + ${mib(room)} for activations, more than the ${mib(capacity)} heap; bf16 needs ${mib(bf16)}` };
  }
  throw new PromptkilnError('OOM', `${source}: too large in every mode: ${needs('bf16', bf16)} (f32: ${f32} bytes)`, { requested: bf16 + room, available: capacity });
}
