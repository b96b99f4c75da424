// Hugging Face config.json (both forms: transformers v5's `rope_parameters`, and the older
// `rope_theta` + `rope_scaling`) → one ModelConfig carrying every math-changing setting of the
// families we know. A key that changes the math and is not implemented is a CONFIG error naming
// file, key and value; it is never skipped.

import { PromptkilnError } from '../errors.js';
import { parseJsonObject } from './json-object.js';
import { longropeAttentionFactor, yarnAttentionFactor } from './rope.js';
import type { Family, LayerType, ModelConfig, RopeParams } from './types.js';

type Json = Record<string, unknown>;

// architectures[0] → family; model_type names the same families when `architectures` is absent
export const HF_ARCHITECTURES: Record<string, Family> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
  Qwen3ForCausalLM: 'qwen3',
  Gemma3ForCausalLM: 'gemma3',
  Phi3ForCausalLM: 'phi3',
  GPT2LMHeadModel: 'gpt2',
};
const MODEL_TYPES: Record<string, Family> = { llama: 'llama', mistral: 'mistral', qwen2: 'qwen2', qwen3: 'qwen3', gemma3_text: 'gemma3', phi3: 'phi3', gpt2: 'gpt2' };

export function cfgErr(file: string, key: string, msg: string, value?: unknown): PromptkilnError {
  return new PromptkilnError('CONFIG', `${file}: ${key} ${msg}`, { file, key, ...(value === undefined ? {} : { value }) });
}

const show = (v: unknown) => JSON.stringify(v);

function posInt(j: Json, key: string, file: string, fallback?: number): number {
  const v = j[key] ?? fallback;
  if (v === undefined) throw cfgErr(file, key, 'is missing (expected a positive integer)');
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw cfgErr(file, key, `is ${show(v)}, expected a positive integer`, v);
  return v;
}

// positive and a normal f32 (the math runs in f32: 1e-300 would round to 0 there)
const F32_MIN = 2 ** -126;
const isPos = (v: unknown): v is number => typeof v === 'number' && v >= F32_MIN && Number.isFinite(Math.fround(v));

function posNum(j: Json, key: string, file: string, fallback: number): number {
  const v = j[key] ?? fallback;
  if (!isPos(v)) throw cfgErr(file, key, `is ${show(v)}, expected a positive number`, v);
  return v;
}

function optNum(j: Json, key: string, file: string): number | null {
  const v = j[key];
  if (v === undefined || v === null) return null;
  if (!isPos(v)) throw cfgErr(file, key, `is ${show(v)}, expected a positive number`, v);
  return v;
}

function bool(j: Json, key: string, file: string, fallback: boolean): boolean {
  const v = j[key] ?? fallback;
  if (typeof v !== 'boolean') throw cfgErr(file, key, `is ${show(v)}, expected true or false`, v);
  return v;
}

// bos/eos ids: a number, a list, or absent
export function tokenIds(j: Json, key: string, file: string): number[] {
  const v = j[key];
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  for (const x of list) if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) throw cfgErr(file, key, `is ${show(v)}, expected a token id or a list of them`, v);
  return list as number[];
}

// Keys that change the math of these families and that we do not implement: any non-null value
// other than the listed harmless one is refused.
const REFUSED: [key: string, harmless: unknown][] = [
  ['quantization_config', null],
  ['attn_logit_softcapping', null],
  ['final_logit_softcapping', null],
  ['use_bidirectional_attention', false],
  ['scale_attn_by_inverse_layer_idx', false],
  ['scale_attn_weights', true],
];

