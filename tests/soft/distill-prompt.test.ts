// Distillation into a soft prompt on the real stories260K: the student (N soft rows) moves toward
// the teacher (the model reading an instruction with demonstrations), measured as held-out KL; the
// loop's checkpoints resume it exactly; bad settings are typed errors.
import { describe, expect, it } from 'vitest';
import { isPromptkilnError } from '../../src/errors.js';
import { decodeCheckpoint, encodeCheckpoint, type TrainCheckpoint } from '../../src/soft/checkpoint.js';
import { distillPrompt, type DistillPromptOptions } from '../../src/soft/distill-prompt.js';
import type { SoftPromptArtifact } from '../../src/soft/types.js';
import { model } from './helpers.js';
import { tomTask } from './tom-task.js';

const { train, valid } = tomTask();
const context = `Stories where Tom always comes next.\n${train.slice(0, 3).map((e) => `${e.input}${e.target}`).join('\n')}\n`;
const opts: DistillPromptOptions = { teacher: { context }, virtualTokens: 4, maxSteps: 12, batchSize: 6, lr: 0.05, seed: 0, valid: valid.slice(0, 6), evalEvery: 6, init: { type: 'text', text: 'Tom' } };

describe('distillPrompt', () => {
  it('held-out KL to the teacher goes down; checkpoints resume exactly; a plain PEFT prompt comes out', async () => {
    const m = await model('stories260K');
    const saved: TrainCheckpoint[] = [];
    const r = await distillPrompt(m, train.slice(0, 18), { ...opts, checkpointEvery: 6, onCheckpoint: (c) => { saved.push(decodeCheckpoint(encodeCheckpoint(c))); } });
    expect(r.metrics.steps).toBe(12);
    expect(r.metrics.after!.loss).toBeLessThan(0.8 * r.metrics.before!.loss);
    expect(r.prompt.kind).toBe('prompt');
    expect((r.prompt as SoftPromptArtifact).encoder).toBeUndefined();
    const resumed = await distillPrompt(m, train.slice(0, 18), { ...opts, resume: saved[0] });
    expect((resumed.prompt as SoftPromptArtifact).data).toEqual((r.prompt as SoftPromptArtifact).data);
    // another teacher context is another run: its checkpoint is refused
    const e = await distillPrompt(m, train.slice(0, 18), { ...opts, teacher: { context: 'Stories.' }, resume: saved[0] }).then(() => null, (x) => x);
    expect(isPromptkilnError(e, 'DATA'), String(e)).toBe(true);
  }, 60_000);

  it('refuses a missing teacher context and an unknown objective', async () => {
    const m = await model('stories260K');
    for (const bad of [{ ...opts, teacher: { context: '' } }, { ...opts, objective: 'mse' as never }]) {
      const e = await distillPrompt(m, train.slice(0, 2), bad).then(() => null, (x) => x);
      expect(isPromptkilnError(e, 'ARGUMENT'), String(e)).toBe(true);
    }
  });
});
