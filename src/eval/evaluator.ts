// The evaluator: runs a prompt candidate on examples with a model and a metric; caches by
// content hash; charges model calls, tokens and money to a budget; races candidates so weak
// prompts stop early (racing.ts); runs examples concurrently up to a limit. Typed tasks (and
// judge metrics) generate, parse and validate the answer (retrying with the error shown), then
// score its fields; judge calls share the cache and the budget.
import { PromptkilnError, isPromptkilnError, throwIfAborted } from '../errors.js';
import { Limit } from '../llm/limit.js';
import { costOf, DEFAULT_PRICES, priceOf, requirePrices, type PriceTable } from '../llm/prices.js';
import type { LanguageModel, Score, Usage } from '../llm/types.js';
import { answer, PLAIN_GENERATION, requestOf, send, TYPED_GENERATION, usesChat, type AnswerRequest, type GenerationParams } from './answer.js';
import { contentKey, MemoryCache, type EvalCache } from './cache.js';
import { scoreParts, type TypedPart } from './field-metrics.js';
import type { Values } from './fields.js';
import { judgeCalls, judgeMessages, judgeText, parseVerdict, type JudgeSpec, type Verdict } from './judge.js';
import { applyMetric, taskMetric, type Metric } from './metrics.js';
import { promptPrefix, render, renderTyped, type Example, type PromptCandidate, type Task } from './task.js';
import { ExactSum } from '../util/exact-sum.js';

export type { GenerationParams } from './answer.js';

export interface Budget {
  calls?: number; // model calls (what --budget counts)
  tokens?: number; // prompt + completion tokens
  cost?: number; // USD, by the price table; no call starts once the spend reaches it
}

// Who a model call is for: the model being optimized, the one writing prompts, the grader.
export type Role = 'target' | 'proposer' | 'judge';
export interface RoleSpend {
  calls: number;
  tokens: number;
  cost: number | null; // USD; null when the model has no price
}

export interface EvaluatorOptions {
  metric?: Metric; // default: the task's metric
  cache?: EvalCache;
  budget?: Budget;
  concurrency?: number; // examples in flight at once (default 4)
  generation?: Partial<GenerationParams>;
  signal?: AbortSignal;
  // loglik on a model with scoreShared: score a candidate's examples in one call that computes
  // the instruction + demonstrations prefix once (default true)
  prefixReuse?: boolean;
  judge?: LanguageModel; // grades answers for judge metrics (default: the target model)
  proposer?: LanguageModel; // priced for calls made through memo(…, 'proposer')
  prices?: PriceTable; // default DEFAULT_PRICES
  // every model call, cached or not (run events: search/events.ts)
  // (usd: this call's price by the table, null for a model without one)
  onCall?: (c: { role: Role; cached: boolean; usage: Usage; ms: number; usd: number | null }) => void;
}

export interface ExampleResult {
  id: string;
  score: number | null; // null: excluded (a loglik call that failed)
  prediction?: string;
  parsed?: Values; // typed tasks: the validated output fields
  feedback?: string; // the judges' reasons (reflective strategies show them to the proposer)
  usage?: Usage; // the target's tokens behind this answer (the first call's, also on a cache hit)
  ms?: number; // the target calls' wall time, stored with the cached result (a replay reads the same)
  error?: string; // a recorded failure (metric threw, endpoint failed), or why the answer was unusable
  // the answer stayed unparseable or invalid after every retry: scored 0 (the prompt's fault, not
  // a failed evaluation: not counted in failures), the reason in error
  unusable?: boolean;
  cached: boolean;
}

export interface CandidateScore {
  score: number | null; // mean over scored examples; null when none scored
  n: number; // examples evaluated
  failures: number;
  results: ExampleResult[];
}

export interface EvalStats {
  calls: number; // model calls charged to the budget (first use of each result in this run)
  freshCalls: number; // calls actually sent to the model (not served by the cache)
  cacheHits: number;
  promptTokens: number;
  completionTokens: number;
  failures: number;
  parseFailures: number; // typed answers still unusable after every retry
  retries: number; // extra calls after an unusable answer
  cost: number; // USD charged (first use of each result in this run, like calls)
  byRole: Record<Role, RoleSpend>;
}

