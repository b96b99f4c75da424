// The hard-prompt search loop: initialize → evaluate → prune → expand → … → stop.
// Deterministic for a seed given the cache: every random choice comes from the run's rng and
// every model call (the target's and the proposer's) goes through the evaluator's cache, so a
// resumed run replays finished work for free and ends where the uninterrupted one would.
import { PromptkilnError, isPromptkilnError, throwIfAborted } from '../errors.js';
import type { EvalCache } from '../eval/cache.js';
import { contentKey } from '../eval/cache.js';
import { Evaluator, byScoreDesc, type Budget, type GenerationParams } from '../eval/evaluator.js';
import { resolveMetric, type Metric } from '../eval/metrics.js';
import { race } from '../eval/racing.js';
import { rng } from '../eval/rng.js';
import { promptPrefix, type Example, type Task } from '../eval/task.js';
import type { LanguageModel } from '../llm/types.js';
import { DEFAULT_META_PROMPTS, fill, pairsText, type MetaPrompts } from './meta-prompts.js';
import { MemoryRunLog, type RunLog } from './run-log.js';
import { strategyByName, type StrategyName } from './strategies/index.js';
import { cleanProposal } from './text.js';
import type { Candidate, LlmCallOptions, Proposal, ScoredCandidate, SearchContext, Strategy } from './types.js';

export type InitMethod = 'manual' | 'description' | 'induction';
export type StopReason = 'max_iterations' | 'patience' | 'target' | 'budget' | 'no_proposals';

export interface OptimizeOptions {
  strategy?: StrategyName | Strategy; // default 'grips'
  proposer?: LanguageModel; // the LLM that writes/edits prompts (default: the target model)
  init?: InitMethod[]; // default ['manual'], plus 'induction' when the task has no instruction
  initialPrompts?: string[]; // more manual instructions
  initCount?: number; // prompts asked from the LLM per LLM init method (default 4)
  budget?: number | Budget; // a number counts model calls
  seed?: number;
  maxIterations?: number; // default 5
  candidatesPerIteration?: number; // default 8
  beam?: number; // prune: keep the top n (default 4)
  keepFraction?: number; // prune: keep the top k% instead (0 < k ≤ 1)
  patience?: number; // iterations without improvement before stopping (default 2)
  targetScore?: number; // stop once the best validation score reaches it
  racing?: 'halving' | 'ucb' | 'exhaustive'; // default: the strategy's
  validationSize?: number; // use at most this many validation examples
  metric?: Metric | string;
  metaPrompts?: Partial<MetaPrompts>;
  generation?: Partial<GenerationParams>;
  concurrency?: number;
  cache?: EvalCache;
  runLog?: RunLog;
  testScore?: boolean; // evaluate best and initial on the test split (default true)
  onProgress?: (e: ProgressEvent) => void;
  signal?: AbortSignal;
}

export type ProgressEvent =
  | { type: 'start'; estimate: { calls: number; tokens: number }; validation: number; strategy: string }
  | { type: 'candidate'; id: string; operator: string; parent: string | null; score: number | null; n: number; calls: number }
  | { type: 'iteration'; iteration: number; best: number | null; bestId: string; calls: number; pool: number }
  | { type: 'done'; stopReason: StopReason; best: number | null; calls: number };

export interface IterationRecord {
  iteration: number;
  bestScore: number | null;
  bestId: string;
  proposals: number;
  calls: number; // cumulative
}

export interface CandidateRecord extends ScoredCandidate {
  pruned: boolean; // stopped early by racing (score over n < all validation examples)
  failures: number; // examples whose evaluation failed (recorded, scored as 0 / left out)
  firstError?: string;
}

