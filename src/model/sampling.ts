// Seeded sampling from a logits row. Same seed, same logits → same token on every host.

// mulberry32: tiny, fast, and identical in every JS engine (pure 32-bit integer math). The one
// source of seeded randomness: eval/rng.ts builds its Rng on it.
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SampleOptions {
  temperature?: number; // 0 = greedy
  topK?: number; // 0 = off
  topP?: number; // 1 = off
}

export function argmaxOf(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

// logits (V) → token id
export function sample(logits: Float32Array, o: SampleOptions, rand: () => number): number {
  const temp = o.temperature ?? 0;
  if (!(temp > 0)) return argmaxOf(logits);
  const V = logits.length;
  let idx = Array.from({ length: V }, (_, i) => i);
  const topK = o.topK && o.topK > 0 ? Math.min(o.topK, V) : V;
  const topP = o.topP !== undefined && o.topP < 1 ? o.topP : 1;
  if (topK < V || topP < 1) {
    idx.sort((a, b) => logits[b] - logits[a] || a - b);
    idx = idx.slice(0, topK);
  }
  let mx = -Infinity;
  for (const i of idx) mx = Math.max(mx, logits[i]);
  const p = idx.map((i) => Math.exp((logits[i] - mx) / temp));
  let z = p.reduce((a, b) => a + b, 0);
  if (topP < 1) {
    // smallest prefix of the sorted tokens whose mass reaches topP
    let acc = 0, cut = p.length;
    for (let j = 0; j < p.length; j++) {
      acc += p[j] / z;
      if (acc >= topP) { cut = j + 1; break; }
    }
    p.length = cut;
    idx.length = cut;
    z = p.reduce((a, b) => a + b, 0);
  }
  let r = rand() * z;
  for (let j = 0; j < p.length; j++) {
    r -= p[j];
    if (r <= 0) return idx[j];
  }
  return idx[p.length - 1];
}
