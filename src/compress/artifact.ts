// Reading and writing a compressed context (σ plus the model identity and convention) on disk.
import { PromptkilnError } from '../errors.js';
import type { Conditioning } from '../model/index.js';
import { checkModelIdentity, modelIdentity, readModelIdentity, type ModelIdentity, type ModelRef } from '../train/index.js';
import { parseSafetensors, writeSafetensors } from '../model/safetensors.js';
import { nodeFs, readFileBytes, writeFileAtomic } from '../util/files.js';
import type { CompressionMeasures } from './measures.js';

// A compressed context on disk: `sigma.safetensors` (one tensor "sigma" (K, C)) and
// `compressed.json` recording the model it belongs to and the convention.
export const CONVENTION = 'sigma-replaces-context-including-bos';

// What identifies a model: a WASM Model and an ORT scoring backend both have it.
export type ModelInfo = ModelRef;
export type { ModelIdentity };

export interface CompressedContext {
  sigma: Float32Array; // (K, C)
  tokens: number; // K
  method: 'distill' | 'recurrent';
  model: ModelIdentity;
  convention: typeof CONVENTION;
  contextTokens: number; // Lc
  ratio: number; // Lc / K
  measures?: { before?: CompressionMeasures | null; after?: CompressionMeasures | null };
}

export const identity = modelIdentity;

// The student reads σ then the prompt with its BOS removed: σ replaces the whole context.
export function toConditioning(cc: CompressedContext, model: ModelInfo): Conditioning {
  checkModel(cc.model, model, 'compressed context');
  return { id: `compressed:${cc.method}:${hash(cc.sigma)}`, soft: { rows: cc.tokens, data: cc.sigma }, dropBos: true };
}

// Files written before the identity was merged spell vocabSize / nLayers in camelCase: read both.
export function checkModel(m: ModelIdentity, model: ModelInfo, what: string): void {
  checkModelIdentity(readModelIdentity(m as unknown as Record<string, unknown>), model, what);
}

export async function saveCompressed(dir: string, cc: CompressedContext): Promise<void> {
  const { path } = await nodeFs();
  const C = cc.sigma.length / cc.tokens;
  await writeFileAtomic(path.join(dir, 'sigma.safetensors'), writeSafetensors({ sigma: { shape: [cc.tokens, C], data: cc.sigma } }, { format: 'pt' }));
  const { sigma: _s, ...meta } = cc;
  await writeFileAtomic(path.join(dir, 'compressed.json'), JSON.stringify(meta, null, 2) + '\n');
}

export async function loadCompressed(dir: string, model?: ModelInfo): Promise<CompressedContext> {
  const { path } = await nodeFs();
  const jf = path.join(dir, 'compressed.json');
  let meta: Omit<CompressedContext, 'sigma'>;
  try {
    meta = JSON.parse(new TextDecoder().decode(await readFileBytes(jf)));
  } catch (e) {
    throw new PromptkilnError('ADAPTER', `${jf}: not a readable compressed-context description (${(e as Error).message})`);
  }
  if (meta.convention !== CONVENTION) {
    throw new PromptkilnError('ADAPTER', `${jf}: convention "${meta.convention}" is not "${CONVENTION}"`);
  }
  for (const f of ['tokens', 'method', 'model'] as const) {
    if (meta[f] === undefined) throw new PromptkilnError('ADAPTER', `${jf}: field "${f}" is missing`);
  }
  const sf = path.join(dir, 'sigma.safetensors');
  const st = parseSafetensors(await readFileBytes(sf), sf);
  const t = st.tensors.get('sigma');
  if (!t) throw new PromptkilnError('ADAPTER', `${sf}: tensor "sigma" is missing`);
  if (t.shape.length !== 2 || t.shape[0] !== meta.tokens || (meta.model?.dim !== undefined && t.shape[1] !== meta.model.dim)) {
    throw new PromptkilnError('ADAPTER', `${sf}: sigma has shape ${JSON.stringify(t.shape)}, expected [${meta.tokens}, ${meta.model.dim}]`);
  }
  const cc: CompressedContext = { ...meta, sigma: t.data };
  if (model) checkModel(cc.model, model, `compressed context ${dir}`);
  return cc;
}

// FNV-1a over the bytes: cache keys must change when σ does.
export function hash(x: Float32Array): string {
  const b = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}
