// The search loop with scripted function models (exact LLM outputs are needed here, so the
// model is a plain function: said in each test name), plus resume, budget and failure handling.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiskCache } from '../../src/eval/cache.js';
import { registerMetric } from '../../src/eval/metrics.js';
import { functionModel } from '../../src/llm/function.js';
import { optimize, type OptimizeResult } from '../../src/search/optimize.js';
import { FileRunLog, MemoryRunLog } from '../../src/search/run-log.js';
import { isPromptkilnError } from '../../src/errors.js';
import { inputOf, scripted, upperTask } from './upper-task.js';

describe('optimize with a scripted function model', () => {
  for (const strategy of ['ape', 'paraphrase', 'protegi', 'opro'] as const) {
    it(`${strategy} (scripted function model) finds the uppercase instruction and scores 1 on test`, async () => {
      const task = await upperTask();
      const { m } = scripted();
      const log = new MemoryRunLog();
      const r = await optimize(task, m, { strategy, seed: 0, maxIterations: 2, runLog: log });
      expect(r.initialScore).toBe(0);
      expect(r.score).toBe(1);
      expect(r.testScore).toBe(1);
      expect(r.best.instruction).toMatch(/uppercase/i);
      expect(r.lineage[0].id).toBe('c0');
      // the scripted proposer repeats itself, so the run may end for lack of new proposals
      expect(['max_iterations', 'patience', 'no_proposals']).toContain(r.stopReason);
      const cands = log.entries.filter((e) => e.type === 'candidate');
      expect(cands.length).toBe(r.candidates.length);
      expect(cands.every((e) => 'parent' in e && 'operator' in e && 'score' in e && 'calls' in e)).toBe(true);
    });
  }

  it('GrIPS token insertion (scripted function model) reaches the word the vocabulary offers', async () => {
    const task = await upperTask();
    const { m } = scripted();
    const { grips } = await import('../../src/search/strategies/grips.js');
    const r = await optimize(task, m, { strategy: grips({ ops: ['tok-ins', 'tok-sub'], vocabulary: ['quickly', 'uppercase', 'the'] }), seed: 3, maxIterations: 4, patience: 4 });
    expect(r.score).toBe(1);
    expect(r.best.operator).toMatch(/^grips:tok-/);
  });

  it('demonstration search (scripted function model) picks demos when only demos make the model right', async () => {
    const task = await upperTask();
    const m = functionModel((prompt) => {
      const input = inputOf(prompt);
      const nDemos = (prompt.match(/Output: [A-Z]+\n/g) ?? []).length;
      return nDemos >= 2 ? ` ${input.toUpperCase()}` : ` ${input}`;
    }, { id: 'needs-two-demos' });
    const r = await optimize(task, m, { strategy: 'demos', seed: 0, maxIterations: 3 });
    expect(r.initialScore).toBe(0);
    expect(r.score).toBe(1);
    expect(r.best.demos.length).toBeGreaterThanOrEqual(2);
    expect(r.best.demos.every((d) => task.train.some((t) => t.id === d.id))).toBe(true);
  });

  it('is deterministic for a seed (scripted function model)', async () => {
    const task = await upperTask();
    const a = await optimize(task, scripted().m, { strategy: 'grips', seed: 7, maxIterations: 3 });
    const b = await optimize(task, scripted().m, { strategy: 'grips', seed: 7, maxIterations: 3 });
    expect(b.candidates.map((c) => [c.cand.instruction, c.score])).toEqual(a.candidates.map((c) => [c.cand.instruction, c.score]));
    expect(b.calls).toBe(a.calls);
  });

  it('a budget of zero is a BUDGET error; a small budget stops the run with stopReason budget', async () => {
    const task = await upperTask();
    await expect(optimize(task, scripted().m, { budget: 0 })).rejects.toMatchObject({ code: 'BUDGET' });
    const r = await optimize(task, scripted().m, { strategy: 'ape', budget: 9, seed: 0, maxIterations: 5 });
    expect(r.stopReason).toBe('budget');
    expect(r.calls).toBeLessThanOrEqual(9);
    const tiny = await optimize(task, scripted().m, { budget: 2 }).catch((e) => e);
    expect(isPromptkilnError(tiny, 'BUDGET')).toBe(true);
  });

  it('a metric that throws is recorded as a failure, not a crash (scripted function model)', async () => {
    registerMetric('flaky', (p, e) => {
      if (e.input.startsWith('s')) throw new Error('cannot judge words starting with s');
      return p.trim() === e.output ? 1 : 0;
    });
    const task = await upperTask();
    const log = new MemoryRunLog();
    const r = await optimize(task, scripted().m, { strategy: 'paraphrase', metric: 'flaky', seed: 0, maxIterations: 1, runLog: log });
    const withErrors = log.entries.filter((e) => e.type === 'candidate' && (e.failures as number) > 0);
    expect(withErrors.length).toBeGreaterThan(0);
    expect(String((withErrors[0].errors as string[])[0])).toMatch(/METRIC.*flaky.*cannot judge/);
    expect(r.score).not.toBeNull();
  });

  it('resumes after a kill without repeating finished evaluations and ends with the same result (scripted function model)', async () => {
    const task = await upperTask();
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-resume-'));
    const opts = { strategy: 'grips' as const, seed: 11, maxIterations: 4, patience: 5 };
    // uninterrupted reference run
    const refModel = scripted();
    const ref = await optimize(task, refModel.m, { ...opts, cache: await DiskCache.open(path.join(dir, 'a/cache.jsonl')), runLog: await FileRunLog.open(path.join(dir, 'a/run.jsonl'), false) });
    // killed run: abort after the 6th candidate record
    const ac = new AbortController();
    let seen = 0;
    const first = scripted();
    const killed = await optimize(task, first.m, {
      ...opts, signal: ac.signal,
      cache: await DiskCache.open(path.join(dir, 'b/cache.jsonl')),
      runLog: await FileRunLog.open(path.join(dir, 'b/run.jsonl'), false),
      onProgress: (e) => { if (e.type === 'candidate' && ++seen === 6) ac.abort(); },
    }).catch((e) => e);
    expect(killed.code).toBe('ABORTED');
    const before = (await fs.readFile(path.join(dir, 'b/run.jsonl'), 'utf8')).trim().split('\n').length;
    // resume
    const second = scripted();
    const res: OptimizeResult = await optimize(task, second.m, { ...opts, cache: await DiskCache.open(path.join(dir, 'b/cache.jsonl')), runLog: await FileRunLog.open(path.join(dir, 'b/run.jsonl'), true) });
    expect(res.best.instruction).toBe(ref.best.instruction);
    expect(res.score).toBe(ref.score);
    expect(res.calls).toBe(ref.calls);
    expect(res.candidates.map((c) => c.cand.instruction)).toEqual(ref.candidates.map((c) => c.cand.instruction));
    // the finished evaluations were not repeated: both processes together called the model as often as the reference
    expect(first.calls() + second.calls()).toBe(refModel.calls());
    expect(second.calls()).toBeLessThan(refModel.calls());
    // the log kept what the killed run wrote and now equals the uninterrupted run's log
    const logA = (await fs.readFile(path.join(dir, 'a/run.jsonl'), 'utf8')).trim().split('\n');
    const logB = (await fs.readFile(path.join(dir, 'b/run.jsonl'), 'utf8')).trim().split('\n');
    expect(before).toBeGreaterThan(1);
    expect(logB).toEqual(logA);
  });
});
