// The one interface every language model is used through: the local model in-process, an
// OpenAI-compatible endpoint, or a plain async function. Search and evaluation see only this.

export interface GenerateOptions {
  n?: number; // number of completions (default 1)
  temperature?: number; // 0 = greedy
  topP?: number;
  maxTokens?: number;
  stop?: string[];
  seed?: number; // honoured where the backend supports it
  signal?: AbortSignal;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  cachedPromptTokens?: number; // of promptTokens, those the provider served from its prompt cache
  reasoningTokens?: number; // of completionTokens, hidden reasoning (priced separately where it is)
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatOptions extends GenerateOptions {
  // ask for a JSON object matching this schema (OpenAI response_format json_schema, Gemini
  // responseJsonSchema); providers without such a mode ignore it and the caller parses text
  responseSchema?: { name: string; schema: Record<string, unknown> };
}

export interface Generation {
  texts: string[]; // one per requested completion
  usage: Usage;
}

export interface ScoreOptions {
  signal?: AbortSignal;
}

export interface Score {
  total: number; // Σ log p(target token | prefix)
  logprobs: number[]; // one per target token
  usage: Usage;
}

export interface LanguageModel {
  // Stable identity for caches: backend + model name (+ adapter). Never contains secrets.
  readonly id: string;
  // the provider's model name, for the price table (absent: priced by id)
  readonly modelName?: string;
  generate(prompt: string, opts?: GenerateOptions): Promise<Generation>;
  // a conversation (system / user / assistant turns); chat endpoints have it, completion-only
  // backends do not, and typed tasks then use the plain-text rendering with generate()
  chat?(messages: ChatMessage[], opts?: ChatOptions): Promise<Generation>;
  // log p(target | prompt); absent when the backend cannot give logprobs.
  score?(prompt: string, target: string, opts?: ScoreOptions): Promise<Score>;
  // Several targets after one prompt (label choices): backends that can reuse the prompt's KV do.
  scoreMany?(prompt: string, targets: string[], opts?: ScoreOptions): Promise<Score[]>;
  // log p(target_i | prefix + context_i) for items sharing one prefix (an instruction and its
  // demonstrations before each example's input): the local model computes the prefix's K/V once.
  scoreShared?(prefix: string, items: { context: string; target: string }[], opts?: ScoreOptions): Promise<Score[]>;
  // one vector per text (/v1/embeddings; the local model: mean-pooled last hidden states)
  embed?(texts: string[], opts?: ScoreOptions): Promise<Embeddings>;
}

export interface Embeddings {
  vectors: number[][];
  usage: Usage;
}

export const zeroUsage = (): Usage => ({ promptTokens: 0, completionTokens: 0 });
