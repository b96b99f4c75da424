// The model-loading flags (--model, --backend, --dtype, ...) shared by every command that runs a model.
import { PromptkilnError } from '../errors.js';
import { loadModel, type Conditioning, type Model } from '../model/index.js';
import { createBackend, parseBackendChoice, type BackendChoice, type SelectedBackend } from '../backend.js';
import { loadCheckpoint } from '../model/source.js';
import { loadAdapter } from '../soft/index.js';
import { loadCompressedConditioning, type ModelInfo } from '../compress/index.js';
import type { CliIO } from './command.js';

// Options every command that runs a model shares. --backend has no parseArgs default: its
// default ('auto') lives in parseBackendChoice.
export const modelOptions = {
  model: { type: 'string' },
  backend: { type: 'string' },
  adapter: { type: 'string' },
  compressed: { type: 'string' },
  weights: { type: 'string' },
} as const;

export type WeightsChoice = 'f32' | 'bf16' | 'auto';

// --weights: how the WASM kernels hold the weights (loadModel's `weights`); no value = 'auto'.
export function weightsOpt(cmd: string, v: string | undefined): WeightsChoice {
  if (v === undefined) return 'auto';
  if (v === 'f32' || v === 'bf16' || v === 'auto') return v;
  throw new PromptkilnError('ARGUMENT', `${cmd}: --weights must be one of f32, bf16, auto; found "${v}"`);
}

// --backend for every command, through the one parser in backend.ts. A command that runs only on
// the WASM kernels says why in `wasmOnly` and refuses "ort" instead of ignoring it.
export function backendOpt(cmd: string, v: string | undefined, wasmOnly?: string): BackendChoice {
  const b = parseBackendChoice(v, `${cmd}: --backend`);
  if (b === 'ort' && wasmOnly !== undefined) {
    throw new PromptkilnError('ARGUMENT', `${cmd}: --backend ort is not supported: ${wasmOnly}; use --backend wasm or auto`);
  }
  return b;
}

function requireSource(cmd: string, source: string | undefined): string {
  if (!source) throw new PromptkilnError('ARGUMENT', `${cmd}: --model is required (a folder, a .bin file, or a hub id like karpathy/tinyllamas/stories260K)`);
  return source;
}

export async function openModel(cmd: string, source: string | undefined, io: CliIO, weights?: string): Promise<Model> {
  return loadModel(requireSource(cmd, source), {
    signal: io.signal, onProgress: downloadProgress(io), weights: weightsOpt(cmd, weights), onWarning: (m) => io.err(`promptkiln: ${m}`),
  });
}

// --task-id N: which task of a multitask prompt or a prompt encoder (--adapter) conditions the model.
export function taskIdOpt(cmd: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new PromptkilnError('ARGUMENT', `${cmd}: --task-id expects a non-negative integer, got "${v}"`);
  return Number(v);
}

// --adapter (a PEFT folder, or a prompt encoder's with --task-id N or --description TEXT) /
// --compressed (a compressed-context folder) → Conditioning.
export async function openConditioning(cmd: string, values: { adapter?: string; compressed?: string; taskId?: number; description?: string }, model: ModelInfo): Promise<Conditioning | null> {
  if (values.adapter && values.compressed) {
    throw new PromptkilnError('ARGUMENT', `${cmd}: --adapter and --compressed cannot be combined`);
  }
  if (values.taskId !== undefined && !values.adapter) throw new PromptkilnError('ARGUMENT', `${cmd}: --task-id picks a task of a multitask --adapter; no --adapter given`);
  if (values.description !== undefined && !values.adapter) throw new PromptkilnError('ARGUMENT', `${cmd}: --description is the task for a prompt-encoder --adapter; no --adapter given`);
  if (values.adapter) return loadAdapter(values.adapter, model, { taskId: values.taskId, description: values.description });
  if (values.compressed) return loadCompressedConditioning(values.compressed, model);
  return null;
}

// --backend for scoring: the WASM model, or onnxruntime (webgpu / wasm EP) behind the same API.
export async function openScorer(cmd: string, source: string | undefined, backend: BackendChoice, io: CliIO, weights?: string): Promise<SelectedBackend> {
  const w = weightsOpt(cmd, weights);
  // onnxruntime gets the checkpoint's own tensors (f32 initializers): a 16-bit choice would be ignored there
  if (w !== 'auto' && backend === 'ort') throw new PromptkilnError('ARGUMENT', `${cmd}: --weights ${w} applies to the WASM kernels; --backend ort exports f32 initializers`);
  const ckpt = await loadCheckpoint(requireSource(cmd, source), { signal: io.signal, onProgress: downloadProgress(io) });
  const onWarning = (m: string): void => io.err(`promptkiln: ${m}`);
  return createBackend(ckpt, { backend, onWarning, load: { weights: w, onWarning } });
}

// One line per file when a download finishes (and every few MB on big files).
function downloadProgress(io: CliIO): (e: { file: string; loaded: number; total: number | null }) => void {
  const last = new Map<string, number>();
  return (e) => {
    const prev = last.get(e.file) ?? -Infinity;
    const done = e.total !== null && e.loaded >= e.total;
    if (!done && e.loaded - prev < 8 * 1024 * 1024) return;
    last.set(e.file, e.loaded);
    io.err(`download ${e.file}: ${(e.loaded / 1024).toFixed(0)} KiB${e.total ? ` of ${(e.total / 1024).toFixed(0)} KiB` : ''}`);
  };
}
