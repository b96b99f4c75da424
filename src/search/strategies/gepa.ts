// GEPA-style reflective evolution (Agrawal et al. 2025, arXiv 2507.19457; facts from the paper and
// DSPy's / Ax's GEPA, code our own): keep every fully scored candidate, select parents from the
// per-example Pareto front (a candidate survives while it is best on some validation example) in
// proportion to how many examples it leads on, run the parent on a small training minibatch, show
// a reflection model the traces with their feedback (the judge's reason, the parse error, expected
// vs produced), and keep its rewrite only if it beats the parent on that same minibatch (the
// screen); the loop then scores the survivors on all of validation. Merge: a single instruction has
// no modules to cross over (GEPA's system-aware merge), so two front candidates that lead on
// different examples are merged by the reflection model and screened on examples where they differ.
import type { ExampleResult } from '../../eval/evaluator.js';
import type { Example } from '../../eval/task.js';
import { exampleFront, sampleByLeads } from '../pareto.js';
import { fill } from '../meta-prompts.js';
import type { Candidate, Proposal, SearchContext, ScoredCandidate, Strategy } from '../types.js';

export interface GepaOptions {
  minibatch?: number; // training examples per reflection (DSPy's reflection_minibatch_size, default 3)
  merge?: boolean; // try one merge per iteration when the front holds two candidates (default true)
  attempts?: number; // reflections tried per iteration to find `count` survivors (default 2 × count)
  reflectPrompt?: string; // {instruction}, {examples}
  mergePrompt?: string; // {a}, {b}, {a_examples}, {b_examples}
  maxChars?: number; // longest instruction kept (default 2000)
}

export const GEPA_REFLECT =
  'I provided an assistant with the following instructions to perform a task for me:\n```\n{instruction}\n```\n\nThe following are examples of different task inputs provided to the assistant along with the assistant\'s response for each of them, and some feedback on how the assistant\'s response could be better:\n```\n{examples}\n```\n\nYour task is to write a new instruction for the assistant.\nRead the inputs carefully and identify the input format and infer a detailed task description.\nRead all the assistant responses and the corresponding feedback. Identify all niche and domain specific facts about the task and include them in the instruction. If the assistant used a generalizable strategy, include it as well.\n\nProvide the new instruction within ``` blocks.';

export const GEPA_MERGE =
  'Two instructions for the same task each do better on different examples.\nInstruction A:\n```\n{a}\n```\nA does better on:\n{a_examples}\n\nInstruction B:\n```\n{b}\n```\nB does better on:\n{b_examples}\n\nWrite one instruction that keeps the strengths of both. Provide it within ``` blocks.';

