// The report of a run directory (run.jsonl + events.jsonl), during the run or after: score per
// iteration, the candidate tree, the Pareto front, cost and calls over time, and the best
// candidate's worst examples with their feedback. Pure: the report command reads the files.
import { parseEvents, type RunEvent } from '../search/events.js';
import { completeJsonl } from '../search/jsonl.js';
import { DIRECTIONS, type ObjectiveName, type ObjectivesReport } from '../search/objectives.js';
import { objectiveFront } from '../search/pareto.js';
import { usd } from './lm-roles.js';
import { esc, htmlReport, lineChart, table } from './report.js';
import { candidateTree, paretoPlot, type TreeNode } from './report-svg.js';

type Entry = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const f = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : v.toFixed(4));

export function parseRunLog(text: string, file = 'run.jsonl'): Entry[] {
  return completeJsonl(text, file).map((l) => l.value as Entry);
}

export function runReport(runLog: string, eventsText: string | null): string {
  const log = parseRunLog(runLog);
  const events: RunEvent[] = eventsText ? parseEvents(eventsText) : [];
  const start = log.find((e) => e.type === 'start') ?? {};
  const cands = log.filter((e) => e.type === 'candidate');
  const iters = log.filter((e) => e.type === 'iteration');
  const result = log.find((e) => e.type === 'result');
  const objectives = log.find((e) => e.type === 'objectives') as (ObjectivesReport & Entry) | undefined;
  // the run's winner: the result's, else the objectives' selection, else the last iteration's best
  const bestId: string | undefined = result?.best ?? objectives?.winner ?? iters[iters.length - 1]?.best;
  const byId = new Map(cands.map((c) => [c.id as string, c]));
  const lineage = new Set<string>();
  for (let c = bestId ? byId.get(bestId) : undefined; c; c = c.parent ? byId.get(c.parent) : undefined) lineage.add(c.id);
  const best = bestId ? byId.get(bestId) : undefined;
  const status = result ? `finished (${result.stopReason})` : `running or stopped: ${iters.length} iteration${iters.length === 1 ? '' : 's'} recorded`;

  const sections = [
    {
      heading: 'Run',
      html: table(['task', 'strategy', 'seed', 'metric', 'model', 'proposer', 'status'], [[start.task, start.strategy, start.seed, start.metric, start.model, start.proposer, status]]) +
        (best ? `<p>Best so far: <b>${esc(best.id)}</b> (${esc(best.operator)}), validation ${f(best.score)}${result ? `, test ${f(result.testScore)} (initial ${f(result.initialTestScore)})` : ''}</p><pre>${esc(best.instruction)}</pre>${best.demos?.length ? `<p>Demonstrations: ${esc(best.demos.join(', '))}</p>` : ''}` : ''),
    },
    { heading: 'Score per iteration', html: scoreChart(cands, iters, start.metric) },
    { heading: 'Candidate tree', html: `<p>Who came from whom, colored by operator; the best's lineage is drawn thick, a merge's second parent dashed.</p>` + candidateTree(cands.map(treeNode), lineage) },
    { heading: 'Pareto front', html: front(cands, objectives) },
    { heading: 'Cost and calls over time', html: overTime(events, iters) },
    { heading: 'Worst examples of the best candidate', html: worst(events, bestId) },
    { heading: 'Operators', html: operators(cands, byId) },
  ];
  return htmlReport(`promptkiln run — ${start.task ?? 'unknown task'} (${start.strategy ?? '?'})`, sections);
}

function treeNode(c: Entry): TreeNode {
  const merge = /:(c\d+)$/.exec(c.operator);
  return { id: c.id, parent: c.parent, also: merge?.[1], operator: c.operator, iteration: c.iteration, score: c.pruned ? null : c.score };
}

function scoreChart(cands: Entry[], iters: Entry[], metric: string): string {
  const full = cands.filter((c) => !c.pruned && c.score !== null);
  return lineChart([
    { name: 'best so far (validation)', points: iters.filter((i) => i.score !== null).map((i) => [i.iteration, i.score]) },
    { name: 'each fully evaluated candidate', points: full.map((c) => [c.iteration, c.score]) },
  ], { xLabel: 'iteration', yLabel: metric ?? 'score' });
}

