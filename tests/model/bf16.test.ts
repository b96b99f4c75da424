// bf16 weights through the SDK. Every refs/hf family loaded with weights: 'bf16' gives bit for bit
// the numbers of the f32 path on the same checkpoint with its 16-bit tensors rounded to bf16 in
// JavaScript (the bf16 GEMMs widen exactly and accumulate as the f32 ones; embedding rows widen
// exactly): scores, greedy generation, prompt- and prefix-tuning gradients, every tune() method's
// losses, compression. Against the unrounded f32 checkpoint the log-probs move by what rounding
// each weight by ≤ 2⁻⁹ relative implies (bound below). Which tensors stay f32, the halved bytes, and
// the default's choice and refusal are checked on the way.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init, type Kernels } from '../../src/kernels/index.js';
import { loadModel, Model } from '../../src/model/index.js';
import { loadCheckpoint } from '../../src/model/source.js';
import { weightDtype } from '../../src/model/weights.js';
import type { Checkpoint } from '../../src/model/types.js';
import { compress } from '../../src/compress/index.js';
import type { TuningMethod } from '../../src/soft/method.js';
import { lossAndGrad } from '../soft/grad-check.js';
import { layoutExample, type LaidExample } from '../../src/soft/mixed.js';
import { PrefixTuning } from '../../src/soft/prefix-tuning.js';
import { PromptTuning } from '../../src/soft/prompt-tuning.js';
import { tune, TUNE_METHODS } from '../../src/soft/trainer.js';
import { REFS_DIR } from '../helpers/paths.js';

const HF = path.join(REFS_DIR, 'hf');
const cases = JSON.parse(readFileSync(path.join(HF, 'cases.json'), 'utf8'));
const worst: Record<string, number> = {}; // measured |Δ log p| / bound, printed at the end
const FAMILIES = ['llama-gqa', 'qwen2', 'qwen3', 'gemma3-text', 'phi3', 'mistral-sp-tokenizer', 'gpt2-bytelevel'];

// f32 → bf16 → f32, round to nearest even (NaN → quiet NaN), written independently of the kernel
function roundBf16(a: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length), o = new Uint32Array(out.buffer);
  for (let i = 0; i < a.length; i++) {
    const x = u[i];
    o[i] = (x & 0x7fffffff) > 0x7f800000 ? 0x7fc00000 : (((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) << 16) >>> 0;
  }
  return out;
}
function rounded(ck: Checkpoint): Checkpoint {
  return { ...ck, tensors: new Map([...ck.tensors].map(([k, t]) => [k, weightDtype(k, 'bf16') === 'bf16' ? roundBf16(t) : t])) };
}

// the loss and every parameter's gradient after one backward (soft/grad-check's lossAndGrad)
function lossAndGrads(m: TuningMethod, batch: LaidExample[]): { loss: number; grads: Float32Array[] } {
  const loss = lossAndGrad(m, batch);
  return { loss, grads: m.params.map((p) => p.grad.f32().slice()) };
}

let kernels: Kernels;
beforeAll(async () => {
  kernels = await init({ build: 'simd' });
});

