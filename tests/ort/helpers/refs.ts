// Reading ../shared/refs fixtures and building graph inputs for one unpadded sequence.
import fs from 'node:fs';
import path from 'node:path';
import { REFS_DIR } from '../../helpers/paths.js';

export interface RefTensor { dtype: string; shape: number[]; data: number[] }
export interface ForwardCase {
  name: string;
  tokens: number[];
  logits: RefTensor;
  next_token_logprobs: RefTensor;
  sum_logprob: number;
}

export function forwardCases(model: 'stories260K' | 'gpt2-tiny-random'): ForwardCase[] {
  return JSON.parse(fs.readFileSync(path.join(REFS_DIR, model, 'forward.json'), 'utf8')).cases;
}

export function readRef(model: string, file: string): any {
  return JSON.parse(fs.readFileSync(path.join(REFS_DIR, model, file), 'utf8'));
}

export { maxAbsDiff } from '../../helpers/max-abs-diff.js';

// Embedding rows for token ids: (T, C)
export function embed(tok: Float32Array, C: number, ids: readonly number[]): Float32Array {
  const out = new Float32Array(ids.length * C);
  ids.forEach((id, t) => out.set(tok.subarray(id * C, (id + 1) * C), t * C));
  return out;
}
