// promptkiln: prompt optimization (hard and soft prompts) on a WebAssembly SIMD core.
export { init, Kernels, Tensor, Heap, hasSimd, hasRelaxedSimd, hasSharedMemory } from './kernels/index.js';
export type { BuildName, InitOptions, KernelExports, Parallel } from './kernels/index.js';
export { PromptkilnError, isPromptkilnError, type ErrorCode } from './errors.js';
export { loadModel, loadModelInWorker, WorkerModel, Model, Transformer } from './model/index.js';
export { tuneInWorker, tuneFilesInWorker, compressInWorker, optimizeInWorker, generateInWorker, type InWorker, type WorkerTuneResult, type PeftFileMap } from './worker-client.js';
export { AdamW, SGD, learningRate, train, Trainer } from './train/index.js';
export type { Param, Schedule, TrainMethod, TrainCheckpoint, ModelIdentity } from './train/index.js';
export type {
  Checkpoint, Conditioning, ForwardBatch, ForwardResult, GenerateOptions, GenerateResult, LoadOptions, ModelConfig,
  ScoreOptions, ScoreResult, Segment, Text, Tokenizer, Arch, Prefix, KVCache, WorkerModelOptions,
  Family, LayerType, RopeParams, ChatTemplateOptions,
} from './model/index.js';
// hard-prompt search: tasks and evaluation, language-model adapters, the optimize loop
export { loadTask, parseTask, defineTask, typedTask, render, renderTyped, registerMetric, resolveMetric, Evaluator, race, MemoryCache, DiskCache, loadProgram, judgeCheck, parseOutputs, PROMPTKILN_VERSION } from './eval/index.js';
export type {
  Task, TaskSpec, TypedTask, TypedTaskSpec, Example, PromptCandidate, Metric, MetricFn, EvaluatorOptions, Budget, EvalCache, Program, ProgramJson,
  FieldSpec, FieldsSpec, FieldValues, JudgeSpec, JudgeCheckReport, LabelledAnswer, JsonSchema,
} from './eval/index.js';
export { functionModel, localModel, OpenAIModel, openaiModel, AnthropicModel, anthropicModel, GeminiModel, geminiModel, providerModel, DEFAULT_PRICES, parsePriceTable, serve } from './llm/index.js';
export type {
  LanguageModel, Generation, ChatMessage, ChatOptions, OpenAIOptions, AnthropicOptions, GeminiOptions, ProviderName, Price, PriceTable, ServeOptions, RunningServer,
  GenerateOptions as LlmGenerateOptions,
} from './llm/index.js';
export { optimize, strategyByName, STRATEGY_NAMES, ape, paraphrase, demos, grips, opro, protegi, rl, gepa, mipro, knn, DEFAULT_META_PROMPTS, MemoryRunLog, FileRunLog, OBJECTIVE_NAMES, parseObjectives, parseSelection, toOtlp, parseEvents } from './search/index.js';
export type { OptimizeOptions, OptimizeResult, ProgressEvent as OptimizeProgressEvent, Candidate, Strategy, SearchContext, MetaPrompts, RunLog, GepaOptions, MiproOptions, KnnOptions, ObjectiveName, ObjectivesReport, Selection, RunEvent, EventSink } from './search/index.js';

// soft prompts: prompt / prefix tuning, mixed templates, PEFT files
export { tune, savePeft, loadPeft, loadAdapter, parseJsonl, readJsonl, parseTemplate, PromptTuning, PrefixTuning } from './soft/index.js';
export type { TuneOptions, TuneResult, TuneMetrics, Example as TrainingExample, TemplatePart, SoftArtifact, SoftPromptArtifact, PrefixArtifact } from './soft/index.js';
// P-tuning, multitask prompts, distillation into a soft prompt
export { PTuning, MultitaskTuning, distillPrompt, TUNE_METHODS, saveTuned, encodeTask, loadPromptEncoder, EncoderTuning, PromptEncoder } from './soft/index.js';
export type { DistillPromptOptions, MultitaskArtifact, PromptEncoderConfig, TuneMethodName, PromptEncoderArtifact, PromptEncoderDims, TaskDescription, TunedArtifact } from './soft/index.js';
// LoRA / IA3 as the soft prompt's analog: PEFT folders both ways, unmerged hook, merged export
export { initLora, initIa3, loadLinearPeft, linearConditioning, mergeAdapter, LORA_DEFAULTS } from './soft/index.js';
export type { LinearArtifact, LoraArtifact, Ia3Artifact, LoraOptions, Ia3Options } from './soft/index.js';

// context compression: distillation into soft tokens, recurrent compressor
export {
  compress, distill, measure, RecurrentCompressor, saveCompressed, loadCompressed, loadCompressedConditioning, saveCompressor, loadCompressor,
  toConditioning as compressedToConditioning,
} from './compress/index.js';
export type { CompressOptions, CompressReport, CompressedContext, CompressorSpec, CorpusItem, CompressionMeasures } from './compress/index.js';

// scoring on onnxruntime-web (createBackend, OrtBackend) is the entry `promptkiln/ort`
// (src/ort-entry.ts), so that this entry never reaches onnxruntime