for (const name of FAMILIES) {
  describe(`${name}: bf16 weights`, () => {
    const ref = cases.models[name];
    const folder = path.join(HF, ref.folder);
    let bf: Model, r32: Model, f32: Model;
    beforeAll(async () => {
      bf = await loadModel(folder, { weights: 'bf16', kernels });
      r32 = await Model.fromCheckpoint(rounded(await loadCheckpoint(folder)), { weights: 'f32', kernels });
      f32 = await loadModel(folder, { weights: 'f32', kernels });
    });
    afterAll(() => { bf?.dispose(); r32?.dispose(); f32?.dispose(); });

    it('keeps matrices and the token table in bf16, norms/biases f32, the tied head shared; weights ≈ half the bytes', () => {
      const w = bf.stack.w, l0 = w.layers[0];
      expect(bf.weightsMode).toBe('bf16');
      expect([w.tokEmbeddings.dtype, l0.wq.dtype, l0.wk.dtype, l0.wv.dtype, l0.wo.dtype, l0.w1.dtype, l0.w2.dtype]).toEqual(Array(7).fill('bf16'));
      expect([w.finalNorm.dtype, l0.attnNorm.dtype, l0.mlpNorm.dtype]).toEqual(['f32', 'f32', 'f32']);
      for (const b of [l0.bq, l0.bk, l0.bv, l0.bo, l0.b1, l0.b2, l0.qNorm, l0.kNorm, w.posEmbeddings]) if (b) expect(b.dtype).toBe('f32');
      expect(w.lmHead === w.tokEmbeddings).toBe(bf.config.tiedEmbeddings);
      if (!bf.config.tiedEmbeddings) expect(w.lmHead.dtype).toBe('bf16');
      const half = bf.memoryBytes().weights / f32.memoryBytes().weights;
      expect(half).toBeGreaterThan(0.5);
      expect(half).toBeLessThan(0.56); // the f32 norms, biases and positions are the rest
    });

    it('scores and generates exactly as f32 on the bf16-rounded weights; within the rounding bound of f32', async () => {
      for (const c of ref.cases) {
        const ids: number[] = c.ids;
        const cut = Math.max(1, Math.floor(ids.length / 3));
        const [a, b, x] = await Promise.all([bf, r32, f32].map((m) => m.score(ids.slice(0, cut), ids.slice(cut))));
        expect(a.logprobs).toEqual(b.logprobs);
        // Rounding a weight moves it by ≤ 2⁻⁹ of itself. To first order each of the L layers' two
        // blocks, the embedding and the head add ≤ 2⁻⁹ relative error to what they produce, so a
        // logit moves by ≤ (2L + 2)·2⁻⁹·max|logit| and a log-prob (a logit minus a log-sum-exp of
        // them) by twice that. Measured 0.018–0.053 on these models; 0 would mean no rounding.
        const fw = await f32.forward({ sequences: [ids] });
        const maxLogit = fw.logits!.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        const bound = 2 * (2 * f32.config.nLayers + 2) * 2 ** -9 * maxLogit;
        const diff = Math.max(...a.logprobs.map((v, i) => Math.abs(v - x.logprobs[i])));
        expect(diff).toBeLessThan(bound);
        expect(diff).toBeGreaterThan(0);
        worst[name] = Math.max(worst[name] ?? 0, diff / bound);
      }
      const prompt: number[] = ref.cases[0].ids.slice(0, 4);
      const [ga, gb] = await Promise.all([bf, r32].map((m) => m.generate(prompt, { maxTokens: 12, stopAtEos: false })));
      expect(ga.tokens).toEqual(gb.tokens);
      expect(ga.tokens).toHaveLength(12);
    });

    it('prompt- and prefix-tuning losses and gradients equal the f32 path on rounded weights', () => {
      const ids: number[] = ref.cases[2]?.ids ?? ref.cases[0].ids;
      const examples = [{ input: ids.slice(0, 4), target: ids.slice(4, 8) }, { input: ids.slice(1, 3), target: ids.slice(3, 9) }];
      const run = (m: Model, which: 'prompt' | 'prefix') => {
        const meth = which === 'prompt'
          ? new PromptTuning(m, [{ soft: 2 }, { input: true }, { soft: 1 }], { type: 'random' }, 3)
          : new PrefixTuning(m, [{ input: true }], { P: 3, init: { type: 'random', std: 0.5 }, seed: 5 });
        try {
          const tpl = which === 'prompt' ? [{ soft: 2 }, { input: true as const }, { soft: 1 }] : (meth as PrefixTuning).template;
          return lossAndGrads(meth, examples.map((e) => layoutExample(m, tpl, e, (meth as { posOffset?: number }).posOffset)));
        } finally {
          meth.free();
        }
      };
      for (const which of ['prompt', 'prefix'] as const) {
        const a = run(bf, which), b = run(r32, which);
        expect(a.loss).toBe(b.loss);
        expect(a.grads).toEqual(b.grads);
        expect(Math.max(...a.grads[0].map(Math.abs))).toBeGreaterThan(0);
      }
    });
  });
}

