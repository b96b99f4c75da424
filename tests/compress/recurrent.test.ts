// Segment-wise recurrent compression: gradients, held-out quality and its file round-trip.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compress, loadCompressor, RecurrentCompressor, saveCompressor } from '../../src/compress/index.js';
import { teacherFor } from '../../src/compress/teacher.js';
import { isPromptkilnError } from '../../src/errors.js';
import { loadModel, type Model } from '../../src/model/index.js';
import { MODELS_DIR, REFS_DIR } from '../helpers/paths.js';

const story = JSON.parse(readFileSync(path.join(REFS_DIR, 'stories260K/forward.json'), 'utf8')).bos_greedy_200.tokens as number[];

describe('segment-wise recurrent compression (stories260K)', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(path.join(MODELS_DIR, 'stories260K'));
  });

  for (const mode of ['accumulate', 'replace'] as const) {
    it(`end-to-end gradient through ${mode === 'accumulate' ? '3 segments (accumulate)' : '3 segments (replace)'} matches finite differences`, () => {
      const C = model.config.dim;
      const ctx = story.slice(0, 18);
      const zs = [story.slice(18, 24), story.slice(30, 34)];
      const rc = RecurrentCompressor.init(model, { slots: 2, segments: 3, mode }, ctx, 1);
      const teacher = teacherFor(model, ctx, zs);
      const k = model.kernels;
      const g = { slots: k.alloc(rc.slots.n), projW: k.alloc(rc.projW.n), projB: k.alloc(rc.projB.n) };
      for (const t of Object.values(g)) k.zero(t);
      rc.gradient(ctx, zs, teacher, g);
      const lossAt = () => {
        const z = { slots: k.alloc(rc.slots.n), projW: k.alloc(rc.projW.n), projB: k.alloc(rc.projB.n) };
        for (const t of Object.values(z)) k.zero(t);
        const l = rc.gradient(ctx, zs, teacher, z);
        for (const t of Object.values(z)) t.free();
        return l;
      };
      // central differences in f32: step sized to the parameter scale, checked on a sample of
      // elements of each trainable tensor (slot 0 and 1 rows, a few W entries, a few biases)
      const checks: [keyof typeof g, number, number][] = [
        ['slots', 3, 1e-2], ['slots', C + 17, 1e-2], ['projW', 5 * C + 5, 1e-2], ['projW', 40 * C + 2, 1e-2],
        ['projB', 7, 1e-2], ['projB', 33, 1e-2],
      ];
      for (const [name, i, h] of checks) {
        const p = rc[name].f32();
        const x0 = p[i];
        rc[name].f32()[i] = x0 + h;
        const up = lossAt();
        rc[name].f32()[i] = x0 - h;
        const down = lossAt();
        rc[name].f32()[i] = x0;
        const fd = (up - down) / (2 * h);
        const an = g[name].f32()[i];
        expect(Math.abs(fd - an), `${name}[${i}] fd ${fd} analytic ${an}`).toBeLessThan(2e-3 + 0.03 * Math.abs(an));
      }
      for (const t of Object.values(g)) t.free();
      rc.dispose();
    });
  }

  it('trained on some stories, it compresses stories it never saw better than no context, and round-trips through its file', async () => {
    // a corpus of the model's own stories (sampled from BOS), each with sampled continuations
    const stories: number[][] = [];
    for (let s = 0; s < 20; s++) {
      const g = await model.generate([1], { temperature: 1, seed: 500 + s, maxTokens: 96, stopAtEos: false });
      stories.push([1, ...g.tokens.slice(0, 80)]);
    }
    const corpus = [];
    for (const ctx of stories) {
      const queries: number[][] = [];
      for (let q = 0; q < 4; q++) {
        const g = await model.generate(ctx, { temperature: 1, seed: 900 + q, maxTokens: 12, stopAtEos: false });
        queries.push(g.tokens);
      }
      corpus.push({ context: ctx, queries });
    }
    const train = corpus.slice(0, 16), held = corpus.slice(16);
    const rc = RecurrentCompressor.init(model, { slots: 4, segments: 2, mode: 'accumulate' }, train[0].context, 3);
    const untrained = held.map((h) => rc.evaluate(h.context, h.queries));
    const { history } = await rc.train(train, { steps: 300, lr: 0.003, queriesPerStep: 4 });
    expect(history.length).toBe(300);
    const after = held.map((h) => rc.evaluate(h.context, h.queries));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const klBase = mean(after.map((r) => r.before.kl));
    const klAfter = mean(after.map((r) => r.after.kl));
    const klUntrained = mean(untrained.map((r) => r.after.kl));
    expect(klAfter).toBeLessThan(klBase);
    expect(klAfter).toBeLessThan(klUntrained);

    const file = path.join(mkdtempSync(path.join(tmpdir(), 'pk-compressor-')), 'compressor.safetensors');
    await saveCompressor(file, rc);
    const back = await loadCompressor(file, model);
    expect(back.tokens).toBe(8);
    expect(Array.from(back.compress(held[0].context))).toEqual(Array.from(rc.compress(held[0].context)));
    const r = await compress(model, held[0].context, { method: 'recurrent', compressor: back, queries: held[0].queries, heldOut: held[0].queries });
    expect(r.compressed.tokens).toBe(8);
    expect(r.after.kl).toBeCloseTo(after[0].after.kl, 5);
    await expect(compress(model, held[0].context, { method: 'recurrent', compressor: back, tokens: 5, queries: [[300]], heldOut: [[300]] }))
      .rejects.toSatisfy((e: unknown) => isPromptkilnError(e, 'ARGUMENT') && /produces 8 soft tokens/.test((e as Error).message));
    rc.dispose();
    back.dispose();
  }, 180_000);
});
