// MIPROv2-style joint search over instructions × demonstration sets (Opsahl-Ong et al. 2024; facts
// from DSPy's mipro_optimizer_v2.py, code our own): summarize the data and the task's fields,
// propose instructions grounded in that summary (each with a random style tip, as DSPy's grounded
// proposer does), bootstrap several demonstration sets (zero-shot, labelled, and sets of training
// examples the model already gets right), then search the joint categorical space with TPE
// (../tpe.ts) on validation minibatches; the combinations with the best mean minibatch score are
// handed to the loop, which scores them on all of validation.
import type { Example } from '../../eval/task.js';
import { fill, pairsText } from '../meta-prompts.js';
import { CategoricalTpe, type TpeOptions } from '../tpe.js';
import { cleanProposal } from '../text.js';
import type { Proposal, SearchContext, ScoredCandidate, Strategy } from '../types.js';

export interface MiproOptions {
  instructions?: number; // instruction candidates, the task's own included (default 6)
  demoSets?: number; // demonstration sets, zero-shot and labelled included (default 5)
  k?: number; // demonstrations per set (default 3)
  bootstrapExamples?: number; // training examples run per bootstrapped set (default 12)
  minibatch?: number; // validation examples per trial (default 5)
  trials?: number; // TPE trials per iteration (default: the loop's candidates per iteration)
  fullEvals?: number; // best combinations handed to full evaluation per iteration (default 2)
  tpe?: TpeOptions;
  summaryPrompt?: string; // {fields}, {pairs}
  proposePrompt?: string; // {summary}, {fields}, {instruction}, {pairs}, {tip}
}

export const MIPRO_SUMMARY = 'Here are examples of a task\'s data ({fields}).\n{pairs}\nSummarize in two sentences what this data is and what the task asks for.';
export const MIPRO_PROPOSE =
  'Data summary: {summary}\nThe task maps {fields}. Examples:\n{pairs}\nThe current instruction is: "{instruction}"\nTip: {tip}\nWrite a new instruction for this task. The instruction is wrapped with <START> and <END>.';
// DSPy's proposer tips, paraphrased
export const MIPRO_TIPS = ['none', 'Make it creative.', 'Make it simple and short.', 'Make it a detailed description of the task.', 'The stakes are high: say what matters most.', 'Include a persona suited to the task.'];

const candKey = (instruction: string, demos: Example[]) => JSON.stringify([instruction, demos.map((d) => d.id)]);

