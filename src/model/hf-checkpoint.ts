// Hugging Face checkpoints: config.json → ModelConfig, and safetensors names → canonical tensors.
//
// LlamaForCausalLM: weights are already (out, in); RoPE rotates halves ('half'), so no
// permutation is needed. GPT2LMHeadModel: Conv1D stores [in, out] (y = x·W + b), transposed here
// to the internal (out, in); c_attn [C, 3C] is split into wq/wk/wv (and bq/bk/bv).
// Names are accepted with or without the `model.` / `transformer.` prefix; tensors we do not use
// (GPT-2's attn.bias / attn.masked_bias mask buffers, rotary inv_freq tables) are ignored.

import { PromptkilnError } from '../errors.js';
import type { SafetensorsTensor } from './safetensors.js';
import type { ModelConfig, TensorMap } from './types.js';

type Json = Record<string, unknown>;

function cfgErr(file: string, field: string, msg: string): PromptkilnError {
  return new PromptkilnError('CONFIG', `${file}: ${field} ${msg}`, { file, field });
}

function posInt(j: Json, field: string, file: string, fallback?: number): number {
  const v = j[field] ?? fallback;
  if (v === undefined) throw cfgErr(file, field, 'is missing (expected a positive integer)');
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw cfgErr(file, field, `is ${JSON.stringify(v)}, expected a positive integer`);
  return v;
}

function posNum(j: Json, field: string, file: string, fallback: number): number {
  const v = j[field] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw cfgErr(file, field, `is ${JSON.stringify(v)}, expected a positive number`);
  return v;
}

function bool(j: Json, field: string, file: string, fallback: boolean): boolean {
  const v = j[field] ?? fallback;
  if (typeof v !== 'boolean') throw cfgErr(file, field, `is ${JSON.stringify(v)}, expected true or false`);
  return v;
}

// bos/eos ids: a number, a list (first one), or absent
function tokenId(j: Json, field: string, file: string): number | null {
  let v = j[field];
  if (Array.isArray(v)) v = v[0];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw cfgErr(file, field, `is ${JSON.stringify(v)}, expected a token id`);
  return v;
}

export const HF_ARCHITECTURES = ['LlamaForCausalLM', 'GPT2LMHeadModel'] as const;

