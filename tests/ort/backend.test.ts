// OrtBackend (onnxruntime-web wasm EP in Node, and onnxruntime-node) against our WASM kernels
// (Model.scoreMany): per-token log-probs within 1e-4, plain, with soft rows and with prefix K/V.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ortNode from 'onnxruntime-node';
import { Model } from '../../src/model/model.js';
import type { Conditioning } from '../../src/model/model.js';
import type { Checkpoint } from '../../src/model/types.js';
import { OrtBackend } from '../../src/ort/backend.js';
import { isPromptkilnError } from '../../src/errors.js';
import { loadGpt2Tiny, loadStories260K } from './helpers/checkpoints.js';
import { forwardCases, maxAbsDiff, readRef } from './helpers/refs.js';

function checkpoint(name: 'stories260K' | 'gpt2-tiny-random'): Checkpoint {
  return name === 'stories260K' ? loadStories260K() : loadGpt2Tiny();
}

// A prompt and several targets of different lengths, as token ids taken from the reference cases.
function idsCase(name: 'stories260K' | 'gpt2-tiny-random') {
  const [a, b] = forwardCases(name);
  return { prompt: a!.tokens.slice(0, 9), targets: [a!.tokens.slice(9, 20), b!.tokens.slice(3, 7), a!.tokens.slice(9, 10), b!.tokens.slice(0, 15)] };
}

// Soft rows and a prefix from the prompt/prefix-tuning fixtures, in Conditioning's layout.
function conditionings(name: 'stories260K' | 'gpt2-tiny-random', ck: Checkpoint): Record<string, Conditioning> {
  const c = ck.config;
  const pt = readRef(name, 'prompt_tuning.json');
  const ptc = pt.cases?.[0] ?? pt;
  const px = readRef(name, 'prefix_tuning.json').cases[0];
  const P = px.P as number, Hkv = c.nKvHeads, hd = c.headDim;
  const src = new Float32Array(px.prefix_init.data); // (L, 2, Hkv, P, hd)
  const k: Float32Array[] = [], v: Float32Array[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    for (const [kv, out] of [[0, k], [1, v]] as const) {
      const t = new Float32Array(P * Hkv * hd); // (P, Hkv, hd)
      for (let h = 0; h < Hkv; h++) for (let p = 0; p < P; p++) for (let d = 0; d < hd; d++) {
        t[(p * Hkv + h) * hd + d] = src[((((l * 2 + kv) * Hkv + h) * P + p) * hd) + d]!;
      }
      out.push(t);
    }
  }
  return {
    soft: { id: 'soft', soft: { rows: ptc.P, data: new Float32Array(ptc.soft_prompt_init.data) } },
    prefix: { id: 'prefix', prefix: { P, k, v }, posOffset: P },
    'soft+dropBos': { id: 'sd', soft: { rows: ptc.P, data: new Float32Array(ptc.soft_prompt_init.data) }, dropBos: true },
  };
}

const names = ['stories260K', 'gpt2-tiny-random'] as const;

