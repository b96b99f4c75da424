// GEPA-style reflective evolution: the per-example Pareto front, reflection on feedback, the
// minibatch screen, merging, determinism and kill/resume. The target and the reflection model are
// plain functions whose behaviour is known exactly (said in each test name): a mechanics check.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiskCache } from '../../src/eval/cache.js';
import { functionModel } from '../../src/llm/function.js';
import { optimize, type OptimizeOptions } from '../../src/search/optimize.js';
import { exampleFront, objectiveFront, sampleByLeads } from '../../src/search/pareto.js';
import { FileRunLog } from '../../src/search/run-log.js';
import { feedbackText, fencedText, gepa } from '../../src/search/strategies/gepa.js';
import { inputOf, upperTask } from './upper-task.js';

const early = (w: string) => w[0] <= 'm';

// Target: capitals for a-m words when the instruction says "uppercase", for every word when it
// also says "every word". Reflector: adds "uppercase" when feedback shows expected capitals, then
// "every word" when a late word is still wrong.
function reflective() {
  let calls = 0;
  const prompts: string[] = [];
  const m = functionModel((prompt) => {
    calls++;
    if (prompt.startsWith('I provided an assistant')) {
      prompts.push(prompt);
      const instr = /```\n([\s\S]*?)\n```/.exec(prompt)![1];
      const wrongLate = /Response: +[a-z]+\nExpected: [N-Z]/.test(prompt);
      if (!/uppercase/.test(instr)) return 'New instruction:\n```\nWrite the word in uppercase.\n```';
      if (wrongLate) return '```\nWrite every word in uppercase.\n```';
      return '```\nWrite the word in uppercase.\n```';
    }
    const first = prompt.split('\n')[0];
    const w = inputOf(prompt);
    const up = /uppercase/.test(first) && (early(w) || /every word/.test(first));
    return ` ${up ? w.toUpperCase() : w}`;
  }, { id: 'gepa-scripted' });
  return { m, calls: () => calls, prompts };
}

describe('per-example Pareto front', () => {
  it('keeps candidates best on some example, drops those whose lead set another strictly contains, samples by leads', () => {
    // c0 leads e0; c1 leads e0,e1 (contains c0's) ; c2 leads e2; c3 leads nothing
    const front = exampleFront([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0.5, 0.5, 0.5]]);
    expect([...front.entries()].sort()).toEqual([[1, [0, 1]], [2, [2]]]);
    // c1 holds 2 of 3 leads: u < 2/3 picks it
    expect(sampleByLeads(front, 0.6)).toBe(1);
    expect(sampleByLeads(front, 0.7)).toBe(2);
    // ties: both lead, neither dominated
    expect([...exampleFront([[1, 0], [1, 0]]).keys()]).toEqual([0, 1]);
  });

  it('objective front: no point worse on every objective survives; null values never do', () => {
    // (score max, cost min)
    const pts = [[0.9, 3], [0.8, 1], [0.7, 2], [0.9, 4], [null, 0]];
    expect(objectiveFront(pts, ['max', 'min'])).toEqual([0, 1]);
  });

  it('feedback text carries the response, the expected output, the judge reason and the parse error; fences are read', () => {
    const ex = { id: 'i0', input: 'apple', output: 'APPLE' };
    const t = feedbackText(ex, { id: 'i0', score: 0, prediction: 'apple', feedback: 'not in capitals', error: '[PARSE] no JSON', cached: false }, 'text');
    expect(t).toContain('Response: apple');
    expect(t).toContain('Expected: APPLE');
    expect(t).toContain('Feedback: not in capitals');
    expect(t).toContain('Problem: [PARSE] no JSON');
    expect(feedbackText(ex, { id: 'i0', score: 0, prediction: 'apple', cached: false }, 'text')).toContain('should have been "APPLE"');
    expect(fencedText('a\n```\nfirst\n```\nb\n```text\nsecond one\n```')).toBe('second one');
  });
});

