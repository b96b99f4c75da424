// The trainer on the real tiny models: determinism, exact resume, abort, NaN, progress events,
// early stopping, label accuracy, prefix reparameterization, and the JSONL / context errors.
import { describe, expect, it } from 'vitest';
import { isPromptkilnError } from '../../src/errors.js';
import { decodeCheckpoint, encodeCheckpoint, type TrainCheckpoint } from '../../src/soft/checkpoint.js';
import { artifactForward } from '../../src/soft/conditioning.js';
import { parseJsonl } from '../../src/soft/data.js';
import { evaluateLaid } from '../../src/soft/evaluate.js';
import { layoutExample, parseTemplate } from '../../src/soft/mixed.js';
import { tune, type ProgressEvent, type TuneOptions } from '../../src/soft/trainer.js';
import type { Example, SoftPromptArtifact } from '../../src/soft/types.js';
import { model } from './helpers.js';

// gpt2-tiny-random: token ids only. Targets repeat one token so a prompt can learn them.
const ids = (seed: number, n: number) => Array.from({ length: n }, (_, i) => (seed * 17 + i * 5) % 64);
const gptTrain: Example[] = Array.from({ length: 10 }, (_, i) => ({ input: ids(i, 3 + (i % 4)), target: [42, 42, 7] }));
const gptValid: Example[] = Array.from({ length: 4 }, (_, i) => ({ input: ids(i + 20, 4), target: [42, 42, 7] }));
const base: TuneOptions = { method: 'prompt', virtualTokens: 3, batchSize: 4, lr: 0.05, seed: 1, epochs: 3 };

const rejects = async (p: Promise<unknown>, code: string): Promise<Error> => {
  const e = await p.then(() => null, (x) => x);
  expect(isPromptkilnError(e, code as never), String(e)).toBe(true);
  return e as Error;
};

