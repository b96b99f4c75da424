// Public exports of eval/: tasks, rendering, parsing, metrics, judges, the evaluator and programs.
export { loadTask, parseTask, defineTask, typedTask, render, renderTyped, splitExamples, parseExamplesJsonl, initialCandidate, type Task, type TaskSpec, type Example, type PromptCandidate, type Rendering, type TypedTask, type TypedTaskSpec } from './task.js';
export { registerMetric, resolveMetric, taskMetric, exactMatch, contains, tokenF1, regexMetric, type Metric, type MetricFn } from './metrics.js';
export { Evaluator, type EvaluatorOptions, type Budget, type CandidateScore, type ExampleResult, type Role, type RoleSpend, type Estimate } from './evaluator.js';
export { race, type RaceOptions, type RaceEntry } from './racing.js';
export { MemoryCache, DiskCache, contentKey, type EvalCache } from './cache.js';
export { rng, type Rng } from './rng.js';
export { loadProgram, programOf, PROGRAM_FORMAT, type Program, type ProgramJson } from './program.js';
export { judgeCheck, type JudgeCheckOptions, type JudgeCheckReport, type LabelledAnswer } from './judge-check.js';
export { parseOutputs, type Parsed } from './parse.js';
export { renderMessages, renderText } from './render.js';
export { checkSchema, validate as validateJson, type JsonSchema } from './schema.js';
export type { FieldSpec, FieldsSpec, FieldValue, FieldValues, FieldDef, Signature } from './fields.js';
export type { JudgeSpec, JudgeKind, Verdict } from './judge.js';
export { PROMPTKILN_VERSION } from './version.js';
