// PEFT LORA and IA3 folders, both directions: the settings PEFT writes, its tensor names and shapes,
// and a typed ADAPTER error for every setting that changes the math and is not implemented here.
//
// Tensor names are "base_model.model." + the module's transformers path + "lora_A.weight" (r, in) /
// "lora_B.weight" (out, r), or + "ia3_l": (out, 1) for output scaling, (1, in) for a
// feedforward_modules entry (input scaling). Fused modules (Phi-3 qkv_proj / gate_up_proj, GPT-2
// c_attn) are one PEFT module: one lora_A, one lora_B whose rows are the fused outputs in order
// (q, k, v; gate, up), one ia3_l over the same rows.
import { PromptkilnError } from '../errors.js';
import { writeSafetensors } from '../model/safetensors.js';
import type { ModelRef } from './identity.js';
import { resolveTargets } from './adapter-modules.js';
import { adapterError, parseAdapterSafetensors } from './adapter-files.js';
import { resolveIa3, type Ia3Artifact } from './ia3.js';
import { checkRank, type LoraArtifact } from './lora.js';
import { modelIdentity } from './identity.js';

export type LinearArtifact = LoraArtifact | Ia3Artifact;

const KEY = 'base_model.model.';
const FORMAT_VERSION = 1;

// PEFT LoraConfig keys whose value changes the forward (or the saved base) and are implemented only
// at this value. lora_dropout is training-time only (no effect on scoring; our training runs without
// it), init_* and *_config inits only shape the starting values.
const LORA_OFF: Record<string, unknown> = {
  use_rslora: false, use_dora: false, rank_pattern: {}, alpha_pattern: {}, layers_to_transform: null, layers_pattern: null,
  bias: 'none', lora_bias: false, modules_to_save: null, exclude_modules: null, layer_replication: null, use_qalora: false,
  alora_invocation_tokens: null, target_parameters: null, trainable_token_indices: null, megatron_config: null,
  use_bdlora: null, arrow_config: null, kasa_config: null, monteclora_config: null, velora_config: null,
};
const IA3_OFF: Record<string, unknown> = { modules_to_save: null, exclude_modules: null };
// keys whose value we read, or which do not touch the forward
const LORA_READ = new Set(['peft_type', 'task_type', 'r', 'lora_alpha', 'target_modules', 'fan_in_fan_out', 'lora_dropout', 'init_lora_weights',
  'base_model_name_or_path', 'revision', 'inference_mode', 'auto_mapping', 'peft_version', 'loftq_config', 'eva_config', 'corda_config',
  'lora_ga_config', 'megatron_core', 'qalora_group_size', 'ensure_weight_tying', 'promptkiln']);
const IA3_READ = new Set(['peft_type', 'task_type', 'target_modules', 'feedforward_modules', 'fan_in_fan_out', 'init_ia3_weights',
  'base_model_name_or_path', 'revision', 'inference_mode', 'auto_mapping', 'peft_version', 'promptkiln']);
// PiSSA / OLoRA / LoftQ inits rewrite the base weights the adapter was trained against
const LORA_INITS: unknown[] = [true, false, 'gaussian', 'kaiming', 'eva', 'corda', 'orthogonal'];

const isOff = (v: unknown) => v === null || v === false || (typeof v === 'object' && Object.keys(v as object).length === 0);
const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null) || (isOff(a) && isOff(b));

// Refuses every setting not at its implemented value, and unknown keys unless they are off
// (null, false, {}, []): a newer PEFT's feature left off is harmless, one turned on is not.
function checkSettings(cfg: Record<string, unknown>, off: Record<string, unknown>, read: Set<string>, where: string): void {
  for (const [key, want] of Object.entries(off)) {
    if (key in cfg && !same(cfg[key], want)) {
      throw adapterError(where, `${key} = ${JSON.stringify(cfg[key])} changes the adapter's math and is not implemented (only ${JSON.stringify(want)})`, { field: key, value: cfg[key] });
    }
  }
  for (const [key, v] of Object.entries(cfg)) {
    if (!(key in off) && !read.has(key) && !isOff(v)) {
      throw adapterError(where, `setting ${key} = ${JSON.stringify(v)} is not known to this reader; refused rather than ignored`, { field: key, value: v });
    }
  }
}

