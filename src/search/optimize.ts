// The hard-prompt search loop: initialize → evaluate → prune → expand → … → stop.
// Deterministic for a seed given the cache: every random choice comes from the run's rng and
// every model call (the target's and the proposer's) goes through the evaluator's cache, so a
// resumed run replays finished work for free and ends where the uninterrupted one would.
import { PromptkilnError, isPromptkilnError, throwIfAborted } from '../errors.js';
import type { EvalCache } from '../eval/cache.js';
import { contentKey } from '../eval/cache.js';
import { Evaluator, byScoreDesc, type Budget, type Estimate, type GenerationParams, type Role, type RoleSpend } from '../eval/evaluator.js';
import { resolveMetric, taskMetric, type Metric } from '../eval/metrics.js';
import { programOf, type ProgramJson } from '../eval/program.js';
import { race } from '../eval/racing.js';
import { rng, type Rng } from '../eval/rng.js';
import type { FieldsSpec } from '../eval/fields.js';
import { candidatePrefix, type Example, type Task, type TypedTask } from '../eval/task.js';
import type { PriceTable } from '../llm/prices.js';
import type { LanguageModel } from '../llm/types.js';
import { DEFAULT_META_PROMPTS, fill, pairsText, type MetaPrompts } from './meta-prompts.js';
import { MemoryRunLog, type RunLog } from './run-log.js';
import { RunEvents, type EventSink } from './events.js';
import { checkSelection, requirePricedTarget, selectByObjectives, type ObjectiveName, type ObjectivesReport, type Selection } from './objectives.js';
import { strategyByName, type StrategyName } from './strategies/index.js';
import { cleanProposal } from './text.js';
import type { Candidate, LlmCallOptions, Proposal, ScoredCandidate, SearchContext, Strategy } from './types.js';

export type InitMethod = 'manual' | 'description' | 'induction';
export type StopReason = 'max_iterations' | 'patience' | 'target' | 'budget' | 'no_proposals';

export interface OptimizeOptions {
  strategy?: StrategyName | Strategy; // default 'grips'
  proposer?: LanguageModel; // the LLM that writes/edits prompts (default: the target model)
  judge?: LanguageModel; // grades answers for judge metrics (default: the target model)
  prices?: PriceTable; // USD per million tokens by model (default: the built-in table)
  init?: InitMethod[]; // default ['manual'], plus 'induction' when the task has no instruction
  initialPrompts?: string[]; // more manual instructions
  initCount?: number; // prompts asked from the LLM per LLM init method (default 4)
  budget?: number | Budget; // a number counts model calls; {calls, tokens, cost (USD)}
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
  // several objectives: the result keeps their Pareto front and `select` picks the winner
  objectives?: ObjectiveName[]; // must include 'score'
  select?: Selection; // default: the best score
  onEvent?: EventSink; // every proposal, evaluation, model call and selection (search/events.ts)
  signal?: AbortSignal;
}

// `cost`: USD spent so far (first use of each result, like calls)
export type ProgressEvent =
  | { type: 'start'; estimate: Estimate; validation: number; strategy: string }
  | { type: 'candidate'; id: string; operator: string; parent: string | null; score: number | null; n: number; calls: number; cost: number }
  | { type: 'iteration'; iteration: number; best: number | null; bestId: string; calls: number; cost: number; pool: number }
  | { type: 'done'; stopReason: StopReason; best: number | null; calls: number; cost: number };

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

export interface OptimizeResult<I extends FieldsSpec = FieldsSpec, O extends FieldsSpec = FieldsSpec> {
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
  cost: number; // USD, search and test split (models without a price count 0: see spend)
  spend: Record<Role, RoleSpend>; // search calls, tokens and USD by role
  estimate: Estimate;
  stopReason: StopReason;
  metric: string;
  modelId: string;
  // what soft-prompt tuning needs to start from the winner (--then-tune, orchestrated in cli/):
  // the text before {input} as its init, and the task's pairs as (input, target)
  handoff: { initText: string; template: string; data: { input: string; target: string }[] };
  program: ProgramJson<I, O>; // the winner as the artifact an app loads (loadProgram)
  objectives?: ObjectivesReport; // with options.objectives: every candidate's values, the front, the winner
}

