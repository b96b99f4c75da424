// Reading and writing soft artifacts in Hugging Face PEFT's file layout.
import { PromptkilnError } from '../errors.js';
import type { Conditioning } from '../model/index.js';
import { writeSafetensors } from '../model/safetensors.js';
import { nodeFs } from '../util/files.js';
import { adapterError, adapterFileReader, parseAdapterSafetensors } from './adapter-files.js';
import { toConditioning } from './conditioning.js';
import { keyLayout, modelIdentity, type ModelRef } from './identity.js';
import { checkTemplate, softRows } from './mixed.js';
import { linearConditioning, loadLinearPeft, requireModel } from './linear-adapter.js';
import { encodeLinearPeft, isLinearPeftType, type LinearArtifact } from './peft-linear.js';
import { ENCODER_CONFIG_FILE, ENCODER_WEIGHTS_FILE, encodePromptEncoder, encoderTask, isEncoderDir, loadPromptEncoder } from './encoder-files.js';
import { encodeTask } from './prompt-encoder.js';
import {
  CONVENTIONS, type KeyLayout, type ModelIdentity, type MultitaskArtifact, type PrefixArtifact, type PromptEncoderConfig, type SoftArtifact,
  type SoftPromptArtifact, type TaskDescription, type TemplatePart, type TunedArtifact,
} from './types.js';

// Hugging Face PEFT files, both directions: adapter_config.json + adapter_model.safetensors
// (metadata {"format": "pt"}, one tensor `prompt_embeddings`).
//
// PROMPT_TUNING: prompt_embeddings [N, hidden]; the rows go before BOS (PEFT prepends them to
// inputs_embeds, and HF tokenizers put BOS first in input_ids).
//
// P_TUNING: the same tensor, holding the prompt encoder's output rows (PEFT saves
// get_prompt_embedding_to_save, and in inference mode get_prompt reads embedding.weight as the
// prompt): loading needs no encoder, whatever encoder_reparameterization_type (MLP or LSTM) made it.
//
// MULTITASK_PROMPT_TUNING: prompt_embeddings [N, hidden] (the shared prompt), prefix_task_cols
// [num_tasks, N, num_ranks] and prefix_task_rows [num_tasks, num_ranks, hidden]; task t's rows are
// prompt_embeddings ⊙ (cols[t]·rows[t]) (PEFT MultitaskPromptEmbedding.forward).
//
// PREFIX_TUNING: prompt_embeddings [N, num_layers·2·token_dim]. PEFT's get_prompt views it as
// [B, N, num_layers·2, num_attention_heads, token_dim / num_attention_heads], permutes to
// [num_layers·2, B, heads, N, head_dim] and splits in pairs: index 2l is layer l's keys, 2l+1
// its values. So row n, column ((2l + kv)·heads + h)·head_dim + e holds layer l, kind kv
// (0 key, 1 value), kv head h, element e of virtual token n. For GQA models PEFT sets
// token_dim = kv_heads·head_dim and num_attention_heads = kv_heads (we write the same).
//
// Key head layout: the file holds keys as an HF transformers model of the same architecture
// uses them — Llama: rotate-half (RoPE pairs (j, j + hd/2)); llama2.c checkpoints keep the
// interleaved pairs (2j, 2j+1) internally, so their prefix keys are permuted on the way out
// (interleaved 2j+c → half c·hd/2 + j) and back on the way in. The layout written is recorded in
// `promptkiln.key_head_layout`; a file without it (written by PEFT) is in the HF layout.

export const CONFIG_FILE = 'adapter_config.json';
export const WEIGHTS_FILE = 'adapter_model.safetensors';
const FORMAT_VERSION = 1;

// Per head: element index in `to` layout of element i in `from` layout.
function keyPermutation(hd: number, from: KeyLayout, to: KeyLayout): Int32Array | null {
  if (from === to || from === 'none' || to === 'none') return null;
  const half = hd / 2;
  const p = new Int32Array(hd);
  for (let j = 0; j < half; j++) {
    for (let c = 0; c < 2; c++) {
      const inter = 2 * j + c, rot = c * half + j;
      if (from === 'interleaved') p[inter] = rot;
      else p[rot] = inter;
    }
  }
  return p;
}

