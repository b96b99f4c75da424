// GrIPS (Prasad et al. 2022): gradient-free edits of the instruction. Phrase level: delete,
// swap, paraphrase (by the LLM), add (a phrase deleted earlier); token level: insert, delete,
// substitute a word drawn from the task's own text. Greedy: edits start from the best parents.
import { fill } from '../meta-prompts.js';
import { chunkPhrases, cleanProposal, joinPhrases, words } from '../text.js';
import type { Proposal, SearchContext, ScoredCandidate, Strategy } from '../types.js';
import type { Rng } from '../../eval/rng.js';

export type GripsOp = 'del' | 'swap' | 'par' | 'add' | 'tok-ins' | 'tok-del' | 'tok-sub';

export interface GripsOptions {
  ops?: GripsOp[]; // default: all; 'par' only when an LLM is given
  editsPerCandidate?: number; // edits applied in sequence (default 1)
  // words inserted/substituted by token edits (default: words of the training outputs + description)
  vocabulary?: string[];
  useLLM?: boolean; // paraphrase phrases with the proposing LLM (default true)
}

export function gripsVocabulary(ctx: SearchContext): string[] {
  const seen = new Set<string>();
  const texts = [...ctx.task.train.map((e) => e.output), ctx.task.description];
  for (const t of texts) for (const w of words(t)) {
    const bare = w.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '');
    if (bare.length >= 2) seen.add(bare);
  }
  return [...seen].sort();
}

export function grips(o: GripsOptions = {}): Strategy {
  const deleted: string[] = []; // the "add" operator re-inserts phrases removed earlier
  async function edit(ctx: SearchContext, text: string, op: GripsOp, r: Rng, vocab: string[]): Promise<string | null> {
    const ph = chunkPhrases(text);
    const ws = words(text);
    switch (op) {
      case 'del': {
        if (ph.length < 2) return null;
        const i = r.int(ph.length);
        deleted.push(ph[i]);
        return joinPhrases(ph.filter((_, j) => j !== i));
      }
      case 'swap': {
        if (ph.length < 2) return null;
        const i = r.int(ph.length);
        let j = r.int(ph.length - 1);
        if (j >= i) j++;
        [ph[i], ph[j]] = [ph[j], ph[i]];
        return joinPhrases(ph);
      }
      case 'par': {
        if (ph.length === 0) return null;
        const i = r.int(ph.length);
        const [t] = await ctx.llm(fill(ctx.meta.paraphrase, { prompt: ph[i] }), { temperature: 0.9, maxTokens: 24 });
        const c = t ? cleanProposal(t, 120) : null;
        if (!c) return null;
        ph[i] = c;
        return joinPhrases(ph);
      }
      case 'add': {
        if (deleted.length === 0) return null;
        ph.splice(r.int(ph.length + 1), 0, r.pick(deleted));
        return joinPhrases(ph);
      }
      case 'tok-ins': {
        if (vocab.length === 0) return null;
        ws.splice(r.int(ws.length + 1), 0, r.pick(vocab));
        return ws.join(' ');
      }
      case 'tok-del': {
        if (ws.length < 2) return null;
        ws.splice(r.int(ws.length), 1);
        return ws.join(' ');
      }
      case 'tok-sub': {
        if (vocab.length === 0 || ws.length === 0) return null;
        ws[r.int(ws.length)] = r.pick(vocab);
        return ws.join(' ');
      }
    }
  }
  return {
    name: 'grips',
    racing: 'halving',
    async expand(ctx: SearchContext, parents: ScoredCandidate[], count: number): Promise<Proposal[]> {
      const vocab = o.vocabulary ?? gripsVocabulary(ctx);
      const ops = (o.ops ?? ['del', 'swap', 'par', 'add', 'tok-ins', 'tok-del', 'tok-sub']).filter((x) => x !== 'par' || o.useLLM !== false);
      const r = ctx.rng.fork(`grips:${ctx.iteration}`);
      const out: Proposal[] = [];
      // greedy: the best parent gets half the edits, the others share the rest
      for (let k = 0; out.length < count && k < count * 4; k++) {
        const parent = k % 2 === 0 || parents.length === 1 ? parents[0] : parents[1 + (k % (parents.length - 1))];
        let text = parent.cand.instruction;
        const applied: string[] = [];
        for (let e = 0; e < (o.editsPerCandidate ?? 1); e++) {
          const op = r.pick(ops);
          const t = await edit(ctx, text, op, r, vocab);
          if (t !== null && t !== text) {
            text = t;
            applied.push(op);
          }
        }
        if (applied.length && text.trim()) out.push({ instruction: text, demos: parent.cand.demos, parent: parent.cand.id, operator: `grips:${applied.join('+')}` });
      }
      return out;
    },
  };
}