export interface OptimizeResult {
  best: Candidate;
  score: number | null; // validation
  initial: Candidate;
  initialScore: number | null; // validation
  testScore: number | null;
  initialTestScore: number | null;
  history: IterationRecord[];
  candidates: CandidateRecord[];
  lineage: Candidate[]; // the best's ancestors, root first
  calls: number; // model calls charged to the budget (search)
  freshCalls: number; // of those, calls not served by the cache
  testCalls: number;
  tokens: number;
  estimate: { calls: number; tokens: number };
  stopReason: StopReason;
  metric: string;
  modelId: string;
  // what soft-prompt tuning needs to start from the winner (--then-tune, orchestrated in cli/):
  // the text before {input} as its init, and the task's pairs as (input, target)
  handoff: { initText: string; template: string; data: { input: string; target: string }[] };
}

const candKey = (c: { instruction: string; demos: Example[] }) => JSON.stringify([c.instruction, c.demos.map((d) => d.id)]);

export async function optimize(task: Task, model: LanguageModel, o: OptimizeOptions = {}): Promise<OptimizeResult> {
  const log = o.runLog ?? new MemoryRunLog();
  try {
    return await run(task, model, o, log);
  } finally {
    // whatever finished before an abort or an error is durable, so a resume skips it
    await log.flush();
    await o.cache?.flush();
  }
}

