// The evaluator: runs a prompt candidate on examples with a model and a metric; caches by
// content hash; charges model calls and tokens to a budget; races candidates so weak prompts
// stop early (racing.ts); runs examples concurrently up to a limit.
import { PromptkilnError, isPromptkilnError, throwIfAborted } from '../errors.js';
import { Limit } from '../llm/limit.js';
import type { LanguageModel, Score, Usage } from '../llm/types.js';
import { contentKey, MemoryCache, type EvalCache } from './cache.js';
import { applyMetric, resolveMetric, type Metric } from './metrics.js';
import { promptPrefix, render, type Example, type PromptCandidate, type Task } from './task.js';

export interface GenerationParams {
  maxTokens: number;
  temperature: number;
  stop: string[];
}

export interface Budget {
  calls?: number; // model calls (what --budget counts)
  tokens?: number; // prompt + completion tokens
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
}

export interface ExampleResult {
  id: string;
  score: number | null; // null: excluded (a loglik call that failed)
  prediction?: string;
  error?: string; // a recorded failure (metric threw, endpoint failed)
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
}

interface Cached {
  score: number | null;
  prediction?: string;
  usage: Usage;
}

const GEN_DEFAULTS: GenerationParams = { maxTokens: 32, temperature: 0, stop: ['\n'] };

export class Evaluator {
  readonly metric: Metric;
  readonly cache: EvalCache;
  readonly gen: GenerationParams;
  readonly stats: EvalStats = { calls: 0, freshCalls: 0, cacheHits: 0, promptTokens: 0, completionTokens: 0, failures: 0 };
  private limit: Limit;
  private charged = new Set<string>(); // keys already paid for in this run
  private inflight = new Map<string, Promise<unknown>>();

  constructor(
    readonly task: Task,
    readonly model: LanguageModel,
    readonly opts: EvaluatorOptions = {},
  ) {
    this.metric = opts.metric ?? resolveMetric(task.metric, task.labels);
    if (this.metric.kind !== 'text' && !model.score) {
      throw new PromptkilnError('ARGUMENT', `metric ${this.metric.name} needs log-likelihoods, but model ${model.id} has no score(); use an endpoint with logprobs, the local model, or a text metric`);
    }
    this.cache = opts.cache ?? new MemoryCache();
    this.gen = { ...GEN_DEFAULTS, ...opts.generation };
    const b = opts.budget;
    if (b?.calls !== undefined && !(b.calls >= 1)) throw new PromptkilnError('BUDGET', `budget.calls must be ≥ 1, got ${b.calls}`);
    if (b?.tokens !== undefined && !(b.tokens >= 1)) throw new PromptkilnError('BUDGET', `budget.tokens must be ≥ 1, got ${b.tokens}`);
    this.limit = new Limit(opts.concurrency ?? 4);
  }

  // Model calls one example costs under this metric.
  get callsPerExample(): number {
    return this.metric.kind === 'labels' && !this.model.scoreMany ? this.metric.labels.length : 1;
  }

  // Up-front cost of evaluating n candidates on m examples (before cache hits).
  estimate(nCandidates: number, examples: Example[], cand?: PromptCandidate): { calls: number; tokens: number } {
    const c = cand ?? { instruction: this.task.instruction, demos: this.task.demos };
    const avgPrompt = examples.reduce((a, e) => a + render(this.task, c, e.input).length / 4, 0) / Math.max(1, examples.length);
    const out = this.metric.kind === 'text' ? this.gen.maxTokens : 8;
    const calls = nCandidates * examples.length * this.callsPerExample;
    return { calls, tokens: Math.round(calls * (avgPrompt + out)) };
  }

  remaining(): { calls: number; tokens: number } {
    const b = this.opts.budget ?? {};
    return {
      calls: (b.calls ?? Infinity) - this.stats.calls,
      tokens: (b.tokens ?? Infinity) - this.stats.promptTokens - this.stats.completionTokens,
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
  private charge(key: string, cost: number) {
    if (this.charged.has(key)) return;
    const r = this.remaining();
    if (r.calls < cost || r.tokens <= 0) {
      throw new PromptkilnError('BUDGET', `budget exhausted: ${this.stats.calls} model calls, ${this.stats.promptTokens + this.stats.completionTokens} tokens used (budget ${JSON.stringify(this.opts.budget)})`);
    }
    this.charged.add(key);
    this.stats.calls += cost;
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
  async memo<T extends { usage: Usage }>(key: string, cost: number, compute: () => Promise<T>): Promise<{ value: T; cached: boolean }> {
    throwIfAborted(this.opts.signal, 'evaluation');
    const hit = this.cache.get(key) as T | undefined;
    if (hit) {
      this.charge(key, cost);
      this.stats.cacheHits++;
      return { value: hit, cached: true };
    }
    let p = this.inflight.get(key) as Promise<T> | undefined;
    if (!p) {
      this.charge(key, cost); // synchronous check-and-reserve, in launch order
      p = this.limit.run(async () => {
        throwIfAborted(this.opts.signal, 'evaluation');
        this.stats.freshCalls += cost;
        const r = await compute();
        this.stats.promptTokens += r.usage.promptTokens;
        this.stats.completionTokens += r.usage.completionTokens;
        this.cache.set(key, r);
        return r;
      });
      this.inflight.set(key, p);
      p.finally(() => this.inflight.delete(key)).catch(() => {});
    }
    return { value: await p, cached: false };
  }

  async example(cand: PromptCandidate, ex: Example): Promise<ExampleResult> {
    const { key, prompt } = await this.keyOf(cand, ex);
    try {
      const { value: r, cached } = await this.memo(key, this.callsPerExample, () => this.call(prompt, ex));
      return { id: ex.id, score: r.score, prediction: r.prediction, cached };
    } catch (e) {
      return this.failed(ex, e, this.metric.kind === 'loglik' ? null : 0);
    }
  }

  async evaluate(cand: PromptCandidate, examples: Example[]): Promise<CandidateScore> {
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
          return { id: ex.id, score: r.score, prediction: r.prediction, cached };
        } catch (e) {
          return this.failed(ex, e, null);
        }
      }),
    );
  }
}

const norm = (s: string) => s.trim();

export function summarize(results: ExampleResult[]): CandidateScore {
  const scored = results.filter((r) => r.score !== null) as (ExampleResult & { score: number })[];
  return {
    score: scored.length ? scored.reduce((a, r) => a + r.score, 0) / scored.length : null,
    n: results.length,
    failures: results.filter((r) => r.error).length,
    results,
  };
}

// Order for "higher is better" where null (nothing scored) is worst.
export const byScoreDesc = (a: number | null, b: number | null) => (b ?? -Infinity) - (a ?? -Infinity) || 0;