// Reads a LORA / IA3 folder's files for `model`, checking every tensor's name and shape.
export function decodeLinearPeft(cfg: Record<string, unknown>, weights: Uint8Array, model: ModelRef, cfgWhere: string, wWhere: string): LinearArtifact {
  const file = parseAdapterSafetensors(weights, wWhere);
  const pk = cfg.promptkiln as { model?: Record<string, unknown> } | undefined;
  const here = modelIdentity(model);
  for (const f of ['arch', 'dim', 'n_layers', 'n_heads', 'n_kv_heads', 'head_dim'] as const) {
    if (pk?.model?.[f] !== undefined && pk.model[f] !== here[f]) {
      throw adapterError(cfgWhere, `promptkiln.model.${f}: the adapter was trained for ${JSON.stringify(pk.model[f])}, this model (${model.id}) has ${JSON.stringify(here[f])}`, { dimension: f });
    }
  }
  const used = new Set<string>();
  const get = (name: string, shape: number[]): Float32Array => {
    const t = file.tensors.get(name);
    if (!t) throw adapterError(wWhere, `no tensor "${name}" (the config targets that module of ${model.id})`, { tensor: name });
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw adapterError(wWhere, `${name}: expected shape [${shape.join(', ')}] for ${model.id}, found [${t.shape.join(', ')}]`, { tensor: name, expected: shape, found: t.shape });
    }
    used.add(name);
    return t.data.slice();
  };
  const leftover = () => {
    const extra = [...file.tensors.keys()].filter((n) => !used.has(n));
    if (extra.length) throw adapterError(wWhere, `tensors the config does not account for: ${extra.slice(0, 4).join(', ')}${extra.length > 4 ? ` (+${extra.length - 4})` : ''}`, { tensors: extra });
  };

  if (cfg.peft_type === 'LORA') {
    checkSettings(cfg, LORA_OFF, LORA_READ, cfgWhere);
    if ('init_lora_weights' in cfg && !LORA_INITS.includes(cfg.init_lora_weights)) {
      throw adapterError(cfgWhere, `init_lora_weights = ${JSON.stringify(cfg.init_lora_weights)} rewrites the base weights (PiSSA / OLoRA / LoftQ) and is not implemented`, { field: 'init_lora_weights' });
    }
    const r = cfg.r, alpha = cfg.lora_alpha;
    if (!Number.isInteger(r) || (r as number) <= 0) throw adapterError(cfgWhere, `field "r" expected a positive integer, found ${JSON.stringify(r)}`, { field: 'r' });
    if (typeof alpha !== 'number' || !(alpha > 0)) throw adapterError(cfgWhere, `field "lora_alpha" expected a positive number, found ${JSON.stringify(alpha)}`, { field: 'lora_alpha' });
    const targets = resolveTargets(model, cfg.target_modules, cfgWhere);
    for (const t of targets) checkRank(t, r as number, cfgWhere); // before any shape: the rank is the cause
    const modules = targets.map((t) => {
      return { name: t.name, A: get(`${KEY}${t.name}.lora_A.weight`, [r as number, t.spec.inDim]), B: get(`${KEY}${t.name}.lora_B.weight`, [t.spec.outDim, r as number]) };
    });
    leftover();
    return {
      kind: 'lora', r: r as number, alpha, targetModules: cfg.target_modules as string[] | string, fanInFanOut: cfg.fan_in_fan_out === true,
      dropout: typeof cfg.lora_dropout === 'number' ? cfg.lora_dropout : 0, modules, model: here,
    };
  }
  checkSettings(cfg, IA3_OFF, IA3_READ, cfgWhere);
  const mods = resolveIa3(model, cfg.target_modules, cfg.feedforward_modules, cfgWhere);
  const modules = mods.map(({ t, ff }) => ({
    name: t.name, feedforward: ff, l: get(`${KEY}${t.name}.ia3_l`, ff ? [1, t.spec.inDim] : [t.spec.outDim, 1]),
  }));
  leftover();
  return {
    kind: 'ia3', targetModules: cfg.target_modules as string[] | string, feedforwardModules: (cfg.feedforward_modules ?? []) as string[] | string,
    fanInFanOut: cfg.fan_in_fan_out === true, modules, model: here,
  };
}

