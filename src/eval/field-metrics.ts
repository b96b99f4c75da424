// Metrics over typed output fields: per-field exact match, numeric tolerance, F1 for strings and
// lists, JSON equality, class accuracy; an LLM judge; a registered custom metric given the parsed
// values; and a weighted mean of any of these. Parsed from a task file's "metric".
import { PromptkilnError } from '../errors.js';
import type { FieldDef, Signature, Values } from './fields.js';
import { JUDGE_KINDS, type JudgeSpec } from './judge.js';
import { registeredMetric, tokenF1, type MetricFn } from './metrics.js';
import { jsonEqual } from './schema.js';
import type { Example } from './task.js';

export type FieldMetricName = 'exact' | 'numeric' | 'f1' | 'json' | 'accuracy';
const FIELD_METRICS: FieldMetricName[] = ['exact', 'numeric', 'f1', 'json', 'accuracy'];

export type TypedPart =
  | { kind: 'field'; field: string; metric: FieldMetricName; tolerance: number; weight: number }
  | { kind: 'judge'; judge: JudgeSpec; weight: number }
  | { kind: 'custom'; name: string; fn: MetricFn; weight: number };

export function defaultFieldMetric(d: FieldDef): FieldMetricName {
  return d.type === 'number' ? 'numeric' : d.type === 'list' ? 'f1' : d.type === 'class' ? 'accuracy' : d.type === 'json' || d.type === 'chat' ? 'json' : 'exact';
}

const norm = (s: string) => s.trim().replace(/\s+/g, ' ');

// One field's score in [0, 1].
export function fieldScore(p: Extract<TypedPart, { kind: 'field' }>, pred: unknown, gold: unknown): number {
  switch (p.metric) {
    case 'numeric':
      return typeof pred === 'number' && typeof gold === 'number' && Math.abs(pred - gold) <= p.tolerance ? 1 : 0;
    case 'f1':
      return Array.isArray(gold) ? listF1(pred as unknown[], gold) : tokenF1(String(pred), { input: '', output: String(gold), id: '' }) as number;
    case 'json':
      return jsonEqual(pred, gold) ? 1 : 0;
    case 'exact':
    case 'accuracy':
      return typeof pred === 'string' && typeof gold === 'string' ? (norm(pred) === norm(gold) ? 1 : 0) : jsonEqual(pred, gold) ? 1 : 0;
  }
}

// F1 over list items as a multiset (strings compared trimmed and case-folded).
export function listF1(pred: unknown[], gold: unknown[]): number {
  const key = (x: unknown) => (typeof x === 'string' ? norm(x).toLowerCase() : JSON.stringify(x));
  if (pred.length === 0 || gold.length === 0) return pred.length === gold.length ? 1 : 0;
  const counts = new Map<string, number>();
  for (const g of gold) counts.set(key(g), (counts.get(key(g)) ?? 0) + 1);
  let same = 0;
  for (const p of pred) {
    const c = counts.get(key(p)) ?? 0;
    if (c > 0) {
      same++;
      counts.set(key(p), c - 1);
    }
  }
  if (same === 0) return 0;
  const prec = same / pred.length;
  const rec = same / gold.length;
  return (2 * prec * rec) / (prec + rec);
}

type Fail = (path: string, expected: string, found: unknown) => never;

