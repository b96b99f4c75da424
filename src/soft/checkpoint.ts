import { PromptkilnError } from '../errors.js';
import { parseSafetensors, writeSafetensors } from '../model/safetensors.js';
import { nodeFs, writeFileAtomic } from '../util/files.js';
import type { HistoryEntry } from './trainer.js';

// Everything a run needs to continue exactly where it stopped: parameters, AdamW moments and
// step, the best parameters so far, early-stopping counters and the history. The data order of
// every epoch is a pure function of (seed, epoch), so it needs no saving.
export interface TrainCheckpoint {
  step: number;
  params: Float32Array[];
  adam: { step: number; m: Float32Array[]; v: Float32Array[] };
  best: { loss: number; step: number; params: Float32Array[] } | null;
  badEvals: number;
  history: HistoryEntry[];
  // the settings that must match on resume
  signature: string;
}

// One safetensors file: tensors for the arrays, the rest as JSON metadata.
export function encodeCheckpoint(c: TrainCheckpoint): Uint8Array {
  const t: Record<string, { shape: number[]; data: Float32Array }> = {};
  const put = (name: string, a: Float32Array) => (t[name] = { shape: [a.length], data: a });
  c.params.forEach((p, i) => put(`params.${i}`, p));
  c.adam.m.forEach((p, i) => put(`adam.m.${i}`, p));
  c.adam.v.forEach((p, i) => put(`adam.v.${i}`, p));
  c.best?.params.forEach((p, i) => put(`best.${i}`, p));
  const meta = {
    step: c.step, adamStep: c.adam.step, n: c.params.length, badEvals: c.badEvals, history: c.history,
    best: c.best ? { loss: c.best.loss, step: c.best.step } : null, signature: c.signature,
  };
  return writeSafetensors(t, { format: 'pt', promptkiln_train_state: JSON.stringify(meta) });
}

export function decodeCheckpoint(bytes: Uint8Array, file = 'train_state.safetensors'): TrainCheckpoint {
  const f = parseSafetensors(bytes, file);
  const raw = f.metadata.promptkiln_train_state;
  if (!raw) throw new PromptkilnError('DATA', `${file}: not a promptkiln training checkpoint (no promptkiln_train_state metadata)`);
  const m = JSON.parse(raw) as { step: number; adamStep: number; n: number; badEvals: number; history: HistoryEntry[]; best: { loss: number; step: number } | null; signature: string };
  const get = (name: string) => {
    const x = f.tensors.get(name);
    if (!x) throw new PromptkilnError('DATA', `${file}: tensor ${name} is missing`);
    return x.data.slice();
  };
  const idx = Array.from({ length: m.n }, (_, i) => i);
  return {
    step: m.step,
    params: idx.map((i) => get(`params.${i}`)),
    adam: { step: m.adamStep, m: idx.map((i) => get(`adam.m.${i}`)), v: idx.map((i) => get(`adam.v.${i}`)) },
    best: m.best ? { ...m.best, params: idx.map((i) => get(`best.${i}`)) } : null,
    badEvals: m.badEvals,
    history: m.history,
    signature: m.signature,
  };
}

export async function saveCheckpointFile(path: string, c: TrainCheckpoint): Promise<void> {
  await writeFileAtomic(path, encodeCheckpoint(c));
}

export async function loadCheckpointFile(path: string): Promise<TrainCheckpoint> {
  const { fs } = await nodeFs();
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(path);
  } catch (e) {
    throw new PromptkilnError('DATA', `${path}: cannot read the training checkpoint (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return decodeCheckpoint(bytes, path);
}
