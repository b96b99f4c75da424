// Llama 3 checkpoints as the hub ships them (transformers 5.17 wrote them, ../shared/refs/hf):
// θ = 500000 and llama3 RoPE scaling inside v5's `rope_parameters`, the same weights with the
// pre-v5 `rope_theta` + `rope_scaling`, a tied head, and an eos_token_id list. Log-probs within
// 1e-4 of PyTorch float64, logits within 2e-4, greedy tokens exact, text cases through the tokenizer.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, Model } from '../../src/model/index.js';
import { loadCheckpoint } from '../../src/model/source.js';
import { REFS_DIR } from '../helpers/paths.js';
import { maxAbsDiff } from '../helpers/max-abs-diff.js';

const HF = path.join(REFS_DIR, 'hf');
const cases = JSON.parse(readFileSync(path.join(HF, 'cases.json'), 'utf8'));

for (const name of ['llama3-rope-scaled-tied', 'llama3-legacy-config']) {
  describe(`${name} vs transformers`, () => {
    const ref = cases.models[name];
    let model: Model;
    beforeAll(async () => {
      model = await loadModel(path.join(HF, ref.folder ?? name));
    });
    afterAll(() => model?.dispose());

    it('config: θ 500000 and the llama3 scaling read, head tied, three stop ids', () => {
      expect(model.config.rope).toMatchObject({ type: 'llama3', theta: 500000, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPos: 32, attentionFactor: 1 });
      expect(model.config.ropeTheta).toBe(500000);
      expect(model.config.tiedEmbeddings).toBe(true);
      expect(model.config.eosIds).toEqual([2, 5, 7]);
    });

    for (const [k, c] of (ref.cases as any[]).entries()) {
      it(`case ${k} (${c.ids.length} tokens): next-token log-probs, last logits, greedy`, async () => {
        const s = await model.score(c.ids.slice(0, 1), c.ids.slice(1));
        expect(maxAbsDiff(s.logprobs, c.next_logprobs_f64)).toBeLessThan(1e-4);
        const r = await model.forward({ sequences: [c.ids] });
        const V = model.config.vocabSize;
        expect(maxAbsDiff(r.logits!.subarray((c.ids.length - 1) * V), c.last_logits)).toBeLessThan(2e-4);
        const g = await model.generate(c.ids, { maxTokens: c.greedy.length, stopAtEos: false });
        expect(g.tokens).toEqual(c.greedy);
      });
    }

    for (const [k, c] of (ref.text_cases as any[]).entries()) {
      it(`text case ${k}: ids of prompt + target, and the target's log-probs`, async () => {
        expect(model.tokenizer!.encode(c.prompt + c.target)).toEqual(c.full_ids);
        const s = await model.score(c.prompt, c.target);
        expect(s.tokens).toEqual(c.full_ids.slice(Math.max(c.cut, 1)));
        expect(maxAbsDiff(s.logprobs, c.target_logprobs)).toBeLessThan(1e-4);
        expect(Math.abs(s.total - c.sum)).toBeLessThan(5e-4);
      });
    }
  });
}

describe('stopping on any id of the eos_token_id list', () => {
  it('generation_config.json ids [a, b, X] stop greedy decoding at X, the last of the list', async () => {
    const dir = path.join(HF, 'llama3-rope-scaled-tied');
    const files: Record<string, Uint8Array> = {};
    for (const f of cases.models['llama3-rope-scaled-tied'].files as string[]) files[f] = new Uint8Array(readFileSync(path.join(dir, f)));
    const prompt = cases.models['llama3-rope-scaled-tied'].cases[1].ids as number[];
    const plain = await Model.fromCheckpoint(await loadCheckpoint({ files }));
    const free = await plain.generate(prompt, { maxTokens: 12, stopAtEos: false });
    plain.dispose();
    // a token from the middle of the free continuation becomes the last of three stop ids
    const at = free.tokens.findIndex((t, i) => i >= 1 && free.tokens.indexOf(t) === i);
    expect(at).toBeGreaterThan(0);
    const X = free.tokens[at];
    const others = [0, 1, 2, 3, 4, 5, 6, 7, 8].filter((t) => !free.tokens.slice(0, at + 1).includes(t)).slice(0, 2);
    files['generation_config.json'] = new TextEncoder().encode(JSON.stringify({ eos_token_id: [...others, X] }));
    const m = await Model.fromCheckpoint(await loadCheckpoint({ files }));
    try {
      expect(m.config.eosIds).toEqual([...others, X]);
      const stopped = await m.generate(prompt, { maxTokens: 12 });
      expect(stopped.finishReason).toBe('eos');
      expect(stopped.tokens).toEqual(free.tokens.slice(0, at));
    } finally {
      m.dispose();
    }
  });
});
