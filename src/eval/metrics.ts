// Metrics: how one example's result becomes a number (higher is better).
//  - text metrics compare a generated prediction with the gold output;
//  - loglik scores the gold output's mean log-likelihood after the prompt (no generation);
//  - label_loglik picks the most likely label and checks it against the gold output.
import { PromptkilnError } from '../errors.js';
import type { TypedPart } from './field-metrics.js';
import type { Values } from './fields.js';
import { JUDGE_KINDS, type JudgeKind } from './judge.js';
import type { Example, Task } from './task.js';

// `parsed`: on a typed task, the answer's output fields after parsing and validation
export type MetricFn = (prediction: string, example: Example, parsed?: Values) => number | Promise<number>;

export type Metric =
  | { name: string; kind: 'text'; fn: MetricFn }
  | { name: 'loglik'; kind: 'loglik' }
  | { name: 'label_loglik'; kind: 'labels'; labels: string[] }
  // generate, parse the typed fields (a plain task's one field is the text), then a weighted
  // mean of field metrics, judges and custom metrics (field-metrics.ts)
  | { name: string; kind: 'typed'; parts: TypedPart[] };

const norm = (s: string) => s.trim().replace(/\s+/g, ' ');
const words = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s]/gu, ' ')
    .split(/\s+/)
    .filter(Boolean);

export const exactMatch: MetricFn = (p, e) => (norm(p) === norm(e.output) ? 1 : 0);
export const contains: MetricFn = (p, e) => (norm(p).includes(norm(e.output)) ? 1 : 0);

// SQuAD-style token F1 over lower-cased, punctuation-free words.
export const tokenF1: MetricFn = (p, e) => {
  const a = words(p);
  const b = words(e.output);
  if (a.length === 0 || b.length === 0) return a.length === b.length ? 1 : 0;
  const counts = new Map<string, number>();
  for (const w of b) counts.set(w, (counts.get(w) ?? 0) + 1);
  let same = 0;
  for (const w of a) {
    const c = counts.get(w) ?? 0;
    if (c > 0) {
      same++;
      counts.set(w, c - 1);
    }
  }
  if (same === 0) return 0;
  const prec = same / a.length;
  const rec = same / b.length;
  return (2 * prec * rec) / (prec + rec);
};

// regex:<p>: 1 when the prediction matches p; with a capture group, when group 1 equals the gold output.
export function regexMetric(pattern: string): MetricFn {
  let re: RegExp;
  try {
    re = new RegExp(pattern);
  } catch (e) {
    throw new PromptkilnError('ARGUMENT', `metric regex:${pattern}: invalid regular expression: ${(e as Error).message}`);
  }
  return (p, e) => {
    const m = re.exec(p);
    if (!m) return 0;
    return m.length > 1 ? (norm(m[1] ?? '') === norm(e.output) ? 1 : 0) : 1;
  };
}

const registry = new Map<string, MetricFn>();

// User metrics by name: a task file's "metric" may name one registered here.
export function registerMetric(name: string, fn: MetricFn): void {
  if (['exact_match', 'contains', 'f1', 'loglik', 'label_loglik', 'fields'].includes(name) || name.startsWith('regex:') || name.startsWith('judge:')) {
    throw new PromptkilnError('ARGUMENT', `registerMetric: "${name}" is a built-in metric name`);
  }
  registry.set(name, fn);
}

export function registeredMetric(name: string): MetricFn | undefined {
  return registry.get(name);
}

export function resolveMetric(name: string, labels: string[] | null = null): Metric {
  switch (name) {
    case 'exact_match':
      return { name, kind: 'text', fn: exactMatch };
    case 'contains':
      return { name, kind: 'text', fn: contains };
    case 'f1':
      return { name, kind: 'text', fn: tokenF1 };
    case 'loglik':
      return { name, kind: 'loglik' };
    case 'label_loglik':
      if (!labels || labels.length < 2) throw new PromptkilnError('ARGUMENT', 'metric label_loglik needs "labels" (at least two)');
      return { name, kind: 'labels', labels };
  }
  if (name.startsWith('regex:')) return { name, kind: 'text', fn: regexMetric(name.slice(6)) };
  if (name.startsWith('judge:')) {
    const type = name.slice(6) as JudgeKind;
    if (!JUDGE_KINDS.includes(type)) throw new PromptkilnError('ARGUMENT', `unknown judge "${name}": expected judge:rubric or judge:pairwise`);
    return { name, kind: 'typed', parts: [{ kind: 'judge', judge: { type }, weight: 1 }] };
  }
  const fn = registry.get(name);
  if (!fn) {
    throw new PromptkilnError('ARGUMENT', `unknown metric "${name}": expected exact_match, contains, regex:<pattern>, f1, loglik, label_loglik, judge:rubric, judge:pairwise or a name given to registerMetric (registered: ${[...registry.keys()].join(', ') || 'none'})`);
  }
  return { name, kind: 'text', fn };
}

// A task's own metric: its weighted parts when it has them (typed tasks), else by name.
export function taskMetric(task: Pick<Task, 'metric' | 'labels' | 'metricParts'>): Metric {
  return task.metricParts ? { name: task.metric, kind: 'typed', parts: task.metricParts } : resolveMetric(task.metric, task.labels);
}

// Run a text metric, turning a throw or a non-finite result into a METRIC error the evaluator records.
export async function applyMetric(m: { name: string; fn: MetricFn }, prediction: string, ex: Example): Promise<number> {
  let v: number;
  try {
    v = await m.fn(prediction, ex);
  } catch (e) {
    throw new PromptkilnError('METRIC', `metric "${m.name}" threw on example ${ex.id}: ${(e as Error)?.message ?? e}`, { example: ex.id }, { cause: e });
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new PromptkilnError('METRIC', `metric "${m.name}" returned ${String(v)} on example ${ex.id}; expected a finite number`, { example: ex.id });
  }
  return v;
}