export function mipro(o: MiproOptions = {}): Strategy {
  let space: { instructions: string[]; demoSets: Example[][] } | null = null;
  let tpe: CategoricalTpe | null = null;
  const sums = new Map<string, { s: number; n: number }>(); // minibatch score by combination
  const handed = new Set<string>();

  async function build(ctx: SearchContext, base: ScoredCandidate) {
    const r = ctx.rng.fork('mipro:space');
    const fields = ctx.task.signature
      ? `${ctx.task.signature.inputs.map((f) => `${f.name} (${f.type})`).join(', ')} → ${ctx.task.signature.outputs.map((f) => `${f.name} (${f.type})`).join(', ')}`
      : 'input → output';
    const pairs = pairsText(r.shuffle(ctx.task.train).slice(0, 8));
    const [summary] = await ctx.llm(fill(o.summaryPrompt ?? MIPRO_SUMMARY, { fields, pairs }), { n: 1, temperature: 0, maxTokens: 96 });
    const instructions = [base.cand.instruction];
    const want = o.instructions ?? 6;
    for (let i = 0; instructions.length < want && i < 2 * want; i++) {
      const tip = MIPRO_TIPS[r.int(MIPRO_TIPS.length)];
      const [t] = await ctx.llm(fill(o.proposePrompt ?? MIPRO_PROPOSE, { summary: (summary ?? '').trim(), fields, instruction: base.cand.instruction, pairs: pairsText(r.shuffle(ctx.task.train).slice(0, 3)), tip: tip === 'none' ? 'none' : tip }), { n: 1, temperature: 1, maxTokens: 96 });
      const c = t === undefined ? null : cleanProposal(t);
      if (c && !instructions.includes(c)) instructions.push(c);
    }
    const k = Math.min(o.k ?? 3, ctx.task.train.length);
    const demoSets: Example[][] = [base.cand.demos, r.shuffle(ctx.task.train).slice(0, k)];
    for (let s = 0; demoSets.length < (o.demoSets ?? 5) && s < 2 * (o.demoSets ?? 5); s++) {
      const set = await bootstrap(ctx, base.cand.instruction, ctx.rng.fork(`mipro:boot:${s}`).shuffle(ctx.task.train).slice(0, o.bootstrapExamples ?? 12), k);
      if (set.length && !demoSets.some((d) => d.map((x) => x.id).join() === set.map((x) => x.id).join())) demoSets.push(set);
    }
    return { instructions, demoSets };
  }

  // examples the zero-shot prompt already gets right (loglik: the best predicted), in order
  async function bootstrap(ctx: SearchContext, instruction: string, exs: Example[], k: number): Promise<Example[]> {
    const res = await ctx.evaluator.evaluate({ instruction, demos: [] }, exs);
    const scored = res.results.map((x, i) => ({ ex: exs[i], s: x.score }));
    if (ctx.evaluator.metric.kind === 'loglik') return scored.sort((a, b) => (b.s ?? -Infinity) - (a.s ?? -Infinity)).slice(0, k).map((x) => x.ex);
    return scored.filter((x) => (x.s ?? 0) >= 1).slice(0, k).map((x) => x.ex);
  }

  return {
    name: 'mipro',
    racing: 'exhaustive',
    async expand(ctx: SearchContext, parents: ScoredCandidate[], count: number): Promise<Proposal[]> {
      const base = ctx.trajectory.find((t) => t.cand.parent === null) ?? parents[0];
      space ??= await build(ctx, base);
      tpe ??= new CategoricalTpe([space.instructions.length, space.demoSets.length], ctx.rng.fork('mipro:tpe'), o.tpe);
      const r = ctx.rng.fork(`mipro:${ctx.iteration}`);
      const size = Math.min(o.minibatch ?? 5, ctx.validation.length);
      const full = new Map(ctx.trajectory.map((t) => [candKey(t.cand.instruction, t.cand.demos), t.score]));
      for (let t = 0, draws = 0; t < (o.trials ?? count) && draws < 4 * (o.trials ?? count); draws++) {
        const [i, d] = tpe.suggest();
        // a pair already scored on all of validation: tell TPE that score and draw again
        const known = full.get(candKey(space.instructions[i], space.demoSets[d]));
        if (known !== undefined) {
          tpe.observe([i, d], known ?? -1e9);
          continue;
        }
        t++;
        const batch = r.shuffle(ctx.validation).slice(0, size);
        const res = await ctx.evaluator.evaluate({ instruction: space.instructions[i], demos: space.demoSets[d] }, batch);
        const score = res.score ?? -1e9;
        tpe.observe([i, d], score);
        const key = `${i},${d}`;
        const a = sums.get(key) ?? { s: 0, n: 0 };
        sums.set(key, { s: a.s + score, n: a.n + 1 });
      }
      const ranked = [...sums].filter(([k]) => !handed.has(k)).sort((a, b) => b[1].s / b[1].n - a[1].s / a[1].n || (a[0] < b[0] ? -1 : 1));
      const out: Proposal[] = [];
      for (const [key] of ranked.slice(0, o.fullEvals ?? 2)) {
        handed.add(key);
        const [i, d] = key.split(',').map(Number);
        out.push({ instruction: space.instructions[i], demos: space.demoSets[d], parent: base.cand.id, operator: `mipro:i${i}d${d}` });
      }
      return out;
    },
  };
}
