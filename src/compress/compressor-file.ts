// Reading and writing a trained recurrent compressor (slots, projection, spec) as one safetensors file.
import { PromptkilnError } from '../errors.js';
import type { Model } from '../model/index.js';
import { parseSafetensors, writeSafetensors } from '../model/safetensors.js';
import { readFileBytes, writeFileAtomic } from '../util/files.js';
import { checkModel, identity, type ModelIdentity } from './artifact.js';
import { RecurrentCompressor, type CompressorSpec } from './recurrent.js';

// A trained recurrent compressor: `<file>` is a safetensors file holding slots (m, C),
// proj.weight (C, C), proj.bias (C); its metadata carries the spec and the model identity.
export async function saveCompressor(file: string, rc: RecurrentCompressor): Promise<void> {
  const C = rc.model.config.dim;
  const w = rc.weights();
  const meta = { format: 'pt', promptkiln: JSON.stringify({ kind: 'recurrent-compressor', spec: rc.spec, model: identity(rc.model) }) };
  await writeFileAtomic(file, writeSafetensors({
    slots: { shape: [rc.spec.slots, C], data: w.slots },
    'proj.weight': { shape: [C, C], data: w.projW },
    'proj.bias': { shape: [C], data: w.projB },
  }, meta));
}

export async function loadCompressor(file: string, model: Model): Promise<RecurrentCompressor> {
  const st = parseSafetensors(await readFileBytes(file), file);
  let info: { kind: string; spec: CompressorSpec; model: ModelIdentity };
  try {
    info = JSON.parse(st.metadata.promptkiln ?? '');
  } catch {
    throw new PromptkilnError('ADAPTER', `${file}: not a promptkiln compressor (metadata "promptkiln" missing or invalid)`);
  }
  if (info.kind !== 'recurrent-compressor') throw new PromptkilnError('ADAPTER', `${file}: holds a "${info.kind}", not a recurrent compressor`);
  checkModel(info.model, model, `compressor ${file}`);
  const get = (n: string) => {
    const t = st.tensors.get(n);
    if (!t) throw new PromptkilnError('ADAPTER', `${file}: tensor "${n}" is missing`);
    return t.data;
  };
  return new RecurrentCompressor(model, info.spec, { slots: get('slots'), projW: get('proj.weight'), projB: get('proj.bias') });
}