// Parse config.json (text or parsed JSON). Unknown architecture → ARCH.
export function hfConfig(input: string | unknown, file = 'config.json'): ModelConfig {
  const c = parseJsonObject(input, file, 'CONFIG') as Json;
  const archs = c.architectures;
  let arch: string | undefined = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : undefined;
  let family: Family | undefined = arch === undefined ? undefined : HF_ARCHITECTURES[arch];
  if (arch === undefined) {
    family = typeof c.model_type === 'string' ? MODEL_TYPES[c.model_type] : undefined;
    if (family === undefined) throw cfgErr(file, 'architectures', `is missing and model_type ${show(c.model_type)} is none of ${Object.keys(MODEL_TYPES).join(', ')}`);
    arch = Object.keys(HF_ARCHITECTURES).find((a) => HF_ARCHITECTURES[a] === family)!;
  }
  if (family === undefined) {
    throw new PromptkilnError('ARCH', `${file}: architecture "${arch}" is not supported (supported: ${Object.keys(HF_ARCHITECTURES).join(', ')})`, { file, key: 'architectures', found: arch });
  }
  for (const [key, harmless] of REFUSED) {
    const v = c[key];
    if (v !== undefined && v !== null && v !== harmless) throw cfgErr(file, key, `is ${show(v)}; only ${show(harmless)} is implemented`, v);
  }
  return family === 'gpt2' ? gpt2Config(c, file) : llamaLikeConfig(c, family, file);
}

const ACTIVATIONS: Record<string, 'silu' | 'gelu_tanh'> = { silu: 'silu', swish: 'silu', gelu_pytorch_tanh: 'gelu_tanh', gelu_new: 'gelu_tanh' };

function llamaLikeConfig(c: Json, family: Family, file: string): ModelConfig {
  const gemma = family === 'gemma3';
  const dim = posInt(c, 'hidden_size', file);
  const nHeads = posInt(c, 'num_attention_heads', file);
  const nKvHeads = posInt(c, 'num_key_value_heads', file, nHeads);
  const headDim = posInt(c, 'head_dim', file, dim % nHeads === 0 ? dim / nHeads : undefined);
  if (nHeads % nKvHeads !== 0) throw cfgErr(file, 'num_key_value_heads', `${nKvHeads} does not divide num_attention_heads ${nHeads}`, nKvHeads);
  if (headDim % 2 !== 0) throw cfgErr(file, 'head_dim', `${headDim} is odd; RoPE needs pairs`, headDim);
  const nLayers = posInt(c, 'num_hidden_layers', file);
  const actKey = gemma ? 'hidden_activation' : 'hidden_act';
  const act = c[actKey] ?? (gemma ? 'gelu_pytorch_tanh' : 'silu');
  const activation = typeof act === 'string' ? ACTIVATIONS[act] : undefined;
  if (!activation) throw cfgErr(file, actKey, `is ${show(act)}; implemented: ${Object.keys(ACTIVATIONS).join(', ')}`, act);
  const maxPos = posInt(c, 'max_position_embeddings', file, 2048);
  const eos = tokenIds(c, 'eos_token_id', file);
  const bos = tokenIds(c, 'bos_token_id', file);

  // biases: Llama and Qwen3/Gemma 3 have one attention_bias flag; Qwen2 always has q/k/v biases and no o bias
  const attnBiasFlag = family === 'llama' || family === 'qwen3' || gemma ? bool(c, 'attention_bias', file, false) : false;
  const attnBias = family === 'qwen2' ? true : attnBiasFlag;

  const { layerTypes, slidingWindow } = layering(c, family, nLayers, file);
  const rope = readRope(c, family, layerTypes, { headDim, maxPos }, file);
  let maxSeqLen = maxPos;
  // longrope switches to its long factors once a sequence passes the original context: the
  // tables here are the short ones, so the context is the original one (exact, not extended)
  if (rope.full.type === 'longrope') maxSeqLen = Math.min(maxPos, rope.full.originalMaxPos!);

  return {
    arch: 'llama',
    family,
    dim,
    nLayers,
    nHeads,
    nKvHeads,
    headDim,
    hiddenDim: posInt(c, 'intermediate_size', file),
    vocabSize: posInt(c, 'vocab_size', file),
    maxSeqLen,
    normEps: posNum(c, 'rms_norm_eps', file, 1e-6),
    ropeTheta: rope.full.theta,
    ropeMode: 'half',
    tiedEmbeddings: bool(c, 'tie_word_embeddings', file, gemma),
    attnBias,
    attnOutBias: attnBiasFlag,
    mlpBias: family === 'llama' ? bool(c, 'mlp_bias', file, false) : false,
    bosId: bos[0] ?? null,
    eosId: eos[0] ?? null,
    eosIds: eos,
    rope: rope.full,
    ropeLocal: rope.local,
    layerTypes,
    slidingWindow,
    qkNorm: family === 'qwen3' || gemma,
    normPlusOne: gemma,
    embedScale: gemma ? Math.fround(Math.sqrt(dim)) : 1,
    sandwichNorm: gemma,
    activation,
    queryScale: gemma ? Math.pow(posNum(c, 'query_pre_attn_scalar', file, 256), -0.5) : 1 / Math.sqrt(headDim),
  };
}

