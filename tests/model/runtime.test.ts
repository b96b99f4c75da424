// The model runtime on stories260K: text scoring splits, sampling, generation.
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { isPromptkilnError } from '../../src/errors.js';
import { loadModel, Model } from '../../src/model/index.js';
import { loadCheckpoint } from '../../src/model/source.js';
import { MODELS_DIR } from '../helpers/paths.js';

const code = (c: string) => (e: unknown) => isPromptkilnError(e) && e.code === c;

describe('model runtime on stories260K', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(path.join(MODELS_DIR, 'stories260K'));
  });

  it('text scoring encodes prompt + target once and splits where the prompt encoding ends', async () => {
    const tok = model.tokenizer!;
    const prompt = 'Once upon a time, there was a little dog';
    const target = ' named Max. He liked to run and play.';
    const r = await model.score(prompt, target);
    const full = tok.encode(prompt + target);
    const p = tok.encode(prompt);
    expect(full.slice(0, p.length)).toEqual(p);
    expect(r.tokens).toEqual(full.slice(p.length));
    // same numbers as scoring the ids
    const ids = await model.score(p, full.slice(p.length));
    expect(r.logprobs).toEqual(ids.logprobs);
    // a target whose first piece merges with the prompt's last: split at the longest common prefix
    const merged = await model.score('Once upon a ti', 'me');
    const f2 = tok.encode('Once upon a time');
    const p2 = tok.encode('Once upon a ti');
    let lcp = 0;
    while (p2[lcp] === f2[lcp]) lcp++;
    expect(merged.tokens).toEqual(f2.slice(lcp));
  });

  it('seeded sampling is reproducible; top-k 1 equals greedy; top-p and temperature change the draw', async () => {
    const a = await model.generate('Once upon a time', { temperature: 1, seed: 7, maxTokens: 30 });
    const b = await model.generate('Once upon a time', { temperature: 1, seed: 7, maxTokens: 30 });
    const c = await model.generate('Once upon a time', { temperature: 1, seed: 8, maxTokens: 30 });
    expect(a.tokens).toEqual(b.tokens);
    expect(a.tokens).not.toEqual(c.tokens);
    const greedy = await model.generate('Once upon a time', { maxTokens: 30 });
    const k1 = await model.generate('Once upon a time', { temperature: 1.5, topK: 1, seed: 3, maxTokens: 30 });
    expect(k1.tokens).toEqual(greedy.tokens);
    const p0 = await model.generate('Once upon a time', { temperature: 1, topP: 1e-6, seed: 3, maxTokens: 30 });
    expect(p0.tokens).toEqual(greedy.tokens);
  });

  it('stop sequences, max tokens, streaming and abort', async () => {
    const g = await model.generate('Once upon a time', { maxTokens: 60, stop: ['.'] });
    expect(g.finishReason).toBe('stop');
    expect(g.text).toBe(', there was a little girl named Lily');
    const pieces: string[] = [];
    const it = model.stream('Once upon a time', { maxTokens: 12 });
    for (;;) {
      const r = await it.next();
      if (r.done) {
        expect(r.value.tokens.length).toBe(12);
        expect(pieces.join('')).toBe(r.value.text);
        break;
      }
      pieces.push(r.value.text);
    }
    const ac = new AbortController();
    const s = model.stream('Once upon a time', { maxTokens: 200, signal: ac.signal });
    await s.next();
    ac.abort();
    await expect(s.next()).rejects.toSatisfy(code('ABORTED'));
    // the model is usable again after an aborted generation
    expect((await model.generate('Once', { maxTokens: 3 })).tokens.length).toBe(3);
  });

  it('bad input: ids outside the vocabulary, sequences past the context, empty prompts → typed errors', async () => {
    await expect(model.score([1, 600], [3])).rejects.toSatisfy(code('TOKEN'));
    await expect(model.score([1], [-1])).rejects.toSatisfy(code('TOKEN'));
    await expect(model.forward({ sequences: [[1, 2, 99999]] })).rejects.toSatisfy(code('TOKEN'));
    const long = Array.from({ length: 513 }, () => 300);
    await expect(model.score([1], long)).rejects.toSatisfy(code('CONTEXT'));
    await expect(model.generate([], {})).rejects.toSatisfy(code('ARGUMENT'));
    await expect(model.generate([1], { maxTokens: -1 })).rejects.toSatisfy(code('ARGUMENT'));
    // after errors, the model still scores correctly
    const r = await model.score([1], [403]);
    expect(Number.isFinite(r.total)).toBe(true);
  });

  it('failures release the model and its memory: a refused prefix in generate, a prompt past the context', async () => {
    const bad = { id: 'bad', prefix: { P: 1, k: [new Float32Array(32)], v: [new Float32Array(32)] } }; // 1 layer, the model has 5
    await expect(model.generate([1], { conditioning: bad, maxTokens: 2 })).rejects.toSatisfy(code('ADAPTER'));
    // the generation lock was released: the next call runs (it used to wait forever)
    expect((await model.generate([1], { maxTokens: 2 })).tokens.length).toBe(2);
    const used = model.kernels.heap.usedBytes;
    await expect(model.score(Array.from({ length: 600 }, () => 300), [3])).rejects.toSatisfy(code('CONTEXT'));
    await expect(model.score([1], [3], { conditioning: bad })).rejects.toSatisfy(code('ADAPTER'));
    expect(model.kernels.heap.usedBytes).toBe(used); // no KV cache or prefix left behind
  });

  it('a Llama with mlp_bias applies the up-projection bias b3', async () => {
    const ck = await loadCheckpoint(path.join(MODELS_DIR, 'stories260K'));
    const { nLayers: L, hiddenDim: F, dim: C } = ck.config;
    const withBias = (b3: number) => {
      const tensors = new Map(ck.tensors);
      for (let i = 0; i < L; i++) {
        tensors.set(`layers.${i}.b1`, new Float32Array(F));
        tensors.set(`layers.${i}.b3`, new Float32Array(F).fill(b3));
        tensors.set(`layers.${i}.b2`, new Float32Array(C));
      }
      return Model.fromCheckpoint({ ...ck, config: { ...ck.config, mlpBias: true }, tensors }, { kernels: model.kernels });
    };
    const ids = [1, 403, 407, 261, 378];
    const plain = (await model.forward({ sequences: [ids] })).logits!;
    const zero = await withBias(0);
    expect(Array.from((await zero.forward({ sequences: [ids] })).logits!)).toEqual(Array.from(plain));
    zero.dispose();
    const biased = await withBias(0.5);
    const lg = (await biased.forward({ sequences: [ids] })).logits!;
    expect(lg.some((x, i) => Math.abs(x - plain[i]) > 1e-3)).toBe(true);
    biased.dispose();
    const noB3 = new Map(ck.tensors);
    for (let i = 0; i < L; i++) { noB3.set(`layers.${i}.b1`, new Float32Array(F)); noB3.set(`layers.${i}.b2`, new Float32Array(C)); }
    await expect(Model.fromCheckpoint({ ...ck, config: { ...ck.config, mlpBias: true }, tensors: noB3 }, { kernels: model.kernels }))
      .rejects.toSatisfy((e: unknown) => code('CHECKPOINT')(e) && /layers\.0\.b3/.test((e as Error).message));
  });

  it('one lock: a score or forward issued during a stream runs after the stream ends, and gives the numbers it gives alone', async () => {
    const alone = await model.score('Once upon a time', ' there was');
    const it = model.stream('Once upon a time', { maxTokens: 10 });
    await it.next(); // the stream holds the model from here
    const order: string[] = [];
    const scored = model.score('Once upon a time', ' there was').then((r) => { order.push('score'); return r; });
    const fwd = model.forward({ sequences: [[1, 403, 407]] }).then((r) => { order.push('forward'); return r; });
    for (;;) {
      const r = await it.next();
      if (r.done) { order.push('stream'); break; }
    }
    const [s] = await Promise.all([scored, fwd]);
    expect(order).toEqual(['stream', 'score', 'forward']);
    expect(s.logprobs).toEqual(alone.logprobs);
  });

  it('a memory cap fails early with OOM naming bytes; dispose frees and later calls fail clearly', async () => {
    await expect(loadModel(path.join(MODELS_DIR, 'stories260K'), { maxMemoryBytes: 512 * 1024 })).rejects.toSatisfy(
      (e: unknown) => code('OOM')(e) && /bytes/.test((e as Error).message));
    const m2 = await loadModel(path.join(MODELS_DIR, 'stories260K'));
    const used = m2.kernels.heap.usedBytes;
    m2.dispose();
    expect(m2.kernels.heap.usedBytes).toBeLessThan(used);
    await expect(m2.score([1], [403])).rejects.toSatisfy(code('ARGUMENT'));
  });
});
