// Every architecture transformers 5.17 wrote into ../shared/refs/hf (Llama GQA, Qwen 2, Qwen 3,
// Gemma 3, Phi-3, Mistral, GPT-2) through the whole scoring SDK: log-probs within 1e-4 of PyTorch
// float64, last-position logits within 2e-4, greedy tokens exact (KV-cache generation), scoreMany
// with the prompt's K/V shared across a cut inside the sliding window, text cases through the
// tokenizer; then soft rows and prefixes on each family, against oracles that need no PEFT run:
// soft rows equal to a text's embedding rows give that text's numbers (Gemma: its embedding scale
// applies to token rows only, as PEFT leaves soft rows unscaled), and a prefix holding a prompt's
// own K/V gives the scores of prompt + target (on sliding layers the window runs over the prefix
// rows too, as over any cached rows).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, Model } from '../../src/model/index.js';
import { loadCheckpoint } from '../../src/model/source.js';
import { rng } from '../../src/model/sampling.js';
import { compress } from '../../src/compress/index.js';
import type { TuningMethod } from '../../src/soft/method.js';
import { layoutExample, type LaidExample } from '../../src/soft/mixed.js';
import { PrefixTuning } from '../../src/soft/prefix-tuning.js';
import { PromptTuning } from '../../src/soft/prompt-tuning.js';
import { REFS_DIR } from '../helpers/paths.js';
import { maxAbsDiff } from '../helpers/max-abs-diff.js';
import { loss, lossAndGrad } from '../soft/grad-check.js';

const HF = path.join(REFS_DIR, 'hf');
const cases = JSON.parse(readFileSync(path.join(HF, 'cases.json'), 'utf8'));

// what each folder must have been read as (a family read as plain Llama would fail the numbers too,
// but this names the cause)
const FAMILIES: Record<string, Record<string, unknown>> = {
  'llama-gqa': { family: 'llama', nHeads: 6, nKvHeads: 2, tiedEmbeddings: false },
  qwen2: { family: 'qwen2', attnBias: true, attnOutBias: false, tiedEmbeddings: true },
  qwen3: { family: 'qwen3', qkNorm: true },
  'gemma3-text': { family: 'gemma3', qkNorm: true, normPlusOne: true, sandwichNorm: true, activation: 'gelu_tanh', slidingWindow: 4, layerTypes: ['sliding_attention', 'full_attention'] },
  phi3: { family: 'phi3' },
  'mistral-sp-tokenizer': { family: 'mistral', nKvHeads: 1, slidingWindow: 5 },
  'gpt2-bytelevel': { arch: 'gpt2' },
};

// K/V of ids run alone, per layer (len, Hkv, hd): a prefix that stands for those ids
function promptKV(model: Model, ids: number[]): { P: number; k: Float32Array[]; v: Float32Array[] } {
  const c = model.config, kvd = c.nKvHeads * c.headDim;
  const cache = model.stack.newCache(ids.length);
  try {
    model.run([[{ ids }]], { cache });
    return { P: ids.length, k: cache.k.map((t) => t.f32().slice(0, ids.length * kvd)), v: cache.v.map((t) => t.f32().slice(0, ids.length * kvd)) };
  } finally {
    model.stack.freeCache(cache);
  }
}

for (const [name, expected] of Object.entries(FAMILIES)) {
  describe(`${name} vs transformers`, () => {
    const ref = cases.models[name];
    let model: Model;
    beforeAll(async () => {
      model = await loadModel(path.join(HF, ref.folder ?? name));
    });
    afterAll(() => model?.dispose());

    it('is read as its family', () => {
      expect(model.config).toMatchObject(expected);
    });

    for (const [k, c] of (ref.cases as any[]).entries()) {
      it(`case ${k} (${c.ids.length} tokens): log-probs, last logits, greedy with the KV cache`, async () => {
        const s = await model.score(c.ids.slice(0, 1), c.ids.slice(1));
        expect(maxAbsDiff(s.logprobs, c.next_logprobs_f64)).toBeLessThan(1e-4);
        const r = await model.forward({ sequences: [c.ids] });
        const V = model.config.vocabSize;
        expect(maxAbsDiff(r.logits!.subarray((c.ids.length - 1) * V), c.last_logits)).toBeLessThan(2e-4);
        const g = await model.generate(c.ids, { maxTokens: c.greedy.length, stopAtEos: false });
        expect(g.tokens).toEqual(c.greedy);
      });
    }

    it('scoreMany: targets batched after a shared prompt longer than the sliding window', async () => {
      const c = (ref.cases as any[])[2]; // 27-28 tokens
      const m = 9;
      const targets = [c.ids.slice(m), c.ids.slice(m, m + 3), c.ids.slice(m, m + 11)];
      const rs = await model.scoreMany(c.ids.slice(0, m), targets);
      rs.forEach((r, i) => expect(maxAbsDiff(r.logprobs, c.next_logprobs_f64.slice(m - 1, m - 1 + targets[i].length))).toBeLessThan(1e-4));
    });

    for (const [k, c] of (ref.text_cases as any[]).entries()) {
      it(`text case ${k}: the target's log-probs`, async () => {
        const s = await model.score(c.prompt, c.target);
        expect(s.tokens).toEqual(c.full_ids.slice(Math.max(c.cut, 1)));
        expect(maxAbsDiff(s.logprobs, c.target_logprobs)).toBeLessThan(1e-4);
      });
    }

    it('soft rows set to a prefix of the text embeddings score and generate like the text', async () => {
      const c = (ref.cases as any[])[1];
      const S = 5;
      const soft = { rows: S, data: model.embeddingRows(c.ids.slice(0, S)) };
      const s = await model.score(c.ids.slice(S, S + 1), c.ids.slice(S + 1), { conditioning: { id: 'soft', soft } });
      expect(maxAbsDiff(s.logprobs, c.next_logprobs_f64.slice(S))).toBeLessThan(1e-4);
      const g = await model.generate(c.ids.slice(S), { maxTokens: 8, stopAtEos: false, conditioning: { id: 'soft', soft } });
      const plain = await model.generate(c.ids, { maxTokens: 8, stopAtEos: false });
      expect(g.tokens).toEqual(plain.tokens);
    });

    it('a prefix holding a prompt\'s K/V (positions after it) scores like prompt + target, windows included', async () => {
      const c = (ref.cases as any[])[2];
      const m = 10; // longer than every window: the window cuts through the prefix rows
      const prefix = promptKV(model, c.ids.slice(0, m));
      const s = await model.score(c.ids.slice(m, m + 1), c.ids.slice(m + 1), { conditioning: { id: 'kv', prefix, posOffset: m } });
      expect(maxAbsDiff(s.logprobs, c.next_logprobs_f64.slice(m))).toBeLessThan(1e-4);
      const g = await model.generate(c.ids.slice(m), { maxTokens: 6, stopAtEos: false, conditioning: { id: 'kv', prefix, posOffset: m } });
      const plain = await model.generate(c.ids, { maxTokens: 6, stopAtEos: false });
      expect(g.tokens).toEqual(plain.tokens);
    });
  });
}