// Parse config.json (text or parsed JSON) into a ModelConfig. Unknown architecture → ARCH.
export function hfConfig(input: string | unknown, file = 'config.json'): ModelConfig {
  let j: unknown = input;
  if (typeof input === 'string') {
    try {
      j = JSON.parse(input);
    } catch (e) {
      throw new PromptkilnError('CONFIG', `${file}: not valid JSON (${(e as Error).message})`, { file });
    }
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new PromptkilnError('CONFIG', `${file}: expected a JSON object`, { file });
  const c = j as Json;
  const archs = c.architectures;
  const modelType = c.model_type;
  let arch: string | undefined = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : undefined;
  // configs without `architectures` still carry model_type
  if (arch === undefined && modelType === 'llama') arch = 'LlamaForCausalLM';
  if (arch === undefined && modelType === 'gpt2') arch = 'GPT2LMHeadModel';
  if (arch === undefined) throw cfgErr(file, 'architectures', 'is missing (and model_type is neither "llama" nor "gpt2")');
  if (arch === 'LlamaForCausalLM') return llamaConfig(c, file);
  if (arch === 'GPT2LMHeadModel') return gpt2Config(c, file);
  throw new PromptkilnError('ARCH', `${file}: architecture "${arch}" is not supported (supported: ${HF_ARCHITECTURES.join(', ')})`, { file, field: 'architectures', found: arch });
}

function llamaConfig(c: Json, file: string): ModelConfig {
  const dim = posInt(c, 'hidden_size', file);
  const nHeads = posInt(c, 'num_attention_heads', file);
  const nKvHeads = posInt(c, 'num_key_value_heads', file, nHeads);
  const headDim = posInt(c, 'head_dim', file, dim % nHeads === 0 ? dim / nHeads : undefined);
  if (nHeads % nKvHeads !== 0) throw cfgErr(file, 'num_key_value_heads', `${nKvHeads} does not divide num_attention_heads ${nHeads}`);
  if (headDim % 2 !== 0) throw cfgErr(file, 'head_dim', `${headDim} is odd; RoPE needs pairs`);
  const act = c.hidden_act ?? 'silu';
  if (act !== 'silu') throw cfgErr(file, 'hidden_act', `is ${JSON.stringify(act)}; only "silu" is supported for Llama`);
  if (c.rope_scaling != null) throw cfgErr(file, 'rope_scaling', `${JSON.stringify(c.rope_scaling)} is not supported (only plain RoPE)`);
  return {
    arch: 'llama',
    dim,
    nLayers: posInt(c, 'num_hidden_layers', file),
    nHeads,
    nKvHeads,
    headDim,
    hiddenDim: posInt(c, 'intermediate_size', file),
    vocabSize: posInt(c, 'vocab_size', file),
    maxSeqLen: posInt(c, 'max_position_embeddings', file, 2048),
    normEps: posNum(c, 'rms_norm_eps', file, 1e-6),
    ropeTheta: posNum(c, 'rope_theta', file, 10000),
    ropeMode: 'half',
    tiedEmbeddings: bool(c, 'tie_word_embeddings', file, false),
    attnBias: bool(c, 'attention_bias', file, false),
    mlpBias: bool(c, 'mlp_bias', file, false),
    bosId: tokenId(c, 'bos_token_id', file),
    eosId: tokenId(c, 'eos_token_id', file),
  };
}

function gpt2Config(c: Json, file: string): ModelConfig {
  const dim = posInt(c, 'n_embd', file);
  const nHeads = posInt(c, 'n_head', file);
  if (dim % nHeads !== 0) throw cfgErr(file, 'n_head', `${nHeads} does not divide n_embd ${dim}`);
  const act = c.activation_function ?? 'gelu_new';
  if (act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') throw cfgErr(file, 'activation_function', `is ${JSON.stringify(act)}; only the tanh GELU ("gelu_new") is supported`);
  if (c.scale_attn_by_inverse_layer_idx === true) throw cfgErr(file, 'scale_attn_by_inverse_layer_idx', 'true is not supported');
  if (c.scale_attn_weights === false) throw cfgErr(file, 'scale_attn_weights', 'false is not supported');
  return {
    arch: 'gpt2',
    dim,
    nLayers: posInt(c, 'n_layer', file),
    nHeads,
    nKvHeads: nHeads,
    headDim: dim / nHeads,
    hiddenDim: c.n_inner == null ? 4 * dim : posInt(c, 'n_inner', file),
    vocabSize: posInt(c, 'vocab_size', file),
    maxSeqLen: posInt(c, 'n_positions', file),
    normEps: posNum(c, 'layer_norm_epsilon', file, 1e-5),
    ropeTheta: 10000, // unused by GPT-2
    ropeMode: 'half', // unused by GPT-2
    tiedEmbeddings: bool(c, 'tie_word_embeddings', file, true),
    attnBias: true,
    mlpBias: true,
    bosId: tokenId(c, 'bos_token_id', file),
    eosId: tokenId(c, 'eos_token_id', file),
  };
}

// (rows, cols) → (cols, rows)
// a (rows, cols) → (cols, rows); GPT-2 Conv1D (in, out) → the kernels' (out, in), and back for ONNX
export function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

// Looks tensors up by name with the optional prefix, checking shapes.
class Source {
  private byName = new Map<string, { t: SafetensorsTensor; key: string }>();
  constructor(
    raw: Map<string, SafetensorsTensor>,
    prefix: string,
    private file: string,
  ) {
    for (const [k, t] of raw) this.byName.set(k.startsWith(prefix) ? k.slice(prefix.length) : k, { t, key: k });
  }
  has(name: string): boolean {
    return this.byName.has(name);
  }
  get(name: string, shape: number[]): Float32Array {
    const e = this.byName.get(name);
    if (!e) throw new PromptkilnError('CHECKPOINT', `${this.file}: missing tensor "${name}" (expected shape [${shape.join(', ')}])`, { file: this.file, tensor: name });
    if (e.t.shape.length !== shape.length || e.t.shape.some((d, i) => d !== shape[i])) {
      throw new PromptkilnError('CHECKPOINT', `${this.file}: tensor "${e.key}" has shape [${e.t.shape.join(', ')}], config.json implies [${shape.join(', ')}]`, {
        file: this.file,
        tensor: e.key,
        expected: shape,
        found: e.t.shape,
      });
    }
    return e.t.data;
  }
}

// Map the raw safetensors tensors (all shards merged) to canonical names for `config`.
export function hfTensors(config: ModelConfig, raw: Map<string, SafetensorsTensor>, file = 'model.safetensors'): TensorMap {
  return config.arch === 'llama' ? llamaTensors(config, raw, file) : gpt2Tensors(config, raw, file);
}

function llamaTensors(cfg: ModelConfig, raw: Map<string, SafetensorsTensor>, file: string): TensorMap {
  const s = new Source(raw, 'model.', file);
  const { dim: C, hiddenDim: F, vocabSize: V } = cfg;
  const q = cfg.nHeads * cfg.headDim;
  const kv = cfg.nKvHeads * cfg.headDim;
  const out: TensorMap = new Map();
  out.set('tok_embeddings', s.get('embed_tokens.weight', [V, C]));
  for (let i = 0; i < cfg.nLayers; i++) {
    const p = `layers.${i}.`;
    const set = (name: string, src: string, shape: number[]) => out.set(p + name, s.get(p + src, shape));
    set('attn_norm', 'input_layernorm.weight', [C]);
    set('wq', 'self_attn.q_proj.weight', [q, C]);
    set('wk', 'self_attn.k_proj.weight', [kv, C]);
    set('wv', 'self_attn.v_proj.weight', [kv, C]);
    set('wo', 'self_attn.o_proj.weight', [C, q]);
    if (cfg.attnBias) {
      set('bq', 'self_attn.q_proj.bias', [q]);
      set('bk', 'self_attn.k_proj.bias', [kv]);
      set('bv', 'self_attn.v_proj.bias', [kv]);
      set('bo', 'self_attn.o_proj.bias', [C]);
    }
    set('mlp_norm', 'post_attention_layernorm.weight', [C]);
    set('w1', 'mlp.gate_proj.weight', [F, C]);
    set('w3', 'mlp.up_proj.weight', [F, C]);
    set('w2', 'mlp.down_proj.weight', [C, F]);
    if (cfg.mlpBias) {
      set('b1', 'mlp.gate_proj.bias', [F]);
      set('b3', 'mlp.up_proj.bias', [F]);
      set('b2', 'mlp.down_proj.bias', [C]);
    }
  }
  out.set('final_norm', s.get('norm.weight', [C]));
  if (!cfg.tiedEmbeddings) out.set('lm_head', s.get('lm_head.weight', [V, C]));
  return out;
}

function gpt2Tensors(cfg: ModelConfig, raw: Map<string, SafetensorsTensor>, file: string): TensorMap {
  const s = new Source(raw, 'transformer.', file);
  const { dim: C, hiddenDim: F, vocabSize: V } = cfg;
  const out: TensorMap = new Map();
  out.set('tok_embeddings', s.get('wte.weight', [V, C]));
  out.set('pos_embeddings', s.get('wpe.weight', [cfg.maxSeqLen, C]));
  for (let i = 0; i < cfg.nLayers; i++) {
    const h = `h.${i}.`;
    const p = `layers.${i}.`;
    out.set(p + 'attn_norm', s.get(h + 'ln_1.weight', [C]));
    out.set(p + 'attn_norm_bias', s.get(h + 'ln_1.bias', [C]));
    // c_attn [C, 3C] (in, out) → (3C, C): rows 0..C-1 are q, then k, then v
    const qkv = transpose(s.get(h + 'attn.c_attn.weight', [C, 3 * C]), C, 3 * C); // (3C, C)
    const qkvB = s.get(h + 'attn.c_attn.bias', [3 * C]);
    ['wq', 'wk', 'wv'].forEach((n, k) => out.set(p + n, qkv.subarray(k * C * C, (k + 1) * C * C)));
    ['bq', 'bk', 'bv'].forEach((n, k) => out.set(p + n, qkvB.subarray(k * C, (k + 1) * C)));
    out.set(p + 'wo', transpose(s.get(h + 'attn.c_proj.weight', [C, C]), C, C));
    out.set(p + 'bo', s.get(h + 'attn.c_proj.bias', [C]));
    out.set(p + 'mlp_norm', s.get(h + 'ln_2.weight', [C]));
    out.set(p + 'mlp_norm_bias', s.get(h + 'ln_2.bias', [C]));
    out.set(p + 'w1', transpose(s.get(h + 'mlp.c_fc.weight', [C, F]), C, F)); // (F, C)
    out.set(p + 'b1', s.get(h + 'mlp.c_fc.bias', [F]));
    out.set(p + 'w2', transpose(s.get(h + 'mlp.c_proj.weight', [F, C]), F, C)); // (C, F)
    out.set(p + 'b2', s.get(h + 'mlp.c_proj.bias', [C]));
  }
  out.set('final_norm', s.get('ln_f.weight', [C]));
  out.set('final_norm_bias', s.get('ln_f.bias', [C]));
  // GPT-2's head is tied unless the config says otherwise; lm_head.weight has no prefix
  if (!cfg.tiedEmbeddings) out.set('lm_head', s.get('lm_head.weight', [V, C]));
  return out;
}