interface Cached {
  score: number | null;
  prediction?: string;
  usage: Usage;
  ms?: number;
}

const JUDGE_PARAMS = { maxTokens: 200, temperature: 0 };

const spend = (): RoleSpend => ({ calls: 0, tokens: 0, cost: 0 });

export class Evaluator {
  readonly metric: Metric;
  readonly cache: EvalCache;
  readonly gen: GenerationParams;
  readonly judgeModel: LanguageModel | null;
  readonly stats: EvalStats = {
    calls: 0, freshCalls: 0, cacheHits: 0, promptTokens: 0, completionTokens: 0, failures: 0, parseFailures: 0, retries: 0, cost: 0,
    byRole: { target: spend(), proposer: spend(), judge: spend() },
  };
  readonly prices: PriceTable;
  private limit: Limit;
  // money adds up exactly: concurrent calls finish in any order, the spend must not depend on it
  private readonly costSum = { run: new ExactSum(), target: new ExactSum(), proposer: new ExactSum(), judge: new ExactSum() };
  private charged = new Set<string>(); // keys already paid for in this run
  private inflight = new Map<string, Promise<unknown>>();

  constructor(
    readonly task: Task,
    readonly model: LanguageModel,
    readonly opts: EvaluatorOptions = {},
  ) {
    this.metric = opts.metric ?? taskMetric(task);
    if ((this.metric.kind === 'loglik' || this.metric.kind === 'labels') && !model.score) {
      throw new PromptkilnError('ARGUMENT', `metric ${this.metric.name} needs log-likelihoods, but model ${model.id} has no score(); use an endpoint with logprobs, the local model, or a text metric`);
    }
    if (task.signature && this.metric.kind !== 'typed') {
      throw new PromptkilnError('ARGUMENT', `task ${task.name} has typed fields; metric ${this.metric.name} scores plain text (use "fields", a judge, or a registered metric)`);
    }
    if (task.signature && task.rendering === 'chat' && !model.chat) {
      throw new PromptkilnError('ARGUMENT', `task ${task.name} asks for the chat rendering, but model ${model.id} has no chat endpoint (use --api chat, or "rendering": "text")`);
    }
    const judged = this.metric.kind === 'typed' && this.metric.parts.some((p) => p.kind === 'judge');
    this.judgeModel = judged ? (opts.judge ?? model) : null;
    this.cache = opts.cache ?? new MemoryCache();
    this.gen = { ...(task.signature ? TYPED_GENERATION : PLAIN_GENERATION), ...opts.generation };
    this.prices = opts.prices ?? DEFAULT_PRICES;
    const b = opts.budget;
    if (b?.calls !== undefined && !(b.calls >= 1)) throw new PromptkilnError('BUDGET', `budget.calls must be ≥ 1, got ${b.calls}`);
    if (b?.tokens !== undefined && !(b.tokens >= 1)) throw new PromptkilnError('BUDGET', `budget.tokens must be ≥ 1, got ${b.tokens}`);
    if (b?.cost !== undefined) {
      if (!(b.cost > 0)) throw new PromptkilnError('BUDGET', `budget.cost must be > 0 (USD), got ${b.cost}`);
      requirePrices(this.prices, [{ role: 'target', lm: model }, ...(this.judgeModel ? [{ role: 'judge', lm: this.judgeModel }] : []), ...(opts.proposer ? [{ role: 'proposer', lm: opts.proposer }] : [])]);
    }
    this.limit = new Limit(opts.concurrency ?? 4);
  }

  // Model calls one example costs under this metric (before retries).
  get callsPerExample(): number {
    if (this.metric.kind === 'typed') return 1 + this.judgeCallsPerExample;
    return this.metric.kind === 'labels' && !this.model.scoreMany ? this.metric.labels.length : 1;
  }

  private get judgeCallsPerExample(): number {
    return this.metric.kind === 'typed' ? this.metric.parts.reduce((a, p) => a + (p.kind === 'judge' ? judgeCalls(p.judge) : 0), 0) : 0;
  }

