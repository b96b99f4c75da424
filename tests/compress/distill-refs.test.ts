// Context distillation's loss, dσ and per-position KL against PyTorch float64 references.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { studentStep } from '../../src/compress/distill.js';
import { measure } from '../../src/compress/measures.js';
import { studentSegments, studentTargets, teacherFor } from '../../src/compress/teacher.js';
import { loadModel, type Model } from '../../src/model/index.js';
import { MODELS_DIR, REFS_DIR } from '../helpers/paths.js';

// Context distillation through compress/'s own path (teacher rows, student step, dσ) against the
// PyTorch float64 values of ../shared/refs/*/distill.json. Tolerances: the refs README
// (losses 2e-5 abs, gradients 3e-5 abs + 1e-3 rel).
for (const name of ['stories260K', 'gpt2-tiny-random']) {
  describe(`distillation vs refs: ${name}`, () => {
    let model: Model;
    const ref = JSON.parse(readFileSync(path.join(REFS_DIR, name, 'distill.json'), 'utf8')).cases[0];
    beforeAll(async () => {
      model = await loadModel(path.join(MODELS_DIR, name));
    });

    it('loss and dσ match float64', () => {
      const K = ref.K as number, C = model.config.dim;
      const z = ref.z_tokens as number[];
      const teacher = teacherFor(model, ref.context_tokens, [z]);
      const sigma = model.kernels.from(ref.sigma_init.data);
      const grad = model.kernels.alloc(K * C);
      model.kernels.zero(grad);
      const loss = studentStep(model, sigma, K, [z], teacher, 'kl', grad);
      expect(Math.abs(loss - ref.float64.loss)).toBeLessThan(2e-5);
      const g = grad.f32();
      const g64 = ref.float64.grad_sigma.data as number[];
      expect(g.length).toBe(g64.length);
      let worst = 0;
      for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs(g[i] - g64[i]) - 1e-3 * Math.abs(g64[i]));
      expect(worst).toBeLessThan(3e-5);
      sigma.free();
      grad.free();
    });

    it('per-position KL (student rows K..K+Lz−1 vs teacher rows Lc..) matches float64, and measure() reports its mean', () => {
      const K = ref.K as number, V = model.config.vocabSize;
      const z = ref.z_tokens as number[];
      const want = ref.float64.kl_per_position.data as number[];
      expect(want.length).toBe(z.length);
      const teacher = teacherFor(model, ref.context_tokens, [z]);
      const sigma = new Float32Array(ref.sigma_init.data);
      const mark = model.kernels.heap.mark();
      try {
        const st = model.run([studentSegments(sigma, K, z)], {});
        const { rows, t } = studentTargets([z], teacher, K, st.rows, V);
        const { perRow } = st.kl(rows, model.kernels.from(t), 1, false);
        expect(perRow.length).toBe(want.length);
        for (let j = 0; j < want.length; j++) expect(Math.abs(perRow[j] - want[j]), `KL at z position ${j}`).toBeLessThan(2e-5);
      } finally {
        model.kernels.heap.reset(mark);
      }
      // the compression measures (reported by compress and the demo) average the same rows
      const mean = want.reduce((a, b) => a + b, 0) / want.length;
      expect(Math.abs(measure(model, sigma, K, [z], teacher).kl - mean)).toBeLessThan(2e-5);
      expect(Math.abs(mean - ref.float64.loss)).toBeLessThan(1e-9); // the loss is their mean
    });

    it('the KL of the row predicting z_0 is not in the loss but matches when measured', async () => {
      // teacher row Lc−1 vs student row K−1
      const K = ref.K as number, V = model.config.vocabSize;
      const ctx = ref.context_tokens as number[], z = ref.z_tokens as number[];
      const t = await model.forward({ sequences: [[...ctx, ...z]] });
      const s = await model.forward({ sequences: [[{ embeds: new Float32Array(ref.sigma_init.data), rows: K }, { ids: z }]] });
      const row = (x: Float32Array, r: number) => {
        const a = x.subarray(r * V, (r + 1) * V);
        const m = Math.max(...a);
        const lse = m + Math.log(a.reduce((acc, v) => acc + Math.exp(v - m), 0));
        return Array.from(a, (v) => v - lse);
      };
      const p = row(t.logits!, ctx.length - 1), q = row(s.logits!, K - 1);
      const kl = p.reduce((acc, lp, i) => acc + Math.exp(lp) * (lp - q[i]), 0);
      expect(Math.abs(kl - ref.float64.kl_predicting_z0_not_in_loss)).toBeLessThan(2e-5);
    });
  });
}
