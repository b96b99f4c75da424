// Several objectives per candidate — validation score, the target's cost and latency per example,
// prompt length — the Pareto front over them, and the user's scalarization (weights and
// constraints such as "cost ≤ X") that picks the winner. Cost and latency come from the results
// themselves (usage and the wall time stored with each cached result), so a resumed or repeated
// run reads the same numbers and selects the same winner.
import { PromptkilnError } from '../errors.js';
import type { ExampleResult } from '../eval/evaluator.js';
import { candidatePrefix, type Example, type Task } from '../eval/task.js';
import { costOf, priceOf, type PriceTable } from '../llm/prices.js';
import type { LanguageModel } from '../llm/types.js';
import { objectiveFront, type Direction } from './pareto.js';

export type ObjectiveName = 'score' | 'cost' | 'latency' | 'length';
export const OBJECTIVE_NAMES: ObjectiveName[] = ['score', 'cost', 'latency', 'length'];
export const DIRECTIONS: Record<ObjectiveName, Direction> = { score: 'max', cost: 'min', latency: 'min', length: 'min' };
export const UNITS: Record<ObjectiveName, string> = { score: 'metric', cost: 'USD per example', latency: 'ms per example', length: 'characters' };

// weights: utility = Σ w·v for maximized objectives, Σ −w·v for minimized ones (default {score: 1});
// constraints: bounds a winner must meet
export interface Selection {
  weights?: Partial<Record<ObjectiveName, number>>;
  constraints?: Partial<Record<ObjectiveName, { max?: number; min?: number }>>;
}

export type ObjectiveValues = Record<ObjectiveName, number | null>;

export interface ObjectivesReport {
  names: ObjectiveName[];
  points: { id: string; values: ObjectiveValues }[];
  front: string[]; // candidate ids on the Pareto front over `names`
  winner: string;
  constraintsMet: boolean; // false: no candidate met every constraint; the winner is the best by utility
  selection: Selection;
}

const isName = (s: string): s is ObjectiveName => (OBJECTIVE_NAMES as string[]).includes(s);

export function parseObjectives(spec: string | string[], where: string): ObjectiveName[] {
  const names = (Array.isArray(spec) ? spec : spec.split(',')).map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!isName(n)) throw new PromptkilnError('ARGUMENT', `${where}: unknown objective "${n}": expected some of ${OBJECTIVE_NAMES.join(', ')}`);
  if (!names.includes('score')) throw new PromptkilnError('ARGUMENT', `${where}: objectives ${JSON.stringify(names)} must include "score"`);
  return [...new Set(names)] as ObjectiveName[];
}

// "cost<=0.001,latency<=200,score=1,length=0.001": bounds (<=, >=) and weights (=)
export function parseSelection(spec: string, where: string): Selection {
  const sel: Selection = {};
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z]+)\s*(<=|>=|=)\s*(-?[0-9.eE+-]+)$/.exec(part);
    const v = m ? Number(m[3]) : NaN;
    if (!m || !isName(m[1]) || !Number.isFinite(v)) throw new PromptkilnError('ARGUMENT', `${where}: cannot read "${part}": expected NAME<=X, NAME>=X or NAME=WEIGHT with NAME one of ${OBJECTIVE_NAMES.join(', ')}`);
    const name = m[1];
    if (m[2] === '=') (sel.weights ??= {})[name] = v;
    else (sel.constraints ??= {})[name] = { ...sel.constraints?.[name], [m[2] === '<=' ? 'max' : 'min']: v };
  }
  return sel;
}

export function checkSelection(sel: Selection, names: ObjectiveName[], where: string) {
  for (const k of [...Object.keys(sel.weights ?? {}), ...Object.keys(sel.constraints ?? {})]) {
    if (!names.includes(k as ObjectiveName)) throw new PromptkilnError('ARGUMENT', `${where}: the selection names "${k}", which is not among the objectives ${names.join(',')}`);
  }
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

// One candidate's objectives from its validation results. `promptChars`: its prompt before the input.
export function objectiveValues(score: number | null, results: ExampleResult[], promptChars: number, target: LanguageModel, prices: PriceTable): ObjectiveValues {
  const p = priceOf(prices, target);
  const usages = results.map((r) => r.usage);
  const times = results.map((r) => r.ms);
  return {
    score,
    cost: p && usages.every((u) => u) ? mean(usages.map((u) => costOf(p, u!))) : null,
    latency: times.every((t) => t !== undefined) ? mean(times as number[]) : null,
    length: promptChars,
  };
}

export function requirePricedTarget(names: ObjectiveName[], target: LanguageModel, prices: PriceTable) {
  if (names.includes('cost') && !priceOf(prices, target)) {
    throw new PromptkilnError('ARGUMENT', `objective "cost": model ${target.modelName ?? target.id} has no price; give one (CLI: --prices FILE, API: prices) or drop "cost" from the objectives`);
  }
}

// a weighted objective without a value (no price, an old cache entry without its time) ranks last
const utility = (v: ObjectiveValues, w: Selection['weights']) =>
  (Object.entries(w ?? { score: 1 }) as [ObjectiveName, number][]).reduce((a, [k, x]) => (v[k] === null ? -Infinity : a + (DIRECTIONS[k] === 'max' ? 1 : -1) * x * v[k]!), 0);

const meets = (v: ObjectiveValues, c: Selection['constraints']) =>
  (Object.entries(c ?? {}) as [ObjectiveName, { max?: number; min?: number }][]).every(([k, b]) => v[k] !== null && (b.max === undefined || v[k]! <= b.max) && (b.min === undefined || v[k]! >= b.min));

// The front over `names`, and the winner: the best utility among the candidates meeting every
// constraint (ties: the earlier candidate); with none meeting them, the best utility overall.
export function selectWinner(points: { id: string; values: ObjectiveValues }[], names: ObjectiveName[], selection: Selection): ObjectivesReport {
  const front = objectiveFront(points.map((p) => names.map((n) => p.values[n])), names.map((n) => DIRECTIONS[n])).map((i) => points[i].id);
  const ok = points.filter((p) => meets(p.values, selection.constraints));
  const from = ok.length ? ok : points;
  let best = from[0];
  for (const p of from) if (utility(p.values, selection.weights) > utility(best.values, selection.weights)) best = p;
  return { names, points, front, winner: best.id, constraintsMet: ok.length > 0, selection };
}

// Score every fully evaluated candidate on the objectives (their validation results are cached,
// so this costs no calls) and pick the winner.
export async function selectByObjectives(
  ev: { evaluate(c: { instruction: string; demos: Example[] }, xs: Example[]): Promise<{ score: number | null; results: ExampleResult[] }> },
  task: Task, pool: { cand: { id: string; instruction: string; demos: Example[] } }[], validation: Example[],
  names: ObjectiveName[], selection: Selection, target: LanguageModel, prices: PriceTable,
): Promise<ObjectivesReport> {
  const points = [];
  const byNumber = pool.slice().sort((a, b) => Number(a.cand.id.slice(1)) - Number(b.cand.id.slice(1)));
  for (const p of byNumber) {
    const r = await ev.evaluate(p.cand, validation);
    points.push({ id: p.cand.id, values: objectiveValues(r.score, r.results, candidatePrefix(task, p.cand).length, target, prices) });
  }
  return selectWinner(points, names, selection);
}