describe('trainer', () => {
  it('same seed → the same prompt bit for bit; another seed → another prompt; loss goes down', async () => {
    const m = await model('gpt2-tiny-random');
    const a = await tune(m, gptTrain, base);
    const b = await tune(m, gptTrain, base);
    const c = await tune(m, gptTrain, { ...base, seed: 2 });
    expect((a.prompt as SoftPromptArtifact).data).toEqual((b.prompt as SoftPromptArtifact).data);
    expect((a.prompt as SoftPromptArtifact).data).not.toEqual((c.prompt as SoftPromptArtifact).data);
    expect(a.history.map((h) => h.loss)).toEqual(b.history.map((h) => h.loss));
    const losses = a.history.map((h) => h.loss!);
    expect(a.metrics.steps).toBe(9); // 3 epochs × ceil(10 / 4)
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
  });

  it('checkpoints every N steps and resumes exactly (through the file encoding)', async () => {
    const m = await model('gpt2-tiny-random');
    const opts: TuneOptions = { ...base, valid: gptValid, evalEvery: 2, warmup: 2, schedule: 'linear', weightDecay: 0.01 };
    const saved: TrainCheckpoint[] = [];
    const full = await tune(m, gptTrain, { ...opts, checkpointEvery: 4, onCheckpoint: (c) => { saved.push(decodeCheckpoint(encodeCheckpoint(c))); } });
    expect(saved.map((c) => c.step)).toEqual([4, 8, 9]);
    const resumed = await tune(m, gptTrain, { ...opts, resume: saved[0] });
    expect((resumed.prompt as SoftPromptArtifact).data).toEqual((full.prompt as SoftPromptArtifact).data);
    // everything but the wall-clock throughput matches
    const strip = (h: typeof full.history) => h.map(({ step, loss, lr, gradNorm, validLoss, exactMatch }) => ({ step, loss, lr, gradNorm, validLoss, exactMatch }));
    expect(strip(resumed.history)).toEqual(strip(full.history));
    // a checkpoint from other settings is refused
    await rejects(tune(m, gptTrain, { ...opts, lr: 0.1, resume: saved[0] }), 'DATA');
  });

  it('progress events: steps, warm-up then cosine lr, tokens/s, ETA', async () => {
    const m = await model('gpt2-tiny-random');
    const ev: ProgressEvent[] = [];
    await tune(m, gptTrain, { ...base, warmup: 3, onProgress: (e) => ev.push(e) });
    expect(ev.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(ev.slice(0, 3).map((e) => e.lr)).toEqual([0.05 / 3, 0.1 / 3, 0.05].map((x) => expect.closeTo(x, 12)));
    for (let i = 3; i < ev.length; i++) expect(ev[i].lr).toBeLessThan(ev[i - 1].lr);
    for (const e of ev) {
      expect(e.totalSteps).toBe(9);
      expect(e.tokensPerSec).toBeGreaterThan(0);
      expect(e.eta).toBeGreaterThanOrEqual(0);
      expect(Number.isFinite(e.loss)).toBe(true);
    }
    expect(ev[ev.length - 1].eta).toBe(0);
  });

  it('AbortSignal stops a run with ABORTED', async () => {
    const m = await model('gpt2-tiny-random');
    const ac = new AbortController();
    await rejects(tune(m, gptTrain, { ...base, signal: ac.signal, onProgress: (e) => { if (e.step === 2) ac.abort(); } }), 'ABORTED');
  });

  it('a NaN loss stops with NAN naming the step and the last good checkpoint', async () => {
    const m = await model('gpt2-tiny-random');
    const saved: TrainCheckpoint[] = [];
    await tune(m, gptTrain, { ...base, checkpointEvery: 3, onCheckpoint: (c) => { saved.push(c); } });
    const bad = { ...saved[0], params: saved[0].params.map((p) => p.slice()) };
    bad.params[0][5] = NaN; // a corrupted value in the state being resumed
    const e = await rejects(tune(m, gptTrain, { ...base, resume: bad, checkpointEvery: 3, onCheckpoint: () => { throw new Error('must not checkpoint NaN'); } }), 'NAN');
    expect(e.message).toMatch(/loss is NaN at step 4.*last good checkpoint \(step 3\)/);
  });

  it('early stopping on the validation loss returns the best prompt', async () => {
    const m = await model('gpt2-tiny-random');
    // training pushes toward [42, 42, 7]; the validation set wants another continuation
    const valid = gptValid.map((e) => ({ ...e, target: [9, 13, 9] }));
    const r = await tune(m, gptTrain, { ...base, lr: 0.2, epochs: 10, valid, evalEvery: 1, earlyStopping: { patience: 2 } });
    expect(r.metrics.stoppedEarly).toBe(true);
    expect(r.metrics.steps).toBeLessThan(30);
    const evals = r.history.filter((h) => h.validLoss !== undefined);
    const best = Math.min(...evals.map((h) => h.validLoss!));
    expect(r.metrics.after!.loss).toBeCloseTo(best, 5);
    expect(r.metrics.bestStep).toBe(evals.find((h) => h.validLoss === best)!.step);
  });

  it('label accuracy by log-likelihood over the choices agrees with Model.scoreMany', async () => {
    const m = await model('stories260K');
    const labels = [' happy', ' sad', ' big'];
    const valid: Example[] = [
      { input: 'Lily was very', target: ' happy' }, { input: 'The dog was', target: ' big' },
      { input: 'Tom cried because he was', target: ' sad' }, { input: 'The cake was', target: ' big' },
    ];
    const f = artifactForward(m, null);
    const got = evaluateLaid({ model: m, template: [{ input: true }], posOffset: 0, forward: f.forward, labels }, valid);
    let right = 0;
    for (const e of valid) {
      const s = await m.scoreMany(e.input as string, labels);
      const best = s.reduce((bi, x, i) => (x.total > s[bi].total ? i : bi), 0);
      if (labels[best] === e.target) right++;
    }
    expect(got.labelAccuracy).toBe(right / valid.length);
    // and the loss is the mean NLL Model.score gives
    let nll = 0, n = 0;
    for (const e of valid) {
      const s = await m.score(e.input as string, e.target as string);
      nll -= s.total;
      n += s.tokens.length;
    }
    expect(got.loss).toBeCloseTo(nll / n, 4);
  });

  it('prefix tuning with a reparameterization MLP trains and merges into plain prefixes', async () => {
    const m = await model('stories260K');
    const data: Example[] = ['Once upon a time, there was a girl', 'One day, a boy went to the park', 'The sun was hot'].map((input) => ({ input, target: ' Tom was happy.' }));
    const r = await tune(m, data, { method: 'prefix', virtualTokens: 4, reparameterize: { hidden: 32 }, lr: 0.01, epochs: 15, batchSize: 3, valid: data });
    expect(r.prompt.kind).toBe('prefix');
    const p = r.prompt as Extract<typeof r.prompt, { kind: 'prefix' }>;
    expect(p.k).toHaveLength(5);
    expect(p.k[0]).toHaveLength(4 * 4 * 8);
    expect(r.metrics.after!.loss).toBeLessThan(r.metrics.before!.loss * 0.8);
    // the merged prefix alone reproduces the trained loss
    const f = artifactForward(m, r.prompt);
    const again = evaluateLaid({ model: m, template: p.template, posOffset: f.posOffset, forward: f.forward }, data);
    f.free();
    expect(again.loss).toBeCloseTo(r.metrics.after!.loss, 5);
  });

  it('a mixed template trains only its soft rows and keeps the text', async () => {
    const m = await model('stories260K');
    const tpl = parseTemplate('[soft:2] A story about Tom. {input}[soft:1]');
    expect(tpl).toEqual([{ soft: 2 }, { text: ' A story about Tom. ' }, { input: true }, { soft: 1 }]);
    const data: Example[] = [{ input: 'Once upon a time', target: ' Tom came.' }, { input: 'One day', target: ' Tom came.' }];
    const r = await tune(m, data, { template: tpl, epochs: 5, batchSize: 2, lr: 0.05 });
    expect(r.prompt.kind === 'prompt' && r.prompt.rows).toBe(3);
    expect(r.prompt.template).toEqual(tpl);
  });
});

describe('bad input', () => {
  it('malformed JSONL names the line and the field', () => {
    const err = (s: string) => { try { parseJsonl(s, 'train.jsonl'); } catch (e) { expect(isPromptkilnError(e, 'DATA')).toBe(true); return (e as Error).message; } return 'no error'; };
    expect(err('{"input": "a", "target": "b"}\n{"input": "a", "target": "b"')).toMatch(/^train.jsonl:2: not valid JSON/);
    expect(err('{"input": "a"}')).toMatch(/^train.jsonl:1: field "target" expected a string \(or token ids\), found nothing/);
    expect(err('\n\n{"input": 3, "target": "b"}')).toMatch(/^train.jsonl:3: field "input" expected a string .*found number 3/);
    expect(err('[1, 2]')).toMatch(/train.jsonl:1: expected an object .* found an array/);
    expect(err('{"input": "a", "target": ""}')).toMatch(/train.jsonl:1: field "target" is empty/);
    expect(err('\n  \n')).toMatch(/train.jsonl: no examples/);
    expect(parseJsonl('{"input": "a", "target": " b"}\n\n{"input": [1, 2], "target": [3]}\n', 'x.jsonl')).toEqual([
      { input: 'a', target: ' b', source: 'x.jsonl:1' }, { input: [1, 2], target: [3], source: 'x.jsonl:3' },
    ]);
  });

  it('a target longer than the context is a DATA error naming the example', async () => {
    const m = await model('gpt2-tiny-random'); // context 64
    const ex = { input: [1, 2, 3], target: Array.from({ length: 70 }, () => 4), source: 'train.jsonl:7' };
    expect(() => layoutExample(m, [{ soft: 4 }, { input: true }], ex)).toThrow(/train.jsonl:7: input \+ target take 77 positions .* context of 64/);
    await rejects(tune(m, [ex], base), 'DATA');
  });

  it('bad options are ARGUMENT errors', async () => {
    const m = await model('gpt2-tiny-random');
    await rejects(tune(m, gptTrain, { ...base, lr: -1 }), 'ARGUMENT');
    await rejects(tune(m, gptTrain, { ...base, batchSize: 0 }), 'ARGUMENT');
    await rejects(tune(m, gptTrain, { ...base, method: 'no-such-method' as never }), 'ARGUMENT');
    await rejects(tune(m, gptTrain, { ...base, template: [{ soft: 2 }] }), 'ARGUMENT');
    await rejects(tune(m, gptTrain, { ...base, method: 'prefix', template: [{ soft: 2 }, { input: true }] }), 'ARGUMENT');
    // labels are only scored on a validation set: without one they would be silently unused
    await rejects(tune(m, gptTrain, { ...base, labels: [' happy', ' sad'] }), 'ARGUMENT');
    expect(() => parseTemplate('no input here')).toThrow(/exactly one/);
  });
});