// A task's "metric" for a typed task: "fields" (every output field, its default metric, equal
// weights), "judge:rubric" / "judge:pairwise", a registered metric's name, or an object
// {"fields": {name: metric | {"metric", "tolerance", "weight"}}, "judge": {"type", "rubric", "weight"}, "custom": {"name", "weight"}}.
export function typedParts(spec: unknown, sig: Signature, fail: Fail): TypedPart[] {
  const all = (): TypedPart[] => sig.outputs.map((d) => ({ kind: 'field', field: d.name, metric: defaultFieldMetric(d), tolerance: 0, weight: 1 }));
  if (spec === undefined || spec === 'fields') return all();
  if (typeof spec === 'string') {
    if (spec.startsWith('judge:')) return [{ kind: 'judge', judge: judgeSpec({ type: spec.slice(6) }, fail, 'metric'), weight: 1 }];
    const fn = registeredMetric(spec);
    if (!fn) fail('metric', `"fields", "judge:rubric", "judge:pairwise", an object {"fields", "judge", "custom"} or a name given to registerMetric`, spec);
    return [{ kind: 'custom', name: spec, fn, weight: 1 }];
  }
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) fail('metric', 'a metric name or an object {"fields", "judge", "custom"}', spec);
  const o = spec as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['fields', 'judge', 'custom'].includes(k)) fail(`metric.${k}`, 'one of the keys fields, judge, custom', o[k]);
  const parts: TypedPart[] = [];
  const weight = (v: unknown, path: string) => {
    if (v === undefined) return 1;
    if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) fail(path, 'a weight ≥ 0', v);
    return v;
  };
  if (o.fields !== undefined) {
    if (typeof o.fields !== 'object' || o.fields === null || Array.isArray(o.fields)) fail('metric.fields', 'an object {field: metric}', o.fields);
    for (const [name, v] of Object.entries(o.fields as Record<string, unknown>)) {
      const d = sig.outputs.find((x) => x.name === name);
      if (!d) fail(`metric.fields.${name}`, `an output field (${sig.outputs.map((x) => x.name).join(', ')})`, name);
      const r = (typeof v === 'string' ? { metric: v } : v) as Record<string, unknown>;
      if (typeof r !== 'object' || r === null) fail(`metric.fields.${name}`, 'a field metric name or {"metric", "tolerance", "weight"}', v);
      for (const k of Object.keys(r)) if (!['metric', 'tolerance', 'weight'].includes(k)) fail(`metric.fields.${name}.${k}`, 'one of the keys metric, tolerance, weight', r[k]);
      const metric = (r.metric ?? defaultFieldMetric(d)) as FieldMetricName;
      if (!FIELD_METRICS.includes(metric)) fail(`metric.fields.${name}.metric`, `one of ${FIELD_METRICS.join(', ')}`, r.metric);
      if (metric === 'numeric' && d.type !== 'number') fail(`metric.fields.${name}.metric`, `a metric for a ${d.type} field (numeric needs a number field)`, metric);
      if (metric === 'f1' && d.type !== 'string' && d.type !== 'list') fail(`metric.fields.${name}.metric`, `a metric for a ${d.type} field (f1 needs a string or list field)`, metric);
      const tolerance = r.tolerance ?? 0;
      if (typeof tolerance !== 'number' || !(tolerance >= 0)) fail(`metric.fields.${name}.tolerance`, 'a number ≥ 0', r.tolerance);
      if (r.tolerance !== undefined && metric !== 'numeric') fail(`metric.fields.${name}.tolerance`, 'no tolerance (only the numeric metric has one)', r.tolerance);
      parts.push({ kind: 'field', field: name, metric, tolerance, weight: weight(r.weight, `metric.fields.${name}.weight`) });
    }
  }
  if (o.judge !== undefined) {
    const j = o.judge as Record<string, unknown>;
    parts.push({ kind: 'judge', judge: judgeSpec(j, fail, 'metric.judge'), weight: weight(j?.weight, 'metric.judge.weight') });
  }
  if (o.custom !== undefined) {
    const c = (typeof o.custom === 'string' ? { name: o.custom } : o.custom) as Record<string, unknown>;
    const fn = typeof c?.name === 'string' ? registeredMetric(c.name) : undefined;
    if (!fn) fail('metric.custom.name', 'a name given to registerMetric', c?.name);
    parts.push({ kind: 'custom', name: c.name as string, fn, weight: weight(c.weight, 'metric.custom.weight') });
  }
  if (parts.length === 0) fail('metric', 'at least one of fields, judge, custom', spec);
  if (!parts.some((p) => p.weight > 0)) fail('metric', 'at least one part with a weight > 0', spec);
  return parts;
}

function judgeSpec(j: unknown, fail: Fail, path: string): JudgeSpec {
  if (typeof j !== 'object' || j === null || Array.isArray(j)) fail(path, 'an object {"type": "rubric"|"pairwise", "rubric"?: string}', j);
  const o = j as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['type', 'rubric', 'weight'].includes(k)) fail(`${path}.${k}`, 'one of the keys type, rubric, weight', o[k]);
  if (!JUDGE_KINDS.includes(o.type as JudgeSpec['type'])) fail(`${path}.type`, `one of ${JUDGE_KINDS.join(', ')}`, o.type);
  if (o.rubric !== undefined && typeof o.rubric !== 'string') fail(`${path}.rubric`, 'a string', o.rubric);
  return { type: o.type as JudgeSpec['type'], rubric: o.rubric as string | undefined };
}

export function partsName(parts: TypedPart[]): string {
  return parts.map((p) => (p.kind === 'field' ? `${p.field}:${p.metric}` : p.kind === 'judge' ? `judge:${p.judge.type}` : p.name)).join('+');
}

// What the evaluator gives a typed metric: the parsed answer, the raw text, the gold example,
// and a judge call (cached and budgeted by the evaluator).
export interface TypedScoreInput {
  parsed: Values;
  text: string;
  example: Example;
  judge: (spec: JudgeSpec) => Promise<{ score: number; reason: string }>;
}

// The weighted mean of the parts; the judges' reasons come back as feedback.
export async function scoreParts(parts: TypedPart[], x: TypedScoreInput): Promise<{ score: number; feedback?: string }> {
  let sum = 0;
  let wsum = 0;
  const feedback: string[] = [];
  for (const p of parts) {
    if (p.weight === 0) continue;
    let s: number;
    if (p.kind === 'field') s = fieldScore(p, x.parsed[p.field], x.example.outputs?.[p.field] ?? x.example.output);
    else if (p.kind === 'judge') {
      const j = await x.judge(p.judge);
      s = j.score;
      if (j.reason) feedback.push(j.reason);
    } else {
      try {
        s = await p.fn(x.text, x.example, x.parsed);
      } catch (e) {
        throw new PromptkilnError('METRIC', `metric "${p.name}" threw on example ${x.example.id}: ${(e as Error)?.message ?? e}`, { example: x.example.id }, { cause: e });
      }
      if (typeof s !== 'number' || !Number.isFinite(s)) throw new PromptkilnError('METRIC', `metric "${p.name}" returned ${String(s)} on example ${x.example.id}; expected a finite number`);
    }
    sum += p.weight * s;
    wsum += p.weight;
  }
  return { score: sum / wsum, ...(feedback.length ? { feedback: feedback.join(' ') } : {}) };
}
