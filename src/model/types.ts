// The contract between checkpoint loaders and the runtime.

export type Arch = 'llama' | 'gpt2';

export interface ModelConfig {
  arch: Arch;
  dim: number; // C, residual width
  nLayers: number;
  nHeads: number; // H, query heads
  nKvHeads: number; // Hkv (GQA); = nHeads for GPT-2
  headDim: number; // hd
  hiddenDim: number; // MLP inner width
  vocabSize: number; // V
  maxSeqLen: number; // context length (GPT-2: n_positions)
  normEps: number; // rms_norm_eps / layer_norm_epsilon
  ropeTheta: number; // llama only
  // llama2.c .bin checkpoints rotate adjacent pairs (2j, 2j+1); Hugging Face Llama rotates halves.
  ropeMode: 'interleaved' | 'half';
  tiedEmbeddings: boolean; // lm_head = tok_embeddings
  attnBias: boolean; // bq/bk/bv/bo present (GPT-2: true)
  mlpBias: boolean; // b1/b2 present, and llama's b3 (GPT-2: true)
  bosId: number | null;
  eosId: number | null;
}

// Canonical tensor names, all f32, linear weights in the internal (out, in) layout:
//   tok_embeddings (V, C)        pos_embeddings (maxSeqLen, C)   [gpt2]
//   layers.{i}.attn_norm (C)     layers.{i}.attn_norm_bias (C)   [gpt2]
//   layers.{i}.wq (H·hd, C)      layers.{i}.bq (H·hd)            [bias: gpt2 / attention_bias]
//   layers.{i}.wk (Hkv·hd, C)    layers.{i}.bk (Hkv·hd)
//   layers.{i}.wv (Hkv·hd, C)    layers.{i}.bv (Hkv·hd)
//   layers.{i}.wo (C, H·hd)      layers.{i}.bo (C)
//   layers.{i}.mlp_norm (C)      layers.{i}.mlp_norm_bias (C)    [gpt2]
//   llama: layers.{i}.w1 (hidden, C) gate, layers.{i}.w3 (hidden, C) up, layers.{i}.w2 (C, hidden) down
//          [mlp_bias: b1 (hidden), b3 (hidden), b2 (C)]
//   gpt2:  layers.{i}.w1 (hidden, C) c_fc, b1 (hidden), layers.{i}.w2 (C, hidden) c_proj, b2 (C)
//   final_norm (C)               final_norm_bias (C)             [gpt2]
//   lm_head (V, C)               [only when not tied]
export type TensorMap = Map<string, Float32Array>;

export interface Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  // text → ids; bos defaults to the checkpoint's rule (llama2.c: true), eos to false
  encode(text: string, opts?: { bos?: boolean; eos?: boolean }): number[];
  // ids → text; BOS/EOS print nothing
  decode(ids: readonly number[]): string;
  // the text one token adds after `prev` (streaming); llama2.c drops the leading space after BOS
  decodeToken(id: number, prev: number | null): string;
}

export interface Checkpoint {
  config: ModelConfig;
  tensors: TensorMap;
  tokenizer: Tokenizer | null;
  // where it came from: a path, a hub id, or 'memory'
  source: string;
  // a stable identity for caches and saved adapters (hub id@revision, or the file's name and size)
  id: string;
  // the chat template of tokenizer_config.json, when the checkpoint has one
  chatTemplate?: string | null;
}
