// Greedy continuation by full recompute, no KV cache: the oracle for conditioned generation.
import type { Model, Segment } from '../../src/model/index.js';

// Every oracle step's top-1 logit must beat the runner-up by this much, far above the float32
// noise between a KV-cached and a recomputed forward (logits agree to ~1e-5, refs README): an
// equality of token lists is then a property of the code, not of rounding luck.
export const MIN_MARGIN = 1e-3;

export interface OracleOptions {
  prefix?: { P: number; k: Float32Array[]; v: Float32Array[] }; // per layer (P, Hkv, hd)
  posOffset?: number; // position of the first row
}

// `layout(ids)` is the whole input for the ids so far; each step runs it from scratch and takes
// the argmax of the last row. Returns the tokens and the smallest top-1 minus top-2 logit margin.
export async function greedyOracle(m: Model, steps: number, ids: readonly number[], layout: (ids: number[]) => Segment[], o: OracleOptions = {}): Promise<{ tokens: number[]; margin: number }> {
  const k = m.kernels, V = m.config.vocabSize;
  const mark = k.heap.mark();
  try {
    const prefix = o.prefix ? { P: o.prefix.P, k: o.prefix.k.map((x) => k.from(x)), v: o.prefix.v.map((x) => k.from(x)) } : null;
    const seq = [...ids], out: number[] = [];
    let margin = Infinity;
    for (let n = 0; n < steps; n++) {
      const segs = layout(seq);
      const T = segs.reduce((a, s) => a + ('ids' in s ? s.ids.length : s.rows), 0);
      const r = await m.forward({ sequences: [segs], prefix, posOffset: o.posOffset ?? 0 });
      const row = r.logits!.subarray((T - 1) * V, T * V);
      let best = 0;
      for (let i = 1; i < V; i++) if (row[i] > row[best]) best = i;
      let second = -Infinity;
      for (let i = 0; i < V; i++) if (i !== best) second = Math.max(second, row[i]);
      margin = Math.min(margin, row[best] - second);
      out.push(best);
      seq.push(best);
    }
    return { tokens: out, margin };
  } finally {
    k.heap.reset(mark);
  }
}
