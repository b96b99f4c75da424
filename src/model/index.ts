// loadModel() from a folder, file or hub id, and model/'s public exports.
import { Model, type LoadOptions } from './model.js';
import { loadCheckpoint, type CheckpointSource, type LoadCheckpointOptions } from './source.js';

export { Model } from './model.js';
export type {
  Conditioning, ForwardBatch, ForwardResult, GenerateOptions, GenerateResult, LoadOptions, ScoreOptions, ScoreResult,
  Segment, Text,
} from './model.js';
export type { Checkpoint, ModelConfig, Tokenizer, Arch, Family, LayerType, RopeParams } from './types.js';
export type { ChatMessage, ChatTemplateOptions } from './chat-template.js';
export { Transformer, HEAD_CHUNK, type Prefix, type KVCache } from './transformer.js';
export { loadModelInWorker, WorkerModel, type WorkerModelOptions } from './remote.js';

// Load a model from a folder (HF config.json + safetensors, or llama2.c .bin + tokenizer), a .bin
// file, or a hub id `owner/name[/subfolder][@revision]`. Safetensors weights are read in ranges
// straight into the kernel heap (files of any size; opts.weights picks f32 or bf16 storage).
export async function loadModel(source: CheckpointSource, opts: LoadOptions & LoadCheckpointOptions = {}): Promise<Model> {
  const ckpt = await loadCheckpoint(source, { lazy: true, ...opts });
  return Model.fromCheckpoint(ckpt, opts);
}