describe('bf16 through tune() and compress()', () => {
  const folder = path.join(HF, cases.models['llama-gqa'].folder);
  const ids: number[] = cases.models['llama-gqa'].cases[0].ids;
  const data = [{ input: ids.slice(0, 4), target: ids.slice(4, 8) }, { input: ids.slice(2, 5), target: ids.slice(5, 10) }];
  let bf: Model, r32: Model;
  beforeAll(async () => {
    bf = await loadModel(folder, { weights: 'bf16', kernels });
    r32 = await Model.fromCheckpoint(rounded(await loadCheckpoint(folder)), { weights: 'f32', kernels });
  });
  afterAll(() => { bf?.dispose(); r32?.dispose(); });

  it.each(TUNE_METHODS)('tune method %s: two steps, the same losses and the same artifact', async (method) => {
    // lora / ia3 train adapter weights: they take no soft-row options
    const rowsOpts = method === 'lora' || method === 'ia3' ? {} : { virtualTokens: 3 };
    const o = {
      method, maxSteps: 2, batchSize: 2, lr: 0.05, seed: 2, ...rowsOpts, ...(method === 'multitask' ? { multitask: { tasks: 2 } } : {}),
      ...(method === 'encoder' ? { promptEncoder: { descriptions: [ids.slice(1, 4)], width: 8, layers: 1, heads: 2 } } : {}),
    };
    const [a, b] = await Promise.all([tune(bf, data, o as never), tune(r32, data, o as never)]);
    expect(a.history.map((h) => h.loss)).toEqual(b.history.map((h) => h.loss));
    expect(a.history.every((h) => Number.isFinite(h.loss))).toBe(true);
    expect(a.metrics.trainLoss).toBe(b.metrics.trainLoss);
    expect(a.prompt).toEqual(b.prompt);
  });

  it('compression: the same soft tokens and KL', async () => {
    const o = { tokens: 2, steps: 5, lr: 0.05, numQueries: 4, numHeldOut: 2, queryTokens: 4 };
    const a = await compress(bf, ids.slice(0, 10), o);
    const b = await compress(r32, ids.slice(0, 10), o);
    expect(a.after.kl).toBe(b.after.kl);
    expect(a.after.kl).toBeLessThan(a.before.kl);
  });
});

afterAll(() => console.log('bf16 vs f32 |Δ log p| / bound:', JSON.stringify(worst)));

describe('the default mode', () => {
  const folder = path.join(HF, cases.models['qwen2'].folder);
  it('picks f32 when it fits, bf16 (saying so) when only bf16 fits, and refuses with OOM naming bytes before allocating', async () => {
    const ck = await loadCheckpoint(folder);
    const { weightBytes, activationRoom } = await import('../../src/model/memory-plan.js');
    const f32 = weightBytes(ck.config, 'f32'), bf = weightBytes(ck.config, 'bf16'), room = activationRoom(ck.config);
    const k0 = await init({ build: 'simd' });
    const base = k0.heap.usedBytes;
    const cap = (b: number) => init({ build: 'simd', maxMemoryBytes: base + b });
    const notes: string[] = [];
    const roomy = await Model.fromCheckpoint(ck, { kernels: await cap(f32 + room + 2 ** 20), onWarning: (n) => notes.push(n) });
    expect([roomy.weightsMode, notes.length]).toEqual(['f32', 0]);
    const tight = await Model.fromCheckpoint(ck, { kernels: await cap(f32 + room - 4096), onWarning: (n) => notes.push(n) });
    expect(tight.weightsMode).toBe('bf16');
    expect(notes).toEqual([expect.stringMatching(new RegExp(`loading weights as bf16: as f32 they need ${f32} bytes`))]);
    expect((await tight.score([1, 2, 3], [4, 5])).logprobs.every(Number.isFinite)).toBe(true);
    const small = await cap(bf + room - 4096);
    const used = small.heap.usedBytes, peak = small.heap.peak;
    await expect(Model.fromCheckpoint(ck, { kernels: small })).rejects.toMatchObject({ code: 'OOM', message: expect.stringMatching(new RegExp(`too large in every mode: bf16 weights need ${bf} bytes`)) });
    await expect(Model.fromCheckpoint(ck, { kernels: small, weights: 'f32' })).rejects.toMatchObject({ code: 'OOM', message: expect.stringMatching(new RegExp(`f32 weights need ${f32} bytes`)) });
    expect(small.heap.usedBytes).toBe(used); // nothing was allocated
    expect(small.heap.peak).toBe(peak);
  });
});
