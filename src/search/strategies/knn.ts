// Per-input demonstrations (DSPy's KNNFewShot idea, our code): embed every training example once,
// and for each input show the k training examples nearest to it by cosine similarity, chosen at
// run time. Embeddings come from the embedder's embed() (an endpoint's /v1/embeddings, or the
// local model's mean-pooled hidden states); they go through the evaluator's cache and budget (one
// call per batch of texts). The retrieval is stored in program.json with the pool's vectors.
import { PromptkilnError } from '../../errors.js';
import { contentKey } from '../../eval/cache.js';
import { nearestIndices } from '../../eval/retrieval.js';
import type { Example } from '../../eval/task.js';
import type { LanguageModel } from '../../llm/types.js';
import type { Proposal, Retrieval, SearchContext, ScoredCandidate, Strategy } from '../types.js';

export interface KnnOptions {
  k?: number[]; // demonstration counts tried (default [1, 2, 3])
  embedder?: LanguageModel; // default: the target model (it must have embed())
  batch?: number; // texts per embed call (default 64)
}

// The k pool examples nearest to `q`, the nearest last; an example never retrieves itself.
export function nearest(r: Retrieval, q: number[], k: number, selfId?: string): Example[] {
  const skip = selfId === undefined ? -1 : r.pool.findIndex((p) => p.example.id === selfId);
  return nearestIndices(r.pool.map((p) => p.vector), q, k, skip).map((i) => r.pool[i].example);
}

// Embeddings of texts through the evaluator (cached, budgeted as target calls).
export async function embedAll(ctx: Pick<SearchContext, 'evaluator' | 'signal'>, lm: LanguageModel, texts: string[], batch = 64): Promise<number[][]> {
  const out: number[][] = [];
  for (let i = 0; i < texts.length; i += batch) {
    const part = texts.slice(i, i + batch);
    const key = await contentKey(['embed/1', lm.id, part]);
    const { value } = await ctx.evaluator.memo(key, 1, () => lm.embed!(part, { signal: ctx.signal }));
    if (value.vectors.length !== part.length) throw new PromptkilnError('NETWORK', `${lm.id}: embed returned ${value.vectors.length} vectors for ${part.length} texts`);
    out.push(...value.vectors);
  }
  return out;
}

export function knn(o: KnnOptions = {}): Strategy {
  let done = false;
  return {
    name: 'knn',
    racing: 'exhaustive',
    async expand(ctx: SearchContext, parents: ScoredCandidate[], count: number): Promise<Proposal[]> {
      if (done) return [];
      done = true;
      const lm = o.embedder ?? ctx.evaluator.model;
      if (!lm.embed) throw new PromptkilnError('ARGUMENT', `strategy knn needs embeddings, but model ${lm.id} has no embed(): use an endpoint with /v1/embeddings, the local model, or knn({ embedder })`);
      // every example of the task is embedded up front: validation and test inputs are queries
      const all = ctx.task.examples;
      const vecs = await embedAll(ctx, lm, all.map((e) => e.input), o.batch);
      const byId = new Map(all.map((e, i) => [e.id, vecs[i]]));
      const trainIds = new Set(ctx.task.train.map((e) => e.id));
      const pool = all.filter((e) => trainIds.has(e.id)).map((e) => ({ example: e, vector: byId.get(e.id)! }));
      const out: Proposal[] = [];
      for (const p of parents) {
        for (const k of o.k ?? [1, 2, 3]) {
          const r: Retrieval = { k, embedder: lm.id, pool };
          const demosFor = (ex: Example) => {
            const q = byId.get(ex.id);
            if (!q) throw new PromptkilnError('DATA', `knn: example ${ex.id} was not embedded (it is not among the task's examples)`);
            return nearest(r, q, k, ex.id);
          };
          out.push({ instruction: p.cand.instruction, demos: [], parent: p.cand.id, operator: `knn:k${k}`, knn: r, demosFor });
        }
      }
      return out.slice(0, Math.max(count, (o.k ?? [1, 2, 3]).length));
    },
  };
}