  private roleModel(role: Role): LanguageModel {
    return role === 'judge' ? (this.judgeModel ?? this.model) : role === 'proposer' ? (this.opts.proposer ?? this.model) : this.model;
  }

  private priceCall(role: Role, usage: Usage): number | null {
    const p = priceOf(this.prices, this.roleModel(role));
    return p ? costOf(p, usage) : null;
  }

  // The spend of one result's first use: tokens and money to its role and the run.
  private account(role: Role, usage: Usage) {
    const r = this.stats.byRole[role];
    r.tokens += usage.promptTokens + usage.completionTokens;
    const p = priceOf(this.prices, this.roleModel(role));
    if (!p) r.cost = null;
    else {
      const c = costOf(p, usage);
      this.costSum[role].add(c);
      this.costSum.run.add(c);
      if (r.cost !== null) r.cost = this.costSum[role].value;
      this.stats.cost = this.costSum.run.value;
    }
  }

  // Up-front cost of evaluating n candidates on m examples (before cache hits).
  estimate(nCandidates: number, examples: Example[], cand?: PromptCandidate): Estimate {
    const c = cand ?? { instruction: this.task.instruction, demos: this.task.demos };
    const text = (e: Example) => (this.task.signature ? renderTyped(this.task, c, e.inputs!).text : render(this.task, c, e.input));
    const avgPrompt = examples.reduce((a, e) => a + text(e).length / 4, 0) / Math.max(1, examples.length);
    const out = this.metric.kind === 'text' || this.metric.kind === 'typed' ? this.gen.maxTokens : 8;
    const calls = nCandidates * examples.length * this.callsPerExample;
    // judge calls: the judge prompt holds the input, the reference and an answer of at most `out`
    const judgeCount = nCandidates * examples.length * this.judgeCallsPerExample;
    const judgePrompt = 100 + out + examples.reduce((a, e) => a + (e.input.length + e.output.length) / 4, 0) / Math.max(1, examples.length);
    const targetCalls = calls - judgeCount;
    const tokens = Math.round(targetCalls * (avgPrompt + out) + judgeCount * (judgePrompt + JUDGE_PARAMS.maxTokens));
    // an upper bound in money: every output token at the output price
    const p = priceOf(this.prices, this.model);
    const jp = judgeCount ? priceOf(this.prices, this.roleModel('judge')) : { input: 0, output: 0 };
    const cost = p && jp ? (targetCalls * (avgPrompt * p.input + out * p.output) + judgeCount * (judgePrompt * jp.input + JUDGE_PARAMS.maxTokens * jp.output)) / 1e6 : null;
    return { calls, tokens, cost };
  }

  remaining(): { calls: number; tokens: number; cost: number } {
    const b = this.opts.budget ?? {};
    return {
      calls: (b.calls ?? Infinity) - this.stats.calls,
      tokens: (b.tokens ?? Infinity) - this.stats.promptTokens - this.stats.completionTokens,
      cost: (b.cost ?? Infinity) - this.stats.cost,
    };
  }

  private async keyOf(cand: PromptCandidate, ex: Example): Promise<{ key: string; prompt: string }> {
    const prompt = render(this.task, cand, ex.input);
    const params = this.metric.kind === 'text' ? this.gen : this.metric.kind === 'labels' ? this.metric.labels : null;
    const key = await contentKey(['eval/1', this.model.id, this.metric.name, params, prompt, ex.input, ex.output]);
    return { key, prompt };
  }

  // Pay for a result's first use in this run, whether it comes from the model or the cache:
  // then a resumed run spends its budget exactly as the uninterrupted run did.
  // A call starts only while calls, tokens and money remain; the money a call spends is known
  // when it returns, so calls already in flight (at most the concurrency) may end past the cap.
  private charge(key: string, cost: number, role: Role): boolean {
    if (this.charged.has(key)) return false;
    const r = this.remaining();
    if (r.calls < cost || r.tokens <= 0 || r.cost <= 0) throw this.exhausted();
    this.charged.add(key);
    this.stats.calls += cost;
    this.stats.byRole[role].calls += cost;
    return true;
  }