// The file's key layout for a model: HF's own.
function fileKeyLayout(id: ModelIdentity): KeyLayout {
  return id.arch === 'llama' ? 'rotate_half' : 'none';
}

export interface PeftFiles {
  config: Record<string, unknown>;
  weights: Uint8Array;
}

export function encodePeft(a: SoftArtifact): PeftFiles {
  const id = a.model;
  const common = {
    task_type: 'CAUSAL_LM',
    num_transformer_submodules: 1,
    num_layers: id.n_layers,
    base_model_name_or_path: id.id,
    revision: null,
    inference_mode: true,
    auto_mapping: null,
  };
  if (a.kind === 'prompt' && a.encoder) {
    const e = a.encoder;
    const config = {
      peft_type: 'P_TUNING', ...common, modules_to_save: null,
      num_virtual_tokens: a.rows, token_dim: id.dim, num_attention_heads: id.n_heads,
      encoder_reparameterization_type: e.encoder_reparameterization_type, encoder_hidden_size: e.encoder_hidden_size,
      encoder_num_layers: e.encoder_num_layers, encoder_dropout: e.encoder_dropout,
      promptkiln: { version: FORMAT_VERSION, convention: CONVENTIONS.prompt, template: a.template, model: id, init: a.init },
    };
    return { config, weights: writeSafetensors({ prompt_embeddings: { shape: [a.rows, id.dim], data: a.data } }, { format: 'pt' }) };
  }
  if (a.kind === 'multitask') {
    // PEFT's MultitaskPromptTuningInit has no SAMPLE_VOCAB: the init only shaped the starting
    // values, so the file says RANDOM and promptkiln.init keeps what was used
    const initName = a.init.type === 'SAMPLE_VOCAB' ? 'RANDOM' : a.init.type;
    const config = {
      peft_type: 'MULTITASK_PROMPT_TUNING', ...common, modules_to_save: null,
      num_virtual_tokens: a.rows, token_dim: id.dim, num_attention_heads: id.n_heads,
      num_tasks: a.tasks, num_ranks: a.rank,
      prompt_tuning_init: initName, prompt_tuning_init_text: a.init.text, prompt_tuning_init_state_dict_path: null, prompt_tuning_init_task: 0,
      tokenizer_name_or_path: a.init.type === 'TEXT' ? id.id : null, tokenizer_kwargs: null,
      promptkiln: { version: FORMAT_VERSION, convention: CONVENTIONS.prompt, template: a.template, model: id, init: a.init },
    };
    const C = id.dim, N = a.rows, T = a.tasks, r = a.rank;
    const weights = writeSafetensors({
      prefix_task_cols: { shape: [T, N, r], data: a.taskCols },
      prefix_task_rows: { shape: [T, r, C], data: a.taskRows },
      prompt_embeddings: { shape: [N, C], data: a.shared },
    }, { format: 'pt' });
    return { config, weights };
  }
  if (a.kind === 'prompt') {
    const config = {
      peft_type: 'PROMPT_TUNING', ...common,
      num_virtual_tokens: a.rows, token_dim: id.dim, num_attention_heads: id.n_heads,
      prompt_tuning_init: a.init.type, prompt_tuning_init_text: a.init.text,
      tokenizer_name_or_path: a.init.type === 'TEXT' ? id.id : null, tokenizer_kwargs: null,
      promptkiln: { version: FORMAT_VERSION, convention: CONVENTIONS.prompt, template: a.template, model: id },
    };
    const weights = writeSafetensors({ prompt_embeddings: { shape: [a.rows, id.dim], data: a.data } }, { format: 'pt' });
    return { config, weights };
  }
  const L = id.n_layers, Hkv = id.n_kv_heads, hd = id.head_dim, kvd = Hkv * hd, P = a.P;
  const layout = fileKeyLayout(id);
  const perm = keyPermutation(hd, id.key_layout, layout);
  const width = L * 2 * kvd;
  const out = new Float32Array(P * width); // (N, L·2·kvd) in PEFT's view order
  for (let l = 0; l < L; l++) {
    for (let kv = 0; kv < 2; kv++) {
      const src = kv === 0 ? a.k[l] : a.v[l]; // (P, Hkv, hd)
      for (let p = 0; p < P; p++) {
        for (let h = 0; h < Hkv; h++) {
          const s = (p * Hkv + h) * hd, d = p * width + ((2 * l + kv) * Hkv + h) * hd;
          for (let e = 0; e < hd; e++) out[d + (kv === 0 && perm ? perm[e] : e)] = src[s + e];
        }
      }
    }
  }
  const config = {
    peft_type: 'PREFIX_TUNING', ...common,
    num_virtual_tokens: P, token_dim: kvd, num_attention_heads: Hkv,
    encoder_hidden_size: id.dim, prefix_projection: false,
    promptkiln: {
      version: FORMAT_VERSION, convention: CONVENTIONS.prefix, position_offset: P, key_head_layout: layout,
      template: a.template, model: id,
    },
  };
  return { config, weights: writeSafetensors({ prompt_embeddings: { shape: [P, width], data: out } }, { format: 'pt' }) };
}

