// Per-input demonstrations (KNN): embeddings from the local model (mean-pooled hidden states) and
// from /v1/embeddings on our own server, the strategy choosing demos per input at run time, and
// program.json retrieving the same way. The KNN search test's target is a plain function whose
// behaviour is known exactly, with a scripted embed (said in its name).
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadProgram } from '../../src/eval/program.js';
import { nearestIndices, queryText } from '../../src/eval/retrieval.js';
import { typedTask } from '../../src/eval/task.js';
import { functionModel } from '../../src/llm/function.js';
import { localModel } from '../../src/llm/local.js';
import { openaiModel } from '../../src/llm/openai.js';
import { serve } from '../../src/llm/server.js';
import type { LanguageModel } from '../../src/llm/types.js';
import { loadModel } from '../../src/model/index.js';
import { optimize } from '../../src/search/optimize.js';
import { MODELS_DIR } from '../helpers/paths.js';
import { upperTask } from './upper-task.js';

describe('embeddings', () => {
  it('stories260K: mean-pooled hidden states from the adapter equal /v1/embeddings of serve through the OpenAI client', async () => {
    const m = await loadModel(path.join(MODELS_DIR, 'stories260K'));
    try {
      const local = localModel(m);
      const texts = ['Once upon a time, there was a cat.', 'Tom went to the park.'];
      const a = await local.embed!(texts);
      expect(a.vectors.map((v) => v.length)).toEqual([m.config.dim, m.config.dim]);
      // the mean over tokens of the final-norm hidden states, computed here from forward()
      const ids = m.tokenizer!.encode(texts[1]);
      const f = await m.forward({ sequences: [ids], hidden: true, logits: false });
      const C = m.config.dim;
      const mean = Array.from({ length: C }, (_, c) => ids.reduce((s, _t, t) => s + f.hidden![t * C + c], 0) / ids.length);
      a.vectors[1].forEach((x, c) => expect(x).toBeCloseTo(mean[c], 5));
      expect(a.vectors[0]).not.toEqual(a.vectors[1]);
      expect(a.usage.promptTokens).toBe(m.tokenizer!.encode(texts[0]).length + ids.length);
      const srv = await serve(m, { port: 0, name: 'tiny' });
      try {
        const remote = openaiModel({ baseURL: srv.url, model: 'tiny' });
        const b = await remote.embed(texts);
        b.vectors.forEach((v, i) => v.forEach((x, c) => expect(x).toBeCloseTo(a.vectors[i][c], 5)));
        const bad = await fetch(srv.url + '/embeddings', { method: 'POST', body: JSON.stringify({ input: [3] }) });
        expect(bad.status).toBe(400);
      } finally {
        await srv.close();
      }
    } finally {
      m.dispose();
    }
  });

  it('a loaded program embeds the same query text search embedded (Example.input), plain and typed', async () => {
    const t = await typedTask({
      inputs: { text: 'string', n: 'number', tags: { type: 'list', items: 'string' } },
      outputs: { ok: 'boolean' },
      examples: [{ text: 'a b', n: 2.5, tags: ['x', 'y'], ok: true }],
    });
    const ex = t.examples[0];
    expect(queryText(t.signature, ex.inputs!)).toBe(ex.input);
    expect(queryText(null, { input: 'hello' })).toBe('hello');
  });

  it('nearest: cosine order, nearest last, ties in pool order, self left out', () => {
    const pool = [[1, 0], [0, 1], [1, 0.1], [1, 0]];
    expect(nearestIndices(pool, [1, 0], 2)).toEqual([3, 0]);
    expect(nearestIndices(pool, [1, 0], 2, 0)).toEqual([2, 3]);
  });
});

// Target: capitals only when there are demonstrations and every one has the input's length.
// Embedding: [is 5 letters, is 6 letters] — the length class.
function lengthModel(): LanguageModel & { embedCalls: () => number } {
  let embedCalls = 0;
  const f = functionModel((p) => {
    const input = /Input: (\S+)\nOutput:$/.exec(p)?.[1] ?? '';
    const demos = [...p.matchAll(/Input: (\S+)\nOutput: \S+\n/g)].map((x) => x[1]);
    return ` ${demos.length && demos.every((d) => d.length === input.length) ? input.toUpperCase() : input}`;
  }, { id: 'length-demos' });
  return {
    ...f,
    id: f.id,
    generate: f.generate,
    async embed(texts: string[]) {
      embedCalls++;
      return { vectors: texts.map((t) => [t.length === 5 ? 1 : 0, t.length === 6 ? 1 : 0]), usage: { promptTokens: texts.length, completionTokens: 0 } };
    },
    embedCalls: () => embedCalls,
  };
}

describe('knn strategy (scripted function model with a scripted embed)', () => {
  it('per-input demos reach 1 where no fixed set can; program.json retrieves the same way', async () => {
    const task = await upperTask();
    const m = lengthModel();
    const r = await optimize(task, m, { strategy: 'knn', seed: 0, maxIterations: 2 });
    expect(r.initialScore).toBe(0);
    expect(r.score).toBe(1);
    expect(r.testScore).toBe(1);
    expect(r.best.operator).toMatch(/^knn:k\d$/);
    expect(m.embedCalls()).toBe(1); // every example in one batch, through the cache
    // a fixed demonstration set of mixed lengths cannot do it
    const mixed = await optimize(task, m, { strategy: 'demos', seed: 0, maxIterations: 3 });
    expect(mixed.score!).toBeLessThan(1);

    const p = r.program;
    expect(p.demos).toEqual([]);
    expect(p.retrieval!.k).toBe(r.best.knn!.k);
    expect(p.retrieval!.embedder).toBe(m.id);
    expect(p.retrieval!.pool.map((x) => x.inputs.input).sort()).toEqual(task.train.map((e) => e.input).sort());
    const prog = loadProgram(JSON.parse(JSON.stringify(p)));
    for (const e of task.test) expect(await prog.run(m, { input: e.input })).toEqual({ output: ` ${e.output}` });
    expect(() => prog.render({ input: 'apple' })).toThrow(/retrieves its \d demonstrations per input/);
    const other = { ...lengthModel(), id: 'function:other' };
    await expect(prog.run(m, { input: 'apple' }, { embedder: other })).rejects.toThrow(/retrieved with embeddings of function:length-demos; embedding the input with function:other/);
    const broken = JSON.parse(JSON.stringify(p));
    broken.retrieval.pool[1].embedding = [1];
    expect(() => loadProgram(broken)).toThrow(/retrieval\.pool\[1\]\.embedding: expected 2 numbers/);
  });

  it('a target without embed() is an ARGUMENT error naming it', async () => {
    const task = await upperTask();
    await expect(optimize(task, functionModel(() => ' x', { id: 'plain' }), { strategy: 'knn' })).rejects.toThrow(/strategy knn needs embeddings, but model function:plain has no embed/);
  });
});
