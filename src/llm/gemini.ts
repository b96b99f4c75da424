// The Google Gemini API (POST /v1beta/models/{model}:generateContent) as a LanguageModel: chat
// with a system instruction, generate as one user turn, JSON mode with the output schema. No
// logprobs, so no score(). The key (option apiKey, GEMINI_API_KEY or GOOGLE_API_KEY) travels only
// in the x-goog-api-key header, never in the URL.
import { PromptkilnError } from '../errors.js';
import { envVar, HttpClient, type HttpOptions, type Json } from './http.js';
import type { ChatMessage, ChatOptions, GenerateOptions, Generation, LanguageModel, Usage } from './types.js';

export interface GeminiOptions extends HttpOptions {
  baseURL?: string; // default https://generativelanguage.googleapis.com/v1beta
  model: string; // e.g. gemini-2.0-flash
  apiKey?: string;
}

export class GeminiModel implements LanguageModel {
  readonly id: string;
  readonly modelName: string;
  private readonly url: string;
  private readonly key: string | undefined;
  private readonly http: HttpClient;

  constructor(readonly opts: GeminiOptions) {
    const base = (opts.baseURL ?? 'https://generativelanguage.googleapis.com/v1beta').replace(/\/+$/, '');
    let u: URL;
    try {
      u = new URL(base);
    } catch {
      throw new PromptkilnError('ARGUMENT', `gemini: baseURL must be an absolute URL such as https://generativelanguage.googleapis.com/v1beta, got "${opts.baseURL}"`);
    }
    if (!opts.model) throw new PromptkilnError('ARGUMENT', 'gemini: a model name is required (--llm-model)');
    const model = opts.model.replace(/^models\//, '');
    this.url = `${base}/models/${encodeURIComponent(model)}:generateContent`;
    this.id = `gemini:${u.host}${u.pathname.replace(/\/+$/, '')}/${model}`;
    this.modelName = model;
    this.key = opts.apiKey ?? envVar('GEMINI_API_KEY') ?? envVar('GOOGLE_API_KEY');
    this.http = new HttpClient(opts, 'option apiKey, GEMINI_API_KEY or GOOGLE_API_KEY');
  }

  generate(prompt: string, o: GenerateOptions = {}): Promise<Generation> {
    return this.chat([{ role: 'user', content: prompt }], o);
  }

  async chat(messages: ChatMessage[], o: ChatOptions = {}): Promise<Generation> {
    const system = messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n');
    const contents = messages.filter((m) => m.role !== 'system').map((m) => ({ role: m.role === 'assistant' ? 'model' : 'user', parts: [{ text: m.content }] }));
    const n = o.n ?? 1;
    const body: Json = {
      contents,
      ...(system ? { systemInstruction: { parts: [{ text: system }] } } : {}),
      generationConfig: {
        temperature: o.temperature ?? 0,
        maxOutputTokens: o.maxTokens ?? 64,
        candidateCount: n,
        ...(o.topP !== undefined ? { topP: o.topP } : {}),
        ...(o.stop?.length ? { stopSequences: o.stop.slice(0, 5) } : {}),
        ...(o.seed !== undefined ? { seed: o.seed } : {}),
        ...(o.responseSchema ? { responseMimeType: 'application/json', responseJsonSchema: o.responseSchema.schema } : {}),
      },
    };
    const j = await this.http.post(this.url, body, this.key ? { 'x-goog-api-key': this.key } : {}, o.signal);
    const cands = j.candidates;
    if (!Array.isArray(cands) || cands.length === 0) {
      const block = (j.promptFeedback as Json | undefined)?.blockReason;
      throw new PromptkilnError('NETWORK', `${this.url}: no candidates${block ? ` (prompt blocked: ${String(block)})` : ''}; got ${JSON.stringify(j).slice(0, 200)}`);
    }
    const texts = cands.map((c: Json) => {
      const parts = ((c.content ?? {}) as Json).parts;
      return Array.isArray(parts) ? parts.filter((p: Json) => !p.thought).map((p: Json) => String(p.text ?? '')).join('') : '';
    });
    const u = (j.usageMetadata ?? {}) as Json;
    const thoughts = Number(u.thoughtsTokenCount) || 0;
    const cached = Number(u.cachedContentTokenCount) || 0;
    const usage: Usage = {
      promptTokens: Number(u.promptTokenCount) || 0,
      completionTokens: (Number(u.candidatesTokenCount) || 0) + thoughts,
      ...(cached ? { cachedPromptTokens: cached } : {}),
      ...(thoughts ? { reasoningTokens: thoughts } : {}),
    };
    return { texts: texts.slice(0, n), usage };
  }
}

export function geminiModel(opts: GeminiOptions): GeminiModel {
  return new GeminiModel(opts);
}
