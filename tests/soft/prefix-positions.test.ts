// Prefix K/V with both position conventions of ../shared/refs (prefix_tuning.json variants):
// `hf_peft` (token t at position P + t) and `positions_from_zero` (token t at t), on the WASM path
// — the stack's forward/backward with a prefix, and scoring with a prefix Conditioning (prompt K/V
// cached behind the prefix) — against the PyTorch float64 numbers, with the refs README tolerances
// (losses 2e-5, log-probs 1e-4, gradients 3e-5 + 1e-3 rel).
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/kernels/index.js';
import { expectClose, model, MODELS, prefixFromRef, ref } from './helpers.js';

for (const name of MODELS) {
  const r = ref(name, 'prefix_tuning');
  for (const variant of ['hf_peft', 'positions_from_zero'] as const) {
    const v = r.variants.find((x: { variant: string }) => x.variant === variant);
    describe(`${name} prefix, ${variant} (positions from ${v.pos_offset})`, () => {
      const Lx = r.input_tokens.length as number, Ly = r.target_tokens.length as number;
      const rows = Array.from({ length: Ly }, (_, j) => Lx - 1 + j);

      it('forward + backward: target NLL, loss and the gradient of every prefix key and value', async () => {
        const m = await model(name);
        const k = m.kernels;
        const init = prefixFromRef(r.prefix_init);
        const mark = k.heap.mark();
        try {
          const up = (xs: Float32Array[]): Tensor[] => xs.map((x) => k.from(x));
          const zeros = (xs: Float32Array[]): Tensor[] => xs.map((x) => { const t = k.alloc(x.length); k.zero(t); return t; });
          const prefix = { P: r.P as number, k: up(init.k), v: up(init.v) };
          const dprefix = { k: zeros(init.k), v: zeros(init.v) };
          const st = m.run([[{ ids: [...r.input_tokens, ...r.target_tokens] }]], { prefix, posOffset: v.pos_offset, train: true });
          const { sum, logprobs } = st.nll(rows, r.target_tokens, 1 / Ly, true);
          expect(Math.abs(sum / Ly - v.float64.loss)).toBeLessThanOrEqual(2e-5);
          expectClose(Array.from(logprobs, (x) => -x), v.float64.target_nll.data, 1e-4, 0, 'target nll');
          st.backward(dprefix);
          const want = prefixFromRef(v.float64.grad_prefix);
          for (let l = 0; l < m.config.nLayers; l++) {
            expectClose(dprefix.k[l].f32(), want.k[l], 3e-5, 1e-3, `layer ${l} dK`);
            expectClose(dprefix.v[l].f32(), want.v[l], 3e-5, 1e-3, `layer ${l} dV`);
          }
        } finally {
          k.heap.reset(mark);
        }
      });

      it('scoring with the prefix as a Conditioning gives the same target log-probs', async () => {
        const m = await model(name);
        const init = prefixFromRef(r.prefix_init);
        const cond = { id: `ref-prefix-${variant}`, prefix: { P: r.P as number, k: init.k, v: init.v }, posOffset: v.pos_offset as number };
        const s = await m.score(r.input_tokens, r.target_tokens, { conditioning: cond });
        expect(s.tokens).toEqual(r.target_tokens);
        expectClose(s.logprobs.map((x) => -x), v.float64.target_nll.data, 1e-4, 0, 'target nll (score)');
        // two targets under one prompt: the prompt's K/V sit behind the prefix, shared by both
        const [a, b] = await m.scoreMany(r.input_tokens, [r.target_tokens, r.target_tokens.slice(0, 3)], { conditioning: cond });
        expectClose(a.logprobs.map((x) => -x), v.float64.target_nll.data, 1e-4, 0, 'target nll (scoreMany)');
        expectClose(b.logprobs.map((x) => -x), v.float64.target_nll.data.slice(0, 3), 1e-4, 0, 'target nll (scoreMany, short)');
      });
    });
  }
}
