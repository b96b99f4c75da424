// Hugging Face checkpoints: safetensors names → canonical tensors, for a ModelConfig read by
// hf-config.ts.
//
// LlamaForCausalLM: weights are already (out, in); RoPE rotates halves ('half'), so no
// permutation is needed. GPT2LMHeadModel: Conv1D stores [in, out] (y = x·W + b), transposed here
// to the internal (out, in); c_attn [C, 3C] is split into wq/wk/wv (and bq/bk/bv).
// Names are accepted with or without the `model.` / `transformer.` prefix; tensors we do not use
// (GPT-2's attn.bias / attn.masked_bias mask buffers, rotary inv_freq tables) are ignored.

import { PromptkilnError } from '../errors.js';
import { cfgErr } from './hf-config.js';
import type { ModelConfig } from './types.js';
import type { WeightRef } from './weight-ref.js';

// Settings hf-config.ts reads that no reference implementation runs: refused at load, naming the
// key (the config itself is complete either way). transformers rotates part of a head only in
// Phi-3; its Llama/Qwen/Mistral/Gemma attention would fail on such a config, so there is nothing
// to match.
export function checkRunnable(c: ModelConfig, file: string): void {
  if (c.rope && c.rope.rotaryDim !== c.headDim && c.family !== 'phi3') {
    throw cfgErr(file, 'partial_rotary_factor', `rotates ${c.rope.rotaryDim} of ${c.headDim} head dims; only Phi-3 rotates part of a head`, c.rope.rotaryDim / c.headDim);
  }
}

// a (rows, cols) → (cols, rows); GPT-2 Conv1D (in, out) → the kernels' (out, in), and back for ONNX
export function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

// Canonical name → a tensor not read yet (weight-ref.ts): the loader reads each straight into the heap.
export type RefMap = Map<string, WeightRef>;

// a Conv1D weight (rows, cols) read as (cols, rows); read whole (GPT-2's matrices are at most C × 4C)
const transposed = (r: WeightRef, rows: number, cols: number) => r.map((a) => transpose(a, rows, cols), [cols, rows]);

// Looks tensors up by name with the optional prefix, checking shapes.
class Source {
  private byName = new Map<string, { t: WeightRef; key: string }>();
  constructor(
    raw: RefMap,
    prefix: string,
    private file: string,
  ) {
    for (const [k, t] of raw) this.byName.set(k.startsWith(prefix) ? k.slice(prefix.length) : k, { t, key: k });
  }
  has(name: string): boolean {
    return this.byName.has(name);
  }
  get(name: string, shape: number[]): WeightRef {
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
    return e.t;
  }
}

// Map the raw safetensors tensors (all shards merged) to canonical names for `config`.
export function hfTensors(config: ModelConfig, raw: RefMap, file = 'model.safetensors'): RefMap {
  return config.arch === 'llama' ? llamaTensors(config, raw, file) : gpt2Tensors(config, raw, file);
}

