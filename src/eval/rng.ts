// Seeded randomness: every random choice in eval/search goes through one of these, so a run is
// reproducible from its seed (and replayable against the cache on resume).
import { rng as mulberry32 } from '../model/sampling.js';

export interface Rng {
  next(): number; // [0, 1)
  int(n: number): number; // [0, n)
  pick<T>(xs: readonly T[]): T;
  shuffle<T>(xs: readonly T[]): T[]; // returns a copy
  fork(salt: number | string): Rng; // independent stream derived from this seed
  readonly seed: number;
}

function hashString(s: string): number {
  let h = 2166136261 >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h;
}

export function rng(seed: number): Rng {
  const next = mulberry32(seed);
  const r: Rng = {
    seed,
    next,
    int: (n) => Math.floor(next() * n),
    pick: (xs) => xs[Math.floor(next() * xs.length)],
    shuffle: (xs) => {
      const out = xs.slice();
      for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [out[i], out[j]] = [out[j], out[i]];
      }
      return out;
    },
    fork: (salt) => rng((hashString(`${seed}:${salt}`) ^ Math.imul(seed, 2654435761)) >>> 0),
  };
  return r;
}
