// Public exports of search/: optimize(), strategies, operators and run events.
export { optimize, type OptimizeOptions, type OptimizeResult, type ProgressEvent, type InitMethod, type StopReason } from './optimize.js';
export { strategyByName, STRATEGY_NAMES, type StrategyName, ape, paraphrase, demos, grips, opro, protegi, rl, gepa, mipro, knn } from './strategies/index.js';
export type { GepaOptions } from './strategies/gepa.js';
export type { MiproOptions } from './strategies/mipro.js';
export type { KnnOptions } from './strategies/knn.js';
export { OBJECTIVE_NAMES, parseObjectives, parseSelection, type ObjectiveName, type ObjectivesReport, type Selection } from './objectives.js';
export { toOtlp, parseEvents, type RunEvent, type EventSink } from './events.js';
export { DEFAULT_META_PROMPTS, type MetaPrompts } from './meta-prompts.js';
export { MemoryRunLog, FileRunLog, type RunLog } from './run-log.js';
export type { Candidate, Proposal, ScoredCandidate, SearchContext, Strategy } from './types.js';
