// Prompt tuning and prefix tuning through the soft/ code path (layout, method forward/backward,
// trainer with AdamW) against the PyTorch float64 references in ../shared/refs, with the
// tolerances of refs/README.md.
import { describe, expect, it } from 'vitest';
import { AdamW } from '../../src/train/optim.js';
import { batchTargets } from '../../src/soft/method.js';
import { layoutExample } from '../../src/soft/mixed.js';
import { PrefixTuning } from '../../src/soft/prefix-tuning.js';
import { PromptTuning } from '../../src/soft/prompt-tuning.js';
import { tune } from '../../src/soft/trainer.js';
import { train } from '../../src/train/index.js';
import { expectClose, model, MODELS, prefixFromRef, ref } from './helpers.js';

for (const name of MODELS) {
  describe(`${name} references`, () => {
    it('prompt tuning: loss, gradient of the soft prompt', async () => {
      const m = await model(name);
      const r = ref(name, 'prompt_tuning');
      const pt = new PromptTuning(m, [{ soft: r.P }, { input: true }], { type: 'random' }, 0, new Float32Array(r.soft_prompt_init.data));
      try {
        const ex = layoutExample(m, pt.template, { input: r.input_tokens, target: r.target_tokens });
        const st = pt.forward([ex], true);
        const { rows, targets } = batchTargets([ex]);
        expect(rows).toEqual(Array.from({ length: r.target_tokens.length }, (_, j) => r.P + r.input_tokens.length - 1 + j));
        const { sum, logprobs } = st.nll(rows, targets, 1 / rows.length, true);
        expect(Math.abs(sum / rows.length - r.float64.loss)).toBeLessThanOrEqual(2e-5);
        expectClose(Array.from(logprobs, (x) => -x), r.float64.target_nll.data, 1e-4, 0, 'target nll');
        pt.backward(st, [ex]);
        expectClose(pt.params[0].grad.f32(), r.float64.grad_soft_prompt.data, 3e-5, 1e-3, 'grad soft prompt');
      } finally {
        pt.free();
      }
    });

    it('prompt tuning: the trainer reproduces every step of the Adam trajectory (loss, gradient norm, soft prompt)', async () => {
      const m = await model(name);
      const r = ref(name, 'prompt_tuning');
      // torch.optim.Adam: no weight decay, no clipping, constant lr 1e-2. A 4th step reads the loss
      // at the prompt after 3 updates (adam.losses[3]); each step's checkpoint holds the prompt after it.
      const after: Float32Array[] = [];
      const res = await tune(m, [{ input: r.input_tokens, target: r.target_tokens }], {
        method: 'prompt', virtualTokens: r.P, initial: new Float32Array(r.soft_prompt_init.data),
        maxSteps: 4, batchSize: 1, lr: r.adam.lr, weightDecay: 0, clip: 0, schedule: 'constant',
        checkpointEvery: 1, onCheckpoint: (c) => { after.push(c.params[0]); },
      });
      expectClose(res.history.map((h) => h.loss!), r.float64.adam_losses, 2e-5, 0, 'adam losses (after 0..3 updates)');
      const l2 = (g: number[]) => Math.sqrt(g.reduce((a, x) => a + x * x, 0));
      expectClose(res.history.slice(0, 3).map((h) => h.gradNorm!), r.adam.grads.map((g: { data: number[] }) => l2(g.data)), 3e-5, 1e-3, 'gradient norm used by each update');
      for (let s = 0; s < 3; s++) expectClose(after[s], r.adam.params_after_step[s].data, 1e-4, 0, `soft prompt after update ${s + 1}`);
      expectClose(after[2], r.float64.soft_prompt_final.data, 1e-4, 0, 'soft prompt after 3 updates (float64)');
    });

    it('prompt tuning: each Adam update uses the reference gradient, element by element (the loop around PromptTuning)', async () => {
      const m = await model(name);
      const r = ref(name, 'prompt_tuning');
      const pt = new PromptTuning(m, [{ soft: r.P }, { input: true }], { type: 'random' }, 0, new Float32Array(r.soft_prompt_init.data));
      try {
        const ex = layoutExample(m, pt.template, { input: r.input_tokens, target: r.target_tokens });
        const grads: Float32Array[] = [];
        await train(m.kernels, {
          params: pt.params,
          step() {
            const st = pt.forward([ex], true);
            const { rows, targets } = batchTargets([ex]);
            const loss = st.nll(rows, targets, 1 / rows.length, true).sum / rows.length;
            pt.backward(st, [ex]);
            grads.push(pt.params[0].grad.f32().slice());
            return { loss };
          },
        }, { what: 'refs', steps: 3, data: { size: 1, batchSize: 1, order: 'cycle' }, lr: r.adam.lr, clip: 0, identity: { model: null, settings: {}, data: '' } });
        for (let s = 0; s < 3; s++) expectClose(grads[s], r.adam.grads[s].data, 3e-5, 1e-3, `gradient used by update ${s + 1}`);
        expectClose(pt.params[0].value.f32(), r.adam.soft_prompt_final.data, 1e-4, 0, 'soft prompt after 3 updates');
      } finally {
        pt.free();
      }
    });

    // gpt2-tiny-random has no vocabulary text: its references are token ids only
    if (name === 'stories260K') it('prompt tuning from text: same ids as the reference tokenizer split', async () => {
      const m = await model(name);
      const r = ref(name, 'prompt_tuning');
      const ex = layoutExample(m, [{ soft: r.P }, { input: true }], { input: r.input_text, target: r.target_text });
      expect(ex.parts[1]).toEqual({ ids: [...r.input_tokens, ...r.target_tokens] });
      expect(ex.targets).toEqual(r.target_tokens);
    });

    it('prefix tuning (hf_peft positions): loss and gradient of every prefix key/value', async () => {
      const m = await model(name);
      const r = ref(name, 'prefix_tuning');
      const v = r.variants.find((x: { variant: string }) => x.variant === 'hf_peft');
      const init = prefixFromRef(r.prefix_init);
      const pf = new PrefixTuning(m, [{ input: true }], { P: r.P, init: { type: 'random' }, seed: 0 }, init);
      try {
        expect(pf.posOffset).toBe(v.pos_offset);
        const ex = layoutExample(m, pf.template, { input: r.input_tokens, target: r.target_tokens }, pf.posOffset);
        const st = pf.forward([ex], true);
        const { rows, targets } = batchTargets([ex]);
        const { sum } = st.nll(rows, targets, 1 / rows.length, true);
        expect(Math.abs(sum / rows.length - v.float64.loss)).toBeLessThanOrEqual(2e-5);
        pf.backward(st, [ex]);
        // the param is (L, 2, P, Hkv, hd); compare per layer against the reference layout
        const g = pf.params[0].grad.f32();
        const n = r.P * m.config.nKvHeads * m.config.headDim;
        const want = prefixFromRef(v.float64.grad_prefix);
        for (let l = 0; l < m.config.nLayers; l++) {
          expectClose(g.subarray(2 * l * n, (2 * l + 1) * n), want.k[l], 3e-5, 1e-3, `layer ${l} dK`);
          expectClose(g.subarray((2 * l + 1) * n, (2 * l + 2) * n), want.v[l], 3e-5, 1e-3, `layer ${l} dV`);
        }
        // an AdamW step through the same param moves the loss down
        const opt = new AdamW(m.kernels, pf.params, { lr: 1e-2 });
        opt.update();
        const st2 = pf.forward([ex], false);
        expect(st2.nll(rows, targets, 1, false).sum / rows.length).toBeLessThan(v.float64.loss);
        opt.free();
      } finally {
        pf.free();
      }
    });
  });
}