// With --objectives: score against the first other objective, the front and the winner as the
// run selected them; without: score against prompt length (characters of the instruction).
function front(cands: Entry[], o: (ObjectivesReport & Entry) | undefined): string {
  if (o) {
    const other = (o.names.find((n: ObjectiveName) => n !== 'score') ?? 'length') as ObjectiveName;
    const fr = new Set(o.front);
    const pts = o.points.map((p) => ({ id: p.id, x: p.values[other] ?? NaN, y: p.values.score ?? NaN, front: fr.has(p.id), winner: p.id === o.winner }));
    const rows = o.points.map((p) => [p.id, fr.has(p.id) ? 'yes' : '', p.id === o.winner ? 'winner' : '', ...o.names.map((n: ObjectiveName) => p.values[n] === null ? 'n/a' : String(Number(p.values[n]!.toPrecision(6))))]);
    return `<p>Objectives ${esc(o.names.join(', '))} (${o.names.map((n: ObjectiveName) => `${n} ${DIRECTIONS[n] === 'max' ? '↑' : '↓'}`).join(', ')}); selection ${esc(JSON.stringify(o.selection))}${o.constraintsMet ? '' : ' — <b>no candidate met the constraints</b>'}.</p>` +
      paretoPlot(pts, { xLabel: other, yLabel: 'score' }) + table(['candidate', 'on front', '', ...o.names], rows);
  }
  const full = cands.filter((c) => !c.pruned && c.score !== null);
  const fr = new Set(objectiveFront(full.map((c) => [c.score, c.instruction.length]), ['max', 'min']).map((i) => full[i].id));
  return '<p>No --objectives for this run: score against instruction length.</p>' + paretoPlot(full.map((c) => ({ id: c.id, x: c.instruction.length, y: c.score, front: fr.has(c.id), winner: false })), { xLabel: 'instruction length (characters)', yLabel: 'score' });
}

function overTime(events: RunEvent[], iters: Entry[]): string {
  const calls = events.filter((e) => e.name === 'call');
  if (calls.length === 0) {
    return lineChart([{ name: 'calls (cumulative)', points: iters.map((i) => [i.iteration, i.calls]) }], { xLabel: 'iteration', yLabel: 'model calls' }) + '<p><em>no events.jsonl: calls per iteration from run.jsonl</em></p>';
  }
  const t0 = Math.min(...events.map((e) => e.start));
  const s = (e: RunEvent) => (e.end - t0) / 1000;
  const roles = [...new Set(calls.map((c) => String(c.attributes.role)))];
  const byRole = roles.map((r) => {
    let n = 0;
    return { name: `${r} calls${calls.some((c) => c.attributes.role === r && c.attributes.cached) ? ' (incl. cache hits)' : ''}`, points: calls.filter((c) => c.attributes.role === r).map((c) => [s(c), ++n] as [number, number]) };
  });
  const cost = calls.map((c) => [s(c), Number(c.attributes.cost)] as [number, number]);
  const last = calls[calls.length - 1].attributes;
  return lineChart(byRole, { xLabel: 'seconds since start', yLabel: 'calls' }) + lineChart([{ name: 'spend (USD)', points: cost }], { xLabel: 'seconds since start', yLabel: 'USD' }) +
    `<p>${calls.length} model call events (${calls.filter((c) => c.attributes.cached).length} served by the cache); budget calls ${esc(last.calls)}, spend ${usd(Number(last.cost))}.</p>`;
}

function worst(events: RunEvent[], bestId: string | undefined): string {
  const ev = events.filter((e) => e.name === 'evaluation' && e.attributes.candidate === bestId).pop();
  if (!ev) return '<p><em>no evaluation events for the best candidate</em></p>';
  const rows = (ev.attributes.worst as string[]).map((w) => JSON.parse(w) as Entry).map((w) => [w.id, f(w.score), w.input ?? '', w.expected ?? '', w.prediction ?? '', [w.feedback, w.error].filter(Boolean).join(' · ')]);
  return table(['example', 'score', 'input', 'expected', 'produced', 'feedback'], rows);
}

function operators(cands: Entry[], byId: Map<string, Entry>): string {
  const ops = new Map<string, { n: number; better: number; full: number }>();
  for (const c of cands) {
    const op = String(c.operator).replace(/:c\d+$/, '');
    const s = ops.get(op) ?? { n: 0, better: 0, full: 0 };
    s.n++;
    if (!c.pruned) s.full++;
    const p = c.parent ? byId.get(c.parent) : undefined;
    if (p && !c.pruned && c.score !== null && (p.score === null || c.score > p.score)) s.better++;
    ops.set(op, s);
  }
  return table(['operator', 'candidates', 'fully evaluated', 'better than their parent'], [...ops].map(([k, v]) => [k, v.n, v.full, v.better]));
}