// The PEFT types this reader takes (LoRA and IA3 change the linear layers: not here yet).
const PEFT_TYPES: readonly string[] = ['PROMPT_TUNING', 'PREFIX_TUNING', 'P_TUNING', 'MULTITASK_PROMPT_TUNING'];

// P_TUNING's encoder settings: recorded so a re-save writes them back; the rows are used as saved.
function encoderConfig(cfg: Record<string, unknown>, where: string): PromptEncoderConfig {
  const type = cfg.encoder_reparameterization_type ?? 'MLP';
  if (type !== 'MLP' && type !== 'LSTM') throw adapterError(where, `encoder_reparameterization_type ${JSON.stringify(type)} is unknown (expected MLP or LSTM)`, { field: 'encoder_reparameterization_type' });
  const dropout = cfg.encoder_dropout ?? 0;
  if (typeof dropout !== 'number') throw adapterError(where, `field "encoder_dropout" expected a number, found ${JSON.stringify(dropout)}`, { field: 'encoder_dropout' });
  return {
    encoder_reparameterization_type: type, encoder_hidden_size: intField(cfg, 'encoder_hidden_size', where),
    encoder_num_layers: intField(cfg, 'encoder_num_layers', where), encoder_dropout: dropout,
  };
}

function intField(cfg: Record<string, unknown>, name: string, where: string): number {
  const v = cfg[name];
  if (!Number.isInteger(v) || (v as number) <= 0) throw adapterError(where, `field "${name}" expected a positive integer, found ${JSON.stringify(v)}`, { field: name });
  return v as number;
}

function expectDim(where: string, what: string, expected: number, found: number, why: string): void {
  if (expected !== found) throw adapterError(where, `${what}: expected ${expected} (${why}), found ${found}`, { dimension: what, expected, found });
}

