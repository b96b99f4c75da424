// The Anthropic Messages API (POST /v1/messages) as a LanguageModel: chat with a system prompt,
// generate as one user turn. No logprobs, so no score(); no n, so n completions are n requests.
// The key (option apiKey or ANTHROPIC_API_KEY) travels only in the x-api-key header.
import { PromptkilnError } from '../errors.js';
import { envVar, HttpClient, type HttpOptions, type Json } from './http.js';
import type { ChatMessage, ChatOptions, GenerateOptions, Generation, LanguageModel, Usage } from './types.js';

export interface AnthropicOptions extends HttpOptions {
  baseURL?: string; // default https://api.anthropic.com (the adapter appends /v1/messages)
  model: string;
  apiKey?: string;
  version?: string; // anthropic-version header (default 2023-06-01)
}

export class AnthropicModel implements LanguageModel {
  readonly id: string;
  readonly modelName: string;
  private readonly url: string;
  private readonly key: string | undefined;
  private readonly http: HttpClient;

  constructor(readonly opts: AnthropicOptions) {
    const base = (opts.baseURL ?? 'https://api.anthropic.com').replace(/\/+$/, '').replace(/\/v1$/, '');
    let u: URL;
    try {
      u = new URL(base);
    } catch {
      throw new PromptkilnError('ARGUMENT', `anthropic: baseURL must be an absolute URL such as https://api.anthropic.com, got "${opts.baseURL}"`);
    }
    if (!opts.model) throw new PromptkilnError('ARGUMENT', 'anthropic: a model name is required (--llm-model)');
    this.url = `${base}/v1/messages`;
    this.id = `anthropic:${u.host}${u.pathname.replace(/\/+$/, '')}/${opts.model}`;
    this.modelName = opts.model;
    this.key = opts.apiKey ?? envVar('ANTHROPIC_API_KEY');
    this.http = new HttpClient(opts, 'option apiKey or ANTHROPIC_API_KEY');
  }

  generate(prompt: string, o: GenerateOptions = {}): Promise<Generation> {
    return this.chat([{ role: 'user', content: prompt }], o);
  }

  async chat(messages: ChatMessage[], o: ChatOptions = {}): Promise<Generation> {
    // system turns go to the top-level "system"; the rest alternate user / assistant
    const system = messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n');
    const turns = messages.filter((m) => m.role !== 'system').map((m) => ({ role: m.role, content: m.content }));
    const texts: string[] = [];
    const usage: Usage = { promptTokens: 0, completionTokens: 0 };
    for (let i = 0; i < (o.n ?? 1); i++) {
      const body: Json = {
        model: this.opts.model,
        max_tokens: o.maxTokens ?? 64,
        temperature: Math.min(1, o.temperature ?? 0), // Anthropic's range is [0, 1]
        messages: turns,
        ...(system ? { system } : {}),
        ...(o.topP !== undefined ? { top_p: o.topP } : {}),
        // Anthropic refuses whitespace-only stop sequences
        ...(o.stop?.filter((s) => s.trim()).length ? { stop_sequences: o.stop.filter((s) => s.trim()) } : {}),
      };
      const headers: Record<string, string> = { 'anthropic-version': this.opts.version ?? '2023-06-01', ...(this.key ? { 'x-api-key': this.key } : {}) };
      const j = await this.http.post(this.url, body, headers, o.signal);
      const content = j.content;
      if (!Array.isArray(content)) throw new PromptkilnError('NETWORK', `${this.url}: the response lacks content[]; got ${JSON.stringify(j).slice(0, 200)}`);
      texts.push(content.filter((c: Json) => c?.type === 'text').map((c: Json) => String(c.text ?? '')).join(''));
      const u = (j.usage ?? {}) as Json;
      // input_tokens excludes cache reads and writes; promptTokens counts them all
      const cacheRead = Number(u.cache_read_input_tokens) || 0;
      usage.promptTokens += (Number(u.input_tokens) || 0) + cacheRead + (Number(u.cache_creation_input_tokens) || 0);
      usage.completionTokens += Number(u.output_tokens) || 0;
      if (cacheRead) usage.cachedPromptTokens = (usage.cachedPromptTokens ?? 0) + cacheRead;
    }
    return { texts, usage };
  }
}

export function anthropicModel(opts: AnthropicOptions): AnthropicModel {
  return new AnthropicModel(opts);
}