  private exhausted(): PromptkilnError {
    return new PromptkilnError('BUDGET', `budget exhausted: ${this.stats.calls} model calls, ${this.stats.promptTokens + this.stats.completionTokens} tokens, $${this.stats.cost.toFixed(4)} used (budget ${JSON.stringify(this.opts.budget)})`);
  }

  private async call(prompt: string, ex: Example): Promise<Cached> {
    const signal = this.opts.signal;
    const m = this.metric;
    if (m.kind === 'text') {
      const g = await this.model.generate(prompt, { ...this.gen, n: 1, seed: 0, signal });
      const prediction = g.texts[0] ?? '';
      // a throwing metric surfaces as METRIC and is recorded by example()
      return { score: await applyMetric(m, prediction, ex), prediction, usage: g.usage };
    }
    if (m.kind === 'loglik') return this.loglik(await this.model.score!(prompt, ex.output, { signal }), ex);
    if (m.kind === 'typed') throw new Error('unreachable: typed metrics take typedExample()');
    const scores = this.model.scoreMany
      ? await this.model.scoreMany(prompt, m.labels, { signal })
      : await Promise.all(m.labels.map((l) => this.model.score!(prompt, l, { signal })));
    // length-normalised, so a longer label is not penalised for having more tokens
    const means = scores.map((s) => s.total / Math.max(1, s.logprobs.length));
    let best = 0;
    for (let i = 1; i < means.length; i++) if (means[i] > means[best]) best = i;
    const usage = scores.reduce((u, s) => ({ promptTokens: u.promptTokens + s.usage.promptTokens, completionTokens: u.completionTokens + s.usage.completionTokens }), { promptTokens: 0, completionTokens: 0 });
    return { score: norm(m.labels[best]) === norm(ex.output) ? 1 : 0, prediction: m.labels[best], usage };
  }

  // A loglik example's score: the target's mean token log-likelihood.
  private loglik(s: Score, ex: Example): Cached {
    const mean = s.logprobs.length ? s.total / s.logprobs.length : 0;
    if (!Number.isFinite(mean)) throw new PromptkilnError('NAN', `model ${this.model.id} returned a non-finite log-likelihood for example ${ex.id}`);
    return { score: mean, usage: s.usage };
  }

  // Budget and abort end the run; anything else is this example's recorded failure.
  private failed(ex: Example, e: unknown, score: number | null): ExampleResult {
    if (isPromptkilnError(e, 'BUDGET') || isPromptkilnError(e, 'ABORTED')) throw e;
    this.stats.failures++;
    const error = isPromptkilnError(e) ? `[${e.code}] ${e.message}` : String((e as Error)?.message ?? e);
    return { id: ex.id, score, error, cached: false };
  }

  // The one path to the model: cache lookup, budget charge, de-duplication of identical calls in
  // flight, the concurrency limit, usage accounting. Search uses it for its own LLM calls too
  // (meta-prompts), so they are cached, replayed on resume and counted against the budget.
  async memo<T extends { usage: Usage }>(key: string, cost: number, compute: () => Promise<T>, role: Role = 'target'): Promise<{ value: T; cached: boolean }> {
    throwIfAborted(this.opts.signal, 'evaluation');
    const hit = this.cache.get(key) as T | undefined;
    if (hit) {
      if (this.charge(key, cost, role)) this.account(role, hit.usage);
      this.stats.cacheHits++;
      this.opts.onCall?.({ role, cached: true, usage: hit.usage, ms: (hit as { ms?: number }).ms ?? 0, usd: this.priceCall(role, hit.usage) });
      return { value: hit, cached: true };
    }
    let p = this.inflight.get(key) as Promise<T> | undefined;
    if (!p) {
      this.charge(key, cost, role); // synchronous check-and-reserve, in launch order
      p = this.limit.run(async () => {
        throwIfAborted(this.opts.signal, 'evaluation');
        // money is known only when calls return: check again when this one gets its slot, so
        // at most `concurrency` calls are in flight past the cap (not every call queued)
        if (this.remaining().cost <= 0) {
          this.charged.delete(key);
          this.stats.calls -= cost;
          this.stats.byRole[role].calls -= cost;
          throw this.exhausted();
        }
        this.stats.freshCalls += cost;
        const t0 = performance.now();
        const r = await compute();
        // latency is part of the result: stored in the cache so selection replays the same numbers
        const timed = r as T & { ms?: number };
        timed.ms ??= Math.round((performance.now() - t0) * 1000) / 1000;
        this.opts.onCall?.({ role, cached: false, usage: r.usage, ms: timed.ms, usd: this.priceCall(role, r.usage) });
        this.stats.promptTokens += r.usage.promptTokens;
        this.stats.completionTokens += r.usage.completionTokens;
        this.account(role, r.usage);
        this.cache.set(key, r);
        return r;
      });
      this.inflight.set(key, p);
      p.finally(() => this.inflight.delete(key)).catch(() => {});
    }
    return { value: await p, cached: false };
  }

