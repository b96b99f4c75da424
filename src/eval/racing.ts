// Racing: spend evaluations on promising candidates and stop weak ones early.
//  - successive halving: everyone on a few examples, keep the better 1/eta, multiply the
//    examples by eta, repeat; the survivor is evaluated on all examples.
//  - UCB (APE's bandit): repeatedly evaluate the candidate with the highest upper confidence
//    bound on its next batch of examples, within a total number of example evaluations.
// The evaluator's cache makes the cumulative prefixes free: an example is run once per candidate.
import { PromptkilnError } from '../errors.js';
import { byScoreDesc, type Evaluator, type ExampleResult } from './evaluator.js';
import type { Example, PromptCandidate } from './task.js';

export interface RaceEntry {
  index: number; // position in the input list
  score: number | null; // mean over the examples it was evaluated on
  n: number;
  failures: number;
  results: ExampleResult[];
}

export interface RaceOptions {
  method: 'exhaustive' | 'halving' | 'ucb';
  eta?: number; // halving: keep 1/eta each round (default 2)
  minExamples?: number; // halving: examples in the first round (default 2)
  batch?: number; // ucb: examples per pull (default 2)
  pulls?: number; // ucb: total example evaluations (default half of exhaustive)
  c?: number; // ucb: exploration constant, in units of the observed score range (default 1)
}

// Returns entries sorted best first; entries[0] is the winner.
export async function race(ev: Evaluator, cands: PromptCandidate[], examples: Example[], o: RaceOptions): Promise<RaceEntry[]> {
  if (cands.length === 0) return [];
  if (examples.length === 0) throw new PromptkilnError('ARGUMENT', 'race: no examples to evaluate on');
  const entries: RaceEntry[] = cands.map((_, index) => ({ index, score: null, n: 0, failures: 0, results: [] }));
  const run = async (e: RaceEntry, exs: Example[]) => {
    const s = await ev.evaluate(cands[e.index], exs);
    Object.assign(e, { score: s.score, n: s.n, failures: s.failures, results: s.results });
  };
  const sortBest = (xs: RaceEntry[]) =>
    xs.sort((a, b) => b.n - a.n || byScoreDesc(a.score, b.score) || a.index - b.index);

  if (o.method === 'exhaustive' || cands.length === 1) {
    for (const e of entries) await run(e, examples);
    return sortBest(entries);
  }
  if (o.method === 'halving') {
    const eta = o.eta ?? 2;
    let n = Math.min(examples.length, o.minExamples ?? 2);
    let alive = entries.slice();
    for (;;) {
      for (const e of alive) await run(e, examples.slice(0, n));
      if (n >= examples.length) break;
      alive.sort((a, b) => byScoreDesc(a.score, b.score) || a.index - b.index);
      alive = alive.slice(0, Math.max(1, Math.ceil(alive.length / eta)));
      n = Math.min(examples.length, n * eta);
      if (alive.length === 1) n = examples.length; // the winner's score is on every example
    }
    return sortBest(entries);
  }
  // UCB over batches of a shared example order
  const batch = o.batch ?? 2;
  const pulls = o.pulls ?? Math.ceil((cands.length * examples.length) / 2);
  const c = o.c ?? 1;
  let used = 0;
  let t = 0;
  while (used < pulls) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const e of entries) for (const r of e.results) if (r.score !== null) (lo = Math.min(lo, r.score)), (hi = Math.max(hi, r.score));
    const range = hi > lo ? hi - lo : 1;
    let pick: RaceEntry | null = null;
    let best = -Infinity;
    for (const e of entries) {
      if (e.n >= examples.length) continue;
      const u = e.n === 0 ? Infinity : (e.score ?? -Infinity) + c * range * Math.sqrt(Math.log(t + 1) / (e.n / batch));
      if (u > best) (best = u), (pick = e);
    }
    if (!pick) break; // everyone has seen every example
    const next = Math.min(examples.length, pick.n + batch);
    used += next - pick.n;
    await run(pick, examples.slice(0, next));
    t++;
  }
  // Rank by mean among candidates evaluated on at least half as many examples as the most-pulled
  // one: a lucky score on two examples should not beat a steady one on twenty.
  const maxN = Math.max(...entries.map((e) => e.n));
  const trusted = entries.filter((e) => e.n >= maxN / 2);
  const rest = entries.filter((e) => e.n < maxN / 2);
  const rank = (xs: RaceEntry[]) => xs.sort((a, b) => byScoreDesc(a.score, b.score) || a.index - b.index);
  return [...rank(trusted), ...rank(rest)];
}
