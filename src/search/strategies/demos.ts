// Demonstration optimization: bootstrap a pool of demonstrations from training examples the
// current prompt already gets right (DSPy's BootstrapFewShot), then random search over demo
// sets and greedy extension of the best set, one demonstration at a time.
import type { Example } from '../../eval/task.js';
import type { Proposal, SearchContext, ScoredCandidate, Strategy } from '../types.js';

export interface DemosOptions {
  k?: number; // demonstrations per random set (default 3)
  maxDemos?: number; // greedy stops growing a set here (default 6)
  bootstrapExamples?: number; // training examples run to bootstrap the pool (default 16)
}

export function demos(o: DemosOptions = {}): Strategy {
  let pool: Example[] | null = null;
  async function bootstrap(ctx: SearchContext, parent: ScoredCandidate): Promise<Example[]> {
    const train = ctx.task.train.slice(0, o.bootstrapExamples ?? 16);
    const res = await ctx.evaluator.evaluate({ instruction: parent.cand.instruction, demos: [] }, train);
    const scored = res.results.map((r, i) => ({ ex: train[i], s: r.score }));
    if (ctx.evaluator.metric.kind === 'loglik') {
      // no "correct" for likelihoods: the better-predicted half are the model's easy cases
      scored.sort((a, b) => (b.s ?? -Infinity) - (a.s ?? -Infinity));
      return scored.slice(0, Math.max(1, Math.ceil(scored.length / 2))).map((x) => x.ex);
    }
    const right = scored.filter((x) => (x.s ?? 0) >= 1).map((x) => x.ex);
    return right.length ? right : train; // nothing right yet: fall back to labelled examples
  }
  return {
    name: 'demos',
    racing: 'halving',
    async expand(ctx: SearchContext, parents: ScoredCandidate[], count: number): Promise<Proposal[]> {
      const best = parents[0];
      pool ??= await bootstrap(ctx, best);
      const r = ctx.rng.fork(`demos:${ctx.iteration}`);
      const k = Math.min(o.k ?? 3, pool.length);
      const out: Proposal[] = [];
      const have = new Set(best.cand.demos.map((d) => d.id));
      // greedy: the best set plus one more demonstration
      const extra = r.shuffle(pool.filter((d) => !have.has(d.id)));
      if (best.cand.demos.length < (o.maxDemos ?? 6)) {
        for (const d of extra.slice(0, Math.ceil(count / 2))) {
          out.push({ instruction: best.cand.instruction, demos: [...best.cand.demos, d], parent: best.cand.id, operator: 'demos:greedy' });
        }
      }
      // random search: fresh sets of k (a pool no larger than k has one set: draw it once)
      while (out.length < count && k > 0) {
        out.push({ instruction: best.cand.instruction, demos: r.shuffle(pool).slice(0, k), parent: best.cand.id, operator: 'demos:random' });
        if (pool.length <= k) break;
      }
      return out;
    },
  };
}
