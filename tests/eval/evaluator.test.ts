// Metrics, the evaluator's cache / budget / concurrency, and label log-likelihood on stories260K.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiskCache, MemoryCache } from '../../src/eval/cache.js';
import { Evaluator } from '../../src/eval/evaluator.js';
import { contains, exactMatch, regexMetric, resolveMetric, tokenF1 } from '../../src/eval/metrics.js';
import { defineTask } from '../../src/eval/task.js';
import { functionModel } from '../../src/llm/function.js';
import { localModel } from '../../src/llm/local.js';
import { loadModel } from '../../src/model/index.js';
import { MODELS_DIR } from '../helpers/paths.js';

const ex = (input: string, output: string) => ({ input, output, id: 'x' });

describe('metrics', () => {
  it('exact_match, contains, regex, token F1', () => {
    expect(exactMatch('  Paris ', ex('', 'Paris'))).toBe(1);
    expect(exactMatch('paris', ex('', 'Paris'))).toBe(0);
    expect(contains('It is Paris.', ex('', 'Paris'))).toBe(1);
    expect(regexMetric('answer: (\\w+)')('the answer: 42', ex('', '42'))).toBe(1);
    expect(regexMetric('^\\d+$')('x', ex('', ''))).toBe(0);
    expect(tokenF1('the cat sat', ex('', 'a cat sat down'))).toBeCloseTo((2 * (2 / 3) * (2 / 4)) / (2 / 3 + 2 / 4), 10);
    expect(() => resolveMetric('nope')).toThrow(/unknown metric "nope"/);
    expect(() => resolveMetric('label_loglik', null)).toThrow(/labels/);
  });
});

async function task(n = 8) {
  return defineTask({ template: 'Q: {input}\nA:', examples: Array.from({ length: n }, (_, i) => ({ input: `${i}`, output: ` ${i * 2}` })), split: { train: 0, validation: 1, test: 0 }, metric: 'exact_match' });
}

describe('evaluator (function model)', () => {
  it('caches by content: the same candidate and example never call the model twice', async () => {
    let calls = 0;
    const m = functionModel((p) => {
      calls++;
      return ` ${Number(/Q: (\d+)/.exec(p)![1]) * 2}`;
    }, { id: 'doubler' });
    const t = await task();
    const ev = new Evaluator(t, m);
    const c = { instruction: '', demos: [] };
    expect((await ev.evaluate(c, t.validation)).score).toBe(1);
    expect((await ev.evaluate(c, t.validation)).score).toBe(1);
    expect(calls).toBe(8);
    expect(ev.stats).toMatchObject({ calls: 8, freshCalls: 8, cacheHits: 8 });
  });

  it('the disk cache survives a new process: a second evaluator on the same file makes no calls', async () => {
    const file = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'pk-cache-')), 'c.jsonl');
    let calls = 0;
    const m = functionModel(() => (calls++, ' 0'), { id: 'zero' });
    const t = await task(4);
    const a = new Evaluator(t, m, { cache: await DiskCache.open(file) });
    await a.evaluate({ instruction: '', demos: [] }, t.validation);
    await a.cache.flush();
    await fs.appendFile(file, '{"k": "torn'); // a kill mid-write
    const b = new Evaluator(t, m, { cache: await DiskCache.open(file) });
    const s = await b.evaluate({ instruction: '', demos: [] }, t.validation);
    expect(calls).toBe(4);
    expect(b.stats.freshCalls).toBe(0);
    expect(s.score).toBe(0.25); // only "0" → " 0" is right
  });

  it('a different model id or sampling parameters is a different cache key', async () => {
    const t = await task(2);
    let calls = 0;
    const f = () => (calls++, ' 0');
    const cache = (await import('../../src/eval/cache.js')).MemoryCache;
    const shared = new cache();
    await new Evaluator(t, functionModel(f, { id: 'a' }), { cache: shared }).evaluate({ instruction: '', demos: [] }, t.validation);
    await new Evaluator(t, functionModel(f, { id: 'b' }), { cache: shared }).evaluate({ instruction: '', demos: [] }, t.validation);
    await new Evaluator(t, functionModel(f, { id: 'a' }), { cache: shared, generation: { maxTokens: 5 } }).evaluate({ instruction: '', demos: [] }, t.validation);
    expect(calls).toBe(6);
  });

  it('stops at the budget with a BUDGET error; budget 0 is rejected up front', async () => {
    const t = await task();
    const m = functionModel(() => ' 0');
    expect(() => new Evaluator(t, m, { budget: { calls: 0 } })).toThrow(expect.objectContaining({ code: 'BUDGET' }));
    const ev = new Evaluator(t, m, { budget: { calls: 5 }, concurrency: 1 });
    await expect(ev.evaluate({ instruction: '', demos: [] }, t.validation)).rejects.toMatchObject({ code: 'BUDGET' });
    expect(ev.stats.calls).toBe(5);
    expect(ev.estimate(3, t.validation).calls).toBe(24);
  });

  it('runs at most `concurrency` examples at once', async () => {
    const t = await task(12);
    // Every model call waits at a gate that opens once all examples have looked up the cache (the
    // step before the concurrency limit), so every call the limit lets through is in the model at
    // once: counted work, no timer.
    let lookups = 0;
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    class CountingCache extends MemoryCache {
      override get(key: string) {
        if (++lookups === t.validation.length) open();
        return super.get(key);
      }
    }
    let active = 0;
    let peak = 0;
    const m = functionModel(async () => {
      peak = Math.max(peak, ++active);
      await gate;
      active--;
      return ' 0';
    });
    const s = await new Evaluator(t, m, { concurrency: 3, cache: new CountingCache() }).evaluate({ instruction: '', demos: [] }, t.validation);
    expect(s.n).toBe(t.validation.length);
    expect(t.validation.length).toBeGreaterThan(3);
    expect(peak).toBe(3);
  });

  it('a throwing generate is recorded per example, and a model without score() cannot run loglik', async () => {
    const t = await task(4);
    const m = functionModel((p) => {
      if (p.includes('Q: 1')) throw new Error('backend fell over');
      return ' 0';
    });
    const s = await new Evaluator(t, m).evaluate({ instruction: '', demos: [] }, t.validation);
    expect(s.failures).toBe(1);
    expect(s.results.find((r) => r.error)!.error).toMatch(/backend fell over/);
    const lt = await defineTask({ examples: [{ input: 'a', output: 'b' }], metric: 'loglik', split: { train: 0, validation: 1, test: 0 } });
    expect(() => new Evaluator(lt, m)).toThrow(/needs log-likelihoods/);
  });
});

