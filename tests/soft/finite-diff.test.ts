// Finite differences on the real tiny models: the analytic gradients of the soft prompt, the
// prefix keys/values and the reparameterization MLP (dW via the kernels) agree with central
// differences of the loss, on a padded batch of two sequences of different lengths.
import { describe, expect, it } from 'vitest';
import { layoutExample } from '../../src/soft/mixed.js';
import { PrefixTuning } from '../../src/soft/prefix-tuning.js';
import { PromptTuning } from '../../src/soft/prompt-tuning.js';
import { checkParams } from './grad-check.js';
import { model, MODELS, type ModelName } from './helpers.js';

function examples(name: ModelName) {
  return name === 'stories260K'
    ? [{ input: 'Once upon a time, there was a cat', target: ' named Tom.' }, { input: 'Lily saw a big dog', target: ' in the park and smiled.' }]
    : [{ input: [3, 9, 27, 1], target: [5, 40, 11] }, { input: [8, 2], target: [60, 7, 7, 19, 2, 33] }];
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
