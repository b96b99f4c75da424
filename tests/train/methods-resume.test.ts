// Every method on the one loop resumes exactly and refuses a foreign checkpoint the same way:
// prefix tuning with its reparameterization MLP, distillation, the recurrent compressor.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { distill, RecurrentCompressor } from '../../src/compress/index.js';
import { isPromptkilnError } from '../../src/errors.js';
import { loadModel, type Model } from '../../src/model/index.js';
import { tune, type TuneOptions } from '../../src/soft/trainer.js';
import type { PrefixArtifact } from '../../src/soft/types.js';
import { decodeCheckpoint, encodeCheckpoint, type TrainCheckpoint } from '../../src/train/index.js';
import { MODELS_DIR, REFS_DIR } from '../helpers/paths.js';

const story = JSON.parse(readFileSync(path.join(REFS_DIR, 'stories260K/forward.json'), 'utf8')).bos_greedy_200.tokens as number[];
const viaFile = (c: TrainCheckpoint) => decodeCheckpoint(encodeCheckpoint(c));
const refusal = async (p: Promise<unknown>): Promise<string> => {
  const e = await p.then(() => null, (x) => x);
  expect(isPromptkilnError(e, 'DATA'), String(e)).toBe(true);
  expect((e as Error).message).toMatch(/the checkpoint was made with other settings, data or model/);
  return (e as Error).message;
};

describe('resume on the one loop (stories260K)', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(path.join(MODELS_DIR, 'stories260K'));
  });

  it('prefix tuning with a reparameterization MLP: resumed from mid-run, the same merged prefix bit for bit', async () => {
    const data = ['Once upon a time, there was a girl', 'One day, a boy went to the park', 'The sun was hot', 'Lily had a ball'].map((input) => ({ input, target: ' Tom was happy.' }));
    const o: TuneOptions = { method: 'prefix', virtualTokens: 3, reparameterize: { hidden: 8 }, lr: 0.01, epochs: 4, batchSize: 2, valid: data.slice(0, 2), schedule: 'linear', warmup: 2 };
    const saved: TrainCheckpoint[] = [];
    const full = await tune(model, data, { ...o, checkpointEvery: 3, onCheckpoint: (c) => { saved.push(viaFile(c)); } });
    expect(saved.map((c) => c.params.length)).toEqual([5, 5, 5]); // E, W1, b1, W2, b2
    const resumed = await tune(model, data, { ...o, resume: saved[1] });
    const a = full.prompt as PrefixArtifact, b = resumed.prompt as PrefixArtifact;
    for (let l = 0; l < 5; l++) {
      expect(Array.from(b.k[l])).toEqual(Array.from(a.k[l]));
      expect(Array.from(b.v[l])).toEqual(Array.from(a.v[l]));
    }
    // without the MLP it is another run
    expect(await refusal(tune(model, data, { ...o, reparameterize: null, resume: saved[1] }))).toMatch(/reparameterize \{"hidden":8\} vs null/);
    expect(await refusal(tune(model, data.slice(1), { ...o, resume: saved[1] }))).toMatch(/data /);
  });

  it('the recurrent compressor: resumed from a checkpoint, the same slots and projection bit for bit', async () => {
    const corpus = [0, 1, 2].map((i) => ({ context: story.slice(i * 40, i * 40 + 24), queries: [story.slice(i * 40 + 24, i * 40 + 30), story.slice(i * 40 + 30, i * 40 + 36)] }));
    const spec = { slots: 2, segments: 2, mode: 'accumulate' as const };
    const o = { steps: 6, lr: 0.003, queriesPerStep: 1 };
    const a = RecurrentCompressor.init(model, spec, corpus[0].context, 1);
    const saved: TrainCheckpoint[] = [];
    const ha = await a.train(corpus, { ...o, checkpointEvery: 4, onCheckpoint: (c) => { saved.push(viaFile(c)); } });
    expect(saved.map((c) => c.step)).toEqual([4, 6]);
    const b = RecurrentCompressor.init(model, spec, corpus[0].context, 1);
    const hb = await b.train(corpus, { ...o, resume: saved[0] });
    expect(Array.from(b.projW.f32())).toEqual(Array.from(a.projW.f32()));
    expect(Array.from(b.slots.f32())).toEqual(Array.from(a.slots.f32()));
    expect(hb.history).toEqual(ha.history);
    const c = RecurrentCompressor.init(model, { ...spec, slots: 3 }, corpus[0].context, 1);
    expect(await refusal(c.train(corpus, { ...o, resume: saved[0] }))).toMatch(/spec/);
    // a distillation checkpoint is not a compressor checkpoint
    const ds: TrainCheckpoint[] = [];
    await distill(model, corpus[0].context, corpus[0].queries, { tokens: 2, steps: 2, checkpointEvery: 1, onCheckpoint: (x) => { ds.push(x); } });
    await refusal(b.train(corpus, { ...o, resume: ds[0] }));
    await refusal(distill(model, corpus[0].context, corpus[0].queries, { tokens: 2, steps: 2, resume: saved[0] }));
    a.dispose(); b.dispose(); c.dispose();
  });
});
