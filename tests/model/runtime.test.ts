import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { isPromptkilnError } from '../../src/errors.js';
import { loadModel, type Model } from '../../src/model/index.js';
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
