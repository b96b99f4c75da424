// The search loop's stop rules after its restructuring into phases: patience counts iterations
// without improvement, a target reached in the last iteration is reported as such, a budget cut
// keeps the best so far. A scripted strategy and a function model make every score known.
import { describe, expect, it } from 'vitest';
import { defineTask } from '../../src/eval/task.js';
import { functionModel } from '../../src/llm/function.js';
import { optimize } from '../../src/search/optimize.js';
import type { Strategy } from '../../src/search/types.js';

// right iff the instruction says "good"
const lm = functionModel((p) => (p.startsWith('good') ? ' yes' : ' no'), { id: 'judge-free' });
const task = () => defineTask({ instruction: 'bad start', template: '{instruction} {input}', examples: Array.from({ length: 6 }, (_, i) => ({ input: `q${i}`, output: ' yes' })), split: { train: 0.5, validation: 0.5, test: 0 } });

// proposes `count` fresh instructions; "good" ones from iteration `goodAt` on
const scripted = (goodAt: number): Strategy => ({
  name: 'scripted',
  racing: 'exhaustive',
  async expand(ctx, parents, count) {
    return Array.from({ length: count }, (_, i) => ({ instruction: `${ctx.iteration >= goodAt ? 'good' : 'bad'} ${ctx.iteration}.${i}`, demos: [], parent: parents[0].cand.id, operator: 'scripted' }));
  },
});

describe('search loop stop rules', () => {
  it('patience: stops after `patience` iterations without improvement', async () => {
    const r = await optimize(await task(), lm, { strategy: scripted(99), maxIterations: 10, candidatesPerIteration: 2, patience: 3, testScore: false });
    expect(r.stopReason).toBe('patience');
    expect(r.history.map((h) => h.iteration)).toEqual([0, 1, 2, 3]);
    expect(r.score).toBe(0);
  });

  it('a target reached in the last iteration is the stop reason; one reached earlier stops the next iteration', async () => {
    const last = await optimize(await task(), lm, { strategy: scripted(2), maxIterations: 2, candidatesPerIteration: 2, targetScore: 1, patience: 5, testScore: false });
    expect(last.stopReason).toBe('target');
    expect(last.history.length).toBe(3);
    const early = await optimize(await task(), lm, { strategy: scripted(1), maxIterations: 5, candidatesPerIteration: 2, targetScore: 1, testScore: false });
    expect(early.stopReason).toBe('target');
    expect(early.history.map((h) => h.iteration)).toEqual([0, 1]);
    expect(early.best.instruction).toBe('good 1.0');
  });

  it('a budget cut mid-iteration keeps the best scored so far', async () => {
    // 3 validation examples: the initial prompt takes 3 calls, iteration 1 another 6
    const r = await optimize(await task(), lm, { strategy: scripted(1), maxIterations: 5, candidatesPerIteration: 2, budget: 7, testScore: false });
    expect(r.stopReason).toBe('budget');
    expect(r.calls).toBe(7);
    expect(r.best.instruction).toBe('bad start');
  });
});
