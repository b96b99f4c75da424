// ProTeGi (Pryzant et al. 2023): run the prompt on a minibatch, collect its errors, ask the LLM
// why it failed (the "textual gradient"), ask it to revise the prompt along that critique, and
// select among the revisions with a bandit (racing 'ucb' in the loop). A judge's reasons and an
// unusable answer's parse error are shown beside each error: they say why it was wrong.
import { fill } from '../meta-prompts.js';
import { cleanProposal } from '../text.js';
import type { Proposal, SearchContext, ScoredCandidate, Strategy } from '../types.js';

export interface ProtegiOptions {
  minibatch?: number; // training examples run to find errors (default 8)
  maxErrors?: number; // errors shown to the LLM (default 4)
  critiques?: number; // critiques ("gradients") per parent (default 2)
}

export function protegi(o: ProtegiOptions = {}): Strategy {
  return {
    name: 'protegi',
    racing: 'ucb',
    async expand(ctx: SearchContext, parents: ScoredCandidate[], count: number): Promise<Proposal[]> {
      const r = ctx.rng.fork(`protegi:${ctx.iteration}`);
      const out: Proposal[] = [];
      for (const p of parents) {
        if (out.length >= count) break;
        const batch = r.shuffle(ctx.task.train).slice(0, o.minibatch ?? 8);
        const res = await ctx.evaluator.evaluate(p.cand, batch);
        // errors: wrong answers for text/label metrics; the least likely outputs for loglik
        const ranked = res.results.map((x, i) => ({ x, ex: batch[i] })).sort((a, b) => (a.x.score ?? -Infinity) - (b.x.score ?? -Infinity));
        const wrong = ctx.evaluator.metric.kind === 'loglik' ? ranked : ranked.filter((e) => (e.x.score ?? 0) < 1);
        if (wrong.length === 0) continue;
        const errors = wrong
          .slice(0, o.maxErrors ?? 4)
          .map((e) => `Input: ${e.ex.input}\nExpected: ${e.ex.output}${e.x.prediction !== undefined ? `\nGot: ${e.x.prediction}` : ''}${e.x.feedback ? `\nJudge: ${e.x.feedback}` : ''}${e.x.error ? `\nProblem: ${e.x.error}` : ''}`)
          .join('\n\n');
        const nCrit = o.critiques ?? 2;
        const crits = await ctx.llm(fill(ctx.meta.critique, { prompt: p.cand.instruction, errors, n: nCrit }), { n: nCrit, temperature: 0.9, maxTokens: 64 });
        for (const c of crits) {
          const critique = c.trim().replace(/\s+/g, ' ').slice(0, 400);
          if (!critique) continue;
          const revs = await ctx.llm(fill(ctx.meta.revise, { prompt: p.cand.instruction, errors, critique }), { n: 2, temperature: 0.9, maxTokens: 64 });
          for (const t of revs) {
            const instruction = cleanProposal(t);
            if (instruction) out.push({ instruction, demos: p.cand.demos, parent: p.cand.id, operator: 'protegi' });
          }
        }
      }
      return out.slice(0, count);
    },
  };
}