const candKey = (c: { instruction: string; demos: Example[]; knn?: { k: number; embedder: string } }) => JSON.stringify([c.instruction, c.demos.map((d) => d.id), ...(c.knn ? [c.knn.k, c.knn.embedder] : [])]);

export async function optimize<I extends FieldsSpec = FieldsSpec, O extends FieldsSpec = FieldsSpec>(task: TypedTask<I, O>, model: LanguageModel, o: OptimizeOptions = {}): Promise<OptimizeResult<I, O>> {
  const log = o.runLog ?? new MemoryRunLog();
  try {
    return (await new SearchRun(task, model, o, log).run()) as OptimizeResult<I, O>;
  } finally {
    // whatever finished before an abort or an error is durable, so a resume skips it
    await log.flush();
    await o.cache?.flush();
  }
}

// One search: settings resolved once, then the state the phases share (candidates, the pool,
// history, stop reason) as fields; run() reads top to bottom: initialize → iterate → test → result.
class SearchRun {
  readonly strategy: Strategy;
  readonly metric: Metric;
  readonly ev: Evaluator;
  readonly proposer: LanguageModel;
  readonly seed: number;
  readonly rng: Rng;
  readonly meta: MetaPrompts;
  readonly validation: Example[];
  readonly racing: 'halving' | 'ucb' | 'exhaustive';
  readonly maxIterations: number;
  readonly perIter: number;

  private llmCalls = 0;
  private nextId = 0;
  private readonly all = new Map<string, CandidateRecord>(); // by candidate key
  private readonly byId = new Map<string, Candidate>();
  private readonly pool: ScoredCandidate[] = []; // scored on the full validation set, best first
  private readonly history: IterationRecord[] = [];
  private stopReason: StopReason = 'max_iterations';
  private readonly events: RunEvents | null;

  constructor(
    readonly task: Task,
    readonly model: LanguageModel,
    readonly o: OptimizeOptions,
    readonly log: RunLog,
  ) {
    const budget: Budget | undefined = typeof o.budget === 'number' ? { calls: o.budget } : o.budget;
    if (budget?.calls !== undefined && !(budget.calls >= 1)) {
      throw new PromptkilnError('BUDGET', `optimize: the budget must allow at least one model call, got ${budget.calls}`);
    }
    this.strategy = typeof o.strategy === 'object' ? o.strategy : strategyByName(o.strategy ?? 'grips');
    this.metric = typeof o.metric === 'object' ? o.metric : o.metric !== undefined ? resolveMetric(o.metric, task.labels) : taskMetric(task);
    this.proposer = o.proposer ?? model;
    this.events = o.onEvent ? new RunEvents(o.onEvent, `${task.name}/${this.strategy.name}/${o.seed ?? 0}`, this.strategy.name) : null;
    this.ev = new Evaluator(task, model, {
      metric: this.metric, cache: o.cache, budget, concurrency: o.concurrency, generation: o.generation, signal: o.signal,
      judge: o.judge, proposer: this.proposer, prices: o.prices,
      onCall: this.events ? (c) => this.events!.call(c, this.spent) : undefined,
    });
    if (o.objectives) {
      checkSelection(o.select ?? {}, o.objectives, 'optimize');
      requirePricedTarget(o.objectives, model, this.ev.prices);
    }
    this.seed = o.seed ?? 0;
    this.rng = rng(this.seed);
    this.meta = { ...DEFAULT_META_PROMPTS, ...o.metaPrompts };
    this.validation = task.validation.slice(0, o.validationSize ?? task.validation.length);
    if (this.validation.length === 0) throw new PromptkilnError('DATA', `task ${task.name}: the validation split is empty; give more examples or a larger split.validation`);
    this.racing = o.racing ?? this.strategy.racing ?? 'halving';
    this.maxIterations = o.maxIterations ?? 5;
    this.perIter = o.candidatesPerIteration ?? 8;
  }

