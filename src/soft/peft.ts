import { PromptkilnError, isPromptkilnError } from '../errors.js';
import type { Conditioning } from '../model/index.js';
import { parseSafetensors, writeSafetensors } from '../model/safetensors.js';
import { nodeFs } from '../util/files.js';
import { toConditioning } from './conditioning.js';
import { keyLayout, modelIdentity, type ModelRef } from './identity.js';
import { checkTemplate, softRows } from './mixed.js';
import { CONVENTIONS, type KeyLayout, type ModelIdentity, type PrefixArtifact, type SoftArtifact, type SoftPromptArtifact, type TemplatePart } from './types.js';

// Hugging Face PEFT files, both directions: adapter_config.json + adapter_model.safetensors
// (metadata {"format": "pt"}, one tensor `prompt_embeddings`).
//
// PROMPT_TUNING: prompt_embeddings [N, hidden]; the rows go before BOS (PEFT prepends them to
// inputs_embeds, and HF tokenizers put BOS first in input_ids).
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

function adapterError(where: string, msg: string, details?: Record<string, unknown>): PromptkilnError {
  return new PromptkilnError('ADAPTER', `${where}: ${msg}`, details);
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
  if (type !== 'PROMPT_TUNING' && type !== 'PREFIX_TUNING') {
    throw adapterError(cfgWhere, `peft_type ${JSON.stringify(type)} is not supported (expected PROMPT_TUNING or PREFIX_TUNING)`, { field: 'peft_type' });
  }
  if (cfg.task_type !== undefined && cfg.task_type !== null && cfg.task_type !== 'CAUSAL_LM') {
    throw adapterError(cfgWhere, `task_type ${JSON.stringify(cfg.task_type)} is not supported (expected CAUSAL_LM)`, { field: 'task_type' });
  }
  const subs = cfg.num_transformer_submodules ?? 1;
  if (subs !== 1) throw adapterError(cfgWhere, `num_transformer_submodules: expected 1 (decoder-only), found ${JSON.stringify(subs)}`, { field: 'num_transformer_submodules' });
  const pk = (cfg.promptkiln ?? null) as null | { convention?: string; key_head_layout?: KeyLayout; template?: TemplatePart[]; model?: Partial<ModelIdentity>; position_offset?: number };
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
  let file;
  try {
    file = parseSafetensors(weights, wWhere);
  } catch (e) {
    if (isPromptkilnError(e)) throw adapterError(wWhere, e.message);
    throw e;
  }
  const t = file.tensors.get('prompt_embeddings');
  if (!t) throw adapterError(wWhere, `no tensor "prompt_embeddings" (found ${[...file.tensors.keys()].join(', ') || 'none'})`);
  if (t.shape.length !== 2) throw adapterError(wWhere, `prompt_embeddings: expected 2 dimensions, found shape [${t.shape.join(', ')}]`);
  expectDim(wWhere, 'prompt_embeddings dim 0 (num_virtual_tokens)', N, t.shape[0], 'num_virtual_tokens in adapter_config.json');
  const template = pk?.template;
  if (template) checkTemplate(template, `${cfgWhere}: promptkiln.template`);
  const initType = (cfg.prompt_tuning_init as SoftPromptArtifact['init']['type']) ?? 'RANDOM';
  const init = { type: initType, text: (cfg.prompt_tuning_init_text as string | null) ?? null };

  if (type === 'PROMPT_TUNING') {
    if (pk?.convention && pk.convention !== CONVENTIONS.prompt) {
      throw adapterError(cfgWhere, `promptkiln.convention "${pk.convention}" is not supported for prompt tuning (expected ${CONVENTIONS.prompt})`);
    }
    expectDim(cfgWhere, 'token_dim', c.dim, tokenDim, `hidden size of ${model.id}`);
    expectDim(wWhere, 'prompt_embeddings dim 1 (hidden)', c.dim, t.shape[1], `hidden size of ${model.id}`);
    const tpl = template ?? [{ soft: N }, { input: true }];
    expectDim(cfgWhere, 'soft rows of promptkiln.template', N, softRows(tpl), 'num_virtual_tokens');
    return { kind: 'prompt', rows: N, data: t.data.slice(), template: tpl, init, model: here };
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

// Node: writes both files into `dir` (created if needed) through temp files and renames.
export async function savePeft(dir: string, a: SoftArtifact): Promise<void> {
  const { fs, path } = await nodeFs();
  const { config, weights } = encodePeft(a);
  await fs.mkdir(dir, { recursive: true });
  // both temp files first, then the renames: a crash leaves whole files, never a torn one
  const files: [string, Uint8Array | string][] = [[WEIGHTS_FILE, weights], [CONFIG_FILE, JSON.stringify(config, null, 2) + '\n']];
  const tag = `.tmp-${typeof process !== 'undefined' ? process.pid : 0}-${Date.now()}`;
  try {
    for (const [f, b] of files) await fs.writeFile(path.join(dir, f + tag), b);
    for (const [f] of files) await fs.rename(path.join(dir, f + tag), path.join(dir, f));
  } finally {
    for (const [f] of files) await fs.rm(path.join(dir, f + tag), { force: true });
  }
}

export async function loadPeft(dir: string, model: ModelRef): Promise<SoftArtifact> {
  const { fs, path } = await nodeFs();
  const read = async (f: string) => {
    try {
      return await fs.readFile(path.join(dir, f));
    } catch (e) {
      throw new PromptkilnError('ADAPTER', `${path.join(dir, f)}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  };
  const cfg = await read(CONFIG_FILE);
  const w = await read(WEIGHTS_FILE);
  return decodePeft(cfg.toString('utf8'), new Uint8Array(w.buffer, w.byteOffset, w.byteLength), model, dir);
}

// For `score` / `generate --adapter DIR`: the saved prompt as the model's Conditioning.
export async function loadAdapter(dir: string, model: ModelRef): Promise<Conditioning> {
  return toConditioning(await loadPeft(dir, model));
}
