// Forward, scoring and greedy decoding against PyTorch float64 references.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/model/index.js';
import { MODELS_DIR, REFS_DIR } from '../helpers/paths.js';
import { maxAbsDiff } from '../helpers/max-abs-diff.js';

// Forward, scoring and greedy decoding against PyTorch float64 (../shared/refs/*/forward.json),
// with the tolerances of the refs README: logits 2e-4, per-token log-probs 1e-4, sums 5e-4 (abs).

for (const name of ['stories260K', 'gpt2-tiny-random']) {
  describe(`forward vs PyTorch: ${name}`, () => {
    let model: Model;
    const ref = JSON.parse(readFileSync(path.join(REFS_DIR, name, 'forward.json'), 'utf8'));
    beforeAll(async () => {
      model = await loadModel(path.join(MODELS_DIR, name));
    });

    for (const c of ref.cases as any[]) {
      const label = c.name ?? `${c.tokens.length} tokens`;
      it(`${label}: logits at every position`, async () => {
        const r = await model.forward({ sequences: [c.tokens] });
        expect(r.logits!.length).toBe(c.tokens.length * model.config.vocabSize);
        // the refs keep logits in float32 only (float64 has the log-probs)
        expect(maxAbsDiff(r.logits!, c.logits.data)).toBeLessThan(2e-4);
      });

      it(`${label}: score() gives the next-token log-probs and their sum`, async () => {
        const s = await model.score(c.tokens.slice(0, 1), c.tokens.slice(1));
        expect(s.tokens).toEqual(c.tokens.slice(1));
        expect(maxAbsDiff(s.logprobs, c.float64.next_token_logprobs.data ?? c.float64.next_token_logprobs)).toBeLessThan(1e-4);
        expect(Math.abs(s.total - c.float64.sum_logprob)).toBeLessThan(5e-4);
      });

      it(`${label}: greedy continuation is token-exact (KV cache)`, async () => {
        const g = await model.generate(c.tokens, { maxTokens: c.greedy.tokens.length, stopAtEos: false });
        expect(g.tokens).toEqual(c.greedy.tokens);
      });
    }

    it('scoreMany equals score per target, and splitting the prompt anywhere gives the same log-probs', async () => {
      const c = ref.cases[0];
      const ids = c.tokens as number[];
      const targets = [ids.slice(5), ids.slice(5, 9), ids.slice(5, 6)];
      const many = await model.scoreMany(ids.slice(0, 5), targets);
      for (let i = 0; i < targets.length; i++) {
        const one = await model.score(ids.slice(0, 5), targets[i]);
        expect(maxAbsDiff(many[i].logprobs, one.logprobs)).toBeLessThan(1e-5);
        expect(many[i].tokens).toEqual(targets[i]);
      }
      const full = await model.score(ids.slice(0, 1), ids.slice(1));
      const tail = await model.score(ids.slice(0, 12), ids.slice(12));
      expect(maxAbsDiff(tail.logprobs, full.logprobs.slice(11))).toBeLessThan(2e-5);
    });

    it('a padded batch gives each sequence its own logits', async () => {
      const [a, b] = ref.cases.slice(0, 2).map((c: any) => c.tokens as number[]);
      const r = await model.forward({ sequences: [a, b.slice(0, 7)] });
      const V = model.config.vocabSize;
      expect(r.T).toBe(a.length);
      const one = await model.forward({ sequences: [b.slice(0, 7)] });
      expect(maxAbsDiff(r.logits!.subarray(r.T * V, r.T * V + 7 * V), one.logits!)).toBeLessThan(1e-5);
      // with a padding mask too, and the hidden states come back (B, T, C)
      const masked = await model.forward({ sequences: [a, b.slice(0, 7)], mask: true, hidden: true });
      expect(maxAbsDiff(masked.logits!.subarray(r.T * V, r.T * V + 7 * V), one.logits!)).toBeLessThan(1e-5);
      expect(masked.hidden!.length).toBe(2 * r.T * model.config.dim);
    });
  });
}

describe('stories260K greedy from BOS', () => {
  it("reproduces llama2.c's documented 200-token text", async () => {
    const model = await loadModel(path.join(MODELS_DIR, 'stories260K'));
    const ref = JSON.parse(readFileSync(path.join(REFS_DIR, 'stories260K/forward.json'), 'utf8')).bos_greedy_200;
    const g = await model.generate([1], { maxTokens: 200 });
    expect([1, ...g.tokens]).toEqual(ref.tokens);
    expect(g.text).toBe(ref.text);
    model.dispose();
  });
});
