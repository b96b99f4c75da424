import type { Model } from '../model/model.js';
import type { KeyLayout, ModelIdentity } from './types.js';

export function keyLayout(model: Model): KeyLayout {
  const c = model.config;
  if (c.arch !== 'llama') return 'none';
  return c.ropeMode === 'interleaved' ? 'interleaved' : 'rotate_half';
}

export function modelIdentity(model: Model): ModelIdentity {
  const c = model.config;
  return {
    id: model.id, arch: c.arch, dim: c.dim, n_layers: c.nLayers, n_heads: c.nHeads, n_kv_heads: c.nKvHeads,
    head_dim: c.headDim, vocab_size: c.vocabSize, key_layout: keyLayout(model),
  };
}
