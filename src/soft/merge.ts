// Merged export: a LoRA / IA3 adapter folded into the base's own safetensors (same names, shapes,
// layout; F32), so any loader — ours, transformers, the ort export — runs it as a plain model.
import { PromptkilnError } from '../errors.js';
import { parseSafetensors, writeSafetensors } from '../model/safetensors.js';
import { nodeFs } from '../util/files.js';
import { resolveTargets, type Targeted } from './adapter-modules.js';
import type { ModelRef } from './identity.js';
import type { LinearArtifact } from './peft-linear.js';

type TensorMap = Map<string, { shape: number[]; data: Float32Array }>;

// The base's tensors with the adapter merged, as PEFT's merge_and_unload computes it:
//   LoRA   W += (α/r)·B·A        (Conv1D, stored (in, out): W += ((α/r)·B·A)ᵀ)
//   IA3    output scaling: W[o, :] *= l[o] and bias[o] *= l[o]; input scaling: W[:, i] *= l[i]
//          (Conv1D: the transposed index)
export function mergeTensors(base: TensorMap, a: LinearArtifact, model: ModelRef, where = 'model.safetensors'): Record<string, { shape: number[]; data: Float32Array }> {
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [n, t] of base) out[n] = { shape: t.shape, data: t.data.slice() };
  const mods = new Map(resolveTargets(model, 'all-linear', where).map((t) => [t.name, t]));
  const find = (t: Targeted, suffix: string) => {
    // GPT-2 files written without the "transformer." module prefix exist too
    for (const n of [t.name + suffix, t.name.replace(/^transformer\./, '') + suffix]) if (out[n]) return out[n];
    return null;
  };
  const weight = (t: Targeted) => {
    const w = find(t, '.weight');
    const shape = t.spec.conv1d ? [t.spec.inDim, t.spec.outDim] : [t.spec.outDim, t.spec.inDim];
    if (!w || w.shape.join() !== shape.join()) {
      throw new PromptkilnError('ADAPTER', `${where}: ${t.name}.weight ${w ? `has shape [${w.shape.join(', ')}]` : 'is missing'}, the adapter needs [${shape.join(', ')}]`, { module: t.name });
    }
    return w.data;
  };
  for (const m of a.modules) {
    const t = mods.get(m.name);
    if (!t) throw new PromptkilnError('ADAPTER', `${where}: module ${m.name} is not in ${model.id}`, { module: m.name });
    const W = weight(t), I = t.spec.inDim, O = t.spec.outDim;
    const at = (o: number, i: number) => (t.spec.conv1d ? i * O + o : o * I + i);
    if ('A' in m && a.kind === 'lora') {
      const r = a.r, s = a.alpha / r;
      for (let o = 0; o < O; o++) {
        for (let i = 0; i < I; i++) {
          let d = 0;
          for (let j = 0; j < r; j++) d += m.B[o * r + j] * m.A[j * I + i];
          W[at(o, i)] += Math.fround(s * d);
        }
      }
    } else if ('feedforward' in m && m.feedforward) {
      for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) W[at(o, i)] *= m.l[i];
    } else if ('l' in m) {
      for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) W[at(o, i)] *= m.l[o];
      const b = find(t, '.bias');
      if (b) for (let o = 0; o < O; o++) b.data[o] *= m.l[o];
    }
  }
  return out;
}

// Node: writes outDir = baseDir's files (config, tokenizer, templates) with model.safetensors merged.
export async function mergeAdapter(baseDir: string, a: LinearArtifact, model: ModelRef, outDir: string): Promise<void> {
  const { fs, path } = await nodeFs();
  const src = path.join(baseDir, 'model.safetensors');
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(src);
  } catch (e) {
    throw new PromptkilnError('ADAPTER', `${src}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); a merged export needs the base as one Hugging Face model.safetensors`);
  }
  const file = parseSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), src);
  const merged = writeSafetensors(mergeTensors(file.tensors, a, model, src), file.metadata);
  await fs.mkdir(outDir, { recursive: true });
  for (const f of await fs.readdir(baseDir)) {
    if (f === 'model.safetensors' || f.startsWith('model.safetensors.')) continue;
    const st = await fs.stat(path.join(baseDir, f));
    if (st.isFile()) await fs.copyFile(path.join(baseDir, f), path.join(outDir, f));
  }
  await fs.writeFile(path.join(outDir, 'model.safetensors'), merged);
}