// Reads PEFT files for `model`; every shape is checked against it.
export function decodePeft(configText: string, weights: Uint8Array, model: ModelRef, dir = '.'): SoftArtifact {
  const cfgWhere = `${dir}/${CONFIG_FILE}`, wWhere = `${dir}/${WEIGHTS_FILE}`;
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(configText);
  } catch (e) {
    throw adapterError(cfgWhere, `not valid JSON (${(e as Error).message})`);
  }
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) throw adapterError(cfgWhere, 'expected a JSON object');
  const type = cfg.peft_type;
  if (isLinearPeftType(type)) {
    throw adapterError(cfgWhere, `peft_type ${type} changes the linear layers, not the prompt: load it with loadAdapter (score / generate) or loadLinearPeft`, { field: 'peft_type' });
  }
  if (!PEFT_TYPES.includes(type as string)) {
    throw adapterError(cfgWhere, `peft_type ${JSON.stringify(type)} is not supported (expected one of ${PEFT_TYPES.join(', ')})`, { field: 'peft_type' });
  }
  if (cfg.task_type !== undefined && cfg.task_type !== null && cfg.task_type !== 'CAUSAL_LM') {
    throw adapterError(cfgWhere, `task_type ${JSON.stringify(cfg.task_type)} is not supported (expected CAUSAL_LM)`, { field: 'task_type' });
  }
  const subs = cfg.num_transformer_submodules ?? 1;
  if (subs !== 1) throw adapterError(cfgWhere, `num_transformer_submodules: expected 1 (decoder-only), found ${JSON.stringify(subs)}`, { field: 'num_transformer_submodules' });
  const pk = (cfg.promptkiln ?? null) as null | {
    convention?: string; key_head_layout?: KeyLayout; template?: TemplatePart[]; model?: Partial<ModelIdentity>; position_offset?: number;
    init?: SoftPromptArtifact['init'];
  };
  const c = model.config;
  const here = modelIdentity(model);
  if (pk?.model) {
    for (const f of ['arch', 'dim', 'n_layers', 'n_kv_heads', 'head_dim'] as const) {
      if (pk.model[f] !== undefined && pk.model[f] !== here[f]) {
        throw adapterError(cfgWhere, `promptkiln.model.${f}: the adapter was trained for ${JSON.stringify(pk.model[f])}, this model (${model.id}) has ${JSON.stringify(here[f])}`, { dimension: f });
      }
    }
  }
  const N = intField(cfg, 'num_virtual_tokens', cfgWhere);
  const tokenDim = intField(cfg, 'token_dim', cfgWhere);
  const file = parseAdapterSafetensors(weights, wWhere);
  const t = file.tensors.get('prompt_embeddings');
  if (!t) throw adapterError(wWhere, `no tensor "prompt_embeddings" (found ${[...file.tensors.keys()].join(', ') || 'none'})`);
  if (t.shape.length !== 2) throw adapterError(wWhere, `prompt_embeddings: expected 2 dimensions, found shape [${t.shape.join(', ')}]`);
  expectDim(wWhere, 'prompt_embeddings dim 0 (num_virtual_tokens)', N, t.shape[0], 'num_virtual_tokens in adapter_config.json');
  const template = pk?.template;
  if (template) checkTemplate(template, `${cfgWhere}: promptkiln.template`);
  const initType = (cfg.prompt_tuning_init as SoftPromptArtifact['init']['type']) ?? 'RANDOM';
  // MULTITASK_PROMPT_TUNING's other inits (from source tasks) only shaped the starting values
  const init = pk?.init ?? { type: ['RANDOM', 'SAMPLE_VOCAB', 'TEXT'].includes(initType) ? initType : 'RANDOM', text: (cfg.prompt_tuning_init_text as string | null) ?? null };

  if (type === 'MULTITASK_PROMPT_TUNING') {
    if (pk?.convention && pk.convention !== CONVENTIONS.prompt) {
      throw adapterError(cfgWhere, `promptkiln.convention "${pk.convention}" is not supported for multitask prompt tuning (expected ${CONVENTIONS.prompt})`);
    }
    expectDim(cfgWhere, 'token_dim', c.dim, tokenDim, `hidden size of ${model.id}`);
    expectDim(wWhere, 'prompt_embeddings dim 1 (hidden)', c.dim, t.shape[1], `hidden size of ${model.id}`);
    const T = intField(cfg, 'num_tasks', cfgWhere), r = intField(cfg, 'num_ranks', cfgWhere);
    const get = (name: string, want: number[], what: string[]) => {
      const x = file.tensors.get(name);
      if (!x) throw adapterError(wWhere, `no tensor "${name}" (found ${[...file.tensors.keys()].join(', ')})`);
      if (x.shape.length !== want.length) throw adapterError(wWhere, `${name}: expected ${want.length} dimensions, found shape [${x.shape.join(', ')}]`);
      want.forEach((d, i) => expectDim(wWhere, `${name} dim ${i} (${what[i]})`, d, x.shape[i], `${what[i]} in adapter_config.json or the model`));
      return x.data.slice();
    };
    const tpl = template ?? [{ soft: N }, { input: true }];
    expectDim(cfgWhere, 'soft rows of promptkiln.template', N, softRows(tpl), 'num_virtual_tokens');
    const a: MultitaskArtifact = {
      kind: 'multitask', rows: N, tasks: T, rank: r, shared: t.data.slice(),
      taskCols: get('prefix_task_cols', [T, N, r], ['num_tasks', 'num_virtual_tokens', 'num_ranks']),
      taskRows: get('prefix_task_rows', [T, r, c.dim], ['num_tasks', 'num_ranks', 'hidden']),
      template: tpl, init, model: here,
    };
    return a;
  }

  if (type === 'PROMPT_TUNING' || type === 'P_TUNING') {
    if (pk?.convention && pk.convention !== CONVENTIONS.prompt) {
      throw adapterError(cfgWhere, `promptkiln.convention "${pk.convention}" is not supported for prompt tuning (expected ${CONVENTIONS.prompt})`);
    }
    expectDim(cfgWhere, 'token_dim', c.dim, tokenDim, `hidden size of ${model.id}`);
    expectDim(wWhere, 'prompt_embeddings dim 1 (hidden)', c.dim, t.shape[1], `hidden size of ${model.id}`);
    const tpl = template ?? [{ soft: N }, { input: true }];
    expectDim(cfgWhere, 'soft rows of promptkiln.template', N, softRows(tpl), 'num_virtual_tokens');
    const out: SoftPromptArtifact = { kind: 'prompt', rows: N, data: t.data.slice(), template: tpl, init, model: here };
    if (type === 'P_TUNING') out.encoder = encoderConfig(cfg, cfgWhere);
    return out;
  }

  if (pk?.convention && pk.convention !== CONVENTIONS.prefix) {
    throw adapterError(cfgWhere, `promptkiln.convention "${pk.convention}" is not supported for prefix tuning (expected ${CONVENTIONS.prefix}: no RoPE on prefix keys, token t at position P + t)`);
  }
  const L = c.nLayers, Hkv = c.nKvHeads, hd = c.headDim, kvd = Hkv * hd;
  expectDim(cfgWhere, 'num_layers', L, intField(cfg, 'num_layers', cfgWhere), `layers of ${model.id}`);
  expectDim(cfgWhere, 'token_dim', kvd, tokenDim, `kv_heads·head_dim = ${Hkv}·${hd} of ${model.id}`);
  if (cfg.num_attention_heads !== undefined) {
    expectDim(cfgWhere, 'num_attention_heads', Hkv, cfg.num_attention_heads as number, `kv heads of ${model.id}`);
  }
  const width = L * 2 * kvd;
  expectDim(wWhere, 'prompt_embeddings dim 1 (num_layers·2·token_dim)', width, t.shape[1], `${L}·2·${kvd}`);
  const layout: KeyLayout = pk?.key_head_layout ?? fileKeyLayout(here); // no record: written by PEFT, HF layout
  if (!['interleaved', 'rotate_half', 'none'].includes(layout)) throw adapterError(cfgWhere, `promptkiln.key_head_layout "${layout}" is unknown`);
  const perm = keyPermutation(hd, layout, keyLayout(model));
  const k: Float32Array[] = [], v: Float32Array[] = [];
  const src = t.data;
  for (let l = 0; l < L; l++) {
    const kl = new Float32Array(N * kvd), vl = new Float32Array(N * kvd); // (P, Hkv, hd)
    for (let p = 0; p < N; p++) {
      for (let h = 0; h < Hkv; h++) {
        const d = (p * Hkv + h) * hd;
        const ks = p * width + ((2 * l) * Hkv + h) * hd, vs = p * width + ((2 * l + 1) * Hkv + h) * hd;
        for (let e = 0; e < hd; e++) {
          kl[d + (perm ? perm[e] : e)] = src[ks + e];
          vl[d + e] = src[vs + e];
        }
      }
    }
    k.push(kl);
    v.push(vl);
  }
  return { kind: 'prefix', P: N, k, v, template: template ?? [{ input: true }], init, model: here } satisfies PrefixArtifact;
}

