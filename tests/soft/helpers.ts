// Shared by the soft-prompt tests: the real models, the reference files, comparisons.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { loadModel, type Model } from '../../src/model/index.js';
import { MODELS_DIR, REFS_DIR } from '../helpers/paths.js';

export const MODELS = ['stories260K', 'gpt2-tiny-random'] as const;
export type ModelName = (typeof MODELS)[number];

const cache = new Map<string, Promise<Model>>();
export function model(name: ModelName): Promise<Model> {
  if (!cache.has(name)) cache.set(name, loadModel(path.join(MODELS_DIR, name)));
  return cache.get(name)!;
}

export interface RefTensor { shape: number[]; data: number[] }
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function ref(name: ModelName, fixture: 'prompt_tuning' | 'prefix_tuning'): any {
  return JSON.parse(readFileSync(path.join(REFS_DIR, name, `${fixture}.json`), 'utf8')).cases[0];
}

// refs prefix [L, 2, Hkv, P, hd] → per layer (P, Hkv, hd)
export function prefixFromRef(t: RefTensor): { k: Float32Array[]; v: Float32Array[] } {
  const [L, , Hkv, P, hd] = t.shape;
  const k: Float32Array[] = [], v: Float32Array[] = [];
  for (let l = 0; l < L; l++) {
    const kk = new Float32Array(P * Hkv * hd), vv = new Float32Array(P * Hkv * hd);
    for (let h = 0; h < Hkv; h++) for (let p = 0; p < P; p++) for (let e = 0; e < hd; e++) {
      kk[(p * Hkv + h) * hd + e] = t.data[(((l * 2) * Hkv + h) * P + p) * hd + e];
      vv[(p * Hkv + h) * hd + e] = t.data[(((l * 2 + 1) * Hkv + h) * P + p) * hd + e];
    }
    k.push(kk);
    v.push(vv);
  }
  return { k, v };
}

// element-wise |a − b| ≤ abs + rel·|b|
export function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, abs: number, rel = 0, what = 'values'): void {
  expect(a.length, `${what}: length`).toBe(b.length);
  let worst = -Infinity, at = -1;
  for (let i = 0; i < a.length; i++) {
    const excess = Math.abs(a[i] - b[i]) - (abs + rel * Math.abs(b[i]));
    if (!(excess <= worst)) { worst = excess; at = i; }
  }
  expect(worst, `${what}: worst element ${at}: ${a[at]} vs ${b[at]}`).toBeLessThanOrEqual(0);
}