// layer_types as written, or as each family's config class derives it when absent
function layering(c: Json, family: Family, nLayers: number, file: string): { layerTypes: LayerType[]; slidingWindow: number | null } {
  let window = c.sliding_window === undefined || c.sliding_window === null ? null : posInt(c, 'sliding_window', file);
  // Qwen 2/3 keep sliding_window in the file but apply it only with use_sliding_window
  if ((family === 'qwen2' || family === 'qwen3') && !bool(c, 'use_sliding_window', file, false)) window = null;
  let types: LayerType[];
  const lt = c.layer_types;
  if (lt !== undefined && lt !== null) {
    if (!Array.isArray(lt) || lt.length !== nLayers) throw cfgErr(file, 'layer_types', `is ${show(lt)}, expected a list of ${nLayers} layer types`, lt);
    lt.forEach((t, i) => {
      if (t !== 'full_attention' && t !== 'sliding_attention') throw cfgErr(file, `layer_types[${i}]`, `is ${show(t)}; implemented: "full_attention", "sliding_attention"`, t);
    });
    types = lt as LayerType[];
  } else {
    types = Array.from({ length: nLayers }, (_, i): LayerType => {
      if (family === 'llama' || window === null) return 'full_attention';
      if (family === 'qwen2' || family === 'qwen3') return i >= posInt(c, 'max_window_layers', file, 28) ? 'sliding_attention' : 'full_attention';
      if (family === 'gemma3') return (i + 1) % posInt(c, 'sliding_window_pattern', file, (c._sliding_window_pattern as number) ?? 6) ? 'sliding_attention' : 'full_attention';
      return 'sliding_attention'; // mistral, phi3: every layer
    });
  }
  if (family === 'llama') {
    if (types.some((t) => t !== 'full_attention')) throw cfgErr(file, 'layer_types', `is ${show(lt)}; Llama layers are all "full_attention"`, lt);
    window = null;
  }
  if (window === null && types.includes('sliding_attention')) throw cfgErr(file, 'sliding_window', `is null but layer_types has "sliding_attention" layers`, c.sliding_window);
  return { layerTypes: types, slidingWindow: types.includes('sliding_attention') ? window : null };
}

// Keys each rope type reads (besides rope_type/type, rope_theta, partial_rotary_factor); any other
// key with a value is refused, since it would change frequencies we do not compute.
const ROPE_KEYS: Record<RopeParams['type'], string[]> = {
  default: [],
  linear: ['factor'],
  llama3: ['factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings'],
  yarn: ['factor', 'original_max_position_embeddings', 'attention_factor', 'beta_fast', 'beta_slow', 'mscale', 'mscale_all_dim', 'truncate'],
  longrope: ['short_factor', 'long_factor', 'original_max_position_embeddings', 'attention_factor', 'factor'],
};

