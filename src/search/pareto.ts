// Pareto dominance, two ways: per example (GEPA's candidate pool: a candidate survives while it is
// the best on some validation example) and over objectives (score, cost, latency, length).

// Per-example fronts. scores[c][e] is candidate c's score on example e (null: not scored, worst).
// Returns, for each surviving candidate, the examples it leads on. As in GEPA: for every example
// take the candidates at the best score, then drop candidates whose set of led examples is
// strictly contained in another's (they are dominated on the instance front).
export function exampleFront(scores: (number | null)[][]): Map<number, number[]> {
  const nEx = scores[0]?.length ?? 0;
  const leads = new Map<number, number[]>();
  for (let e = 0; e < nEx; e++) {
    let best = -Infinity;
    for (const row of scores) best = Math.max(best, row[e] ?? -Infinity);
    if (best === -Infinity) continue;
    scores.forEach((row, c) => {
      if ((row[e] ?? -Infinity) === best) leads.set(c, [...(leads.get(c) ?? []), e]);
    });
  }
  const sets = [...leads].map(([c, es]) => ({ c, es: new Set(es) }));
  for (const a of sets) {
    const dominated = sets.some((b) => b.c !== a.c && b.es.size > a.es.size && [...a.es].every((e) => b.es.has(e)));
    if (dominated) leads.delete(a.c);
  }
  return leads;
}

// A parent drawn in proportion to the number of examples it leads on (GEPA's selection).
export function sampleByLeads(front: Map<number, number[]>, u: number): number {
  const entries = [...front].sort((a, b) => a[0] - b[0]);
  const total = entries.reduce((a, [, es]) => a + es.length, 0);
  let x = u * total;
  for (const [c, es] of entries) {
    x -= es.length;
    if (x < 0) return c;
  }
  return entries[entries.length - 1][0];
}

// Objectives are named, each with a direction; a point dominates another when it is no worse on
// every objective and strictly better on one. Points with a null value are never on the front.
export type Direction = 'max' | 'min';

export function dominates(a: number[], b: number[], dirs: Direction[]): boolean {
  let strictly = false;
  for (let i = 0; i < dirs.length; i++) {
    const better = dirs[i] === 'max' ? a[i] - b[i] : b[i] - a[i];
    if (better < 0) return false;
    if (better > 0) strictly = true;
  }
  return strictly;
}

// Indices of the non-dominated points, in input order.
export function objectiveFront(points: (number | null)[][], dirs: Direction[]): number[] {
  const ok = points.map((p, i) => ({ p, i })).filter((x) => x.p.every((v) => v !== null && Number.isFinite(v))) as { p: number[]; i: number }[];
  return ok.filter((a) => !ok.some((b) => b.i !== a.i && dominates(b.p, a.p, dirs))).map((a) => a.i);
}
