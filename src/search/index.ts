export { optimize, type OptimizeOptions, type OptimizeResult, type ProgressEvent, type InitMethod, type StopReason } from './optimize.js';
export { strategyByName, STRATEGY_NAMES, type StrategyName, ape, paraphrase, demos, grips, opro, protegi, rl } from './strategies/index.js';
export { DEFAULT_META_PROMPTS, type MetaPrompts } from './meta-prompts.js';
export { MemoryRunLog, FileRunLog, type RunLog } from './run-log.js';
export type { Candidate, Proposal, ScoredCandidate, SearchContext, Strategy } from './types.js';
