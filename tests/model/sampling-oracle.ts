// What seeded sampling should draw, computed independently of src/model/sampling.ts: the
// distribution softmax(l / T) cut to the top-k, then to the nucleus (Hugging Face's order:
// temperature → top-k → top-p), and a binomial check of empirical frequencies against it.
import { expect } from 'vitest';

export interface SamplingSettings { temperature: number; topK?: number; topP?: number }

export interface SamplingSet {
  probs: Map<number, number>; // token id → probability after the cuts (sums to 1)
  // distance of the nucleus threshold p from the nearest cumulative mass of the top-k list:
  // a set this far from its boundary cannot flip on float rounding
  nucleusMargin: number;
}

export function samplingSet(logits: ArrayLike<number>, o: SamplingSettings): SamplingSet {
  const V = logits.length;
  const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b);
  const kept = order.slice(0, o.topK && o.topK > 0 ? Math.min(o.topK, V) : V);
  const m = logits[kept[0]];
  const w = kept.map((i) => Math.exp((logits[i] - m) / o.temperature));
  const z = w.reduce((a, b) => a + b, 0);
  let n = kept.length, nucleusMargin = Infinity;
  if (o.topP !== undefined && o.topP < 1) {
    // smallest prefix of the sorted list whose mass reaches p
    let acc = 0;
    n = -1;
    for (let j = 0; j < kept.length; j++) {
      acc += w[j] / z;
      nucleusMargin = Math.min(nucleusMargin, Math.abs(acc - o.topP));
      if (n < 0 && acc >= o.topP) n = j + 1;
    }
  }
  const z2 = w.slice(0, n).reduce((a, b) => a + b, 0);
  return { probs: new Map(kept.slice(0, n).map((id, j) => [id, w[j] / z2])), nucleusMargin };
}

// Empirical frequencies of N seeded draws against the distribution. Per token the bound is
// |f̂ − p| ≤ 4.5·sqrt(p(1−p)/N) + 1/N (4.5 standard deviations: the draws are fixed by the seeds,
// so the check is deterministic, and a correct sampler passes it with room to spare); tokens
// outside the set must never appear.
export function expectFrequencies(draws: readonly number[], set: SamplingSet, what: string): void {
  const N = draws.length;
  const counts = new Map<number, number>();
  for (const d of draws) counts.set(d, (counts.get(d) ?? 0) + 1);
  const outside = [...counts.keys()].filter((id) => !set.probs.has(id));
  expect(outside, `${what}: tokens drawn outside the top-k / nucleus set`).toEqual([]);
  for (const [id, p] of set.probs) {
    const f = (counts.get(id) ?? 0) / N;
    const bound = 4.5 * Math.sqrt((p * (1 - p)) / N) + 1 / N;
    expect(Math.abs(f - p), `${what}: token ${id} drawn with frequency ${f.toFixed(4)}, p = ${p.toFixed(4)} (bound ${bound.toFixed(4)})`).toBeLessThanOrEqual(bound);
  }
}
