// Several objectives (score, cost, latency, length), the Pareto front, the user's selection, and
// the run's events. The target is a plain function whose behaviour is known exactly (said in
// each test name); cost comes from a price file entry for it.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiskCache } from '../../src/eval/cache.js';
import { functionModel } from '../../src/llm/function.js';
import { toOtlp, type RunEvent } from '../../src/search/events.js';
import { parseObjectives, parseSelection } from '../../src/search/objectives.js';
import { optimize, type OptimizeOptions } from '../../src/search/optimize.js';
import { inputOf, upperTask } from './upper-task.js';

const SHORT = 'Write it in uppercase.';
const LONG = 'Please, very carefully and thoroughly, write the given word entirely in uppercase letters.';
const TERSE = 'Say it.';

function target() {
  return functionModel((p) => ` ${/uppercase/.test(p.split('\n')[0]) ? inputOf(p).toUpperCase() : inputOf(p)}`, { id: 'priced' });
}
const prices = { 'function:priced': { input: 1, output: 2 } };
const base: OptimizeOptions = { strategy: 'ape', seed: 0, maxIterations: 0, initialPrompts: [SHORT, LONG, TERSE], prices, racing: 'exhaustive' };

describe('objectives (scripted function model)', () => {
  it('parses objectives and selections; unknown names and unreadable parts are ARGUMENT errors naming them', () => {
    expect(parseObjectives('score,cost,latency,length', 'x')).toEqual(['score', 'cost', 'latency', 'length']);
    expect(() => parseObjectives('score,speed', '--objectives')).toThrow(/--objectives: unknown objective "speed"/);
    expect(() => parseObjectives('cost', '--objectives')).toThrow(/must include "score"/);
    expect(parseSelection('cost<=0.5,score=1,length=0.01,score>=0.2', 'x')).toEqual({ weights: { score: 1, length: 0.01 }, constraints: { cost: { max: 0.5 }, score: { min: 0.2 } } });
    expect(() => parseSelection('cost<0.5', '--select')).toThrow(/--select: cannot read "cost<0.5"/);
  });

  it('keeps the front over score, cost and length; the default picks the best score, the cheapest at equal score', async () => {
    const task = await upperTask();
    const r = await optimize(task, target(), { ...base, objectives: ['score', 'cost', 'length'] });
    const byInstr = (s: string) => r.candidates.find((c) => c.cand.instruction === s)!.cand.id;
    const o = r.objectives!;
    // LONG scores what SHORT scores at more cost and length; the task's "Repeat the word." scores what TERSE scores, longer
    expect(new Set(o.front)).toEqual(new Set([byInstr(SHORT), byInstr(TERSE)]));
    const v = (s: string) => o.points.find((p) => p.id === byInstr(s))!.values;
    expect(v(LONG).cost!).toBeGreaterThan(v(SHORT).cost!);
    // the prompt before the input: instruction + template text
    expect(v(LONG).length! - v(SHORT).length!).toBe(LONG.length - SHORT.length);
    expect(v(SHORT).score).toBe(1);
    expect(r.best.instruction).toBe(SHORT);
    // a constraint the winner must meet: the short prompt is too long, so the terse one wins
    const c = await optimize(task, target(), { ...base, objectives: ['score', 'cost', 'length'], select: parseSelection(`length<=${v(TERSE).length}`, 'x') });
    expect(c.best.instruction).toBe(TERSE);
    expect(c.objectives!.constraintsMet).toBe(true);
    expect(c.program.instruction).toBe(TERSE);
    // a weight on length that outweighs the score difference
    const w = await optimize(task, target(), { ...base, objectives: ['score', 'length'], select: { weights: { score: 1, length: 1 } } });
    expect(w.best.instruction).toBe(TERSE);
  });

  it('cost without a price is an ARGUMENT error naming the model; a selection over a missing objective too', async () => {
    const task = await upperTask();
    await expect(optimize(task, target(), { ...base, prices: {}, objectives: ['score', 'cost'] })).rejects.toThrow(/objective "cost": model function:priced has no price/);
    await expect(optimize(task, target(), { ...base, objectives: ['score'], select: { weights: { latency: 1 } } })).rejects.toThrow(/names "latency", which is not among the objectives score/);
  });

  it('latency is stored with each cached result: a repeated run reads the same values and picks the same winner', async () => {
    const task = await upperTask();
    const file = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'pk-obj-')), 'cache.jsonl');
    const o: OptimizeOptions = { ...base, objectives: ['score', 'latency'], select: { weights: { score: 1, latency: 1 } } };
    const a = await optimize(task, target(), { ...o, cache: await DiskCache.open(file) });
    expect(a.objectives!.points.every((p) => typeof p.values.latency === 'number')).toBe(true);
    const b = await optimize(task, target(), { ...o, cache: await DiskCache.open(file) });
    expect(b.freshCalls).toBe(0);
    expect(b.objectives).toEqual(a.objectives);
    expect(b.best.id).toBe(a.best.id);
  });

  it('streams proposal, evaluation, call, selection, iteration and run events that map onto OTLP spans', async () => {
    const task = await upperTask();
    const events: RunEvent[] = [];
    const r = await optimize(task, target(), { ...base, strategy: 'gepa', maxIterations: 1, objectives: ['score', 'length'], onEvent: (e) => events.push(e) });
    const of = (n: string) => events.filter((e) => e.name === n);
    expect(of('proposal').map((e) => e.attributes.candidate)).toEqual(r.candidates.map((c) => c.cand.id));
    expect(of('evaluation').map((e) => e.attributes.candidate)).toEqual(r.candidates.map((c) => c.cand.id));
    expect(of('call').filter((e) => !e.attributes.cached).length).toBe(r.freshCalls);
    expect(of('call').some((e) => e.attributes.role === 'proposer')).toBe(true);
    // each call's price: input and output tokens at the price file's rates
    const c0 = of('call')[0].attributes;
    expect(c0.usd).toBeCloseTo(((c0.prompt_tokens as number) * 1 + (c0.completion_tokens as number) * 2) / 1e6, 12);
    expect(of('call').filter((e) => !e.attributes.cached).reduce((a, e) => a + (e.attributes.usd as number), 0)).toBeCloseTo(r.spend.target.cost! + r.spend.proposer.cost!, 12);
    expect(of('iteration').filter((e) => !e.attributes.partial).length).toBe(r.history.length);
    expect(of('run')).toHaveLength(1);
    expect(of('run')[0].attributes.best).toBe(r.best.id);
    expect(events.find((e) => e.spanId === 'sel:objectives')!.attributes.winner).toBe(r.best.id);
    // every parent is a span of the run
    const ids = new Set(events.map((e) => e.spanId));
    expect(events.every((e) => e.parentSpanId === null || ids.has(e.parentSpanId))).toBe(true);
    const ev = of('evaluation')[0];
    expect(JSON.parse((ev.attributes.worst as string[])[0])).toMatchObject({ expected: expect.any(String), input: expect.any(String) });
    const otlp = toOtlp(events) as { resourceSpans: { scopeSpans: { spans: { traceId: string; spanId: string; parentSpanId?: string }[] }[] }[] };
    const spans = otlp.resourceSpans[0].scopeSpans[0].spans;
    expect(spans).toHaveLength(events.length);
    expect(spans.every((s) => /^[0-9a-f]{32}$/.test(s.traceId) && /^[0-9a-f]{16}$/.test(s.spanId))).toBe(true);
    const spanIds = new Set(spans.map((s) => s.spanId));
    expect(spans.every((s) => !s.parentSpanId || spanIds.has(s.parentSpanId))).toBe(true);
  });
});