describe('evaluator (stories260K)', () => {
  it('label_loglik picks the most likely label; loglik is the mean target log-likelihood', async () => {
    const model = await loadModel(path.join(MODELS_DIR, 'stories260K'));
    const lm = localModel(model);
    const t = await defineTask({
      template: '{instruction}{input}',
      examples: [{ input: 'Once upon a time, there was a little', output: ' girl' }, { input: 'The dog said', output: ' woof' }],
      labels: [' girl', ' woof'],
      metric: 'label_loglik',
      split: { train: 0, validation: 1, test: 0 },
    });
    const ev = new Evaluator(t, lm);
    const r = await ev.evaluate({ instruction: '', demos: [] }, t.validation);
    const direct = await model.scoreMany('Once upon a time, there was a little', [' girl', ' woof']);
    const want = direct[0].total / direct[0].logprobs.length > direct[1].total / direct[1].logprobs.length ? ' girl' : ' woof';
    expect(r.results.find((x) => x.prediction !== undefined && t.validation.find((e) => e.id === x.id)!.input.startsWith('Once'))!.prediction).toBe(want);
    const ll = new Evaluator({ ...t, metric: 'loglik' }, lm);
    const s = await ll.evaluate({ instruction: '', demos: [] }, [t.examples[0]]);
    expect(s.score).toBeCloseTo(direct[0].total / direct[0].logprobs.length, 5);
  });

  it('prompt-KV reuse (scoreShared) gives the per-example scores of plain scoring, in one model call', async () => {
    const model = await loadModel(path.join(MODELS_DIR, 'stories260K'));
    const { loadTask } = await import('../../src/eval/task.js');
    const t = await loadTask(path.join(path.dirname(new URL(import.meta.url).pathname), '../search/fixtures/tom-stories.json'));
    const cand = { instruction: 'A story about Tom and his friends.', demos: t.train.slice(0, 3) };
    const lm = localModel(model);
    let sharedCalls = 0;
    const scoreShared = lm.scoreShared!;
    lm.scoreShared = (...args) => (sharedCalls++, scoreShared(...args));
    const shared = new Evaluator(t, lm);
    const plain = new Evaluator(t, localModel(model), { prefixReuse: false });
    const a = await shared.evaluate(cand, t.validation);
    expect(sharedCalls).toBe(1);
    const b = await plain.evaluate(cand, t.validation);
    expect(a.results.length).toBe(t.validation.length);
    a.results.forEach((r, i) => expect(r.score!).toBeCloseTo(b.results[i].score!, 4));
    expect(shared.stats.calls).toBe(plain.stats.calls); // the budget counts examples either way
  });
});

