// An OpenAI-compatible HTTP client on fetch (OpenAI, vLLM, llama.cpp server, Ollama, LM Studio,
// `promptkiln serve`). Chat and completions; scoring through completions with echo + logprobs
// + max_tokens 0; retries with backoff on 429 / 5xx / timeouts / dropped connections,
// honouring Retry-After; a concurrency limit; AbortSignal. The API key is sent only in the
// Authorization header: it never appears in ids, errors, logs or reports.
import { PromptkilnError, throwIfAborted } from '../errors.js';
import { Limit } from './limit.js';
import type { ChatMessage, ChatOptions, GenerateOptions, Generation, LanguageModel, Score, ScoreOptions, Usage } from './types.js';

export interface OpenAIOptions {
  baseURL: string; // up to and including /v1, e.g. http://127.0.0.1:8080/v1
  model: string;
  apiKey?: string; // default: OPENAI_API_KEY from the environment, when there is one
  // 'chat': generate sends one user message, and chat() is offered (typed tasks render as
  // messages); default 'completions' (score always uses completions)
  api?: 'chat' | 'completions';
  logprobs?: boolean; // false: the endpoint cannot score, so the adapter offers no score()
  concurrency?: number; // requests in flight (default 4)
  maxRetries?: number; // after the first try (default 4)
  timeoutMs?: number; // per attempt (default 60 s)
  backoffMs?: number; // first backoff (default 500 ms), doubled each retry, with jitter
  maxBackoffMs?: number; // cap, also for Retry-After (default 30 s)
  headers?: Record<string, string>;
  fetch?: typeof fetch;
}

type Json = Record<string, unknown>;

class Retryable extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

function envKey(): string | undefined {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return p?.env?.OPENAI_API_KEY || undefined;
}

