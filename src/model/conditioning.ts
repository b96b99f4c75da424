// What conditions a frozen model beyond its text prompt, and the checks both scoring backends (the
// WASM Model and ort/) apply to it before placing its rows and prefixes.
import { PromptkilnError } from '../errors.js';
import type { LinearAdapter } from './adapter-hook.js';
import type { ModelConfig } from './types.js';

// A trained soft prompt, prefix, or a compressed context. Built by soft/ and compress/ (which sit
// above model/); the model only places the rows and prefixes where the convention says.
export interface Conditioning {
  id: string; // identity for caches
  // (rows, C) soft rows placed before the prompt (PEFT prompt tuning: before BOS)
  soft?: { rows: number; data: Float32Array } | null;
  // drop the prompt's BOS: the soft rows replace the whole context (compression)
  dropBos?: boolean;
  // per-layer prefix K/V, (P, Hkv, hd) each, used as given (no RoPE)
  prefix?: { P: number; k: Float32Array[]; v: Float32Array[] } | null;
  // position of the first row (PEFT prefix tuning: P)
  posOffset?: number;
  // LoRA / IA3 applied around the projections, unmerged (WASM backend only: ort/ refuses it)
  linear?: LinearAdapter | null;
}

export type SoftRows = NonNullable<Conditioning['soft']>;
export type PrefixKV = NonNullable<Conditioning['prefix']>;

// The soft rows to place, or null; ADAPTER error when their size does not match the model.
export function checkSoft(cond: Conditioning | null | undefined, c: ModelConfig): SoftRows | null {
  const s = cond?.soft;
  if (!s || s.rows === 0) return null;
  if (s.data.length !== s.rows * c.dim) throw new PromptkilnError('ADAPTER', `soft prompt has ${s.data.length} values, expected ${s.rows} × ${c.dim}`);
  return s;
}

// The prefix K/V to attend, or null; ADAPTER error naming the layer whose size does not match.
export function checkPrefix(cond: Conditioning | null | undefined, c: ModelConfig, model: string): PrefixKV | null {
  const p = cond?.prefix;
  if (!p || p.P === 0) return null;
  const n = p.P * c.nKvHeads * c.headDim;
  if (p.k.length !== c.nLayers || p.v.length !== c.nLayers) {
    throw new PromptkilnError('ADAPTER', `prefix has ${p.k.length} layers, model ${model} has ${c.nLayers}`);
  }
  for (let l = 0; l < c.nLayers; l++) {
    if (p.k[l].length !== n || p.v[l].length !== n) {
      throw new PromptkilnError('ADAPTER', `prefix layer ${l}: ${p.k[l].length} values, expected P·kv_heads·head_dim = ${n}`);
    }
  }
  return p;
}

// The prompt's ids under the conditioning: without BOS when the soft rows replace the whole context.
export function conditionedIds(cond: Conditioning | null | undefined, ids: readonly number[], bosId: number | null): readonly number[] {
  return cond?.dropBos && ids.length && ids[0] === bosId ? ids.slice(1) : ids;
}

// Greedy batches of sequences (in order) whose padded size B·max(T) stays within maxRows; a
// sequence longer than maxRows gets a batch of its own. Lengths of 0 count as one row (the batch
// layout needs one).
export function rowBatches(lengths: readonly number[], maxRows: number): { items: number[]; T: number }[] {
  const out: { items: number[]; T: number }[] = [];
  let cur: { items: number[]; T: number } | null = null;
  lengths.forEach((len, i) => {
    const T = Math.max(cur?.T ?? 0, len, 1);
    if (!cur || T * (cur.items.length + 1) > maxRows) {
      cur = { items: [i], T: Math.max(len, 1) };
      out.push(cur);
    } else {
      cur.items.push(i);
      cur.T = T;
    }
  });
  return out;
}
