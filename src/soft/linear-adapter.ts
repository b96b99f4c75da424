// LoRA / IA3 artifacts on a loaded model: the unmerged hook (score, generate, training) and the folder reader.
import { PromptkilnError } from '../errors.js';
import type { Conditioning, Model } from '../model/index.js';
import { nodeFs } from '../util/files.js';
import { adapterFileReader } from './adapter-files.js';
import { Ia3Adapter } from './ia3.js';
import { LoraAdapter } from './lora.js';
import type { ModelRef } from './identity.js';
import { CONFIG_FILE, WEIGHTS_FILE } from './peft.js';
import { decodeLinearPeft, type LinearArtifact } from './peft-linear.js';

export type LinearAdapterOf = LoraAdapter | Ia3Adapter;

// The artifact's parameters uploaded into the model's WASM memory (free() releases them).
export function linearAdapter(model: Model, a: LinearArtifact): LinearAdapterOf {
  return a.kind === 'lora' ? new LoraAdapter(model, a) : new Ia3Adapter(model, a);
}

// A Conditioning that applies the adapter unmerged (the WASM backend; ort/ refuses it).
export function linearConditioning(model: Model, a: LinearArtifact): Conditioning {
  const ad = linearAdapter(model, a);
  return { id: ad.id, linear: ad };
}

// A loaded model (its kernels hold the adapter), not only a ModelRef.
export function requireModel(model: ModelRef, what: string): Model {
  if (!('kernels' in model)) {
    throw new PromptkilnError('ADAPTER', `${what}: LoRA / IA3 run unmerged only in the WASM kernels; use --backend wasm, or export merged weights (mergeAdapter) and load that folder`);
  }
  return model as Model;
}

// Node: reads a PEFT LORA / IA3 folder for `model`.
export async function loadLinearPeft(dir: string, model: ModelRef): Promise<LinearArtifact> {
  const { path } = await nodeFs();
  const read = await adapterFileReader(dir);
  const cfgWhere = path.join(dir, CONFIG_FILE), wWhere = path.join(dir, WEIGHTS_FILE);
  const text = (await read(CONFIG_FILE)).toString('utf8');
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(text);
  } catch (e) {
    throw new PromptkilnError('ADAPTER', `${cfgWhere}: not valid JSON (${(e as Error).message})`);
  }
  const w = await read(WEIGHTS_FILE);
  return decodeLinearPeft(cfg, new Uint8Array(w.buffer, w.byteOffset, w.byteLength), model, cfgWhere, wWhere);
}
