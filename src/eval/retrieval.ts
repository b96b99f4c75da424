// Per-input demonstrations by retrieval: cosine similarity over embeddings, the k nearest pool
// examples, and their program.json form (the pool's examples with their vectors), so a loaded
// program retrieves exactly as search scored it. No Node APIs.
import { PromptkilnError } from '../errors.js';
import type { LanguageModel } from '../llm/types.js';
import { formatValue, type Signature, type Values } from './fields.js';

export function cosine(a: number[], b: number[]): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) (ab += a[i] * b[i]), (aa += a[i] * a[i]), (bb += b[i] * b[i]);
  return aa && bb ? ab / Math.sqrt(aa * bb) : 0;
}

// Indices of the k vectors nearest to q, the nearest LAST (it sits next to the input); ties keep
// pool order; `skip` leaves one index out (an example never retrieves itself).
export function nearestIndices(pool: number[][], q: number[], k: number, skip = -1): number[] {
  return pool
    .map((v, i) => ({ i, s: cosine(q, v) }))
    .filter((x) => x.i !== skip)
    .sort((a, b) => b.s - a.s || a.i - b.i)
    .slice(0, k)
    .reverse()
    .map((x) => x.i);
}

// The text an input is embedded from: a plain task's input; a typed task's "name: value" lines
// (the same text Example.input holds, task.ts).
export function queryText(sig: Signature | null, inputs: Values): string {
  return sig ? sig.inputs.map((d) => `${d.name}: ${formatValue(d, inputs[d.name])}`).join('\n') : String(inputs.input);
}

export interface RetrievalJson {
  k: number;
  embedder: string; // the embedding model's id: queries must be embedded by the same model
  pool: { inputs: Values; outputs: Values; embedding: number[] }[];
}

export function checkRetrieval(v: unknown, fail: (path: string, expected: string, found: unknown) => never): RetrievalJson {
  const r = v as RetrievalJson;
  if (typeof r !== 'object' || r === null) fail('retrieval', 'an object {"k", "embedder", "pool"}', v);
  if (!Number.isInteger(r.k) || r.k < 1) fail('retrieval.k', 'an integer ≥ 1', r.k);
  if (typeof r.embedder !== 'string') fail('retrieval.embedder', 'the embedding model id', r.embedder);
  if (!Array.isArray(r.pool) || r.pool.length === 0) fail('retrieval.pool', 'a non-empty array of {"inputs", "outputs", "embedding"}', r.pool);
  const dim = r.pool[0]?.embedding?.length;
  r.pool.forEach((p, i) => {
    if (!Array.isArray(p?.embedding) || p.embedding.length !== dim || p.embedding.some((x) => typeof x !== 'number')) fail(`retrieval.pool[${i}].embedding`, `${dim} numbers`, p?.embedding);
  });
  return r;
}

// The pool indices an input retrieves, its query embedded by `embedder` (the one search used).
export async function retrieve(r: RetrievalJson, embedder: LanguageModel, text: string, signal?: AbortSignal): Promise<number[]> {
  if (embedder.id !== r.embedder) throw new PromptkilnError('ARGUMENT', `this program's demonstrations were retrieved with embeddings of ${r.embedder}; embedding the input with ${embedder.id} would compare unrelated vectors (pass that model as the embedder)`);
  if (!embedder.embed) throw new PromptkilnError('ARGUMENT', `model ${embedder.id} has no embed(): it cannot embed the input for retrieval`);
  const { vectors } = await embedder.embed([text], { signal });
  return nearestIndices(r.pool.map((p) => p.embedding), vectors[0], r.k);
}
