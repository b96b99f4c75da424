import type { ModelConfig } from '../model/types.js';

// What an artifact needs to know about a model (a loaded Model, or a backend's model info).
export interface ModelRef {
  readonly config: ModelConfig;
  readonly id: string;
}
import type { KeyLayout, ModelIdentity } from './types.js';

export function keyLayout(model: ModelRef): KeyLayout {
  const c = model.config;
  if (c.arch !== 'llama') return 'none';
  return c.ropeMode === 'interleaved' ? 'interleaved' : 'rotate_half';
}

export function modelIdentity(model: ModelRef): ModelIdentity {
  const c = model.config;
  return {
    id: model.id, arch: c.arch, dim: c.dim, n_layers: c.nLayers, n_heads: c.nHeads, n_kv_heads: c.nKvHeads,
    head_dim: c.headDim, vocab_size: c.vocabSize, key_layout: keyLayout(model),
  };
}