function parseRetryAfter(h: string | null): number | undefined {
  if (!h) return undefined;
  const s = Number(h);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const t = Date.parse(h);
  return Number.isFinite(t) ? Math.max(0, t - Date.now()) : undefined;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((res, rej) => {
    if (signal?.aborted) return rej(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      res();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      rej(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const usageOf = (j: Json): Usage => {
  const u = (j.usage ?? {}) as Json;
  const cached = Number(((u.prompt_tokens_details ?? {}) as Json).cached_tokens) || 0;
  const reasoning = Number(((u.completion_tokens_details ?? {}) as Json).reasoning_tokens) || 0;
  return {
    promptTokens: Number(u.prompt_tokens) || 0,
    completionTokens: Number(u.completion_tokens) || 0,
    ...(cached ? { cachedPromptTokens: cached } : {}),
    ...(reasoning ? { reasoningTokens: reasoning } : {}),
  };
};

const addUsage = (a: Usage, b: Usage): Usage => ({
  promptTokens: a.promptTokens + b.promptTokens,
  completionTokens: a.completionTokens + b.completionTokens,
  ...(a.cachedPromptTokens || b.cachedPromptTokens ? { cachedPromptTokens: (a.cachedPromptTokens ?? 0) + (b.cachedPromptTokens ?? 0) } : {}),
  ...(a.reasoningTokens || b.reasoningTokens ? { reasoningTokens: (a.reasoningTokens ?? 0) + (b.reasoningTokens ?? 0) } : {}),
});

export class OpenAIModel implements LanguageModel {
  readonly id: string;
  readonly modelName: string;
  readonly score?: (prompt: string, target: string, opts?: ScoreOptions) => Promise<Score>;
  readonly chat?: (messages: ChatMessage[], opts?: ChatOptions) => Promise<Generation>;
  private readonly base: string;
  private readonly key: string | undefined;
  private readonly limit: Limit;
  private readonly f: typeof fetch;

  constructor(readonly opts: OpenAIOptions) {
    let u: URL;
    try {
      u = new URL(opts.baseURL);
    } catch {
      throw new PromptkilnError('ARGUMENT', `openai: baseURL must be an absolute URL such as http://127.0.0.1:8080/v1, got "${opts.baseURL}"`);
    }
    if (!opts.model) throw new PromptkilnError('ARGUMENT', 'openai: a model name is required (--llm-model)');
    this.base = opts.baseURL.replace(/\/+$/, '');
    // the id names the server and model, never the key (ids go into caches and run logs)
    this.id = `openai:${u.host}${u.pathname.replace(/\/+$/, '')}/${opts.model}`;
    this.modelName = opts.model;
    this.key = opts.apiKey ?? envKey();
    this.limit = new Limit(opts.concurrency ?? 4);
    this.f = opts.fetch ?? globalThis.fetch.bind(globalThis);
    if (opts.logprobs !== false) this.score = (p, t, o) => this.scoreImpl(p, t, o);
    if (opts.api === 'chat') this.chat = (m, o) => this.complete(m, o);
  }

  async generate(prompt: string, o: GenerateOptions = {}): Promise<Generation> {
    return this.complete(this.opts.api === 'chat' ? [{ role: 'user', content: prompt }] : prompt, o);
  }

  private async complete(input: string | ChatMessage[], o: ChatOptions = {}): Promise<Generation> {
    const n = o.n ?? 1;
    const chat = typeof input !== 'string';
    const texts: string[] = [];
    let usage: Usage = { promptTokens: 0, completionTokens: 0 };
    // some servers ignore n; ask again for the rest
    for (let round = 0; texts.length < n && round < n; round++) {
      const body: Json = {
        model: this.opts.model,
        n: n - texts.length,
        temperature: o.temperature ?? 0,
        max_tokens: o.maxTokens ?? 64,
        ...(o.topP !== undefined ? { top_p: o.topP } : {}),
        ...(o.stop?.length ? { stop: o.stop.slice(0, 4) } : {}),
        ...(o.seed !== undefined ? { seed: o.seed + round } : {}),
        ...(chat ? { messages: input } : { prompt: input }),
        ...(chat && o.responseSchema ? { response_format: { type: 'json_schema', json_schema: { name: o.responseSchema.name, schema: o.responseSchema.schema, strict: false } } } : {}),
      };
      const j = await this.post(chat ? '/chat/completions' : '/completions', body, o.signal);
      const choices = j.choices;
      if (!Array.isArray(choices) || choices.length === 0) throw this.garbage('choices', j);
      for (const c of choices as Json[]) {
        const t = chat ? ((c.message ?? {}) as Json).content : c.text;
        if (typeof t !== 'string') throw this.garbage(chat ? 'choices[].message.content' : 'choices[].text', j);
        texts.push(t);
      }
      usage = addUsage(usage, usageOf(j));
    }
    return { texts: texts.slice(0, n), usage };
  }

  // log p(target | prompt) from completions with echo: the server returns the logprob of every
  // token of prompt+target; the target's tokens are those that end after the prompt's text.
  private async scoreImpl(prompt: string, target: string, o?: ScoreOptions): Promise<Score> {
    const text = prompt + target;
    const j = await this.post('/completions', { model: this.opts.model, prompt: text, max_tokens: 0, echo: true, logprobs: 0, temperature: 0 }, o?.signal);
    const c = (Array.isArray(j.choices) ? j.choices[0] : undefined) as Json | undefined;
    const lp = c?.logprobs as Json | undefined | null;
    if (!lp) throw new PromptkilnError('NETWORK', `${this.base}/completions returned no logprobs for an echo request: this endpoint cannot score (use a text metric, or pass logprobs: false)`);
    const toks = lp.token_logprobs;
    const offs = lp.text_offset;
    if (!Array.isArray(toks) || !Array.isArray(offs) || toks.length !== offs.length) throw this.garbage('choices[0].logprobs.{token_logprobs,text_offset}', j);
    const logprobs: number[] = [];
    for (let i = 0; i < toks.length; i++) {
      const end = i + 1 < offs.length ? Number(offs[i + 1]) : Infinity;
      if (end > prompt.length && Number(offs[i]) < text.length) {
        const v = toks[i];
        if (typeof v !== 'number' || !Number.isFinite(v)) throw this.garbage(`choices[0].logprobs.token_logprobs[${i}] (a finite number)`, j);
        logprobs.push(v);
      }
    }
    if (target.length > 0 && logprobs.length === 0) throw this.garbage('logprobs covering the target text', j);
    return { total: logprobs.reduce((a, b) => a + b, 0), logprobs, usage: usageOf(j) };
  }

  private garbage(field: string, j: unknown): PromptkilnError {
    return new PromptkilnError('NETWORK', `${this.base}: the response lacks ${field}; got ${JSON.stringify(j).slice(0, 200)}`);
  }

  private post(path: string, body: Json, signal?: AbortSignal): Promise<Json> {
    return this.limit.run(() => this.postWithRetry(path, body, signal));
  }

  private async postWithRetry(path: string, body: Json, signal?: AbortSignal): Promise<Json> {
    const url = this.base + path;
    const maxRetries = this.opts.maxRetries ?? 4;
    const base = this.opts.backoffMs ?? 500;
    const cap = this.opts.maxBackoffMs ?? 30_000;
    const what = `request to ${url}`;
    let last = '';
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(signal, what);
      try {
        return await this.once(url, body, signal);
      } catch (e) {
        throwIfAborted(signal, what);
        if (!(e instanceof Retryable)) throw e;
        last = e.message;
        if (attempt >= maxRetries) break;
        const backoff = e.retryAfterMs ?? base * 2 ** attempt * (0.75 + 0.5 * Math.random());
        try {
          await sleep(Math.min(cap, backoff), signal);
        } catch {
          throw new PromptkilnError('ABORTED', `${what} was aborted`, undefined, { cause: signal?.reason });
        }
      }
    }
    throw new PromptkilnError('NETWORK', `${url} failed after ${maxRetries + 1} attempts: ${last}`, { url });
  }

  private async once(url: string, body: Json, signal?: AbortSignal): Promise<Json> {
    const ac = new AbortController();
    const timeoutMs = this.opts.timeoutMs ?? 60_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, timeoutMs);
    const onAbort = () => ac.abort(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      let res: Response;
      let text: string;
      try {
        res = await this.f(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(this.key ? { authorization: `Bearer ${this.key}` } : {}), ...this.opts.headers },
          body: JSON.stringify(body),
          signal: ac.signal,
        });
        text = await res.text();
      } catch (e) {
        if (signal?.aborted) throw e;
        if (timedOut) throw new Retryable(`no answer within ${timeoutMs} ms`);
        // connection refused / reset / dropped mid-body
        throw new Retryable(`connection failed: ${(e as Error)?.cause ? String(((e as Error).cause as Error).message ?? (e as Error).cause) : (e as Error).message}`);
      }
      if (res.status === 429 || res.status >= 500) {
        throw new Retryable(`HTTP ${res.status}: ${text.slice(0, 200)}`, parseRetryAfter(res.headers.get('retry-after')));
      }
      if (!res.ok) {
        let msg = text.slice(0, 300);
        try {
          const j = JSON.parse(text) as Json;
          const err = j.error as Json | string | undefined;
          msg = typeof err === 'string' ? err : String((err as Json | undefined)?.message ?? msg);
        } catch {
          /* not JSON: keep the text */
        }
        const hint = res.status === 401 ? ' (check the API key: option apiKey or OPENAI_API_KEY)' : '';
        throw new PromptkilnError('NETWORK', `${url}: HTTP ${res.status}: ${msg}${hint}`, { url, status: res.status });
      }
      try {
        const j = JSON.parse(text);
        if (typeof j !== 'object' || j === null) throw new Error('not an object');
        return j as Json;
      } catch {
        // a proxy's error page or a cut body: worth another try
        throw new Retryable(`the body is not JSON: ${JSON.stringify(text.slice(0, 120))}`);
      }
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

export function openaiModel(opts: OpenAIOptions): OpenAIModel {
  return new OpenAIModel(opts);
}