// What PEFT 0.21 writes for this adapter: the same adapter_config.json fields (defaults where we
// have no setting), tensors by sorted name, F32, metadata {"format": "pt"}.
export function encodeLinearPeft(a: LinearArtifact): { config: Record<string, unknown>; weights: Uint8Array } {
  const id = a.model;
  const pk = { version: FORMAT_VERSION, model: id };
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  const add = (name: string, shape: number[], data: Float32Array) => { tensors[name] = { shape, data }; };
  let config: Record<string, unknown>;
  if (a.kind === 'lora') {
    for (const m of a.modules) {
      const inDim = m.A.length / a.r, outDim = m.B.length / a.r;
      add(`${KEY}${m.name}.lora_A.weight`, [a.r, inDim], m.A);
      add(`${KEY}${m.name}.lora_B.weight`, [outDim, a.r], m.B);
    }
    config = {
      alora_invocation_tokens: null, alpha_pattern: {}, arrow_config: null, auto_mapping: null, base_model_name_or_path: id.id, bias: 'none',
      corda_config: null, ensure_weight_tying: false, eva_config: null, exclude_modules: null, fan_in_fan_out: a.fanInFanOut, inference_mode: true,
      init_lora_weights: true, kasa_config: null, layer_replication: null, layers_pattern: null, layers_to_transform: null, loftq_config: {},
      lora_alpha: a.alpha, lora_bias: false, lora_dropout: a.dropout, lora_ga_config: null, megatron_config: null, megatron_core: 'megatron.core',
      modules_to_save: null, monteclora_config: null, peft_type: 'LORA', peft_version: '0.21.0', qalora_group_size: 16, r: a.r, rank_pattern: {},
      revision: null, target_modules: a.targetModules, target_parameters: null, task_type: 'CAUSAL_LM', trainable_token_indices: null,
      use_bdlora: null, use_dora: false, use_qalora: false, use_rslora: false, velora_config: null, promptkiln: pk,
    };
  } else {
    for (const m of a.modules) add(`${KEY}${m.name}.ia3_l`, m.feedforward ? [1, m.l.length] : [m.l.length, 1], m.l);
    config = {
      auto_mapping: null, base_model_name_or_path: id.id, exclude_modules: null, fan_in_fan_out: a.fanInFanOut,
      feedforward_modules: a.feedforwardModules, inference_mode: true, init_ia3_weights: true, modules_to_save: null, peft_type: 'IA3',
      peft_version: '0.21.0', revision: null, target_modules: a.targetModules, task_type: 'CAUSAL_LM', promptkiln: pk,
    };
  }
  const sorted = Object.fromEntries(Object.keys(tensors).sort().map((n) => [n, tensors[n]]));
  return { config, weights: writeSafetensors(sorted, { format: 'pt' }) };
}

export function isLinearPeftType(t: unknown): t is 'LORA' | 'IA3' {
  return t === 'LORA' || t === 'IA3';
}

// A LORA / IA3 artifact handed where a prompt-type one was expected (and back): a clear error.
export function notPromptType(kind: string, what: string): PromptkilnError {
  return new PromptkilnError('ADAPTER', `${what}: a ${kind} adapter changes the linear layers; load it with loadAdapter (score / generate) or mergeAdapter`);
}
