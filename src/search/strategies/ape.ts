// APE: the LLM resamples new prompts for the same task from the best ones (Zhou et al. 2022),
// and a paraphrase expander (APE's iterative "variation" template).
import { fill } from '../meta-prompts.js';
import { splitProposals } from '../text.js';
import type { Proposal, SearchContext, ScoredCandidate, Strategy } from '../types.js';

async function fromTemplate(ctx: SearchContext, parents: ScoredCandidate[], count: number, which: 'expand' | 'paraphrase'): Promise<Proposal[]> {
  const out: Proposal[] = [];
  const per = Math.max(1, Math.ceil(count / Math.max(1, parents.length)));
  for (const p of parents) {
    const texts = await ctx.llm(fill(ctx.meta[which], { prompt: p.cand.instruction }), { n: per, temperature: 0.9, maxTokens: 64 });
    for (const t of texts) {
      for (const instruction of splitProposals(t).slice(0, per)) {
        out.push({ instruction, demos: p.cand.demos, parent: p.cand.id, operator: `${which === 'expand' ? 'ape' : 'paraphrase'}` });
      }
    }
  }
  return out.slice(0, count);
}

export const ape: Strategy = {
  name: 'ape',
  racing: 'ucb',
  expand: (ctx, parents, count) => fromTemplate(ctx, parents, count, 'expand'),
};

export const paraphrase: Strategy = {
  name: 'paraphrase',
  racing: 'halving',
  expand: (ctx, parents, count) => fromTemplate(ctx, parents, count, 'paraphrase'),
};