function llamaTensors(cfg: ModelConfig, raw: RefMap, file: string): RefMap {
  const s = new Source(raw, 'model.', file);
  const { dim: C, hiddenDim: F, vocabSize: V } = cfg;
  const q = cfg.nHeads * cfg.headDim;
  const kv = cfg.nKvHeads * cfg.headDim;
  const out: RefMap = new Map();
  out.set('tok_embeddings', s.get('embed_tokens.weight', [V, C]));
  for (let i = 0; i < cfg.nLayers; i++) {
    const p = `layers.${i}.`;
    const set = (name: string, src: string, shape: number[]) => out.set(p + name, s.get(p + src, shape));
    set('attn_norm', 'input_layernorm.weight', [C]);
    if (cfg.family === 'phi3') {
      // fused (q + 2·kv, C): rows q, then k, then v
      const qkv = s.get(p + 'self_attn.qkv_proj.weight', [q + 2 * kv, C]);
      out.set(p + 'wq', qkv.slice(0, [q, C]));
      out.set(p + 'wk', qkv.slice(q * C, [kv, C]));
      out.set(p + 'wv', qkv.slice((q + kv) * C, [kv, C]));
    } else {
      set('wq', 'self_attn.q_proj.weight', [q, C]);
      set('wk', 'self_attn.k_proj.weight', [kv, C]);
      set('wv', 'self_attn.v_proj.weight', [kv, C]);
    }
    set('wo', 'self_attn.o_proj.weight', [C, q]);
    if (cfg.attnBias) {
      set('bq', 'self_attn.q_proj.bias', [q]);
      set('bk', 'self_attn.k_proj.bias', [kv]);
      set('bv', 'self_attn.v_proj.bias', [kv]);
    }
    if (cfg.attnOutBias ?? cfg.attnBias) set('bo', 'self_attn.o_proj.bias', [C]);
    if (cfg.qkNorm) {
      set('q_norm', 'self_attn.q_norm.weight', [cfg.headDim]);
      set('k_norm', 'self_attn.k_norm.weight', [cfg.headDim]);
    }
    if (cfg.sandwichNorm) {
      // Gemma: post_attention_layernorm normalizes the attention output; the MLP's input norm is pre_feedforward
      set('post_attn_norm', 'post_attention_layernorm.weight', [C]);
      set('mlp_norm', 'pre_feedforward_layernorm.weight', [C]);
      set('post_mlp_norm', 'post_feedforward_layernorm.weight', [C]);
    } else set('mlp_norm', 'post_attention_layernorm.weight', [C]);
    if (cfg.family === 'phi3') {
      // fused (2F, C): gate rows, then up rows
      const gu = s.get(p + 'mlp.gate_up_proj.weight', [2 * F, C]);
      out.set(p + 'w1', gu.slice(0, [F, C]));
      out.set(p + 'w3', gu.slice(F * C, [F, C]));
    } else {
      set('w1', 'mlp.gate_proj.weight', [F, C]);
      set('w3', 'mlp.up_proj.weight', [F, C]);
    }
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

function gpt2Tensors(cfg: ModelConfig, raw: RefMap, file: string): RefMap {
  const s = new Source(raw, 'transformer.', file);
  const { dim: C, hiddenDim: F, vocabSize: V } = cfg;
  const out: RefMap = new Map();
  out.set('tok_embeddings', s.get('wte.weight', [V, C]));
  out.set('pos_embeddings', s.get('wpe.weight', [cfg.maxSeqLen, C]));
  for (let i = 0; i < cfg.nLayers; i++) {
    const h = `h.${i}.`;
    const p = `layers.${i}.`;
    out.set(p + 'attn_norm', s.get(h + 'ln_1.weight', [C]));
    out.set(p + 'attn_norm_bias', s.get(h + 'ln_1.bias', [C]));
    // c_attn [C, 3C] (in, out) → (3C, C): rows 0..C-1 are q, then k, then v
    const qkv = transposed(s.get(h + 'attn.c_attn.weight', [C, 3 * C]), C, 3 * C); // (3C, C)
    const qkvB = s.get(h + 'attn.c_attn.bias', [3 * C]);
    ['wq', 'wk', 'wv'].forEach((n, k) => out.set(p + n, qkv.slice(k * C * C, [C, C])));
    ['bq', 'bk', 'bv'].forEach((n, k) => out.set(p + n, qkvB.slice(k * C, [C])));
    out.set(p + 'wo', transposed(s.get(h + 'attn.c_proj.weight', [C, C]), C, C));
    out.set(p + 'bo', s.get(h + 'attn.c_proj.bias', [C]));
    out.set(p + 'mlp_norm', s.get(h + 'ln_2.weight', [C]));
    out.set(p + 'mlp_norm_bias', s.get(h + 'ln_2.bias', [C]));
    out.set(p + 'w1', transposed(s.get(h + 'mlp.c_fc.weight', [C, F]), C, F)); // (F, C)
    out.set(p + 'b1', s.get(h + 'mlp.c_fc.bias', [F]));
    out.set(p + 'w2', transposed(s.get(h + 'mlp.c_proj.weight', [F, C]), F, C)); // (C, F)
    out.set(p + 'b2', s.get(h + 'mlp.c_proj.bias', [C]));
  }
  out.set('final_norm', s.get('ln_f.weight', [C]));
  out.set('final_norm_bias', s.get('ln_f.bias', [C]));
  // GPT-2's head is tied unless the config says otherwise; lm_head.weight has no prefix
  if (!cfg.tiedEmbeddings) out.set('lm_head', s.get('lm_head.weight', [V, C]));
  return out;
}
