// Finite differences on the real tiny models: the analytic gradients of the soft prompt, the
// prefix keys/values and the reparameterization MLP (dW via the kernels) agree with central
// differences of the loss, on a padded batch of two sequences of different lengths.
import { describe, expect, it } from 'vitest';
import { batchTargets, type TuningMethod } from '../../src/soft/method.js';
import { layoutExample, type LaidExample } from '../../src/soft/mixed.js';
import { PrefixTuning } from '../../src/soft/prefix-tuning.js';
import { PromptTuning } from '../../src/soft/prompt-tuning.js';
import { rng } from '../../src/model/sampling.js';
import { model, MODELS, type ModelName } from './helpers.js';

function examples(name: ModelName) {
  return name === 'stories260K'
    ? [{ input: 'Once upon a time, there was a cat', target: ' named Tom.' }, { input: 'Lily saw a big dog', target: ' in the park and smiled.' }]
    : [{ input: [3, 9, 27, 1], target: [5, 40, 11] }, { input: [8, 2], target: [60, 7, 7, 19, 2, 33] }];
}

// mean NLL of the batch's targets, and its gradient in every param
function lossAndGrad(m: TuningMethod, batch: LaidExample[]): number {
  for (const p of m.params) p.grad.f32().fill(0);
  const st = m.forward(batch, true);
  const { rows, targets } = batchTargets(batch);
  const { sum } = st.nll(rows, targets, 1 / rows.length, true);
  m.backward(st, batch);
  return sum / rows.length;
}
function loss(m: TuningMethod, batch: LaidExample[]): number {
  const st = m.forward(batch, false);
  const { rows, targets } = batchTargets(batch);
  return st.nll(rows, targets, 1, false).sum / rows.length;
}

// Central differences in f32: the step h = 1e-2 keeps the rounding noise of a loss of a few
// nats (≈ 5e-7 / h = 5e-5) and the O(h²) truncation both below 1e-3 of the gradient scale.
function checkParams(m: TuningMethod, batch: LaidExample[], perParam = 6): void {
  lossAndGrad(m, batch);
  const grads = m.params.map((p) => p.grad.f32().slice());
  const r = rng(7);
  const h = 1e-2;
  m.params.forEach((p, pi) => {
    const scale = Math.max(...Array.from(grads[pi], Math.abs));
    expect(scale, `${p.name} gradient is not all zero`).toBeGreaterThan(0);
    // the largest element plus random ones
    const idx = [grads[pi].indexOf(grads[pi].reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a), 0))];
    for (let i = 0; i < perParam; i++) idx.push(Math.floor(r() * p.value.n));
    for (const i of idx) {
      const x = p.value.f32()[i];
      p.value.f32()[i] = x + h;
      const up = loss(m, batch);
      p.value.f32()[i] = x - h;
      const down = loss(m, batch);
      p.value.f32()[i] = x;
      const fd = (up - down) / (2 * h);
      expect(Math.abs(fd - grads[pi][i]), `${p.name}[${i}]: analytic ${grads[pi][i]} vs finite difference ${fd}`)
        .toBeLessThanOrEqual(2e-3 * scale + 1e-2 * Math.abs(fd));
    }
  });
}

for (const name of MODELS) {
  describe(`${name} finite differences`, () => {
    it('soft prompt rows (mixed template: soft, text, input, soft)', async () => {
      const m = await model(name);
      const tpl = name === 'stories260K'
        ? [{ soft: 2 }, { text: 'A story.' }, { input: true as const }, { soft: 1 }]
        : [{ soft: 2 }, { input: true as const }, { soft: 1 }];
      const pt = new PromptTuning(m, tpl, { type: 'random' }, 3);
      try {
        const batch = examples(name).map((e) => layoutExample(m, tpl, e));
        expect(batch[0].length).not.toBe(batch[1].length); // padding is exercised
        checkParams(pt, batch);
      } finally {
        pt.free();
      }
    });

    it('prefix keys and values', async () => {
      const m = await model(name);
      const pf = new PrefixTuning(m, [{ input: true }], { P: 3, init: { type: 'random', std: 0.5 }, seed: 5 });
      try {
        const batch = examples(name).map((e) => layoutExample(m, pf.template, e, pf.posOffset));
        checkParams(pf, batch, 10);
      } finally {
        pf.free();
      }
    });

    it('reparameterization MLP: dE, dW1, db1, dW2, db2', async () => {
      const m = await model(name);
      const pf = new PrefixTuning(m, [{ input: true }], { P: 2, init: { type: 'random' }, seed: 11, reparameterize: { hidden: 16 } });
      try {
        expect(pf.params.map((p) => p.name)).toEqual(['prefix embedding', 'prefix W1', 'prefix b1', 'prefix W2', 'prefix b2']);
        const batch = examples(name).map((e) => layoutExample(m, pf.template, e, pf.posOffset));
        checkParams(pf, batch);
      } finally {
        pf.free();
      }
    });
  });
}