describe('OrtBackend vs WASM Model.scoreMany', () => {
  const backends: { name: string; make: (ck: Checkpoint) => Promise<OrtBackend> }[] = [
    { name: 'onnxruntime-web wasm EP', make: (ck) => OrtBackend.create(ck, { ep: 'wasm' }) },
    { name: 'onnxruntime-node', make: (ck) => OrtBackend.create(ck, { runtime: ortNode as any }) },
  ];
  for (const name of names) {
    const ck = checkpoint(name);
    let model: Model;
    beforeAll(async () => { model = await Model.fromCheckpoint(ck); });
    afterAll(() => model?.dispose());
    for (const be of backends) {
      it(`${name} on ${be.name}: ids, soft rows, prefix K/V and dropBos all within 1e-4 per token`, async () => {
        const ort = await be.make(ck);
        try {
          expect(ort.ep).toBe(be.name === 'onnxruntime-node' ? 'native' : 'wasm');
          const { prompt, targets } = idsCase(name);
          const conds: (Conditioning | null)[] = [null, ...Object.values(conditionings(name, ck))];
          for (const cond of conds) {
            const want = await model.scoreMany(prompt, targets, { conditioning: cond });
            const got = await ort.scoreMany(prompt, targets, { conditioning: cond });
            expect(got.length).toBe(want.length);
            expect(got.map((g) => g.logprobs.length)).toEqual(targets.map((t) => t.length));
            expect(got.every((g) => g.logprobs.every((x) => Number.isFinite(x) && x < 0))).toBe(true);
            got.forEach((g, i) => {
              expect(g.tokens, `${cond?.id} target ${i}`).toEqual(want[i]!.tokens);
              expect(g.logprobs.length).toBe(want[i]!.logprobs.length);
              expect(maxAbsDiff(g.logprobs, want[i]!.logprobs), `${cond?.id} target ${i}`).toBeLessThan(1e-4);
              expect(Math.abs(g.total - want[i]!.total)).toBeLessThan(5e-4);
            });
          }
          // no prompt: the first target token has nothing before it and is not scored
          const w0 = await model.score([], targets[0]!);
          const g0 = await ort.score([], targets[0]!);
          expect(g0.tokens).toEqual(w0.tokens);
          expect(maxAbsDiff(g0.logprobs, w0.logprobs)).toBeLessThan(1e-4);
        } finally {
          await ort.dispose();
        }
      });
    }
  }

  it('stories260K: text scoring through the tokenizer matches the WASM model and the reference sum', async () => {
    const ck = checkpoint('stories260K');
    const model = await Model.fromCheckpoint(ck);
    const ort = await OrtBackend.create(ck, { ep: 'wasm' });
    try {
      const prompt = 'Once upon a time, there was a little girl';
      const targets = [' named Lily.', ' who loved to play outside in the park.', ' and a dog'];
      const want = await model.scoreMany(prompt, targets);
      const got = await ort.scoreMany(prompt, targets);
      got.forEach((g, i) => {
        expect(g.tokens).toEqual(want[i]!.tokens);
        expect(maxAbsDiff(g.logprobs, want[i]!.logprobs)).toBeLessThan(1e-4);
      });
      // the whole story_lily case scored as [BOS] + rest equals the reference sum of log-probs
      const lily = forwardCases('stories260K')[0]!;
      const r = await ort.score(lily.tokens.slice(0, 1), lily.tokens.slice(1));
      expect(Math.abs(r.total - lily.sum_logprob)).toBeLessThan(5e-4);
    } finally {
      await ort.dispose();
      model.dispose();
    }
  });

  it('bad input: wrong soft size / prefix layers / token ids / context → typed errors, and runs stay serialized', async () => {
    const ck = checkpoint('gpt2-tiny-random');
    const ort = await OrtBackend.create(ck, { ep: 'wasm' });
    try {
      const C = ck.config.dim;
      const code = async (p: Promise<unknown>) => { try { await p; return 'ok'; } catch (e) { return isPromptkilnError(e) ? e.code : String(e); } };
      expect(await code(ort.score([1, 2], [3], { conditioning: { id: 'x', soft: { rows: 2, data: new Float32Array(C) } } }))).toBe('ADAPTER');
      expect(await code(ort.score([1, 2], [3], { conditioning: { id: 'x', prefix: { P: 1, k: [], v: [] } } }))).toBe('ADAPTER');
      expect(await code(ort.score([1, 2], [999]))).toBe('TOKEN');
      expect(await code(ort.score('text', 'needs a tokenizer'))).toBe('TOKENIZER');
      expect(await code(ort.score(new Array(60).fill(1), new Array(10).fill(2)))).toBe('CONTEXT');
      // concurrent calls on one session: all complete, each equal to its sequential result
      const { prompt, targets } = idsCase('gpt2-tiny-random');
      const seq = await Promise.all(targets.map((t) => ort.score(prompt, t)));
      const again = await ort.scoreMany(prompt, targets);
      seq.forEach((s, i) => expect(maxAbsDiff(s.logprobs, again[i]!.logprobs)).toBeLessThan(1e-6));
    } finally {
      await ort.dispose();
    }
    expect(await ort.scoreMany([1], [[2]]).then(() => 'ok', (e) => e.code)).toBe('ARGUMENT');
  });
});
