export { loadTask, parseTask, defineTask, render, splitExamples, parseExamplesJsonl, initialCandidate, type Task, type TaskSpec, type Example, type PromptCandidate } from './task.js';
export { registerMetric, resolveMetric, exactMatch, contains, tokenF1, regexMetric, type Metric, type MetricFn } from './metrics.js';
export { Evaluator, type EvaluatorOptions, type Budget, type CandidateScore, type ExampleResult } from './evaluator.js';
export { race, type RaceOptions, type RaceEntry } from './racing.js';
export { MemoryCache, DiskCache, contentKey, type EvalCache } from './cache.js';
export { rng, type Rng } from './rng.js';
