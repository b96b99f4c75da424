// distill()'s objective 'argmax' and teacherTopK on stories260K: what each computes, checked
// against an independent computation, and that each changes the trained σ.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { distill, studentStep } from '../../src/compress/distill.js';
import { expandTeacher, teacherFor } from '../../src/compress/teacher.js';
import { loadModel, type Model } from '../../src/model/index.js';
import { MODELS_DIR, REFS_DIR } from '../helpers/paths.js';

const story = JSON.parse(readFileSync(path.join(REFS_DIR, 'stories260K/forward.json'), 'utf8')).bos_greedy_200.tokens as number[];
const ctx = story.slice(0, 60);
const qs = [story.slice(60, 70), story.slice(90, 98), story.slice(120, 131)];

const logSoftmax = (row: ArrayLike<number>) => {
  let mx = -Infinity;
  for (let i = 0; i < row.length; i++) mx = Math.max(mx, row[i]);
  let s = 0;
  for (let i = 0; i < row.length; i++) s += Math.exp(row[i] - mx);
  return Array.from(row, (v) => v - mx - Math.log(s));
};

describe('distillation options (stories260K)', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(path.join(MODELS_DIR, 'stories260K'));
  });

  it('teacherTopK keeps the k most likely tokens exactly and spreads the rest evenly; a k ≥ V is the full teacher', async () => {
    const V = model.config.vocabSize;
    const [full] = teacherFor(model, ctx, [qs[0]]);
    const [top] = teacherFor(model, ctx, [qs[0]], 5);
    expect(top.full).toBeUndefined();
    const dst = new Float32Array(qs[0].length * V);
    expandTeacher(top, V, dst);
    for (let r = 0; r < qs[0].length; r++) {
      const f = full.full!.subarray(r * V, (r + 1) * V), t = dst.subarray(r * V, (r + 1) * V);
      const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => f[b] - f[a]);
      for (const id of order.slice(0, 5)) expect(t[id]).toBe(f[id]);
      const mass = order.slice(0, 5).reduce((a, id) => a + Math.exp(f[id]), 0);
      for (const id of order.slice(5)) expect(t[id]).toBeCloseTo(Math.log((1 - mass) / (V - 5)), 5);
      expect(t.reduce((a, v) => a + Math.exp(v), 0)).toBeCloseTo(1, 4);
    }
    const o = { tokens: 4, steps: 8, batch: 2, seed: 1 };
    const a = await distill(model, ctx, qs, o);
    const b = await distill(model, ctx, qs, { ...o, teacherTopK: V });
    const c = await distill(model, ctx, qs, { ...o, teacherTopK: 5 });
    expect(Array.from(b.sigma)).toEqual(Array.from(a.sigma));
    expect(Array.from(c.sigma)).not.toEqual(Array.from(a.sigma));
  });

  it("objective 'argmax': the mean NLL of the teacher's greedy tokens, as an independent forward computes it; trains σ toward them", async () => {
    const V = model.config.vocabSize, C = model.config.dim, K = 4;
    const teacher = teacherFor(model, ctx, qs);
    const sigma = Float32Array.from({ length: K * C }, (_, i) => Math.sin(i) * 0.1);
    const k = model.kernels;
    const sT = k.from(sigma), g = k.alloc(K * C);
    k.zero(g);
    const loss = studentStep(model, sT, K, qs, teacher, 'argmax', g);
    let want = 0, rows = 0;
    for (let q = 0; q < qs.length; q++) {
      const f = await model.forward({ sequences: [[{ embeds: sigma, rows: K }, { ids: qs[q] }]] });
      for (let j = 0; j < qs[q].length; j++) {
        const t = teacher[q].full!.subarray(j * V, (j + 1) * V);
        const greedy = t.indexOf(Math.max(...t));
        want -= logSoftmax(f.logits!.subarray((K + j) * V, (K + j + 1) * V))[greedy];
        rows++;
      }
    }
    expect(loss).toBeCloseTo(want / rows, 4);
    expect(Math.sqrt(k.sumsq(g))).toBeGreaterThan(0);
    sT.free();
    g.free();

    const o = { tokens: K, steps: 30, batch: 3, seed: 2 };
    const am = await distill(model, ctx, qs, { ...o, objective: 'argmax' });
    const kl = await distill(model, ctx, qs, o);
    expect(Array.from(am.sigma)).not.toEqual(Array.from(kl.sigma));
    const head = am.history.slice(0, 3).reduce((a, h) => a + h.loss, 0), tail = am.history.slice(-3).reduce((a, h) => a + h.loss, 0);
    expect(tail).toBeLessThan(0.7 * head);
    await expect(distill(model, ctx, qs, { ...o, objective: 'mse' as never })).rejects.toThrow(/objective must be kl or argmax/);
  });
});