// The reflection model's instruction: the last fenced block, else the whole reply.
export function fencedText(text: string, maxChars = 2000): string | null {
  const blocks = [...text.matchAll(/```[a-z]*\n?([\s\S]*?)```/g)].map((m) => m[1]);
  let t = (blocks.length ? blocks[blocks.length - 1] : text.replace(/^```[a-z]*\n?/, '')).trim();
  if (t.length > maxChars) t = t.slice(0, maxChars).replace(/\s+\S*$/, '');
  return t.length >= 3 ? t : null;
}

// What the metric says about one example, as text for the reflection model.
export function feedbackText(ex: Example, r: ExampleResult, kind: string): string {
  const lines = [`Input: ${ex.input}`];
  if (r.prediction !== undefined) lines.push(`Response: ${r.prediction}`);
  lines.push(`Expected: ${ex.output}`);
  const score = r.score === null ? 'not scored' : kind === 'loglik' ? `${r.score.toFixed(3)} (mean log-likelihood of the expected output; higher is better)` : String(r.score);
  lines.push(`Score: ${score}`);
  if (r.feedback) lines.push(`Feedback: ${r.feedback}`);
  if (r.error) lines.push(`Problem: ${r.error}`);
  if (!r.feedback && !r.error && r.prediction !== undefined && r.score !== null && r.score < 1) lines.push(`Feedback: the response should have been "${ex.output}"`);
  return lines.join('\n');
}

const total = (rs: ExampleResult[]) => rs.reduce((a, r) => a + (r.score ?? -1e9), 0);

export function gepa(o: GepaOptions = {}): Strategy {
  const mb = o.minibatch ?? 3;
  let order: Example[] = [];
  let cursor = 0;
  let epoch = 0;
  const merged = new Set<string>();
  // GEPA walks the training set in shuffled epochs: every example is reflected on before repeats
  function minibatch(ctx: SearchContext): Example[] {
    const out: Example[] = [];
    while (out.length < Math.min(mb, ctx.task.train.length)) {
      if (cursor >= order.length) {
        order = ctx.rng.fork(`gepa:epoch:${epoch++}`).shuffle(ctx.task.train);
        cursor = 0;
      }
      out.push(order[cursor++]);
    }
    return out;
  }

  return {
    name: 'gepa',
    racing: 'exhaustive', // the front needs every candidate's score on every validation example
    async expand(ctx: SearchContext, _parents: ScoredCandidate[], count: number): Promise<Proposal[]> {
      const r = ctx.rng.fork(`gepa:${ctx.iteration}`);
      const pool = ctx.trajectory.slice().sort((a, b) => Number(a.cand.id.slice(1)) - Number(b.cand.id.slice(1)));
      // per-example scores of the pool: cached, so free
      const rows: ExampleResult[][] = [];
      for (const p of pool) rows.push((await ctx.evaluator.evaluate(p.cand, ctx.validation)).results);
      const front = exampleFront(rows.map((rs) => rs.map((x) => x.score)));
      const out: Proposal[] = [];
      const seen = new Set<string>();
      const take = (p: Proposal) => {
        if (seen.has(p.instruction)) return;
        seen.add(p.instruction);
        out.push(p);
      };

      if ((o.merge ?? true) && front.size >= 2) {
        const m = await tryMerge(ctx, pool.map((p) => p.cand), rows, front);
        if (m) take(m);
      }
      const attempts = o.attempts ?? 2 * count;
      for (let a = 0; a < attempts && out.length < count; a++) {
        const parent = pool[sampleByLeads(front, r.next())].cand;
        const batch = minibatch(ctx);
        const before = await ctx.evaluator.evaluate(parent, batch);
        const examples = batch.map((ex, i) => feedbackText(ex, before.results[i], ctx.evaluator.metric.kind)).join('\n\n');
        const [reply] = await ctx.llm(fill(o.reflectPrompt ?? GEPA_REFLECT, { instruction: parent.instruction, examples }), { n: 1, temperature: 1, maxTokens: 256 });
        const instruction = reply === undefined ? null : fencedText(reply, o.maxChars);
        if (!instruction || instruction === parent.instruction) continue;
        const after = await ctx.evaluator.evaluate({ instruction, demos: parent.demos }, batch);
        if (total(after.results) > total(before.results)) take({ instruction, demos: parent.demos, parent: parent.id, operator: 'gepa:reflect' });
      }
      return out;
    },
  };

  // The two front candidates leading on the most examples the other does not lead on.
  async function tryMerge(ctx: SearchContext, cands: Candidate[], rows: ExampleResult[][], front: Map<number, number[]>): Promise<Proposal | null> {
    const ids = [...front.keys()].sort((a, b) => a - b);
    let best: [number, number, number] | null = null;
    for (const i of ids) {
      for (const j of ids) {
        if (j <= i || merged.has(`${i}+${j}`)) continue;
        const a = new Set(front.get(i)), b = new Set(front.get(j));
        const gain = Math.min([...a].filter((e) => !b.has(e)).length, [...b].filter((e) => !a.has(e)).length);
        if (gain > 0 && (!best || gain > best[2])) best = [i, j, gain];
      }
    }
    if (!best) return null;
    const [i, j] = best;
    merged.add(`${i}+${j}`);
    const A = cands[i], B = cands[j];
    const show = (c: number, es: number[]) => es.slice(0, 3).map((e) => feedbackText(ctx.validation[e], rows[c][e], ctx.evaluator.metric.kind)).join('\n\n');
    const onlyA = front.get(i)!.filter((e) => !front.get(j)!.includes(e));
    const onlyB = front.get(j)!.filter((e) => !front.get(i)!.includes(e));
    const [reply] = await ctx.llm(fill(o.mergePrompt ?? GEPA_MERGE, { a: A.instruction, b: B.instruction, a_examples: show(i, onlyA), b_examples: show(j, onlyB) }), { n: 1, temperature: 1, maxTokens: 256 });
    const instruction = reply === undefined ? null : fencedText(reply, o.maxChars);
    if (!instruction || instruction === A.instruction || instruction === B.instruction) return null;
    // screen on the examples where the two differ: the merge must match the better of them there
    const diff = ctx.validation.filter((_, e) => rows[i][e].score !== rows[j][e].score).slice(0, Math.max(mb, 2));
    if (diff.length === 0) return null;
    const sm = total((await ctx.evaluator.evaluate({ instruction, demos: A.demos }, diff)).results);
    const sa = total((await ctx.evaluator.evaluate(A, diff)).results);
    const sb = total((await ctx.evaluator.evaluate(B, diff)).results);
    return sm >= Math.max(sa, sb) ? { instruction, demos: A.demos, parent: A.id, operator: `gepa:merge:${B.id}` } : null;
  }
}
