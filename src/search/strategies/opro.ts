// OPRO (Yang et al. 2023): the LLM sees the scored trajectory of instructions, worst to best,
// and a few task exemplars, and writes a new instruction that should score higher.
import { fill } from '../meta-prompts.js';
import { cleanProposal } from '../text.js';
import type { Proposal, SearchContext, ScoredCandidate, Strategy } from '../types.js';

export interface OproOptions {
  trajectory?: number; // best instructions shown (default 20)
  exemplars?: number; // task examples shown (default 3)
}

export function oproMetaPrompt(ctx: SearchContext, o: OproOptions = {}): string {
  const kind = ctx.evaluator.metric.kind;
  const fmt = (s: number | null) => (s === null ? 'n/a' : kind === 'loglik' ? s.toFixed(3) : String(Math.round(s * 100)));
  // ascending: the best sits last, next to the request (as in the paper)
  const traj = ctx.trajectory.slice(0, o.trajectory ?? 20).reverse();
  const trajectory = traj.map((t) => `text:\n${t.cand.instruction}\nscore:\n${fmt(t.score)}\n`).join('\n');
  const exemplars = ctx.rng
    .fork(`opro:${ctx.iteration}`)
    .shuffle(ctx.task.train)
    .slice(0, o.exemplars ?? 3)
    .map((e) => `input:\nQ: <INS> ${e.input}\nA: ${e.output}`)
    .join('\n\n');
  return fill(ctx.meta.opro, { trajectory, exemplars });
}

export function opro(o: OproOptions = {}): Strategy {
  return {
    name: 'opro',
    racing: 'halving',
    async expand(ctx: SearchContext, parents: ScoredCandidate[], count: number): Promise<Proposal[]> {
      const texts = await ctx.llm(oproMetaPrompt(ctx, o), { n: count, temperature: 1, maxTokens: 64 });
      const best = parents[0];
      const out: Proposal[] = [];
      for (const t of texts) {
        const instruction = cleanProposal(t);
        if (instruction) out.push({ instruction, demos: best.cand.demos, parent: best.cand.id, operator: 'opro' });
      }
      return out;
    },
  };
}
