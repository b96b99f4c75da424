// Who a trained thing belongs to: the model identity every artifact records (one shape, written
// by soft/ and compress/ alike), and the run identity a checkpoint must match to be resumed.
import { PromptkilnError } from '../errors.js';
import type { ModelConfig } from '../model/types.js';

// What an artifact needs to know about a model (a loaded Model, or a backend's model info).
export interface ModelRef {
  readonly config: ModelConfig;
  readonly id: string;
}

export type KeyLayout = 'interleaved' | 'rotate_half' | 'none';

// snake_case: it is written as-is into PEFT's adapter_config.json and our own JSON files.
export interface ModelIdentity {
  id: string;
  arch: string;
  dim: number;
  n_layers: number;
  n_heads: number;
  n_kv_heads: number;
  head_dim: number;
  vocab_size: number;
  // head layout of keys inside this model: llama2.c interleaved RoPE pairs, HF rotate-half, or no RoPE
  key_layout: KeyLayout;
}

export function keyLayout(model: ModelRef): KeyLayout {
  const c = model.config;
  if (c.arch !== 'llama') return 'none';
  return c.ropeMode === 'interleaved' ? 'interleaved' : 'rotate_half';
}

export function modelIdentity(model: ModelRef): ModelIdentity {
  const c = model.config;
  return {
    id: model.id, arch: c.arch, dim: c.dim, n_layers: c.nLayers, n_heads: c.nHeads, n_kv_heads: c.nKvHeads,
    head_dim: c.headDim, vocab_size: c.vocabSize, key_layout: keyLayout(model),
  };
}

// Files written before the identity was merged spelled a few fields in camelCase.
export function readModelIdentity(x: Record<string, unknown>): Partial<ModelIdentity> {
  const pick = (a: string, b: string) => (x[a] ?? x[b]) as never;
  return {
    id: x.id as string, arch: x.arch as string, dim: x.dim as number, n_layers: pick('n_layers', 'nLayers'),
    n_heads: pick('n_heads', 'nHeads'), n_kv_heads: pick('n_kv_heads', 'nKvHeads'), head_dim: pick('head_dim', 'headDim'),
    vocab_size: pick('vocab_size', 'vocabSize'), key_layout: pick('key_layout', 'keyLayout'),
  };
}

// Refuses an artifact made for another model, naming every field that differs (file vs model).
export function checkModelIdentity(file: Partial<ModelIdentity>, model: ModelRef, what: string): void {
  const want = modelIdentity(model);
  const names: [keyof ModelIdentity, string][] = [
    ['arch', 'architecture'], ['dim', 'hidden size'], ['vocab_size', 'vocabulary'], ['n_layers', 'layers'],
    ['n_heads', 'heads'], ['n_kv_heads', 'kv heads'], ['head_dim', 'head size'],
  ];
  const diffs = names.filter(([f]) => file[f] !== undefined && file[f] !== want[f]).map(([f, n]) => `${n} ${file[f]} vs ${want[f]}`);
  if (diffs.length) {
    throw new PromptkilnError('ADAPTER', `${what} was made for model ${file.id}, not ${model.id}: ${diffs.join(', ')} (file vs model)`);
  }
}

// FNV-1a over a stream of 32-bit values: the data's fingerprint (token ids, text char codes, floats).
export class Fnv {
  private h = 0x811c9dc5;
  int(x: number): this {
    for (let s = 0; s < 32; s += 8) this.h = Math.imul(this.h ^ ((x >>> s) & 0xff), 0x01000193);
    return this;
  }
  text(s: string): this {
    this.int(s.length);
    for (let i = 0; i < s.length; i++) this.int(s.charCodeAt(i));
    return this;
  }
  ids(a: ArrayLike<number>): this {
    this.int(a.length);
    for (let i = 0; i < a.length; i++) this.int(a[i]);
    return this;
  }
  floats(a: Float32Array): this {
    return this.ids(new Int32Array(a.buffer, a.byteOffset, a.length));
  }
  // any JSON value (strings, numbers, arrays, plain objects in key order)
  value(x: unknown): this {
    if (typeof x === 'string') return this.int(1).text(x);
    if (Array.isArray(x)) {
      this.int(2).int(x.length);
      for (const v of x) this.value(v);
      return this;
    }
    if (x instanceof Float32Array) return this.int(3).floats(x);
    if (x && typeof x === 'object') {
      const keys = Object.keys(x).sort();
      this.int(4).int(keys.length);
      for (const key of keys) this.text(key).value((x as Record<string, unknown>)[key]);
      return this;
    }
    return this.int(5).text(String(x));
  }
  hex(): string {
    return (this.h >>> 0).toString(16).padStart(8, '0');
  }
}

// What a checkpoint must agree with to be resumed: every setting that changes the math (the loop's
// own and the method's), the data, and the model. Stored readable, so a refusal names what differs.
export interface RunIdentity {
  model: ModelIdentity | null; // null: the trained thing reads no model (a policy over given features)
  settings: Record<string, unknown>;
  data: string; // Fnv hex of the training (and validation) data
}

export function checkRunIdentity(saved: RunIdentity, now: RunIdentity, file: string): void {
  const diffs: string[] = [];
  const show = (v: unknown) => (v === undefined ? 'unset' : JSON.stringify(v));
  const keys = new Set([...Object.keys(saved.settings ?? {}), ...Object.keys(now.settings)]);
  for (const key of keys) {
    const a = show(saved.settings?.[key]), b = show(now.settings[key]);
    if (a !== b) diffs.push(`${key} ${a} vs ${b}`);
  }
  if (saved.data !== now.data) diffs.push(`data ${saved.data} vs ${now.data}`);
  const ma = JSON.stringify(saved.model), mb = JSON.stringify(now.model);
  if (ma !== mb) diffs.push(`model ${ma} vs ${mb}`);
  if (diffs.length) {
    throw new PromptkilnError('DATA', `${file}: the checkpoint was made with other settings, data or model (checkpoint vs this run: ${diffs.join('; ')}); start without resume`);
  }
}
