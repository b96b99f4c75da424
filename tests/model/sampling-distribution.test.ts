// Seeded sampling draws from the right distribution: softmax(l / T) cut to the top-k / nucleus,
// checked by the frequencies of many seeded draws (binomial bound, see sampling-oracle.ts) on
// fixed logits, and through Model.generate on the real stories260K.
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/model/index.js';
import { rng, sample } from '../../src/model/sampling.js';
import { MODELS_DIR } from '../helpers/paths.js';
import { expectFrequencies, samplingSet, type SamplingSettings } from './sampling-oracle.js';

// fixed logits, deliberately not sorted by index: a sampler that walks ids in order instead of
// by logit gets the top-k / nucleus sets wrong
const LOGITS = Float32Array.from([0.3, 2.1, -1.0, 1.4, 0.9, 2.0, -0.2, 1.1, -2.5, 0.6]);

const SETTINGS: SamplingSettings[] = [
  { temperature: 0.5 }, { temperature: 2 },
  { temperature: 0.5, topK: 3 }, { temperature: 2, topK: 3 },
  { temperature: 0.5, topP: 0.8 }, { temperature: 2, topP: 0.8 },
  { temperature: 2, topK: 5, topP: 0.8 },
];

const label = (o: SamplingSettings) => `T=${o.temperature}${o.topK ? ` k=${o.topK}` : ''}${o.topP ? ` p=${o.topP}` : ''}`;

describe('sample(): frequencies of seeded draws on fixed logits', () => {
  const N = 20_000;
  for (const o of SETTINGS) {
    it(`${label(o)}: matches softmax(l/T) on the kept set, nothing outside it`, () => {
      const set = samplingSet(LOGITS, o);
      expect(set.nucleusMargin).toBeGreaterThan(1e-3); // float32 rounding of the mass is ~1e-7
      const rand = rng(1234);
      const draws = Array.from({ length: N }, () => sample(LOGITS, o, rand));
      expectFrequencies(draws, set, label(o));
    });
  }

  it('the sets differ as they should: T changes the nucleus, k and p cut it', () => {
    // otherwise the checks above could not tell the settings apart
    const size = (o: SamplingSettings) => samplingSet(LOGITS, o).probs.size;
    expect(size({ temperature: 0.5, topP: 0.8 })).toBe(3);
    expect(size({ temperature: 2, topP: 0.8 })).toBe(6);
    expect(size({ temperature: 2, topK: 5, topP: 0.8 })).toBe(4);
    expect(size({ temperature: 2, topK: 3 })).toBe(3);
  });
});

describe('Model.generate: the first sampled token of stories260K over many seeds', () => {
  let model: Model;
  // a prompt whose next token is uncertain: " w" 0.41, " f" 0.35, " was" 0.15 at T = 0.5
  const PROMPT = 'One day, she';
  let last: Float32Array; // logits of the prompt's last row, from a plain forward
  beforeAll(async () => {
    model = await loadModel(path.join(MODELS_DIR, 'stories260K'));
    const ids = model.encodePrompt(PROMPT);
    const V = model.config.vocabSize;
    const r = await model.forward({ sequences: [ids] });
    last = r.logits!.slice((ids.length - 1) * V, ids.length * V);
  });

  for (const o of [{ temperature: 2, topK: 3 }, { temperature: 0.5, topP: 0.8 }, { temperature: 2, topP: 0.8 }]) {
    it(`${label(o)}: frequencies over 2000 seeds match the forward's softmax(l/T) on the kept set`, async () => {
      const set = samplingSet(last, o);
      expect(set.nucleusMargin).toBeGreaterThan(1e-3);
      expect(set.probs.size).toBeGreaterThan(2);
      const draws: number[] = [];
      for (let seed = 0; seed < 2000; seed++) {
        const g = await model.generate(PROMPT, { ...o, seed, maxTokens: 1, stopAtEos: false });
        draws.push(g.tokens[0]);
      }
      expectFrequencies(draws, set, `generate ${label(o)}`);
    });
  }

  it('every token of a sampled generation is in the kept set of a full recomputed forward, and replays with the same seed', async () => {
    const o = { temperature: 2, topK: 5, topP: 0.8 };
    const ids = model.encodePrompt(PROMPT);
    const g = await model.generate(PROMPT, { ...o, seed: 11, maxTokens: 24, stopAtEos: false });
    expect(g.tokens.length).toBe(24);
    const V = model.config.vocabSize;
    const rand = rng(11);
    const seq = [...ids];
    let notGreedy = 0;
    for (const [n, tok] of g.tokens.entries()) {
      const r = await model.forward({ sequences: [seq] }); // no KV cache
      const row = r.logits!.slice((seq.length - 1) * V, seq.length * V);
      const set = samplingSet(row, o);
      expect(set.probs.has(tok), `step ${n}: token ${tok} outside the kept set`).toBe(true);
      expect(sample(row, o, rand), `step ${n}: replay`).toBe(tok);
      if (tok !== [...set.probs.keys()][0]) notGreedy++;
      seq.push(tok);
    }
    expect(notGreedy).toBeGreaterThan(3); // it really sampled
  });
});
