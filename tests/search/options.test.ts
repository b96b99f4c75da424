// optimize() options that change what the search does, each observed by counting: targetScore
// (iterations and model calls), keepFraction (parents handed to the strategy), validationSize
// (examples the target sees), metaPrompts (what the proposer reads). Models are plain functions
// with known behaviour (said in each test's name).
import { describe, expect, it } from 'vitest';
import { functionModel } from '../../src/llm/function.js';
import { DEFAULT_META_PROMPTS } from '../../src/search/meta-prompts.js';
import { optimize } from '../../src/search/optimize.js';
import type { Strategy } from '../../src/search/types.js';
import { inputOf, scripted, upperTask } from './upper-task.js';

// Target and OPRO proposer in one function: every OPRO call writes new uppercase instructions
// (so without a target score the search never runs out of proposals); a prompt whose
// instruction says "uppercase" gets the right answer.
function freshProposals() {
  let calls = 0;
  let opro = 0;
  const m = functionModel((prompt, o) => {
    calls++;
    if (prompt.includes('<INS>')) return `<INS>Answer in uppercase letters, take ${opro++}.${o.index}.</INS>`;
    const input = inputOf(prompt);
    return /uppercase/i.test(prompt.split('\n')[0]) ? ` ${input.toUpperCase()}` : ` ${input}`;
  }, { id: 'fresh-proposals' });
  return { m, calls: () => calls };
}

// A strategy that records the parents it is given and proposes two new instructions each time.
function recorder() {
  const parents: string[][] = [];
  let k = 0;
  const strategy: Strategy = {
    name: 'recorder',
    racing: 'exhaustive',
    async expand(_ctx, ps) {
      parents.push(ps.map((p) => p.cand.id));
      return [0, 1].map(() => ({ instruction: `Upper words of up to ${3 + (k % 4)} letters (${k++}).`, demos: [], parent: ps[0].cand.id, operator: 'recorder' }));
    },
  };
  return { strategy, parents };
}

// Target: capitals for words no longer than the number in the instruction, so instructions
// score differently on validation.
function byLength() {
  const seen: string[] = [];
  const m = functionModel((prompt) => {
    const input = inputOf(prompt);
    seen.push(input);
    const limit = Number(/up to (\d+) letters/.exec(prompt)?.[1] ?? 0);
    return input.length <= limit ? ` ${input.toUpperCase()}` : ` ${input}`;
  }, { id: 'by-length' });
  return { m, seen };
}