// RoPE of full and (when it differs) sliding layers, from either config form, standardized as
// transformers v5 does: the dict is rope_scaling ?? rope_parameters; rope_theta and
// partial_rotary_factor outside it fill in; a dict keyed by layer types gives one RoPE per type.
function readRope(c: Json, family: Family, layerTypes: LayerType[], dims: { headDim: number; maxPos: number }, file: string): { full: RopeParams; local: RopeParams | null } {
  const gemma = family === 'gemma3';
  const scaling = c.rope_scaling;
  const params = c.rope_parameters;
  const key = scaling !== undefined && scaling !== null ? 'rope_scaling' : 'rope_parameters';
  const raw = key === 'rope_scaling' ? scaling : params;
  if (raw !== undefined && raw !== null && (typeof raw !== 'object' || Array.isArray(raw))) throw cfgErr(file, key, `is ${show(raw)}, expected an object`, raw);
  const dict = (raw ?? {}) as Json;
  const types = new Set<string>(layerTypes);
  const perType = Object.keys(dict).length > 0 && Object.keys(dict).every((k) => types.has(k) || k === 'full_attention' || k === 'sliding_attention');
  const topTheta = c.rope_theta;
  const topPartial = c.partial_rotary_factor;
  const one = (d: unknown, where: string, fallbackTheta: number) => {
    if (typeof d !== 'object' || d === null || Array.isArray(d)) throw cfgErr(file, where, `is ${show(d)}, expected an object`, d);
    return ropeParams(d as Json, where, { theta: topTheta ?? fallbackTheta, partial: topPartial, topOrig: c.original_max_position_embeddings, family, ...dims }, file);
  };
  if (perType) {
    for (const t of types) if (dict[t] === undefined) throw cfgErr(file, key, `has no entry for the "${t}" layers of layer_types`, raw);
    const full = one(dict.full_attention ?? {}, `${key}.full_attention`, gemma ? 1e6 : 10000);
    const local = dict.sliding_attention === undefined ? null : one(dict.sliding_attention, `${key}.sliding_attention`, 10000);
    return { full, local };
  }
  const full = one(dict, key, gemma ? 1e6 : 10000);
  // Gemma 3's pre-v5 form: the scaling and rope_theta are the global layers'; local layers use
  // rope_local_base_freq unscaled
  if (gemma) return { full, local: ropeParams({ rope_theta: posNum(c, 'rope_local_base_freq', file, 10000) }, 'rope_local_base_freq', { theta: 10000, partial: topPartial, topOrig: undefined, family, ...dims }, file) };
  return { full, local: null };
}

