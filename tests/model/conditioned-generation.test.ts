// Greedy generation under a Conditioning (soft prompt, prefix with positions from P and from 0,
// compressed context) equals, token for token, the argmax of a full forward recomputed at every
// step without a KV cache, the rows laid out here by hand from the conventions of
// ../shared/refs/README.md. The conditionings are the refs' soft_prompt_init and prefix_init, and
// σ = the embeddings of the distill context, on the real stories260K and on gpt2-tiny-random.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Conditioning, Model } from '../../src/model/index.js';
import { REFS_DIR } from '../helpers/paths.js';
import { model, MODELS, prefixFromRef, ref, type ModelName } from '../soft/helpers.js';
import { greedyOracle, MIN_MARGIN } from './greedy-oracle.js';

const STEPS = 16;

function distillRef(name: ModelName) {
  return JSON.parse(readFileSync(path.join(REFS_DIR, name, 'distill.json'), 'utf8')).cases[0];
}

for (const name of MODELS) {
  describe(`${name}: conditioned greedy generation = argmax of a full recomputed forward`, () => {
    // a prompt of token ids (gpt2-tiny-random has no vocabulary text): the refs' input tokens
    const prompt = (ref(name, 'prompt_tuning').input_tokens as number[]).slice(0, 6);
    const gen = async (m: Model, conditioning: Conditioning | null) => {
      const g = await m.generate(prompt, { maxTokens: STEPS, stopAtEos: false, conditioning });
      expect(g.finishReason).toBe('length');
      return g.tokens;
    };

    it('soft prompt: [soft rows, prompt] at positions 0..', async () => {
      const m = await model(name);
      const r = ref(name, 'prompt_tuning');
      const soft = new Float32Array(r.soft_prompt_init.data);
      const want = await greedyOracle(m, STEPS, prompt, (ids) => [{ embeds: soft, rows: r.P }, { ids }]);
      expect(want.margin).toBeGreaterThan(MIN_MARGIN);
      expect(await gen(m, { id: 'soft', soft: { rows: r.P, data: soft } })).toEqual(want.tokens);
      expect(want.tokens).not.toEqual(await gen(m, null)); // the rows change the continuation
    });

    for (const from of ['P', '0'] as const) {
      it(`prefix K/V, sequence positions from ${from}`, async () => {
        const m = await model(name);
        const r = ref(name, 'prefix_tuning');
        const pre = { P: r.P as number, ...prefixFromRef(r.prefix_init) };
        const posOffset = from === 'P' ? pre.P : 0;
        const want = await greedyOracle(m, STEPS, prompt, (ids) => [{ ids }], { prefix: pre, posOffset });
        expect(want.margin).toBeGreaterThan(MIN_MARGIN);
        expect(await gen(m, { id: `prefix-${from}`, prefix: pre, posOffset })).toEqual(want.tokens);
        expect(want.tokens).not.toEqual(await gen(m, null));
      });
    }

    it('the two prefix position conventions give different continuations', async () => {
      const m = await model(name);
      const r = ref(name, 'prefix_tuning');
      const pre = { P: r.P as number, ...prefixFromRef(r.prefix_init) };
      const a = await gen(m, { id: 'pP', prefix: pre, posOffset: pre.P });
      const b = await gen(m, { id: 'p0', prefix: pre, posOffset: 0 });
      expect(a).not.toEqual(b);
    });

    it('compressed context: σ replaces the context, BOS included: [σ, prompt without BOS]', async () => {
      const m = await model(name);
      // σ = the embeddings of a real context (BOS included): then [σ, z] reads exactly like [context, z],
      // a second oracle, and σ visibly conditions the continuation
      const d = distillRef(name);
      const ctx = (d.context_tokens as number[]).slice(0, 24);
      const sigma = m.embeddingRows(ctx);
      const bos = m.config.bosId!;
      // the query as a user sends it: with the checkpoint's BOS, which σ replaces
      const query = [bos, ...(d.z_tokens as number[]).slice(0, 4)];
      const strip = (ids: number[]) => (ids[0] === bos ? ids.slice(1) : ids);
      const want = await greedyOracle(m, STEPS, query, (ids) => [{ embeds: sigma, rows: ctx.length }, { ids: strip(ids) }]);
      expect(want.margin).toBeGreaterThan(MIN_MARGIN);
      const g = await m.generate(query, { maxTokens: STEPS, stopAtEos: false, conditioning: { id: 'sigma', soft: { rows: ctx.length, data: sigma }, dropBos: true } });
      expect(g.tokens).toEqual(want.tokens);
      const plain = await m.generate([...ctx, ...strip(query)], { maxTokens: STEPS, stopAtEos: false });
      expect(g.tokens).toEqual(plain.tokens);
      const alone = await m.generate(strip(query), { maxTokens: STEPS, stopAtEos: false });
      expect(g.tokens).not.toEqual(alone.tokens); // σ conditions the continuation
    });
  });
}