async function run(task: Task, model: LanguageModel, o: OptimizeOptions, log: RunLog): Promise<OptimizeResult> {
  const budget: Budget | undefined = typeof o.budget === 'number' ? { calls: o.budget } : o.budget;
  if (budget?.calls !== undefined && !(budget.calls >= 1)) {
    throw new PromptkilnError('BUDGET', `optimize: the budget must allow at least one model call, got ${budget.calls}`);
  }
  const strategy = typeof o.strategy === 'object' ? o.strategy : strategyByName(o.strategy ?? 'grips');
  const metric = typeof o.metric === 'object' ? o.metric : resolveMetric(o.metric ?? task.metric, task.labels);
  const ev = new Evaluator(task, model, { metric, cache: o.cache, budget, concurrency: o.concurrency, generation: o.generation, signal: o.signal });
  const proposer = o.proposer ?? model;
  const seed = o.seed ?? 0;
  const r = rng(seed);
  const meta = { ...DEFAULT_META_PROMPTS, ...o.metaPrompts };
  const validation = task.validation.slice(0, o.validationSize ?? task.validation.length);
  if (validation.length === 0) throw new PromptkilnError('DATA', `task ${task.name}: the validation split is empty; give more examples or a larger split.validation`);
  const racing = o.racing ?? strategy.racing ?? 'halving';
  const maxIterations = o.maxIterations ?? 5;
  const perIter = o.candidatesPerIteration ?? 8;
  const emit = (e: ProgressEvent) => o.onProgress?.(e);

  let llmCalls = 0;
  const llm = async (prompt: string, c: LlmCallOptions = {}): Promise<string[]> => {
    const params = { n: c.n ?? 1, temperature: c.temperature ?? 0.9, maxTokens: c.maxTokens ?? 64, stop: c.stop ?? [], seed: (seed * 1000003 + llmCalls++) >>> 0 };
    const key = await contentKey(['gen/1', proposer.id, prompt, params]);
    const { value } = await ev.memo(key, 1, async () => proposer.generate(prompt, { ...params, signal: o.signal }));
    return value.texts;
  };

  let nextId = 0;
  const all = new Map<string, CandidateRecord>(); // by candidate key
  const byId = new Map<string, Candidate>();
  const pool: ScoredCandidate[] = []; // scored on the full validation set, best first
  const history: IterationRecord[] = [];
  const estimate = ev.estimate(1 + maxIterations * perIter, validation);
  log.write({ type: 'start', task: task.name, strategy: strategy.name, seed, metric: metric.name, model: model.id, proposer: proposer.id, estimate, validation: validation.map((e) => e.id) });
  emit({ type: 'start', estimate, validation: validation.length, strategy: strategy.name });

  const newCandidate = (p: Proposal, iteration: number): Candidate | null => {
    const key = candKey(p);
    if (all.has(key) || !p.instruction.trim() && p.demos.length === 0) return null;
    const c: Candidate = { id: `c${nextId++}`, instruction: p.instruction, demos: p.demos, parent: p.parent, operator: p.operator, iteration };
    byId.set(c.id, c);
    return c;
  };

  // Race a set of candidates on validation; those that finish every example join the pool.
  const evaluate = async (cands: Candidate[], iteration: number) => {
    const entries = await race(ev, cands, validation, { method: cands.length > 2 ? racing : 'exhaustive' });
    // a bandit may crown a candidate it has not run on every example: finish it (the prefix it
    // has seen is cached), so the pool compares full-validation scores only
    const top = entries[0];
    if (top && top.n < validation.length) {
      const full = await ev.evaluate(cands[top.index], validation);
      Object.assign(top, { score: full.score, n: full.n, failures: full.failures, results: full.results });
    }
    for (const e of entries.slice().sort((a, b) => a.index - b.index)) {
      const cand = cands[e.index];
      const rec: CandidateRecord = { cand, score: e.score, n: e.n, pruned: e.n < validation.length, failures: e.failures, firstError: e.results.find((x) => x.error)?.error };
      const key = candKey(cand);
      if (!all.has(key)) {
        all.set(key, rec);
        log.write({ type: 'candidate', iteration, id: cand.id, parent: cand.parent, operator: cand.operator, instruction: cand.instruction, demos: cand.demos.map((d) => d.id), score: e.score, n: e.n, pruned: rec.pruned, failures: e.failures, errors: e.results.filter((x) => x.error).slice(0, 3).map((x) => x.error), calls: ev.stats.calls });
        emit({ type: 'candidate', id: cand.id, operator: cand.operator, parent: cand.parent, score: e.score, n: e.n, calls: ev.stats.calls });
      }
      if (!rec.pruned && !pool.some((p) => p.cand.id === cand.id)) pool.push({ cand, score: e.score, n: e.n });
    }
    pool.sort((a, b) => byScoreDesc(a.score, b.score) || Number(a.cand.id.slice(1)) - Number(b.cand.id.slice(1)));
  };

  const ctx: SearchContext = { task, evaluator: ev, rng: r, meta, iteration: 0, trajectory: pool, llm, signal: o.signal };

  // ---- initialize
  const initial = newCandidate({ instruction: task.instruction, demos: task.demos, parent: null, operator: 'manual' }, 0)!;
  const inits: Candidate[] = [initial];
  const methods = o.init ?? (task.instruction.trim() ? ['manual'] : ['manual', 'induction']);
  let stopReason: StopReason = 'max_iterations';
  try {
    for (const t of o.initialPrompts ?? []) {
      const c = newCandidate({ instruction: t, demos: task.demos, parent: null, operator: 'manual' }, 0);
      if (c) inits.push(c);
    }
    for (const m of methods) {
      if (m === 'manual') continue;
      const prompt =
        m === 'description'
          ? fill(meta.fromDescription, { 'task-description': task.description || task.name })
          : fill(meta.fromExamples, { pairs: pairsText(r.fork('induction').shuffle(task.train).slice(0, 5)) });
      for (const t of await llm(prompt, { n: o.initCount ?? 4, temperature: 0.9 })) {
        const instruction = cleanProposal(t);
        const c = instruction ? newCandidate({ instruction, demos: task.demos, parent: null, operator: m }, 0) : null;
        if (c) inits.push(c);
      }
    }
    // the initial prompt is scored on every validation example, so initial_score is exact
    await evaluate([initial], 0);
    if (inits.length > 1) await evaluate(inits, 0);
  } catch (e) {
    if (!isPromptkilnError(e, 'BUDGET') || pool.length === 0) throw e;
    stopReason = 'budget';
  }
  const initRec = all.get(candKey(initial));
  if (pool.length === 0 || !initRec || initRec.failures >= initRec.n) {
    throw new PromptkilnError('NETWORK', `optimize: no validation example of the initial prompt could be scored (${ev.stats.failures} failures with model ${model.id}); first error: ${initRec?.firstError ?? 'none recorded'}`);
  }
  const initialScore = initRec.score;
  history.push({ iteration: 0, bestScore: pool[0].score, bestId: pool[0].cand.id, proposals: inits.length, calls: ev.stats.calls });
  log.write({ type: 'iteration', iteration: 0, best: pool[0].cand.id, score: pool[0].score, calls: ev.stats.calls });
  emit({ type: 'iteration', iteration: 0, best: pool[0].score, bestId: pool[0].cand.id, calls: ev.stats.calls, pool: pool.length });

  // ---- evaluate → prune → expand
  let sinceBest = 0;
  for (let it = 1; stopReason !== 'budget' && it <= maxIterations; it++) {
    throwIfAborted(o.signal, 'optimize');
    if (o.targetScore !== undefined && (pool[0].score ?? -Infinity) >= o.targetScore) {
      stopReason = 'target';
      break;
    }
    const keep = o.keepFraction !== undefined ? Math.max(1, Math.ceil(pool.length * o.keepFraction)) : (o.beam ?? 4);
    const parents = pool.slice(0, keep);
    const bestBefore = pool[0].score;
    ctx.iteration = it;
    let proposals = 0;
    try {
      const props = await strategy.expand(ctx, parents, perIter);
      const fresh = props.map((p) => newCandidate(p, it)).filter((c): c is Candidate => c !== null);
      proposals = fresh.length;
      if (fresh.length === 0) {
        stopReason = 'no_proposals';
        break;
      }
      await evaluate([...parents.map((p) => p.cand), ...fresh], it);
    } catch (e) {
      if (!isPromptkilnError(e, 'BUDGET')) throw e;
      stopReason = 'budget';
    }
    history.push({ iteration: it, bestScore: pool[0].score, bestId: pool[0].cand.id, proposals, calls: ev.stats.calls });
    log.write({ type: 'iteration', iteration: it, best: pool[0].cand.id, score: pool[0].score, calls: ev.stats.calls });
    emit({ type: 'iteration', iteration: it, best: pool[0].score, bestId: pool[0].cand.id, calls: ev.stats.calls, pool: pool.length });
    if (stopReason === 'budget') break;
    sinceBest = byScoreDesc(pool[0].score, bestBefore) < 0 ? 0 : sinceBest + 1;
    if (sinceBest >= (o.patience ?? 2)) {
      stopReason = 'patience';
      break;
    }
  }
  // reached in the last iteration (earlier ones stop at the next iteration's check)
  if (stopReason === 'max_iterations' && o.targetScore !== undefined && (pool[0].score ?? -Infinity) >= o.targetScore) stopReason = 'target';

  const best = pool[0];
  // ---- test split: outside the search budget, sharing the cache
  let testScore: number | null = null;
  let initialTestScore: number | null = null;
  let testCalls = 0;
  if ((o.testScore ?? true) && task.test.length > 0) {
    const tev = new Evaluator(task, model, { metric, cache: ev.cache, concurrency: o.concurrency, generation: o.generation, signal: o.signal });
    testScore = (await tev.evaluate(best.cand, task.test)).score;
    initialTestScore = (await tev.evaluate(initial, task.test)).score;
    testCalls = tev.stats.calls;
  }
  const lineage: Candidate[] = [];
  for (let c: Candidate | undefined = best.cand; c; c = c.parent ? byId.get(c.parent) : undefined) lineage.unshift(c);
  const result: OptimizeResult = {
    best: best.cand,
    score: best.score,
    initial,
    initialScore,
    testScore,
    initialTestScore,
    history,
    candidates: [...all.values()],
    lineage,
    calls: ev.stats.calls,
    freshCalls: ev.stats.freshCalls,
    testCalls,
    tokens: ev.stats.promptTokens + ev.stats.completionTokens,
    estimate,
    stopReason,
    metric: metric.name,
    modelId: model.id,
    handoff: {
      initText: promptPrefix(task, best.cand),
      template: task.template,
      data: task.train.map((e) => ({ input: e.input, target: e.output })),
    },
  };
  log.write({ type: 'result', best: best.cand.id, instruction: best.cand.instruction, demos: best.cand.demos.map((d) => d.id), score: best.score, initialScore, testScore, initialTestScore, calls: result.calls, stopReason });
  emit({ type: 'done', stopReason, best: best.score, calls: result.calls });
  return result;
}
