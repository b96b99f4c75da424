// Which linear modules a family has (PEFT's names and paths), where each sits among the transformer's
// projection sites, and the per-adapter scratch buffers LoRA and IA3 share.
import type { Kernels, Tensor } from '../kernels/index.js';
import type { ProjSite } from '../model/adapter-hook.js';
import type { ModelConfig } from '../model/index.js';
import type { ModelRef } from './identity.js';
import { adapterError } from './adapter-files.js';

// One linear module of a layer as PEFT targets it. A fused module (Phi-3 qkv_proj / gate_up_proj,
// GPT-2 c_attn) writes several of its site's outputs: its rows are `parts` in order, so PEFT's one
// lora_B (out, r) or ia3_l vector is split row-wise over them and its lora_A is shared.
export interface ModuleSpec {
  name: string; // PEFT's target_modules name: 'q_proj', 'c_attn'
  path: string; // under the layer: 'self_attn.q_proj'
  site: ProjSite;
  parts: { out: number; n: number }[]; // site output index and its rows, in the module's row order
  inDim: number;
  outDim: number;
  conv1d: boolean; // GPT-2 Conv1D: the base weight is stored (in, out)
}

export function layerModules(c: ModelConfig): ModuleSpec[] {
  const C = c.dim, qd = c.nHeads * c.headDim, kvd = c.nKvHeads * c.headDim, F = c.hiddenDim;
  const m = (name: string, path: string, site: ProjSite, parts: [number, number][], inDim: number, conv1d = false): ModuleSpec => ({
    name, path, site, parts: parts.map(([out, n]) => ({ out, n })), inDim, outDim: parts.reduce((a, p) => a + p[1], 0), conv1d,
  });
  if (c.arch === 'gpt2') {
    return [
      m('c_attn', 'attn.c_attn', 'qkv', [[0, qd], [1, kvd], [2, kvd]], C, true),
      m('c_proj', 'attn.c_proj', 'o', [[0, C]], qd, true),
      m('c_fc', 'mlp.c_fc', 'up', [[0, F]], C, true),
      m('c_proj', 'mlp.c_proj', 'down', [[0, C]], F, true),
    ];
  }
  const attn = c.family === 'phi3'
    ? [m('qkv_proj', 'self_attn.qkv_proj', 'qkv', [[0, qd], [1, kvd], [2, kvd]], C)]
    : [m('q_proj', 'self_attn.q_proj', 'qkv', [[0, qd]], C), m('k_proj', 'self_attn.k_proj', 'qkv', [[1, kvd]], C),
      m('v_proj', 'self_attn.v_proj', 'qkv', [[2, kvd]], C)];
  const up = c.family === 'phi3'
    ? [m('gate_up_proj', 'mlp.gate_up_proj', 'up', [[0, F], [1, F]], C)]
    : [m('gate_proj', 'mlp.gate_proj', 'up', [[0, F]], C), m('up_proj', 'mlp.up_proj', 'up', [[1, F]], C)];
  return [...attn, m('o_proj', 'self_attn.o_proj', 'o', [[0, C]], qd), ...up, m('down_proj', 'mlp.down_proj', 'down', [[0, C]], F)];
}

// The module path of layer l as transformers names it (PEFT's keys add "base_model.model.").
export function layerPath(c: ModelConfig, l: number): string {
  return c.arch === 'gpt2' ? `transformer.h.${l}.` : `model.layers.${l}.`;
}

// One targeted module instance: layer, spec, full name ("model.layers.0.self_attn.q_proj").
export interface Targeted { l: number; spec: ModuleSpec; name: string }

// PEFT's target_modules: a list of names (a module matches when its name is one, as PEFT's suffix
// match does for these models), the string "all-linear" (every projection, not the LM head), or
// any other string as a regular expression the full module name must match. A listed name no
// module has is refused, as is a pattern matching nothing.
export function resolveTargets(model: ModelRef, targets: unknown, where: string, field = 'target_modules'): Targeted[] {
  const c = model.config;
  const mods = layerModules(c);
  const all: Targeted[] = [];
  for (let l = 0; l < c.nLayers; l++) for (const spec of mods) all.push({ l, spec, name: layerPath(c, l) + spec.path });
  if (targets === 'all-linear') return all;
  if (typeof targets === 'string') {
    const re = new RegExp(`^(?:${targets})$`);
    const hit = all.filter((t) => re.test(t.name));
    if (!hit.length) throw adapterError(where, `${field} ${JSON.stringify(targets)} matches no module of ${model.id} (modules: ${names(mods)})`, { field });
    return hit;
  }
  if (!Array.isArray(targets) || !targets.length || targets.some((t) => typeof t !== 'string')) {
    throw adapterError(where, `${field}: expected a non-empty list of module names or a string, found ${JSON.stringify(targets)}`, { field });
  }
  const missing = (targets as string[]).filter((t) => !mods.some((m) => m.name === t || m.path === t));
  if (missing.length) {
    throw adapterError(where, `${field}: ${missing.map((t) => JSON.stringify(t)).join(', ')} not in ${model.id} (a ${c.family ?? c.arch} layer has ${names(mods)})`, { field, modules: missing });
  }
  return all.filter((t) => (targets as string[]).some((n) => n === t.spec.name || n === t.spec.path));
}

function names(mods: ModuleSpec[]): string {
  return [...new Set(mods.map((m) => m.name))].join(', ');
}


// Grow-and-reuse WASM buffers keyed by name (long-lived: a scoring pass's heap scope must not free
// them); a view of exactly n elements.
export class AdapterBuffers {
  private readonly store = new Map<string, Tensor>();
  constructor(private readonly k: Kernels, private readonly owner: string) {}
  get(key: string, n: number): Tensor {
    let t = this.store.get(key);
    if (!t || t.n < n) {
      t?.free();
      t = this.k.alloc(Math.max(n, 1), `${this.owner} ${key}`, false);
      this.store.set(key, t);
    }
    return t.n === n ? t : t.at(0, n);
  }
  free(): void {
    for (const t of this.store.values()) t.free();
    this.store.clear();
  }
}

// PEFT's per-architecture default target_modules (TRANSFORMERS_MODELS_TO_{LORA,IA3}_…_MAPPING),
// used when none are given: LoRA on the query and value projections, IA3 on keys, values and the
// MLP's down projection (input-scaled).
export function defaultTargets(c: ModelConfig, kind: 'lora' | 'ia3'): { targetModules: string[]; feedforwardModules: string[] } {
  if (c.arch === 'gpt2') return kind === 'lora' ? { targetModules: ['c_attn'], feedforwardModules: [] } : { targetModules: ['c_attn', 'mlp.c_proj'], feedforwardModules: ['mlp.c_proj'] };
  if (c.family === 'phi3') return kind === 'lora' ? { targetModules: ['qkv_proj'], feedforwardModules: [] } : { targetModules: ['qkv_proj', 'down_proj'], feedforwardModules: ['down_proj'] };
  return kind === 'lora' ? { targetModules: ['q_proj', 'v_proj'], feedforwardModules: [] } : { targetModules: ['k_proj', 'v_proj', 'down_proj'], feedforwardModules: ['down_proj'] };
}