describe('optimize options (function models)', () => {
  it('targetScore stops the search at the iteration that reaches it: fewer model calls, stopReason target (fresh-proposals function model)', async () => {
    const task = await upperTask();
    const opts = { strategy: 'opro' as const, seed: 0, maxIterations: 3, patience: 5, candidatesPerIteration: 2 };
    const free = freshProposals();
    const a = await optimize(task, free.m, opts);
    expect(a.stopReason).toBe('max_iterations');
    expect(a.history.map((h) => h.bestScore)).toEqual([0, 1, 1, 1]);

    const capped = freshProposals();
    const b = await optimize(task, capped.m, { ...opts, targetScore: 1 });
    expect(b.stopReason).toBe('target');
    expect(b.history.length).toBe(2); // iterations 0 and 1
    expect(b.calls).toBe(a.history[1].calls); // exactly the work up to the iteration that reached 1
    expect(capped.calls()).toBeLessThan(free.calls());
    expect(b.score).toBe(1);

    // reached in the last iteration still says why it stopped; an unreachable target changes nothing
    expect((await optimize(task, freshProposals().m, { ...opts, maxIterations: 1, targetScore: 1 })).stopReason).toBe('target');
    const high = await optimize(task, freshProposals().m, { ...opts, targetScore: 1.5 });
    expect(high.stopReason).toBe('max_iterations');
    expect(high.calls).toBe(a.calls);
  });

  it('keepFraction hands the strategy the best ceil(k × pool) candidates; without it, the beam (by-length function model)', async () => {
    const task = await upperTask();
    const initialPrompts = [3, 4, 5, 6, 7].map((n) => `Upper words of up to ${n} letters.`);
    const run = async (o: { keepFraction?: number; beam?: number }) => {
      const rec = recorder();
      const r = await optimize(task, byLength().m, { strategy: rec.strategy, initialPrompts, seed: 0, maxIterations: 2, patience: 5, ...o });
      return { r, parents: rec.parents };
    };
    // the pool holds 6 after initialization and 8 after iteration 1
    const half = await run({ keepFraction: 0.5 });
    expect(half.parents.map((p) => p.length)).toEqual([3, 4]);
    const fifth = await run({ keepFraction: 0.2 });
    expect(fifth.parents.map((p) => p.length)).toEqual([2, 2]);
    expect((await run({ keepFraction: 0.01 })).parents.map((p) => p.length)).toEqual([1, 1]);
    expect((await run({})).parents.map((p) => p.length)).toEqual([4, 4]);
    expect((await run({ beam: 2 })).parents.map((p) => p.length)).toEqual([2, 2]);
    // the parents are the best of the pool: none scores below a candidate left out
    const init = half.r.candidates.filter((c) => c.cand.iteration === 0);
    const score = (id: string) => init.find((c) => c.cand.id === id)!.score!;
    const kept = half.parents[0].map(score);
    const left = init.filter((c) => !half.parents[0].includes(c.cand.id)).map((c) => c.score!);
    expect(Math.min(...kept)).toBeGreaterThanOrEqual(Math.max(...left));
    expect(new Set(init.map((c) => c.score)).size).toBeGreaterThan(2);
  });

  it('validationSize: the search evaluates only the first n validation examples (by-length function model)', async () => {
    const task = await upperTask();
    const run = async (validationSize?: number) => {
      const t = byLength();
      const r = await optimize(task, t.m, { strategy: recorder().strategy, seed: 0, maxIterations: 1, testScore: false, validationSize });
      return { r, seen: new Set(t.seen) };
    };
    const two = await run(2);
    expect([...two.seen].sort()).toEqual(task.validation.slice(0, 2).map((e) => e.input).sort());
    expect(two.r.candidates.every((c) => c.n === 2)).toBe(true);
    const all = await run();
    expect([...all.seen].sort()).toEqual(task.validation.map((e) => e.input).sort());
    expect(all.r.candidates.every((c) => c.n === task.validation.length)).toBe(true);
  });

  it('metaPrompts replaces the templates the proposer reads; the ones not given keep their defaults (scripted target, recording proposer)', async () => {
    const task = await upperTask();
    const asked: string[] = [];
    const proposer = functionModel((prompt) => {
      asked.push(prompt);
      return 'Write the word in uppercase.';
    }, { id: 'recording-proposer' });
    const target = scripted();
    const r = await optimize(task, target.m, {
      strategy: 'paraphrase', proposer, init: ['manual', 'description'], seed: 0, maxIterations: 1,
      metaPrompts: { paraphrase: 'REWRITE >> {prompt} <<' },
    });
    const rewrite = asked.filter((p) => p.startsWith('REWRITE >> '));
    expect(rewrite.length).toBeGreaterThan(0);
    // the parents of iteration 1 are the initial pool: the manual prompt and the description's proposal
    expect(new Set(rewrite)).toEqual(new Set(['REWRITE >> Repeat the word. <<', 'REWRITE >> Write the word in uppercase. <<']));
    // everything else the proposer read is the default description template, filled in
    const description = DEFAULT_META_PROMPTS.fromDescription.replace('{task-description}', task.description);
    expect(asked.filter((p) => !p.startsWith('REWRITE >> ')).every((p) => p === description)).toBe(true);
    expect(asked).toContain(description);
    expect(r.score).toBe(1);
  });
});
