// Evidence that soft prompts learn, on the real stories260K: 8 virtual tokens trained on the
// Tom task (tom-task.ts) cut the validation NLL of the targets by ≥ 30% relative to no prompt.
// A hard prompt of the same length — the 8-token sentence "Tom came to play." written before
// the input — is reported beside it (and must lose to the soft prompt).
import { describe, expect, it } from 'vitest';
import { artifactForward } from '../../src/soft/conditioning.js';
import { evaluateLaid } from '../../src/soft/evaluate.js';
import { tune } from '../../src/soft/trainer.js';
import type { SoftArtifact, TemplatePart } from '../../src/soft/types.js';
import { model } from './helpers.js';
import { tomTask } from './tom-task.js';


describe('stories260K learns a soft prompt', () => {
  it('8 virtual tokens cut the validation NLL of the targets by ≥ 30% vs no prompt', async () => {
    const m = await model('stories260K');
    const { train, valid } = tomTask();
    const score = (a: SoftArtifact | null, template: TemplatePart[] = [{ input: true }]) => {
      const f = artifactForward(m, a);
      try {
        return evaluateLaid({ model: m, template: a ? a.template : template, posOffset: 0, forward: f.forward }, valid);
      } finally {
        f.free();
      }
    };
    const none = score(null);
    const hardText = 'Tom came to play.';
    expect(m.tokenizer!.encode(hardText, { bos: false })).toHaveLength(8);
    const hardScore = score(null, [{ text: `${hardText} ` }, { input: true }]);
    const t0 = Date.now();
    const r = await tune(m, train, { virtualTokens: 8, init: { type: 'vocab' }, epochs: 40, lr: 0.05, batchSize: 8, warmup: 5, valid, seed: 0 });
    const soft = score(r.prompt);
    const secs = (Date.now() - t0) / 1000;
    console.log(`[soft evidence] validation NLL/token: no prompt ${none.loss.toFixed(4)}, hard prompt (8 tokens) ${hardScore.loss.toFixed(4)}, ` +
      `soft prompt (8 virtual tokens, ${r.metrics.steps} steps, ${secs.toFixed(1)} s) ${soft.loss.toFixed(4)} ` +
      `(−${(100 * (1 - soft.loss / none.loss)).toFixed(1)}%); exact match ${none.exactMatch} / ${hardScore.exactMatch} / ${soft.exactMatch}`);
    expect(soft.loss).toBeCloseTo(r.metrics.after!.loss, 5);
    expect(soft.loss).toBeLessThanOrEqual(0.7 * none.loss);
    expect(soft.loss).toBeLessThan(hardScore.loss);
  }, 120_000);
});
