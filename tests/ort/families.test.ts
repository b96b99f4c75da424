// ONNX export of every architecture in ../shared/refs/hf (Qwen 2 biases, Qwen 3 q/k norms, Gemma 3
// norms, embedding scale, GeGLU, sliding and global layers with their own RoPE, Phi-3 partial
// rotary, Mistral's window, Llama GQA): OrtBackend.scoreMany on onnxruntime-node (and -web's wasm
// EP for Gemma 3) matches the WASM Model.scoreMany within 1e-4 per token — plain, with soft rows
// (Gemma: token rows scaled, soft rows not), with a prefix whose rows the window cuts through —
// and PyTorch's float64 log-probs.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ortNode from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Model, type Conditioning } from '../../src/model/model.js';
import { loadCheckpoint } from '../../src/model/source.js';
import type { Checkpoint } from '../../src/model/types.js';
import { OrtBackend } from '../../src/ort/backend.js';
import { REFS_DIR } from '../helpers/paths.js';
import { maxAbsDiff } from '../helpers/max-abs-diff.js';

const HF = path.join(REFS_DIR, 'hf');
const cases = JSON.parse(readFileSync(path.join(HF, 'cases.json'), 'utf8'));

for (const name of ['llama-gqa', 'qwen2', 'qwen3', 'gemma3-text', 'phi3', 'mistral-sp-tokenizer']) {
  describe(`${name}: ONNX export on onnxruntime-node vs the WASM kernels`, () => {
    const ref = cases.models[name];
    const ids: number[] = ref.cases[2].ids; // 27-28 tokens: longer than every window
    let ck: Checkpoint, model: Model, ort: OrtBackend;
    beforeAll(async () => {
      ck = await loadCheckpoint(path.join(HF, ref.folder ?? name));
      model = await Model.fromCheckpoint(ck);
      ort = await OrtBackend.create(ck, { runtime: ortNode as any });
    });
    afterAll(async () => {
      await ort?.dispose();
      model?.dispose();
    });

    it('plain: every target of a shared prompt, and the reference log-probs', async () => {
      const prompt = ids.slice(0, 9);
      const targets = [ids.slice(9), ids.slice(9, 12), ids.slice(9, 20)];
      const [a, b] = [await ort.scoreMany(prompt, targets), await model.scoreMany(prompt, targets)];
      a.forEach((r, i) => expect(maxAbsDiff(r.logprobs, b[i].logprobs)).toBeLessThan(1e-4));
      expect(maxAbsDiff(a[0].logprobs, ref.cases[2].next_logprobs_f64.slice(8))).toBeLessThan(1e-4);
    });

    if (name === 'gemma3-text') {
      it('onnxruntime-web (wasm EP) runs the same graph: the reference log-probs', async () => {
        const web = await OrtBackend.create(ck, { ep: 'wasm' });
        try {
          const r = await web.score(ids.slice(0, 1), ids.slice(1));
          expect(maxAbsDiff(r.logprobs, ref.cases[2].next_logprobs_f64)).toBeLessThan(1e-4);
        } finally {
          await web.dispose();
        }
      });
    }

    it('soft rows and a K/V prefix (the window cuts through it)', async () => {
      const c = model.config, kvd = c.nKvHeads * c.headDim;
      const soft: Conditioning = { id: 'soft', soft: { rows: 3, data: model.embeddingRows(ids.slice(0, 3)).map((x, i) => x + 0.01 * Math.sin(i)) } };
      const cache = model.stack.newCache(8);
      model.run([[{ ids: ids.slice(0, 8) }]], { cache });
      const prefix: Conditioning = {
        id: 'kv', posOffset: 8,
        prefix: { P: 8, k: cache.k.map((t) => t.f32().slice(0, 8 * kvd)), v: cache.v.map((t) => t.f32().slice(0, 8 * kvd)) },
      };
      model.stack.freeCache(cache);
      for (const cond of [soft, prefix]) {
        const prompt = ids.slice(8, 10), targets = [ids.slice(10), ids.slice(10, 14)];
        const [a, b] = [await ort.scoreMany(prompt, targets, { conditioning: cond }), await model.scoreMany(prompt, targets, { conditioning: cond })];
        a.forEach((r, i) => expect(maxAbsDiff(r.logprobs, b[i].logprobs), cond.id).toBeLessThan(1e-4));
      }
    });
  });
}