function ropeParams(
  d: Json, where: string,
  o: { theta: unknown; partial: unknown; topOrig: unknown; family: Family; headDim: number; maxPos: number },
  file: string,
): RopeParams {
  const type = d.rope_type ?? d.type ?? 'default';
  if (typeof type !== 'string' || !(type in ROPE_KEYS)) {
    throw cfgErr(file, `${where}.rope_type`, `is ${show(type)}; implemented: ${Object.keys(ROPE_KEYS).join(', ')} (dynamic NTK scaling depends on the sequence length and is not)`, type);
  }
  const t = type as RopeParams['type'];
  const allowed = new Set(['rope_type', 'type', 'rope_theta', 'partial_rotary_factor', ...ROPE_KEYS[t]]);
  for (const [k, v] of Object.entries(d)) {
    if (!allowed.has(k) && v !== null && v !== undefined) throw cfgErr(file, `${where}.${k}`, `is ${show(v)}, which RoPE type "${t}" does not use; not implemented`, v);
  }
  const theta = posNum({ [`${where}.rope_theta`]: d.rope_theta ?? o.theta }, `${where}.rope_theta`, file, 10000);
  if (theta <= 1) throw cfgErr(file, `${where}.rope_theta`, `is ${theta}, expected a base above 1`, theta);
  const partial = posNum({ [`${where}.partial_rotary_factor`]: d.partial_rotary_factor ?? o.partial }, `${where}.partial_rotary_factor`, file, 1);
  if (partial > 1) throw cfgErr(file, `${where}.partial_rotary_factor`, `is ${partial}, expected at most 1`, partial);
  const rotaryDim = Math.trunc(o.headDim * partial);
  if (rotaryDim < 2 || rotaryDim % 2) throw cfgErr(file, `${where}.partial_rotary_factor`, `${partial} × head_dim ${o.headDim} = ${rotaryDim} rotated dims; RoPE needs a positive even number`, partial);
  const num = (k: string) => optNum({ [`${where}.${k}`]: d[k] }, `${where}.${k}`, file);
  const need = (k: string) => {
    const v = num(k);
    if (v === null) throw cfgErr(file, `${where}.${k}`, `is missing (RoPE type "${t}" needs it)`);
    return v;
  };
  // Phi-3 keeps the pre-training context outside the rope dict, and transformers prefers it there
  const origMax = (): number => {
    if (o.family === 'phi3' && o.topOrig !== undefined && o.topOrig !== null) return posInt({ original_max_position_embeddings: o.topOrig }, 'original_max_position_embeddings', file);
    return num('original_max_position_embeddings') ?? o.maxPos;
  };
  const p: RopeParams = {
    type: t, theta, rotaryDim, factor: 1, originalMaxPos: null, lowFreqFactor: null, highFreqFactor: null,
    betaFast: null, betaSlow: null, truncate: true, shortFactor: null, longFactor: null, attentionFactor: 1,
  };
  if (t === 'linear') p.factor = need('factor');
  if (t === 'llama3') {
    p.factor = need('factor');
    p.lowFreqFactor = need('low_freq_factor');
    p.highFreqFactor = need('high_freq_factor');
    if (p.highFreqFactor <= p.lowFreqFactor) throw cfgErr(file, `${where}.high_freq_factor`, `${p.highFreqFactor} must exceed low_freq_factor ${p.lowFreqFactor}`, p.highFreqFactor);
    p.originalMaxPos = origMax();
  }
  if (t === 'yarn') {
    p.originalMaxPos = origMax();
    p.factor = num('factor') ?? o.maxPos / p.originalMaxPos;
    p.betaFast = num('beta_fast');
    p.betaSlow = num('beta_slow');
    const tr = d.truncate ?? true;
    if (typeof tr !== 'boolean') throw cfgErr(file, `${where}.truncate`, `is ${show(tr)}, expected true or false`, tr);
    p.truncate = tr;
    p.attentionFactor = num('attention_factor') ?? yarnAttentionFactor(p.factor, num('mscale'), num('mscale_all_dim'));
  }
  if (t === 'longrope') {
    p.originalMaxPos = origMax();
    const half = rotaryDim / 2;
    const list = (k: string) => {
      const v = d[k];
      if (!Array.isArray(v) || v.length !== half || !v.every(isPos)) {
        throw cfgErr(file, `${where}.${k}`, `is ${show(v)}, expected ${half} positive numbers (rotated dims / 2)`, v);
      }
      return v as number[];
    };
    p.shortFactor = list('short_factor');
    p.longFactor = list('long_factor');
    p.factor = num('factor') ?? o.maxPos / p.originalMaxPos;
    p.attentionFactor = num('attention_factor') ?? longropeAttentionFactor(p.factor, p.originalMaxPos);
  }
  return p;
}

function gpt2Config(c: Json, file: string): ModelConfig {
  const dim = posInt(c, 'n_embd', file);
  const nHeads = posInt(c, 'n_head', file);
  if (dim % nHeads !== 0) throw cfgErr(file, 'n_head', `${nHeads} does not divide n_embd ${dim}`, nHeads);
  const act = c.activation_function ?? 'gelu_new';
  if (act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') throw cfgErr(file, 'activation_function', `is ${show(act)}; only the tanh GELU ("gelu_new") is implemented`, act);
  const eos = tokenIds(c, 'eos_token_id', file);
  const bos = tokenIds(c, 'bos_token_id', file);
  return {
    arch: 'gpt2',
    family: 'gpt2',
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
    bosId: bos[0] ?? null,
    eosId: eos[0] ?? null,
    eosIds: eos,
    activation: 'gelu_tanh',
  };
}
