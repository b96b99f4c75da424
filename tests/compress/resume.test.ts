// Distillation checkpoints: exact resume, refusal of mismatched settings, abort.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { distill, type DistillCheckpoint } from '../../src/compress/index.js';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/train/index.js';
import { isPromptkilnError } from '../../src/errors.js';
import { loadModel, type Model } from '../../src/model/index.js';
import { MODELS_DIR, REFS_DIR } from '../helpers/paths.js';

const story = JSON.parse(readFileSync(path.join(REFS_DIR, 'stories260K/forward.json'), 'utf8')).bos_greedy_200.tokens as number[];

describe('distillation: checkpoints, exact resume, abort', () => {
  let model: Model;
  const ctx = story.slice(0, 80);
  const qs = [story.slice(80, 92), story.slice(100, 110), story.slice(120, 134), story.slice(140, 150)];
  beforeAll(async () => {
    model = await loadModel(path.join(MODELS_DIR, 'stories260K'));
  });

  it('a run resumed from its step-20 checkpoint ends bit for bit where the uninterrupted run ends', async () => {
    const o = { tokens: 4, steps: 40, batch: 2, seed: 3 };
    const full = await distill(model, ctx, qs, o);
    const saved: DistillCheckpoint[] = [];
    // round-trip through the file encoding, as the CLI's state file does
    await distill(model, ctx, qs, { ...o, checkpointEvery: 20, onCheckpoint: (c) => { saved.push(decodeCheckpoint(encodeCheckpoint(c))); } });
    expect(saved.map((c) => c.step)).toEqual([20, 40]);
    const resumed = await distill(model, ctx, qs, { ...o, resume: saved[0] });
    expect(Array.from(resumed.sigma)).toEqual(Array.from(full.sigma));
    expect(resumed.history.map((h) => h.loss)).toEqual(full.history.map((h) => h.loss));
    // a checkpoint of other settings is refused, not silently mixed in
    await expect(distill(model, ctx, qs, { ...o, lr: 0.01, resume: saved[0] })).rejects.toSatisfy(
      (e: unknown) => isPromptkilnError(e, 'DATA') && /other settings/.test((e as Error).message));
  });

  it('an AbortSignal stops a long run between steps', async () => {
    const ac = new AbortController();
    const run = distill(model, ctx, qs, { tokens: 4, steps: 100_000, signal: ac.signal, onProgress: (e) => { if (e.step === 30) setTimeout(() => ac.abort(), 0); } });
    await expect(run).rejects.toSatisfy((e: unknown) => isPromptkilnError(e, 'ABORTED'));
  });
});