  async example(cand: PromptCandidate, ex: Example): Promise<ExampleResult> {
    if (this.metric.kind === 'typed') return this.typedExample(cand, ex, this.metric.parts);
    const { key, prompt } = await this.keyOf(cand, ex);
    try {
      const { value: r, cached } = await this.memo(key, this.callsPerExample, () => this.call(prompt, ex));
      return { id: ex.id, score: r.score, prediction: r.prediction, cached, usage: r.usage, ms: r.ms };
    } catch (e) {
      return this.failed(ex, e, this.metric.kind === 'loglik' ? null : 0);
    }
  }

  async evaluate(cand: PromptCandidate & PerInputDemos, examples: Example[]): Promise<CandidateScore> {
    // per-input demonstrations: each example is rendered with its own (cache keys follow the prompt)
    if (cand.demosFor) return summarize(await Promise.all(examples.map((ex) => this.example({ instruction: cand.instruction, demos: cand.demosFor!(ex) }, ex))));
    const prefix = this.sharedPrefix(cand, examples);
    const results = prefix === null ? await Promise.all(examples.map((ex) => this.example(cand, ex))) : await this.evaluateShared(cand, examples, prefix);
    return summarize(results);
  }

  // The text every example's prompt starts with (what comes before {input}), when the shared
  // path applies; null otherwise.
  private sharedPrefix(cand: PromptCandidate, examples: Example[]): string | null {
    if (this.metric.kind !== 'loglik' || !this.model.scoreShared || this.opts.prefixReuse === false || examples.length < 2) return null;
    const prefix = promptPrefix(this.task, cand);
    return prefix.length > 0 ? prefix : null;
  }

  // Every uncached example goes into one scoreShared call (made lazily, by the first example
  // that needs it); each example is still its own cache entry and budget charge.
  private async evaluateShared(cand: PromptCandidate, examples: Example[], prefix: string): Promise<ExampleResult[]> {
    const keyed = await Promise.all(examples.map((ex) => this.keyOf(cand, ex)));
    const todo = keyed.map((k, i) => ({ i, ...k })).filter((k) => !this.cache.get(k.key) && !this.inflight.has(k.key));
    let batch: Promise<Cached[]> | null = null;
    const runBatch = () =>
      (batch ??= this.model
        .scoreShared!(prefix, todo.map((t) => ({ context: t.prompt.slice(prefix.length), target: examples[t.i].output })), { signal: this.opts.signal })
        .then((ss) => ss.map((s, j) => this.loglik(s, examples[todo[j].i]))));
    const slot = new Map(todo.map((t, j) => [t.key, j]));
    return Promise.all(
      examples.map(async (ex, i) => {
        const { key, prompt } = keyed[i];
        const j = slot.get(key);
        try {
          const compute = j === undefined ? () => this.call(prompt, ex) : () => runBatch().then((rs) => rs[j]);
          const { value: r, cached } = await this.memo(key, this.callsPerExample, compute);
          return { id: ex.id, score: r.score, prediction: r.prediction, cached, usage: r.usage, ms: r.ms };
        } catch (e) {
          return this.failed(ex, e, null);
        }
      }),
    );
  }

  // The request for one example (what a loaded program sends too).
  request(cand: PromptCandidate, ex: Example): AnswerRequest {
    const sig = this.task.signature;
    const { messages, text } = sig ? renderTyped(this.task, cand, ex.inputs!) : { messages: [], text: render(this.task, cand, ex.input) };
    return requestOf(sig, usesChat(sig, this.task.rendering, this.model), messages, text, this.gen);
  }

