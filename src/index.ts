// promptkiln: prompt optimization (hard and soft prompts) on a WebAssembly SIMD core.
export { init, Kernels, Tensor, Heap, hasSimd, hasRelaxedSimd, hasSharedMemory } from './kernels/index.js';
export type { BuildName, InitOptions, KernelExports, Parallel } from './kernels/index.js';
export { PromptkilnError, isPromptkilnError, type ErrorCode } from './errors.js';
export { loadModel, loadModelInWorker, WorkerModel, Model, Transformer, AdamW, learningRate } from './model/index.js';
export type {
  Checkpoint, Conditioning, ForwardBatch, ForwardResult, GenerateOptions, GenerateResult, LoadOptions, ModelConfig,
  ScoreOptions, ScoreResult, Segment, Text, Tokenizer, Arch, Prefix, KVCache, Param, Schedule, WorkerModelOptions,
} from './model/index.js';
