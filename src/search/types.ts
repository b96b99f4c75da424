// Shapes shared by the loop and its strategies.
import type { Evaluator } from '../eval/evaluator.js';
import type { Rng } from '../eval/rng.js';
import type { Example, Task } from '../eval/task.js';
import type { MetaPrompts } from './meta-prompts.js';

export interface Candidate {
  id: string; // "c<n>", in creation order (deterministic for a seed)
  instruction: string;
  demos: Example[];
  parent: string | null;
  operator: string; // "manual", "induction", "grips:del", "protegi", "opro", "demos:random", …
  iteration: number;
  knn?: Retrieval; // demonstrations retrieved per input instead of `demos`
  demosFor?: (ex: Example) => Example[]; // that retrieval, ready to run
}

// Per-input demonstrations: the k training examples nearest the input by embedding.
export interface Retrieval {
  k: number;
  embedder: string; // the embedding model's id
  pool: { example: Example; vector: number[] }[];
}

export interface ScoredCandidate {
  cand: Candidate;
  score: number | null; // mean validation score
  n: number; // validation examples behind the score
}

export interface Proposal {
  instruction: string;
  demos: Example[];
  parent: string | null;
  operator: string;
  knn?: Retrieval;
  demosFor?: (ex: Example) => Example[];
}

export interface LlmCallOptions {
  n?: number;
  temperature?: number;
  maxTokens?: number;
  stop?: string[];
}

export interface SearchContext {
  task: Task;
  evaluator: Evaluator; // the target model + metric (cache, budget)
  rng: Rng;
  meta: MetaPrompts;
  iteration: number;
  validation: Example[]; // the examples pool scores are over (GEPA's per-example Pareto front)
  // everything scored on the full validation set so far, best first
  trajectory: ScoredCandidate[];
  // the proposing LLM (cached, charged to the budget, seeded from the run's rng)
  llm(prompt: string, o?: LlmCallOptions): Promise<string[]>;
  signal?: AbortSignal;
}

export interface Strategy {
  name: string;
  // how this strategy's candidates are raced on validation (ProTeGi selects by bandit: ucb)
  racing?: 'halving' | 'ucb' | 'exhaustive';
  expand(ctx: SearchContext, parents: ScoredCandidate[], count: number): Promise<Proposal[]>;
}