  private emit(e: ProgressEvent) {
    this.o.onProgress?.(e);
  }

  private get spent() {
    return { calls: this.ev.stats.calls, cost: this.ev.stats.cost };
  }

  // The proposing LLM: cached, charged to the budget as the proposer, seeded per call.
  private readonly llm = async (prompt: string, c: LlmCallOptions = {}): Promise<string[]> => {
    const params = { n: c.n ?? 1, temperature: c.temperature ?? 0.9, maxTokens: c.maxTokens ?? 64, stop: c.stop ?? [], seed: (this.seed * 1000003 + this.llmCalls++) >>> 0 };
    const key = await contentKey(['gen/1', this.proposer.id, prompt, params]);
    const { value } = await this.ev.memo(key, 1, async () => this.proposer.generate(prompt, { ...params, signal: this.o.signal }), 'proposer');
    return value.texts;
  };

  private newCandidate(p: Proposal, iteration: number): Candidate | null {
    const key = candKey(p);
    if (this.all.has(key) || (!p.instruction.trim() && p.demos.length === 0 && !p.knn)) return null;
    const c: Candidate = { id: `c${this.nextId++}`, instruction: p.instruction, demos: p.demos, parent: p.parent, operator: p.operator, iteration, ...(p.knn ? { knn: p.knn, demosFor: p.demosFor } : {}) };
    this.byId.set(c.id, c);
    this.events?.proposal(c);
    return c;
  }