describe('gepa (scripted function models)', () => {
  const base: OptimizeOptions = { strategy: 'gepa', seed: 3, maxIterations: 4, patience: 4, candidatesPerIteration: 2 };

  it('reflects on feedback twice to reach every word in capitals; lineage goes through both rewrites', async () => {
    const task = await upperTask();
    const s = reflective();
    const r = await optimize(task, s.m, base);
    expect(r.initialScore).toBe(0);
    expect(r.score).toBe(1);
    expect(r.testScore).toBe(1);
    expect(r.best.instruction).toBe('Write every word in uppercase.');
    expect(r.lineage.map((c) => c.operator)).toEqual(['manual', 'gepa:reflect', 'gepa:reflect']);
    // the reflector saw traces with the response, the expected output and feedback
    expect(s.prompts[0]).toMatch(/Response: +[a-z]+\nExpected: [A-Z]+\nScore: 0\nFeedback: the response should have been/);
    // every candidate was scored on every validation example (the front needs them all)
    expect(r.candidates.every((c) => c.n === task.validation.length && !c.pruned)).toBe(true);
  });

  it('the minibatch screen rejects a rewrite that does no better on the minibatch: nothing reaches validation', async () => {
    const task = await upperTask();
    const m = functionModel((p) => (p.startsWith('I provided') ? '```\nSay the word slowly.\n```' : ` ${inputOf(p)}`), { id: 'gepa-worse' });
    const r = await optimize(task, m, base);
    expect(r.candidates.map((c) => c.cand.operator)).toEqual(['manual']);
    expect(r.stopReason).toBe('no_proposals');
  });

  it('merges two front candidates that lead on different examples into one that leads on both', async () => {
    const task = await upperTask();
    const m = functionModel((p) => {
      if (p.startsWith('Two instructions')) return '```\nWrite early and late words in uppercase.\n```';
      if (p.startsWith('I provided')) return '```\nRepeat it.\n```';
      const first = p.split('\n')[0];
      const w = inputOf(p);
      const up = (/early/.test(first) && early(w)) || (/late/.test(first) && !early(w));
      return ` ${up ? w.toUpperCase() : w}`;
    }, { id: 'gepa-merge' });
    const r = await optimize(task, m, { ...base, initialPrompts: ['Uppercase the early words.', 'Uppercase the late words.'], maxIterations: 1 });
    const halves = r.candidates.filter((c) => c.cand.operator === 'manual' && c.cand.instruction !== task.instruction);
    expect(halves.every((c) => c.score! > 0 && c.score! < 1)).toBe(true);
    expect(r.score).toBe(1);
    expect(r.best.operator).toMatch(/^gepa:merge:c\d+$/);
    expect(r.best.instruction).toBe('Write early and late words in uppercase.');
  });

  it('same seed → same run; killed mid-way, resumes to the same result without repeating a call', async () => {
    const task = await upperTask();
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-gepa-'));
    const open = async (d: string, resume: boolean) => ({ cache: await DiskCache.open(path.join(dir, d, 'cache.jsonl')), runLog: await FileRunLog.open(path.join(dir, d, 'run.jsonl'), resume) });
    const refM = reflective();
    const ref = await optimize(task, refM.m, { ...base, ...(await open('a', false)) });
    const again = await optimize(task, reflective().m, { ...base, strategy: gepa() });
    expect(again.candidates.map((c) => [c.cand.id, c.cand.instruction, c.score])).toEqual(ref.candidates.map((c) => [c.cand.id, c.cand.instruction, c.score]));
    const ac = new AbortController();
    let seen = 0;
    const first = reflective();
    const killed = await optimize(task, first.m, { ...base, ...(await open('b', false)), signal: ac.signal, onProgress: (e) => { if (e.type === 'candidate' && ++seen === 2) ac.abort(); } }).catch((e) => e);
    expect(killed.code).toBe('ABORTED');
    const second = reflective();
    const res = await optimize(task, second.m, { ...base, ...(await open('b', true)) });
    expect(res.best.instruction).toBe(ref.best.instruction);
    expect(res.candidates.map((c) => [c.cand.id, c.score])).toEqual(ref.candidates.map((c) => [c.cand.id, c.score]));
    expect(res.calls).toBe(ref.calls);
    expect(first.calls()).toBeGreaterThan(0);
    expect(first.calls() + second.calls()).toBe(refM.calls());
  });
});
