// The one checkpoint format of every training run (tune, distill, the recurrent compressor): a
// safetensors file of the parameters, optimizer state and best parameters, with the step, history,
// early-stopping counters and the run identity as JSON metadata.
import { PromptkilnError } from '../errors.js';
import { parseSafetensors, writeSafetensors } from '../model/safetensors.js';
import { nodeFs, writeFileAtomic } from '../util/files.js';
import type { RunIdentity } from './identity.js';
import type { OptimizerState } from './optim.js';

// One row of a run's history: a training step (loss, lr, gradNorm, tokensPerSec) and/or an
// evaluation (validLoss and the method's metrics, e.g. exactMatch).
export interface HistoryEntry {
  step: number;
  epoch: number;
  loss?: number;
  lr?: number;
  gradNorm?: number;
  tokensPerSec?: number;
  validLoss?: number;
  [metric: string]: number | undefined;
}

// Everything a run needs to continue exactly where it stopped. The data order of every step is a
// pure function of (seed, step), so it needs no saving.
export interface TrainCheckpoint {
  step: number;
  params: Float32Array[];
  optimizer: OptimizerState;
  best: { loss: number; step: number; params: Float32Array[] } | null;
  badEvals: number;
  history: HistoryEntry[];
  before?: unknown; // the evaluation of the starting params (JSON), so a resumed run still reports it
  identity: RunIdentity; // must match the resuming run
}

const META = 'promptkiln_train_state';

export function encodeCheckpoint(c: TrainCheckpoint): Uint8Array {
  const t: Record<string, { shape: number[]; data: Float32Array }> = {};
  const put = (name: string, a: Float32Array) => (t[name] = { shape: [a.length], data: a });
  c.params.forEach((p, i) => put(`params.${i}`, p));
  c.optimizer.slots.forEach((s, j) => s.forEach((p, i) => put(`optimizer.${j}.${i}`, p)));
  c.best?.params.forEach((p, i) => put(`best.${i}`, p));
  const meta = {
    version: 2, step: c.step, n: c.params.length, optimizerStep: c.optimizer.step, optimizerSlots: c.optimizer.slots.length,
    badEvals: c.badEvals, history: c.history, best: c.best ? { loss: c.best.loss, step: c.best.step } : null, identity: c.identity,
    before: c.before ?? null,
  };
  return writeSafetensors(t, { format: 'pt', [META]: JSON.stringify(meta) });
}

export function decodeCheckpoint(bytes: Uint8Array, file = 'train_state.safetensors'): TrainCheckpoint {
  const f = parseSafetensors(bytes, file);
  const raw = f.metadata[META];
  if (!raw) throw new PromptkilnError('DATA', `${file}: not a promptkiln training checkpoint (no ${META} metadata)`);
  let m: { version?: number; step: number; n: number; optimizerStep: number; optimizerSlots: number; badEvals: number; history: HistoryEntry[]; best: { loss: number; step: number } | null; identity: RunIdentity; before?: unknown };
  try {
    m = JSON.parse(raw);
  } catch (e) {
    throw new PromptkilnError('DATA', `${file}: ${META} metadata is not JSON (${(e as Error).message})`);
  }
  if (m.version !== 2) throw new PromptkilnError('DATA', `${file}: a training checkpoint of format ${m.version ?? 1}, this version reads format 2; start without resume`);
  const get = (name: string) => {
    const x = f.tensors.get(name);
    if (!x) throw new PromptkilnError('DATA', `${file}: tensor ${name} is missing`);
    return x.data.slice();
  };
  const idx = Array.from({ length: m.n }, (_, i) => i);
  return {
    step: m.step,
    params: idx.map((i) => get(`params.${i}`)),
    optimizer: { step: m.optimizerStep, slots: Array.from({ length: m.optimizerSlots }, (_, j) => idx.map((i) => get(`optimizer.${j}.${i}`))) },
    best: m.best ? { ...m.best, params: idx.map((i) => get(`best.${i}`)) } : null,
    badEvals: m.badEvals,
    history: m.history,
    before: m.before ?? null,
    identity: m.identity,
  };
}

export async function saveCheckpointFile(path: string, c: TrainCheckpoint): Promise<void> {
  await writeFileAtomic(path, encodeCheckpoint(c));
}

// missing: 'error' (a DATA error naming the file) or 'null' (nothing to resume: start fresh)
export async function loadCheckpointFile(path: string, missing?: 'error'): Promise<TrainCheckpoint>;
export async function loadCheckpointFile(path: string, missing: 'null'): Promise<TrainCheckpoint | null>;
export async function loadCheckpointFile(path: string, missing: 'error' | 'null' = 'error'): Promise<TrainCheckpoint | null> {
  const { fs } = await nodeFs();
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (missing === 'null' && code === 'ENOENT') return null;
    throw new PromptkilnError('DATA', `${path}: cannot read the training checkpoint (${code ?? (e as Error).message})`);
  }
  return decodeCheckpoint(bytes, path);
}
