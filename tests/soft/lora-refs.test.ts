// LoRA and IA3 folders PEFT 0.21 wrote (refs/hf peft-lora-llama, peft-lora-gpt2, peft-ia3-llama):
// they load, score PEFT's target log-probs unmerged within 1e-4 (one full forward, and through
// scoreMany's cached-prompt path), match the loss and every gradient of grads.safetensors, and
// savePeft writes back PEFT's config fields and tensors.
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/model/index.js';
import { parseSafetensors, readSafetensorsHeader } from '../../src/model/safetensors.js';
import { linearAdapter, loadLinearPeft } from '../../src/soft/linear-adapter.js';
import { loadAdapter, savePeft } from '../../src/soft/peft.js';
import type { LinearArtifact } from '../../src/soft/peft-linear.js';
import { MODELS_DIR, REFS_DIR } from '../helpers/paths.js';
import { expectClose } from './helpers.js';

const HF = path.join(REFS_DIR, 'hf');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const cases: Record<string, any> = JSON.parse(readFileSync(path.join(HF, 'cases.json'), 'utf8')).peft_written;
const bases = new Map<string, Promise<Model>>();
const baseOf = (name: string) => {
  const dir = cases[name].base.startsWith('shared/models/') ? path.join(MODELS_DIR, path.basename(cases[name].base)) : path.join(HF, cases[name].base);
  if (!bases.has(dir)) bases.set(dir, loadModel(dir));
  return bases.get(dir)!;
};

function tensors(folder: string, file: string): Map<string, { shape: number[]; data: Float32Array }> {
  const b = readFileSync(path.join(folder, file));
  return parseSafetensors(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), file).tensors;
}

// PEFT's in-memory names ("….lora_A.default.weight", "….ia3_l.default") → the saved ones
const savedName = (n: string) => n.replace('.default.weight', '.weight').replace(/\.ia3_l\.default$/, '.ia3_l');

// the artifact with PEFT's trainable_params.safetensors in place of the saved weights
function withParams(a: LinearArtifact, folder: string): LinearArtifact {
  const p = new Map([...tensors(folder, 'trainable_params.safetensors')].map(([n, t]) => [savedName(n), t.data]));
  if (a.kind === 'lora') {
    return { ...a, modules: a.modules.map((m) => ({ ...m, A: p.get(`base_model.model.${m.name}.lora_A.weight`)!, B: p.get(`base_model.model.${m.name}.lora_B.weight`)! })) };
  }
  return { ...a, modules: a.modules.map((m) => ({ ...m, l: p.get(`base_model.model.${m.name}.ia3_l`)! })) };
}

const NAMES = ['lora-llama', 'lora-gpt2', 'ia3-llama'];

describe('PEFT-written LoRA / IA3 adapters (refs/hf)', () => {
  for (const name of NAMES) {
    it(`${name}: loadAdapter scores PEFT's target log-probs unmerged within 1e-4 (forward and scoreMany)`, async () => {
      const c = cases[name], m = await baseOf(name);
      const cond = await loadAdapter(path.join(HF, c.folder), m);
      expect(cond.linear).toBeTruthy();
      const ids = [...c.prompt_ids, ...c.target_ids];
      const rows = c.target_ids.map((_: number, j: number) => c.prompt_ids.length - 1 + j);
      const { logprobs } = m.run([[{ ids }]], { adapter: cond.linear }).nll(rows, c.target_ids, 1, false);
      expectClose(logprobs, c.target_logprobs, 1e-4, 0, `${name} forward`);
      const [r] = await m.scoreMany(c.prompt_ids, [c.target_ids], { conditioning: cond });
      expectClose(r.logprobs, c.target_logprobs, 1e-4, 0, `${name} scoreMany`);
      // the adapter changes the numbers: the base alone is far from them
      const base = m.run([[{ ids }]], {}).nll(rows, c.target_ids, 1, false).logprobs;
      expect(Math.max(...Array.from(base, (x, i) => Math.abs(x - c.target_logprobs[i])))).toBeGreaterThan(1e-2);
    });

    it(`${name}: loss and the gradient of every trainable tensor match grads.safetensors`, async () => {
      const c = cases[name], m = await baseOf(name);
      const folder = path.join(HF, c.folder);
      const ad = linearAdapter(m, withParams(await loadLinearPeft(folder, m), folder));
      try {
        const ids = [...c.prompt_ids, ...c.target_ids];
        const rows = c.target_ids.map((_: number, j: number) => c.prompt_ids.length - 1 + j);
        for (const p of ad.params) m.kernels.zero(p.grad);
        const st = m.run([[{ ids }]], { adapter: ad, train: true });
        const loss = st.nll(rows, c.target_ids, 1 / rows.length, true).sum / rows.length;
        st.backward();
        expect(Math.abs(loss - c.loss)).toBeLessThanOrEqual(1e-5);
        // grads under our param names → PEFT's; the artifact() order is the params' order
        const want = new Map([...tensors(folder, 'grads.safetensors')].map(([n, t]) => [savedName(n), t.data]));
        const grads = linearAdapter(m, ad.artifact()); // reuse artifact()'s layout conversion for the grads
        try {
          ad.params.forEach((p, i) => grads.params[i].value.set(p.grad.f32()));
          const g = grads.artifact();
          let n = 0;
          if (g.kind === 'lora') {
            for (const mod of g.modules) {
              expectClose(mod.A, want.get(`base_model.model.${mod.name}.lora_A.weight`)!, 3e-5, 1e-3, `${name} d ${mod.name} A`);
              expectClose(mod.B, want.get(`base_model.model.${mod.name}.lora_B.weight`)!, 3e-5, 1e-3, `${name} d ${mod.name} B`);
              n += 2;
            }
          } else {
            for (const mod of g.modules) { expectClose(mod.l, want.get(`base_model.model.${mod.name}.ia3_l`)!, 3e-5, 1e-3, `${name} d ${mod.name}`); n++; }
          }
          expect(n).toBe(want.size);
        } finally {
          grads.free();
        }
      } finally {
        ad.free();
      }
    });

    it(`${name}: savePeft writes PEFT's adapter_config.json fields and the same tensors (names, shapes, F32, values)`, async () => {
      const c = cases[name], m = await baseOf(name);
      const src = path.join(HF, c.folder);
      const dir = mkdtempSync(path.join(os.tmpdir(), 'pk-lora-'));
      await savePeft(dir, await loadLinearPeft(src, m));
      const ours = JSON.parse(readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
      const theirs = JSON.parse(readFileSync(path.join(src, 'adapter_config.json'), 'utf8'));
      delete ours.promptkiln;
      ours.base_model_name_or_path = theirs.base_model_name_or_path; // our model id is its folder path
      expect(ours).toEqual(theirs);
      const hb = (d: string) => readSafetensorsHeader(new Uint8Array(readFileSync(path.join(d, 'adapter_model.safetensors'))));
      const [a, b] = [hb(dir), hb(src)];
      expect([...a.tensors.entries()]).toEqual([...b.tensors.entries()]);
      expect(a.metadata).toEqual(b.metadata);
      const [ta, tb] = [tensors(dir, 'adapter_model.safetensors'), tensors(src, 'adapter_model.safetensors')];
      for (const [n, t] of tb) expect(Array.from(ta.get(n)!.data), n).toEqual(Array.from(t.data));
    });
  }
});