// What tune() returned, as the files of its folder: PEFT's adapter_config.json +
// adapter_model.safetensors for prompts and adapters, encoder.json + encoder.safetensors for a
// prompt encoder (PEFT has no such type).
export function tunedFiles(a: TunedArtifact): Record<string, Uint8Array | string> {
  if (a.kind === 'encoder') {
    const { config, weights } = encodePromptEncoder(a);
    return { [ENCODER_WEIGHTS_FILE]: weights, [ENCODER_CONFIG_FILE]: JSON.stringify(config, null, 2) + '\n' };
  }
  const { config, weights } = a.kind === 'lora' || a.kind === 'ia3' ? encodeLinearPeft(a) : encodePeft(a);
  return { [WEIGHTS_FILE]: weights, [CONFIG_FILE]: JSON.stringify(config, null, 2) + '\n' };
}

// Node: writes the artifact's files into `dir` (created if needed) through temp files and renames.
export async function saveTuned(dir: string, a: TunedArtifact): Promise<void> {
  const { fs, path } = await nodeFs();
  await fs.mkdir(dir, { recursive: true });
  // every temp file first, then the renames: a crash leaves whole files, never a torn one
  const files = Object.entries(tunedFiles(a));
  const tag = `.tmp-${typeof process !== 'undefined' ? process.pid : 0}-${Date.now()}`;
  try {
    for (const [f, b] of files) await fs.writeFile(path.join(dir, f + tag), b);
    for (const [f] of files) await fs.rename(path.join(dir, f + tag), path.join(dir, f));
  } finally {
    for (const [f] of files) await fs.rm(path.join(dir, f + tag), { force: true });
  }
}

