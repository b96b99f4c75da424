// The contract between checkpoint loaders and the runtime.
import type { WeightRef } from './weight-ref.js';

export type Arch = 'llama' | 'gpt2';

// The Hugging Face family a config came from. Families share the llama code path and differ only
// in the fields below (and in weight names).
export type Family = 'llama' | 'mistral' | 'qwen2' | 'qwen3' | 'gemma3' | 'phi3' | 'gpt2';

// One RoPE setting (a family's global RoPE, or one layer type's), as transformers' v5
// `rope_parameters` holds it. rope.ts turns it into inverse frequencies and cos/sin tables.
export interface RopeParams {
  type: 'default' | 'linear' | 'llama3' | 'yarn' | 'longrope';
  theta: number; // rope_theta
  rotaryDim: number; // dims rotated per head: int(head_dim · partial_rotary_factor), even; the rest pass through
  factor: number; // linear / llama3 / yarn scaling factor (1 for default)
  originalMaxPos: number | null; // original_max_position_embeddings (llama3, yarn, longrope)
  lowFreqFactor: number | null; // llama3
  highFreqFactor: number | null; // llama3
  betaFast: number | null; // yarn (32 when absent)
  betaSlow: number | null; // yarn (1 when absent)
  truncate: boolean; // yarn: floor/ceil the correction range (transformers' default true)
  shortFactor: number[] | null; // longrope: per-frequency divisors while the sequence fits originalMaxPos
  longFactor: number[] | null; // longrope: beyond it
  // multiplies cos and sin (transformers' attention_scaling), so q·k scales by its square;
  // 1 except yarn (0.1·ln(factor) + 1 or from mscale) and longrope (√(1 + ln f / ln orig))
  attentionFactor: number;
}

export type LayerType = 'full_attention' | 'sliding_attention';

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
  // ---- fields below are absent on configs that predate them (llama2.c, benches); absent means the
  // plain Llama / GPT-2 behaviour written after each. The HF reader (hf-config.ts) fills all of them.
  family?: Family; // absent: arch
  // every id that ends generation (generation_config.json's eos_token_id list, else config.json's);
  // absent: [eosId]
  eosIds?: number[];
  // RoPE of full-attention layers; absent: { type: 'default', theta: ropeTheta, rotaryDim: headDim }
  rope?: RopeParams;
  // RoPE of sliding-attention layers when it differs (Gemma 3: its own θ); absent/null: same as rope
  ropeLocal?: RopeParams | null;
  layerTypes?: LayerType[]; // (nLayers); absent: all full_attention
  // sliding layers attend to keys k with q − k < slidingWindow (the query itself included)
  slidingWindow?: number | null;
  attnOutBias?: boolean; // bo present; absent: = attnBias (Qwen2 has q/k/v biases but no o bias)
  qkNorm?: boolean; // per-head RMSNorm on q and k before RoPE (Qwen3, Gemma 3); absent: false
  normPlusOne?: boolean; // RMSNorm scales by (1 + w) (Gemma); absent: false (scales by w)
  embedScale?: number; // token embeddings × this (Gemma: √C in f32); absent: 1
  sandwichNorm?: boolean; // Gemma 3: norms after attention and after the MLP too (pre/post FFN norms); absent: false
  activation?: 'silu' | 'gelu_tanh'; // MLP (gate) activation; absent: silu (llama), gelu_tanh (gpt2)
  queryScale?: number; // attention logit scale; absent: 1/√headDim (Gemma: query_pre_attn_scalar^-½)
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
//   layers.{i}.q_norm (hd)       layers.{i}.k_norm (hd)          [qkNorm: Qwen3 / Gemma 3 q_norm, k_norm]
//   layers.{i}.post_attn_norm (C)  layers.{i}.post_mlp_norm (C)  [sandwichNorm: Gemma 3's post_attention_layernorm
//          and post_feedforward_layernorm; its input_layernorm is attn_norm, pre_feedforward_layernorm mlp_norm]
//   Norm weights are stored as written: normPlusOne (Gemma) adds the 1 at upload. Fused checkpoints
//   (Phi-3 qkv_proj, gate_up_proj) are split by the loader into wq/wk/wv and w1 (gate, first half)/w3 (up).
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
  // special token strings by tokenizer_config.json name (bos_token, eos_token, ...), for chat templates
  readonly specialTokens?: Record<string, string>;
}

export interface Checkpoint {
  config: ModelConfig;
  tensors: TensorMap; // empty when `lazy` holds the weights
  // weights left in their files (loadCheckpoint's `lazy`): Model.fromCheckpoint reads them in
  // ranges straight into the kernel heap, then calls close()
  lazy?: { refs: Map<string, WeightRef>; close(): Promise<void> };
  tokenizer: Tokenizer | null;
  // where it came from: a path, a hub id, or 'memory'
  source: string;
  // a stable identity for caches and saved adapters (hub id@revision, or the file's name and size)
  id: string;
  // the chat template (chat_template.jinja, else tokenizer_config.json's), when the checkpoint has one
  chatTemplate?: string | null;
}
