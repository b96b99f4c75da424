// A small Tree-structured Parzen Estimator over categorical choices (Bergstra et al. 2011), seeded.
// Our own, not Optuna's: each dimension gets a smoothed frequency model of the good trials (top
// γ by score) and of the rest; the next point samples candidates from the good model and keeps
// the one with the largest l(x)/g(x). Dimensions are independent, as in Optuna's default TPE.
import type { Rng } from '../eval/rng.js';

export interface TpeOptions {
  gamma?: number; // fraction of trials counted as good (default 0.25)
  startup?: number; // random trials before the model is used (default 4)
  candidates?: number; // points sampled from l(x) per suggestion (default 24)
  prior?: number; // pseudo-count per category (default 1)
}

export interface Trial {
  point: number[];
  score: number; // higher is better
}

export class CategoricalTpe {
  readonly trials: Trial[] = [];
  constructor(
    readonly sizes: number[], // categories per dimension
    readonly rng: Rng,
    readonly o: TpeOptions = {},
  ) {}

  observe(point: number[], score: number) {
    this.trials.push({ point, score });
  }

  suggest(): number[] {
    if (this.trials.length < (this.o.startup ?? 4)) return this.sizes.map((k) => this.rng.int(k));
    const sorted = this.trials.slice().sort((a, b) => b.score - a.score);
    const nGood = Math.max(1, Math.ceil((this.o.gamma ?? 0.25) * sorted.length));
    const good = sorted.slice(0, nGood), bad = sorted.slice(nGood);
    const prior = this.o.prior ?? 1;
    // per dimension: P(category | good), P(category | bad), smoothed
    const l = this.sizes.map((k, d) => density(good, d, k, prior));
    const g = this.sizes.map((k, d) => density(bad, d, k, prior));
    let best: number[] = [];
    let bestRatio = -Infinity;
    for (let s = 0; s < (this.o.candidates ?? 24); s++) {
      const x = l.map((p) => draw(p, this.rng.next()));
      const ratio = x.reduce((a, c, d) => a + Math.log(l[d][c]) - Math.log(g[d][c]), 0);
      if (ratio > bestRatio) (bestRatio = ratio), (best = x);
    }
    return best;
  }
}

function density(trials: Trial[], d: number, k: number, prior: number): number[] {
  const p = new Array<number>(k).fill(prior);
  for (const t of trials) p[t.point[d]] += 1;
  const z = p.reduce((a, b) => a + b, 0);
  return p.map((v) => v / z);
}

function draw(p: number[], u: number): number {
  for (let i = 0; i < p.length; i++) {
    u -= p[i];
    if (u < 0) return i;
  }
  return p.length - 1;
}
