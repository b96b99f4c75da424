// How far to trust a judge: run it on a labelled set (input, reference, prediction) and measure
// its agreement with exact match — raw agreement, Cohen's kappa, the confusion counts and the
// disagreements with the judge's reasons. Judge calls go through an evaluator (cache, budget, price).
import { PromptkilnError } from '../errors.js';
import type { PriceTable } from '../llm/prices.js';
import type { LanguageModel } from '../llm/types.js';
import type { EvalCache } from './cache.js';
import { Evaluator } from './evaluator.js';
import type { JudgeSpec } from './judge.js';
import { exactMatch } from './metrics.js';
import { defineTask } from './task.js';

export interface LabelledAnswer {
  input: string;
  reference: string;
  prediction: string;
}

export interface JudgeCheckOptions {
  judge?: JudgeSpec; // default rubric
  threshold?: number; // a judge score ≥ threshold counts as "correct" (default 0.5: rubric 3 of 5, a pairwise tie)
  prices?: PriceTable;
  cache?: EvalCache;
  concurrency?: number;
  signal?: AbortSignal;
}

export interface JudgeCheckReport {
  n: number;
  agreement: number; // fraction where judge-correct equals exact-correct
  kappa: number | null; // Cohen's kappa; null when either side is constant
  confusion: { both: number; judgeOnly: number; exactOnly: number; neither: number };
  meanJudgeScore: number;
  failures: number; // judge replies that could not be read
  calls: number;
  tokens: number;
  cost: number | null; // USD; null when the judge has no price
  disagreements: { index: number; judge: number; exact: number; reason: string }[];
}

export async function judgeCheck(judge: LanguageModel, items: LabelledAnswer[], o: JudgeCheckOptions = {}): Promise<JudgeCheckReport> {
  if (items.length === 0) throw new PromptkilnError('DATA', 'judge-check: the labelled set is empty');
  const spec = o.judge ?? { type: 'rubric' };
  const threshold = o.threshold ?? 0.5;
  const task = await defineTask({ examples: items.map((x) => ({ input: x.input, output: x.reference })), split: { train: 0, validation: 1, test: 0 }, metric: `judge:${spec.type}` });
  const ev = new Evaluator(task, judge, { judge, prices: o.prices, cache: o.cache, concurrency: o.concurrency, signal: o.signal });
  const byId = new Map(task.examples.map((e, i) => [e.id, i]));
  const rows = await Promise.all(task.examples.map(async (ex) => {
    const i = byId.get(ex.id)!;
    const exact = (await exactMatch(items[i].prediction, ex)) as number;
    try {
      const v = await ev.judge(spec, ex, items[i].prediction);
      return { i, exact, judge: v.score, reason: v.reason, failed: false };
    } catch (e) {
      if ((e as PromptkilnError).code !== 'METRIC') throw e;
      return { i, exact, judge: 0, reason: (e as Error).message, failed: true };
    }
  }));
  const ok = rows.filter((r) => !r.failed);
  const c = { both: 0, judgeOnly: 0, exactOnly: 0, neither: 0 };
  for (const r of ok) {
    const j = r.judge >= threshold;
    const e = r.exact === 1;
    if (j && e) c.both++;
    else if (j) c.judgeOnly++;
    else if (e) c.exactOnly++;
    else c.neither++;
  }
  const n = ok.length;
  const po = n ? (c.both + c.neither) / n : 0;
  const pj = n ? (c.both + c.judgeOnly) / n : 0;
  const pe = n ? (c.both + c.exactOnly) / n : 0;
  const chance = pj * pe + (1 - pj) * (1 - pe);
  const spend = ev.stats.byRole.judge;
  return {
    n,
    agreement: po,
    kappa: chance < 1 ? (po - chance) / (1 - chance) : null,
    confusion: c,
    meanJudgeScore: n ? ok.reduce((a, r) => a + r.judge, 0) / n : 0,
    failures: rows.length - n,
    calls: spend.calls,
    tokens: spend.tokens,
    cost: spend.cost,
    disagreements: rows.filter((r) => r.failed || (r.judge >= threshold) !== (r.exact === 1)).sort((a, b) => a.i - b.i).map((r) => ({ index: r.i, judge: r.judge, exact: r.exact, reason: r.reason })),
  };
}