// PEFT's two files of a prompt or an adapter (see saveTuned).
export async function savePeft(dir: string, a: SoftArtifact | LinearArtifact): Promise<void> {
  return saveTuned(dir, a);
}

export async function loadPeft(dir: string, model: ModelRef): Promise<SoftArtifact> {
  const read = await adapterFileReader(dir);
  const cfg = await read(CONFIG_FILE);
  const w = await read(WEIGHTS_FILE);
  return decodePeft(cfg.toString('utf8'), new Uint8Array(w.buffer, w.byteOffset, w.byteLength), model, dir);
}

// For `score` / `generate --adapter DIR`: the saved prompt as the model's Conditioning; a
// multitask prompt serves the task `taskId` names; a prompt encoder (encoder.json) encodes
// `description`, or training task `taskId`'s description, into the prompt (one forward pass).
export async function loadAdapter(dir: string, model: ModelRef, o: { taskId?: number; description?: TaskDescription } = {}): Promise<Conditioning> {
  const { fs, path } = await nodeFs();
  if (await isEncoderDir(dir)) {
    const m = requireModel(model, `${dir} (prompt encoder)`);
    const enc = await loadPromptEncoder(dir, model);
    return toConditioning(encodeTask(m, enc, encoderTask(enc, o, dir)));
  }
  if (o.description !== undefined) throw new PromptkilnError('ADAPTER', `a task description was given, but ${dir} is not a prompt encoder (no ${ENCODER_CONFIG_FILE})`);
  let type: unknown;
  try {
    type = JSON.parse(await fs.readFile(path.join(dir, CONFIG_FILE), 'utf8')).peft_type;
  } catch {
    type = null; // loadPeft reports the unreadable or invalid file
  }
  if (isLinearPeftType(type)) {
    if (o.taskId !== undefined) throw new PromptkilnError('ADAPTER', `task id ${o.taskId} given, but ${dir} is a ${type} adapter (only multitask prompts have tasks)`, { taskId: o.taskId });
    return linearConditioning(requireModel(model, `${dir} (${type})`), await loadLinearPeft(dir, model));
  }
  return toConditioning(await loadPeft(dir, model), { taskId: o.taskId });
}