describe('generation stops at BOS only on llama2.c checkpoints', () => {
  it('an HF family generates past a BOS id; the same weights without a family stop there', async () => {
    const ref = cases.models['qwen3'];
    const c = ref.cases[0];
    const ck = await loadCheckpoint(path.join(HF, ref.folder));
    // BOS set to the second greedy token, no eos: only a BOS rule could stop the generation
    const config = { ...ck.config, bosId: c.greedy[1], eosId: null, eosIds: [] };
    const hf = await Model.fromCheckpoint({ ...ck, config });
    const bare = await Model.fromCheckpoint({ ...ck, config: { ...config, family: undefined } });
    try {
      expect((await hf.generate(c.ids, { maxTokens: 4 })).tokens).toEqual(c.greedy.slice(0, 4));
      const r = await bare.generate(c.ids, { maxTokens: 4 });
      expect(r).toMatchObject({ tokens: c.greedy.slice(0, 1), finishReason: 'eos' });
    } finally {
      hf.dispose();
      bare.dispose();
    }
  });
});

// The SDK's own tuning methods (soft/) and compression (compress/) on each new family: the
// gradients they take (soft rows of a mixed template, prefix K/V) agree with central differences
// of the loss they report, and distilling a context into soft rows lowers the KL to it.
describe('tuning and compression on every new family', () => {
  // Richardson-extrapolated central differences on the largest and a few random elements
  const checkParams = (m: TuningMethod, batch: LaidExample[]) => {
    lossAndGrad(m, batch);
    const r = rng(7), h = 2e-2;
    for (const p of m.params) {
      const g = p.grad.f32().slice();
      const scale = Math.max(...Array.from(g, Math.abs));
      expect(scale, `${p.name} gradient`).toBeGreaterThan(0);
      const at = (i: number, x: number, d: number) => {
        p.value.f32()[i] = x + d;
        const up = loss(m, batch);
        p.value.f32()[i] = x - d;
        const down = loss(m, batch);
        p.value.f32()[i] = x;
        return (up - down) / (2 * d);
      };
      const idx = [g.indexOf(g.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a), 0))];
      for (let i = 0; i < 5; i++) idx.push(Math.floor(r() * g.length));
      for (const i of idx) {
        const x = p.value.f32()[i];
        const fd = (4 * at(i, x, h / 2) - at(i, x, h)) / 3;
        expect(Math.abs(fd - g[i]), `${p.name}[${i}]: analytic ${g[i]} vs ${fd}`).toBeLessThanOrEqual(2e-3 * scale + 1e-2 * Math.abs(fd));
      }
    }
  };

  for (const name of ['qwen2', 'qwen3', 'gemma3-text', 'phi3', 'mistral-sp-tokenizer']) {
    it(`${name}: prompt tuning on a mixed template, prefix tuning, compression`, async () => {
      const ref = cases.models[name];
      const m = await loadModel(path.join(HF, ref.folder));
      try {
        const ids: number[] = ref.cases[2].ids;
        const examples = [{ input: ids.slice(0, 5), target: ids.slice(5, 9) }, { input: ids.slice(9, 12), target: ids.slice(12, 19) }];
        const tpl = [{ soft: 2 }, { text: 'Once' }, { input: true as const }, { soft: 1 }];
        const pt = new PromptTuning(m, tpl, { type: 'random' }, 3);
        try {
          checkParams(pt, examples.map((e) => layoutExample(m, tpl, e)));
        } finally {
          pt.free();
        }
        // P = 3 prefix rows, sequences of 9-11 rows: windows of 4-5 cut through the prefix
        const pf = new PrefixTuning(m, [{ input: true }], { P: 3, init: { type: 'random', std: 0.5 }, seed: 5 });
        try {
          checkParams(pf, examples.map((e) => layoutExample(m, pf.template, e, pf.posOffset)));
        } finally {
          pf.free();
        }
        const rep = await compress(m, ids.slice(0, 12), { tokens: 3, steps: 40, lr: 0.05, numQueries: 6, numHeldOut: 3, queryTokens: 6 });
        expect(rep.after.kl).toBeLessThan(0.7 * rep.before.kl);
      } finally {
        m.dispose();
      }
    });
  }
});
