// Choosing the forward backend for scoring: our WASM kernels (model/) or onnxruntime (ort/).
// Lives above both so neither imports the other's choice.
//
//   'wasm'  our kernels, always.
//   'ort'   onnxruntime-web: WebGPU when navigator.gpu gives an adapter (a software one included:
//           the caller asked for ORT), else its wasm EP. Failures throw BACKEND.
//   'auto'  ORT only for WebGPU on a real GPU (an adapter that is not a fallback/software one);
//           otherwise our kernels, which are faster than ORT's wasm EP. If ORT fails to start
//           (session, EP, model too large), fall back to our kernels and report the reason once.

import { PromptkilnError } from './errors.js';
import { Model, type LoadOptions, type ScoreOptions, type ScoreResult, type Text } from './model/model.js';
import type { Checkpoint, ModelConfig, Tokenizer } from './model/types.js';
import type { OrtBackend, OrtBackendOptions } from './ort/backend.js';
import type { WebGpuProbe } from './ort/runtime.js';

export type BackendChoice = 'wasm' | 'ort' | 'auto';

// What both backends offer for scoring.
export interface ScoringBackend {
  readonly config: ModelConfig;
  readonly tokenizer: Tokenizer | null;
  readonly id: string;
  score(prompt: Text, target: Text, opts?: ScoreOptions): Promise<ScoreResult>;
  scoreMany(prompt: Text, targets: Text[], opts?: ScoreOptions): Promise<ScoreResult[]>;
  dispose(): void | Promise<void>;
}

export interface BackendOptions {
  backend?: BackendChoice; // default 'auto'
  load?: LoadOptions; // for the WASM model
  ort?: OrtBackendOptions;
  // Called once with the reason when 'auto' falls back to the WASM kernels after ORT failed;
  // without it the reason goes to console.warn, once per distinct reason per process.
  onWarning?: (message: string) => void;
}

export interface SelectedBackend {
  kind: 'wasm' | 'ort';
  backend: ScoringBackend;
  model: Model | null; // the WASM model when kind = 'wasm' (training, generation need it)
  reason: string; // why this backend was chosen
}

const warned = new Set<string>();
function warnOnce(opts: BackendOptions, message: string): void {
  if (opts.onWarning) return opts.onWarning(message);
  if (warned.has(message)) return;
  warned.add(message);
  console.warn(`promptkiln: ${message}`);
}

export const BACKEND_CHOICES: readonly BackendChoice[] = ['wasm', 'ort', 'auto'];

// The one parser of a backend name: the API's `backend` option and every CLI command's --backend
// (cli/model-options.ts). `what` names the setting in the error ("score: --backend").
export function parseBackendChoice(v: string | undefined, what = 'backend'): BackendChoice {
  if (v === undefined) return 'auto';
  if ((BACKEND_CHOICES as readonly string[]).includes(v)) return v as BackendChoice;
  throw new PromptkilnError('ARGUMENT', `${what} must be one of ${BACKEND_CHOICES.join(', ')}; found "${v}"`);
}

export async function createBackend(ckpt: Checkpoint, opts: BackendOptions = {}): Promise<SelectedBackend> {
  const choice = parseBackendChoice(opts.backend);
  const wasm = async (reason: string): Promise<SelectedBackend> => {
    const model = await Model.fromCheckpoint(ckpt, opts.load);
    return { kind: 'wasm', backend: model, model, reason };
  };
  if (choice === 'wasm') return wasm('backend "wasm" was asked for');

  // ort/ is imported only when ORT may be used, so WASM-only users never load it
  const ortMod = await import('./ort/index.js');
  if (choice === 'ort') {
    const b: OrtBackend = await ortMod.OrtBackend.create(ckpt, { ...opts.ort, onWarning: opts.ort?.onWarning ?? ((m) => warnOnce(opts, m)) });
    return { kind: 'ort', backend: b, model: null, reason: `backend "ort" was asked for (${b.ep} EP)` };
  }

  const probe: WebGpuProbe = await ortMod.probeWebGpu();
  if (!probe.adapter) return wasm(`auto: no WebGPU (${probe.reason}); our WASM kernels are faster than ORT's wasm EP`);
  if (probe.fallback) return wasm(`auto: ${probe.reason} is a software adapter; our WASM kernels are faster`);
  try {
    const b = await ortMod.OrtBackend.create(ckpt, { ...opts.ort, ep: 'webgpu', adapter: probe.adapter });
    return { kind: 'ort', backend: b, model: null, reason: `auto: ${probe.reason}` };
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    warnOnce(opts, `onnxruntime WebGPU backend unavailable, using the WASM kernels: ${why}`);
    return wasm(`auto: ORT failed (${why}); fell back to the WASM kernels`);
  }
}