  // Typed tasks and judge metrics: generate, parse and validate (retrying an unusable answer
  // with the error shown, each retry a counted call), then the weighted parts of the metric.
  private async typedExample(cand: PromptCandidate, ex: Example, parts: TypedPart[]): Promise<ExampleResult> {
    let text: string | undefined;
    const usage: Usage = { promptTokens: 0, completionTokens: 0 };
    let ms = 0;
    try {
      const a = await answer(this.task.signature, this.task.retries, this.request(cand, ex), async (r) => {
        const key = await contentKey(['gen-typed/1', this.model.id, r.chat ? r.messages : r.text, r.options]);
        const g = await this.memo(key, 1, () => send(this.model, r, this.opts.signal));
        usage.promptTokens += g.value.usage.promptTokens;
        usage.completionTokens += g.value.usage.completionTokens;
        ms += (g.value as { ms?: number }).ms ?? 0;
        return g;
      });
      text = a.text;
      this.stats.retries += a.attempts - 1;
      if (!a.parsed) {
        this.stats.parseFailures++;
        return { id: ex.id, score: 0, prediction: a.text, error: `[PARSE] ${a.error}`, unusable: true, cached: a.cached, usage, ms };
      }
      const s = await scoreParts(parts, { parsed: a.parsed, text: a.text, example: ex, judge: (spec) => this.judge(spec, ex, a.text) });
      return { id: ex.id, score: s.score, prediction: a.text, parsed: a.parsed, ...(s.feedback ? { feedback: s.feedback } : {}), cached: a.cached, usage, ms };
    } catch (e) {
      return { ...this.failed(ex, e, 0), ...(text !== undefined ? { prediction: text } : {}) };
    }
  }

  // One judge call: its own model, cached and budgeted like the target's.
  // A pairwise verdict is the mean of both orders; the reasons of both are kept.
  async judge(spec: JudgeSpec, ex: Example, prediction: string): Promise<Verdict> {
    const vs = await Promise.all(Array.from({ length: judgeCalls(spec) }, (_, i) => this.judgeOnce(spec, ex, prediction, i === 1)));
    return { score: vs.reduce((a, v) => a + v.score, 0) / vs.length, reason: vs.map((v) => v.reason).filter(Boolean).join(' ') };
  }

  private async judgeOnce(spec: JudgeSpec, ex: Example, prediction: string, swapped: boolean): Promise<Verdict> {
    const jm = this.judgeModel ?? this.model;
    const msgs = judgeMessages(spec, { input: ex.input, reference: ex.output, prediction }, swapped);
    const key = await contentKey(['judge/1', jm.id, jm.chat ? msgs : judgeText(msgs), JUDGE_PARAMS]);
    const signal = this.opts.signal;
    const { value } = await this.memo(key, 1, () => (jm.chat ? jm.chat(msgs, { ...JUDGE_PARAMS, signal }) : jm.generate(judgeText(msgs), { ...JUDGE_PARAMS, signal })), 'judge');
    return parseVerdict(spec, value.texts[0] ?? '', swapped);
  }
}

// A candidate whose demonstrations are chosen per input (KNN retrieval, search/strategies/knn.ts).
export interface PerInputDemos {
  demosFor?: (ex: Example) => Example[];
}

export interface Estimate {
  calls: number;
  tokens: number;
  cost: number | null; // USD upper bound for target and judge calls (every output token spent); null when one has no price
}

const norm = (s: string) => s.trim();

export function summarize(results: ExampleResult[]): CandidateScore {
  const scored = results.filter((r) => r.score !== null) as (ExampleResult & { score: number })[];
  return {
    score: scored.length ? scored.reduce((a, r) => a + r.score, 0) / scored.length : null,
    n: results.length,
    failures: results.filter((r) => r.error && !r.unusable).length,
    results,
  };
}

// Order for "higher is better" where null (nothing scored) is worst.
export const byScoreDesc = (a: number | null, b: number | null) => (b ?? -Infinity) - (a ?? -Infinity) || 0;
