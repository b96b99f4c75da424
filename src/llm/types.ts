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
  generate(prompt: string, opts?: GenerateOptions): Promise<Generation>;
  // log p(target | prompt); absent when the backend cannot give logprobs.
  score?(prompt: string, target: string, opts?: ScoreOptions): Promise<Score>;
  // Several targets after one prompt (label choices): backends that can reuse the prompt's KV do.
  scoreMany?(prompt: string, targets: string[], opts?: ScoreOptions): Promise<Score[]>;
  // log p(target_i | prefix + context_i) for items sharing one prefix (an instruction and its
  // demonstrations before each example's input): the local model computes the prefix's K/V once.
  scoreShared?(prefix: string, items: { context: string; target: string }[], opts?: ScoreOptions): Promise<Score[]>;
}

export const zeroUsage = (): Usage => ({ promptTokens: 0, completionTokens: 0 });
