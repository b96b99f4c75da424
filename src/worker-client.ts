// Page side of the long work a model worker serves (src/worker-tasks.ts): tune, compress, optimize
// and generation under an adapter, typed, with progress, abort and resume crossing the boundary.
// Only types and the message plumbing of model/remote.ts: the training code stays in the worker.
import type { CompressOptions, CompressReport, DistillProgress } from './compress/index.js';
import { PromptkilnError } from './errors.js';
import type { GenerateOptions, GenerateResult, Text } from './model/index.js';
import type { WorkerModel } from './model/remote.js';
import type { TaskChunk } from './model/worker-protocol.js';
import type { OptimizeOptions, OptimizeResult, ProgressEvent as OptimizeProgress } from './search/index.js';
import type { Example, ProgressEvent as TuneProgress, SoftArtifact, TuneOptions, TuneResult } from './soft/index.js';
import type { LinearArtifact } from './soft/peft-linear.js';
import type { PeftFileMap } from './worker-tasks.js';

export type { PeftFileMap };

// What replaces the callbacks and objects that cannot cross: `resume` is the bytes an earlier
// onCheckpoint gave (keep them anywhere, e.g. IndexedDB), and the run continues exactly from there.
export interface InWorker<P> {
  signal?: AbortSignal;
  onProgress?: (e: P) => void;
  onCheckpoint?: (bytes: Uint8Array) => void;
  resume?: Uint8Array | null;
}
type Local<O> = Omit<O, 'signal' | 'onProgress' | 'onCheckpoint' | 'resume' | 'resumeFile'>;

// Never silently dropped: a function or object that cannot cross is refused by name.
function plain(what: string, o: Record<string, unknown>, refused: string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || ['signal', 'onProgress', 'onCheckpoint'].includes(k)) continue;
    if (typeof v === 'function' || refused.includes(k)) {
      throw new PromptkilnError('ARGUMENT', `${what} in a worker: option "${k}" cannot cross to the worker (a ${typeof v === 'function' ? 'function' : 'live object'}); run ${what} in the page's own thread to use it`, { option: k });
    }
    out[k] = v;
  }
  return out;
}

function chunks<P>(o: InWorker<P>): (c: TaskChunk) => void {
  return (c) => {
    if (c.kind === 'progress') o.onProgress?.(c.event as P);
    else if (c.kind === 'checkpoint') o.onCheckpoint?.(c.bytes);
  };
}

export interface WorkerTuneResult extends TuneResult<SoftArtifact | LinearArtifact> {
  files: PeftFileMap; // adapter_config.json + adapter_model.safetensors, ready to download
}

// tune() in the worker; checkpointEvery (steps) sets how often onCheckpoint gets bytes.
export async function tuneInWorker(m: WorkerModel, data: Example[], o: Local<TuneOptions> & InWorker<TuneProgress> = {}): Promise<WorkerTuneResult> {
  return (await m.runTask('tune', [data], plain('tune', o as Record<string, unknown>), o.signal, chunks(o))) as WorkerTuneResult;
}

// The PEFT files of a tune checkpoint (e.g. after Stop): pass the run's tune options.
export async function tuneFilesInWorker(m: WorkerModel, checkpoint: Uint8Array, o: Local<TuneOptions> = {}): Promise<{ step: number; files: PeftFileMap }> {
  return (await m.runTask('tune-files', [checkpoint], plain('tune', o as Record<string, unknown>))) as { step: number; files: PeftFileMap };
}

export async function compressInWorker(m: WorkerModel, context: Text, o: Local<CompressOptions> & InWorker<DistillProgress> = {}): Promise<CompressReport> {
  return (await m.runTask('compress', [context], plain('compress', o as Record<string, unknown>, ['compressor']), o.signal, chunks(o))) as CompressReport;
}

// optimize() against the worker's model. Resume goes through the evaluator cache: onCheckpoint
// gets every finished call so far (JSONL, the CLI's cache format) after each iteration and when
// the run ends or stops early; `resume` with those bytes replays them for free.
export async function optimizeInWorker(m: WorkerModel, task: Record<string, unknown>, o: Local<OptimizeOptions> & InWorker<OptimizeProgress> = {}): Promise<OptimizeResult> {
  if (typeof o.strategy === 'object') throw new PromptkilnError('ARGUMENT', 'optimize in a worker: strategy must be a name (a Strategy object cannot cross to the worker)', { option: 'strategy' });
  if (typeof o.metric === 'object') throw new PromptkilnError('ARGUMENT', 'optimize in a worker: metric must be a name (a metric function cannot cross to the worker)', { option: 'metric' });
  const opts = plain('optimize', o as Record<string, unknown>, ['proposer', 'judge', 'cache', 'runLog', 'onEvent']);
  const lines: string[] = o.resume ? new TextDecoder().decode(o.resume).split('\n').filter(Boolean) : [];
  const save = () => o.onCheckpoint?.(new TextEncoder().encode(lines.map((l) => l + '\n').join('')));
  try {
    return (await m.runTask('optimize', [task], opts, o.signal, (c) => {
      if (c.kind === 'cache') lines.push(JSON.stringify({ k: c.key, v: c.value }));
      else if (c.kind === 'progress') {
        o.onProgress?.(c.event as OptimizeProgress);
        if ((c.event as OptimizeProgress).type === 'iteration') save();
      }
    })) as OptimizeResult;
  } finally {
    save(); // the whole run's calls, or what finished before an abort or an error
  }
}

// Generation in the worker, under an adapter given as PEFT files (tune's, or files a user picked).
export async function generateInWorker(m: WorkerModel, prompt: Text, o: Omit<GenerateOptions, 'conditioning'> & { adapter?: PeftFileMap | null } = {}): Promise<GenerateResult> {
  const { adapter, ...rest } = o;
  return (await m.runTask('generate', [prompt, adapter ?? null], plain('generate', rest as Record<string, unknown>), o.signal)) as GenerateResult;
}