  // Race a set of candidates on validation; those that finish every example join the pool.
  private async evaluate(cands: Candidate[], iteration: number) {
    const { ev, validation, pool } = this;
    const entries = await race(ev, cands, validation, { method: cands.length > 2 ? this.racing : 'exhaustive' });
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
      if (!this.all.has(key)) {
        this.all.set(key, rec);
        this.log.write({ type: 'candidate', iteration, id: cand.id, parent: cand.parent, operator: cand.operator, instruction: cand.instruction, demos: cand.demos.map((d) => d.id), ...(cand.knn ? { knn: cand.knn.k } : {}), score: e.score, n: e.n, pruned: rec.pruned, failures: e.failures, errors: e.results.filter((x) => x.error).slice(0, 3).map((x) => x.error), ...this.spent });
        this.emit({ type: 'candidate', id: cand.id, operator: cand.operator, parent: cand.parent, score: e.score, n: e.n, ...this.spent });
        this.events?.evaluation(cand, { ...e, pruned: rec.pruned }, this.spent, this.exampleText);
      }
      if (!rec.pruned && !pool.some((p) => p.cand.id === cand.id)) pool.push({ cand, score: e.score, n: e.n });
    }
    pool.sort((a, b) => byScoreDesc(a.score, b.score) || Number(a.cand.id.slice(1)) - Number(b.cand.id.slice(1)));
  }

  private get exampleText() {
    return new Map(this.task.examples.map((x) => [x.id, x]));
  }

  private record(iteration: number, proposals: number) {
    const best = this.pool[0];
    this.events?.iteration(iteration, { id: best.cand.id, score: best.score }, this.pool.length, this.spent);
    this.history.push({ iteration, bestScore: best.score, bestId: best.cand.id, proposals, calls: this.ev.stats.calls });
    this.log.write({ type: 'iteration', iteration, best: best.cand.id, score: best.score, ...this.spent, spend: this.ev.stats.byRole });
    this.emit({ type: 'iteration', iteration, best: best.score, bestId: best.cand.id, ...this.spent, pool: this.pool.length });
  }

  // The manual prompt (scored on every validation example, so initial_score is exact), any
  // further manual prompts, and the LLM-written ones of the init methods.
  private async initialize(): Promise<{ initial: Candidate; initialScore: number | null }> {
    const { task, o, meta } = this;
    const initial = this.newCandidate({ instruction: task.instruction, demos: task.demos, parent: null, operator: 'manual' }, 0)!;
    const inits: Candidate[] = [initial];
    const methods = o.init ?? (task.instruction.trim() ? ['manual'] : ['manual', 'induction']);
    try {
      for (const t of o.initialPrompts ?? []) {
        const c = this.newCandidate({ instruction: t, demos: task.demos, parent: null, operator: 'manual' }, 0);
        if (c) inits.push(c);
      }
      for (const m of methods) {
        if (m === 'manual') continue;
        const prompt =
          m === 'description'
            ? fill(meta.fromDescription, { 'task-description': task.description || task.name })
            : fill(meta.fromExamples, { pairs: pairsText(this.rng.fork('induction').shuffle(task.train).slice(0, 5)) });
        for (const t of await this.llm(prompt, { n: o.initCount ?? 4, temperature: 0.9 })) {
          const instruction = cleanProposal(t);
          const c = instruction ? this.newCandidate({ instruction, demos: task.demos, parent: null, operator: m }, 0) : null;
          if (c) inits.push(c);
        }
      }
      await this.evaluate([initial], 0);
      if (inits.length > 1) await this.evaluate(inits, 0);
    } catch (e) {
      if (!isPromptkilnError(e, 'BUDGET') || this.pool.length === 0) throw e;
      this.stopReason = 'budget';
    }
    const initRec = this.all.get(candKey(initial));
    if (this.pool.length === 0 || !initRec || initRec.failures >= initRec.n) {
      throw new PromptkilnError('NETWORK', `optimize: no validation example of the initial prompt could be scored (${this.ev.stats.failures} failures with model ${this.model.id}); first error: ${initRec?.firstError ?? 'none recorded'}`);
    }
    this.record(0, inits.length);
    return { initial, initialScore: initRec.score };
  }

  private reachedTarget(): boolean {
    return this.o.targetScore !== undefined && (this.pool[0].score ?? -Infinity) >= this.o.targetScore;
  }

  // evaluate → prune → expand, until an iteration limit, patience, the target score, the
  // budget, or a strategy with nothing new to propose
  private async iterate() {
    const { o, pool } = this;
    const ctx: SearchContext = { task: this.task, validation: this.validation, evaluator: this.ev, rng: this.rng, meta: this.meta, iteration: 0, trajectory: pool, llm: this.llm, signal: o.signal };
    let sinceBest = 0;
    for (let it = 1; this.stopReason !== 'budget' && it <= this.maxIterations; it++) {
      throwIfAborted(o.signal, 'optimize');
      if (this.reachedTarget()) {
        this.stopReason = 'target';
        return;
      }
      const keep = o.keepFraction !== undefined ? Math.max(1, Math.ceil(pool.length * o.keepFraction)) : (o.beam ?? 4);
      const parents = pool.slice(0, keep);
      const bestBefore = pool[0].score;
      ctx.iteration = it;
      let proposals = 0;
      try {
        const props = await this.strategy.expand(ctx, parents, this.perIter);
        const fresh = props.map((p) => this.newCandidate(p, it)).filter((c): c is Candidate => c !== null);
        proposals = fresh.length;
        if (fresh.length === 0) {
          this.stopReason = 'no_proposals';
          return;
        }
        await this.evaluate([...parents.map((p) => p.cand), ...fresh], it);
      } catch (e) {
        if (!isPromptkilnError(e, 'BUDGET')) throw e;
        this.stopReason = 'budget';
      }
      this.record(it, proposals);
      if (this.stopReason === 'budget') return;
      sinceBest = byScoreDesc(pool[0].score, bestBefore) < 0 ? 0 : sinceBest + 1;
      if (sinceBest >= (o.patience ?? 2)) {
        this.stopReason = 'patience';
        return;
      }
    }
    // reached in the last iteration (earlier ones stop at the next iteration's check)
    if (this.stopReason === 'max_iterations' && this.reachedTarget()) this.stopReason = 'target';
  }

  // The test split: outside the search budget, sharing the cache.
  private async testScores(best: Candidate, initial: Candidate) {
    const { task, o } = this;
    if (!(o.testScore ?? true) || task.test.length === 0) return { testScore: null, initialTestScore: null, testCalls: 0, testCost: 0 };
    const tev = new Evaluator(task, this.model, { metric: this.metric, cache: this.ev.cache, concurrency: o.concurrency, generation: o.generation, signal: o.signal, judge: o.judge, prices: o.prices });
    const testScore = (await tev.evaluate(best, task.test)).score;
    const initialTestScore = (await tev.evaluate(initial, task.test)).score;
    return { testScore, initialTestScore, testCalls: tev.stats.calls, testCost: tev.stats.cost };
  }

  async run(): Promise<OptimizeResult> {
    const { task, model, ev, strategy, seed, metric, log } = this;
    const estimate = ev.estimate(1 + this.maxIterations * this.perIter, this.validation);
    log.write({ type: 'start', task: task.name, strategy: strategy.name, seed, metric: metric.name, model: model.id, proposer: this.proposer.id, judge: ev.judgeModel?.id ?? null, estimate, validation: this.validation.map((e) => e.id) });
    this.emit({ type: 'start', estimate, validation: this.validation.length, strategy: strategy.name });

    const { initial, initialScore } = await this.initialize();
    await this.iterate();
    let best = this.pool[0];
    let objectives: ObjectivesReport | undefined;
    if (this.o.objectives) {
      objectives = await selectByObjectives(ev, task, this.pool, this.validation, this.o.objectives, this.o.select ?? {}, model, ev.prices);
      best = this.pool.find((p) => p.cand.id === objectives!.winner)!;
      log.write({ type: 'objectives', ...objectives });
      this.events?.objectives(objectives);
    }
    const { testScore, initialTestScore, testCalls, testCost } = await this.testScores(best.cand, initial);

    const lineage: Candidate[] = [];
    for (let c: Candidate | undefined = best.cand; c; c = c.parent ? this.byId.get(c.parent) : undefined) lineage.unshift(c);
    const tokens = ev.stats.promptTokens + ev.stats.completionTokens;
    const cost = ev.stats.cost + testCost;
    const spend = ev.stats.byRole;
    const program = programOf(task, best.cand, {
      generation: ev.gen, modelId: model.id, modelName: model.modelName, metric: metric.name,
      scores: { validation: best.score, test: testScore, initial_validation: initialScore, initial_test: initialTestScore },
      cost: {
        calls: ev.stats.calls + testCalls, tokens, usd: Object.values(spend).some((r) => r.cost === null) ? null : cost,
        by_role: Object.fromEntries(Object.entries(spend).map(([k, r]) => [k, { calls: r.calls, tokens: r.tokens, usd: r.cost }])),
      },
      strategy: strategy.name, seed,
      dataHash: await contentKey(task.examples.map((e) => [e.id, e.inputs ?? e.input, e.outputs ?? e.output])),
    });
    const result: OptimizeResult = {
      best: best.cand,
      score: best.score,
      initial,
      initialScore,
      testScore,
      initialTestScore,
      history: this.history,
      candidates: [...this.all.values()],
      lineage,
      calls: ev.stats.calls,
      freshCalls: ev.stats.freshCalls,
      testCalls,
      tokens,
      cost,
      spend,
      estimate,
      stopReason: this.stopReason,
      metric: metric.name,
      modelId: model.id,
      handoff: {
        initText: candidatePrefix(task, best.cand),
        template: task.template,
        data: task.train.map((e) => ({ input: e.input, target: e.output })),
      },
      program,
      ...(objectives ? { objectives } : {}),
    };
    log.write({ type: 'result', best: best.cand.id, instruction: best.cand.instruction, demos: best.cand.demos.map((d) => d.id), score: best.score, initialScore, testScore, initialTestScore, calls: result.calls, cost, spend, stopReason: this.stopReason });
    this.emit({ type: 'done', stopReason: this.stopReason, best: best.score, calls: result.calls, cost: ev.stats.cost });
    this.events?.done({ best: best.cand.id, score: best.score, stopReason: this.stopReason, calls: result.calls, cost });
    return result;
  }
}
