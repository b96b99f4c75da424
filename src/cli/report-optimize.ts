// The optimize run's report: score per iteration, the lineage of the best prompt, cost in calls,
// tokens and money by role.
import type { OptimizeResult } from '../search/optimize.js';
import { usd } from './lm-roles.js';
import { esc, htmlReport, lineChart, table } from './report.js';

const f = (v: number | null) => (v === null ? 'n/a' : v.toFixed(4));

export function optimizeReport(r: OptimizeResult, meta: { task: string; strategy: string; seed: number }): string {
  const byIter = new Map<number, number[]>();
  for (const c of r.candidates) if (c.score !== null && !c.pruned) byIter.set(c.cand.iteration, [...(byIter.get(c.cand.iteration) ?? []), c.score]);
  const series = [
    { name: 'best so far (validation)', points: r.history.filter((h) => h.bestScore !== null).map((h) => [h.iteration, h.bestScore!] as [number, number]) },
    { name: 'mean of fully-evaluated new candidates', points: [...byIter].map(([i, s]) => [i, s.reduce((a, b) => a + b, 0) / s.length] as [number, number]) },
  ];
  return htmlReport(`promptkiln optimize — ${meta.task}`, [
    {
      heading: 'Result',
      html: table(['', 'validation', 'test'], [
        ['initial prompt', f(r.initialScore), f(r.initialTestScore)],
        ['best prompt', f(r.score), f(r.testScore)],
      ]) + `<p>Best prompt (${esc(r.best.id)}, ${esc(r.best.operator)}):</p><pre>${esc(r.best.instruction)}</pre>` +
        (r.best.demos.length ? `<p>Demonstrations: ${r.best.demos.map((d) => esc(d.id)).join(', ')}</p>` : '') +
        `<p>strategy ${esc(meta.strategy)}, seed ${meta.seed}, metric ${esc(r.metric)}, model ${esc(r.modelId)}, stopped: ${esc(r.stopReason)}</p>`,
    },
    { heading: 'Score per iteration', html: lineChart(series, { xLabel: 'iteration', yLabel: r.metric }) },
    {
      heading: 'Lineage of the best prompt',
      html: table(['id', 'iteration', 'operator', 'validation', 'instruction'], r.lineage.map((c) => {
        const rec = r.candidates.find((x) => x.cand.id === c.id);
        return [c.id, c.iteration, c.operator, f(rec?.score ?? null), c.instruction];
      })),
    },
    {
      heading: 'Cost',
      html: table(['model calls (search)', 'sent to the model', 'test-split calls', 'tokens', 'spend (USD)', 'estimated up front'], [[r.calls, r.freshCalls, r.testCalls, r.tokens, usd(r.cost), `${r.estimate.calls} calls, ~${r.estimate.tokens} tokens${r.estimate.cost !== null ? `, ≤ ${usd(r.estimate.cost)}` : ''}`]]) +
        table(['role', 'calls', 'tokens', 'spend (USD)'], (Object.entries(r.spend) as [string, { calls: number; tokens: number; cost: number | null }][]).filter(([, v]) => v.calls > 0).map(([k, v]) => [k, v.calls, v.tokens, v.cost === null ? 'no price' : usd(v.cost)])),
    },
    {
      heading: 'All candidates',
      html: table(['id', 'parent', 'operator', 'score', 'examples', 'instruction'], r.candidates.map((c) => [c.cand.id, c.cand.parent ?? '', c.cand.operator, f(c.score), `${c.n}${c.pruned ? ' (stopped early)' : ''}`, c.cand.instruction])),
    },
  ]);
}
