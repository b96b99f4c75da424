// An OpenAI-compatible HTTP client on fetch (OpenAI, vLLM, llama.cpp server, Ollama, LM Studio,
// `promptkiln serve`). Chat and completions; scoring through completions with echo + logprobs
// + max_tokens 0; retries with backoff on 429 / 5xx / timeouts / dropped connections,
// honouring Retry-After; a concurrency limit; AbortSignal. The API key is sent only in the
// Authorization header: it never appears in ids, errors, logs or reports.
import { PromptkilnError } from '../errors.js';
import { envVar, HttpClient, type HttpOptions, type Json } from './http.js';
import type { ChatMessage, ChatOptions, Embeddings, GenerateOptions, Generation, LanguageModel, Score, ScoreOptions, Usage } from './types.js';

export interface OpenAIOptions extends HttpOptions {
  baseURL: string; // up to and including /v1, e.g. http://127.0.0.1:8080/v1
  model: string;
  apiKey?: string; // default: OPENAI_API_KEY from the environment, when there is one
  // 'chat': generate sends one user message, and chat() is offered (typed tasks render as
  // messages); default 'completions' (score always uses completions)
  api?: 'chat' | 'completions';
  logprobs?: boolean; // false: the endpoint cannot score, so the adapter offers no score()
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
  private readonly http: HttpClient;

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
    this.key = opts.apiKey ?? envVar('OPENAI_API_KEY');
    this.http = new HttpClient(opts, 'option apiKey or OPENAI_API_KEY');
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

  // POST /embeddings: one vector per input, in the order given (servers may reorder: by index)
  async embed(texts: string[], o?: ScoreOptions): Promise<Embeddings> {
    const j = await this.post('/embeddings', { model: this.opts.model, input: texts }, o?.signal);
    const data = j.data;
    if (!Array.isArray(data) || data.length !== texts.length) throw this.garbage(`data (${texts.length} embeddings)`, j);
    const vectors: number[][] = new Array(texts.length);
    for (const [i, d] of (data as Json[]).entries()) {
      const e = d.embedding;
      if (!Array.isArray(e) || e.some((x) => typeof x !== 'number')) throw this.garbage(`data[${i}].embedding (numbers)`, j);
      vectors[typeof d.index === 'number' ? d.index : i] = e as number[];
    }
    return { vectors, usage: usageOf(j) };
  }

  private garbage(field: string, j: unknown): PromptkilnError {
    return new PromptkilnError('NETWORK', `${this.base}: the response lacks ${field}; got ${JSON.stringify(j).slice(0, 200)}`);
  }

  private post(path: string, body: Json, signal?: AbortSignal): Promise<Json> {
    return this.http.post(this.base + path, body, this.key ? { authorization: `Bearer ${this.key}` } : {}, signal);
  }
}

export function openaiModel(opts: OpenAIOptions): OpenAIModel {
  return new OpenAIModel(opts);
}
