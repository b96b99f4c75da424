// Soft prompts: prompt tuning, prefix tuning, mixed templates, P-tuning, multitask prompts, the
// transformer prompt encoder, prompt distillation, adapters, the trainer and their files.
export { tune, buildMethod, TUNE_METHODS, type TuneMethodName, type TuneOptions, type TuneResult, type TuneMetrics, type ProgressEvent, type HistoryEntry } from './trainer.js';
export { savePeft, saveTuned, tunedFiles, loadPeft, loadAdapter, encodePeft, decodePeft, CONFIG_FILE, WEIGHTS_FILE } from './peft.js';
export { PromptEncoder, encodeTask, promptEncoderDefaults, encoderTensorShapes } from './prompt-encoder.js';
export { EncoderTuning } from './encoder-tuning.js';
export { encodePromptEncoder, decodePromptEncoder, loadPromptEncoder, ENCODER_CONFIG_FILE, ENCODER_WEIGHTS_FILE } from './encoder-files.js';
export { toConditioning, artifactForward } from './conditioning.js';
export { evaluateLaid, type EvalMetrics } from './evaluate.js';
export { parseJsonl, readJsonl } from './data.js';
export { parseTemplate, layoutExample, type LaidExample } from './mixed.js';
export { parseInit, initPromptRows, type InitSpec } from './init.js';
export { PromptTuning } from './prompt-tuning.js';
export { PrefixTuning } from './prefix-tuning.js';
export { PTuning, P_TUNING_PARAMS, type PTuningOptions, type PTuningInit } from './p-tuning.js';
export { MultitaskTuning, taskPrompt, type MultitaskOptions } from './multitask.js';
export { distillPrompt, DISTILL_PROMPT_DEFAULTS, type DistillPromptOptions } from './distill-prompt.js';
export { encodeCheckpoint, decodeCheckpoint, saveCheckpointFile, loadCheckpointFile, type TrainCheckpoint } from './checkpoint.js';
export type { Example, TemplatePart, SoftArtifact, SoftPromptArtifact, PrefixArtifact, MultitaskArtifact, PromptEncoderConfig, ModelIdentity, PromptEncoderArtifact, PromptEncoderDims, TaskDescription, TunedArtifact } from './types.js';
export { initLora, LoraAdapter, LORA_DEFAULTS, type LoraArtifact, type LoraOptions } from './lora.js';
export { initIa3, Ia3Adapter, type Ia3Artifact, type Ia3Options } from './ia3.js';
export { linearAdapter, linearConditioning, loadLinearPeft } from './linear-adapter.js';
export { encodeLinearPeft, decodeLinearPeft, type LinearArtifact } from './peft-linear.js';
export { mergeAdapter, mergeTensors } from './merge.js';
export { LinearTuning } from './linear-tuning.js';
