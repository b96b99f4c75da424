// MIPROv2-style joint search and its TPE. The target and proposer are plain functions whose
// behaviour is known exactly (said in each test name): a mechanics check, not a quality claim.
import { describe, expect, it } from 'vitest';
import { rng } from '../../src/eval/rng.js';
import { functionModel } from '../../src/llm/function.js';
import { optimize } from '../../src/search/optimize.js';
import { mipro } from '../../src/search/strategies/mipro.js';
import { CategoricalTpe } from '../../src/search/tpe.js';
import { inputOf, upperTask } from './upper-task.js';

describe('categorical TPE (seeded)', () => {
  it('concentrates on the best cell of a 5×5 grid and repeats itself for a seed', () => {
    const run = (seed: number) => {
      const t = new CategoricalTpe([5, 5], rng(seed));
      const pts: number[][] = [];
      for (let i = 0; i < 40; i++) {
        const p = t.suggest();
        pts.push(p);
        t.observe(p, (p[0] === 3 ? 1 : 0) + (p[1] === 1 ? 1 : 0));
      }
      return pts;
    };
    const pts = run(5);
    // random search hits (3,1) 1 time in 25: 40 trials expect 1.6
    expect(pts.slice(4).filter(([a, b]) => a === 3 && b === 1).length).toBeGreaterThanOrEqual(15);
    expect(run(5)).toEqual(pts);
    expect(run(6)).not.toEqual(pts);
  });
});

// Target: capitals only with an instruction saying "uppercase" AND at least two demonstrations.
// Proposer: a data summary, and an "uppercase" instruction only when its tip asks for simplicity.
function joint() {
  const prompts: string[] = [];
  const m = functionModel((p) => {
    if (p.includes('Summarize in two sentences')) return 'Single lowercase words paired with the same word in capitals.';
    if (p.startsWith('Data summary:')) {
      prompts.push(p);
      return p.includes('Tip: Make it simple') ? '<START>Write it in uppercase.<END>' : '<START>Say the word.<END>';
    }
    const nDemos = (p.match(/Output: [A-Z]+\n/g) ?? []).length;
    const up = /uppercase/.test(p.split('\n')[0]) && nDemos >= 2;
    return ` ${up ? inputOf(p).toUpperCase() : inputOf(p)}`;
  }, { id: 'mipro-joint' });
  return { m, prompts };
}

describe('mipro (scripted function models)', () => {
  it('finds the one instruction × demo-set pair that works, grounded in the data summary', async () => {
    const task = await upperTask();
    const s = joint();
    const r = await optimize(task, s.m, { strategy: mipro({ instructions: 6, minibatch: 3 }), seed: 1, maxIterations: 4, patience: 4, candidatesPerIteration: 6 });
    expect(r.initialScore).toBe(0);
    expect(r.score).toBe(1);
    expect(r.best.instruction).toBe('Write it in uppercase.');
    expect(r.best.demos.length).toBeGreaterThanOrEqual(2);
    expect(r.best.demos.every((d) => task.train.some((t) => t.id === d.id))).toBe(true);
    expect(r.best.operator).toMatch(/^mipro:i\d+d\d+$/);
    expect(s.prompts[0]).toContain('Data summary: Single lowercase words');
    expect(s.prompts[0]).toContain('input → output');
  });

  it('is deterministic for a seed', async () => {
    const task = await upperTask();
    const o = { strategy: 'mipro' as const, seed: 4, maxIterations: 2 };
    const a = await optimize(task, joint().m, o);
    const b = await optimize(task, joint().m, o);
    expect(b.candidates.map((c) => [c.cand.operator, c.cand.instruction, c.score])).toEqual(a.candidates.map((c) => [c.cand.operator, c.cand.instruction, c.score]));
    expect(b.calls).toBe(a.calls);
  });
});
