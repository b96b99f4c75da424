// Shared by the kernel tests: the three single-thread builds, one Kernels instance per build,
// and a closeness check whose failure message says where and by how much.
import { expect } from 'vitest';
import { init, type Kernels } from '../../src/kernels/index.js';
import type { Arr } from './reference.js';

export const BUILDS = ['portable', 'simd', 'relaxed'] as const;
export type Build = (typeof BUILDS)[number];

// Sizes that are not multiples of the SIMD width (4) or of any unroll factor (8, 16), plus a few that are.
export const ODD_SIZES = [1, 3, 5, 7, 13, 17, 33, 100];

const cache = new Map<Build, Promise<Kernels>>();
export function kernels(build: Build): Promise<Kernels> {
  let p = cache.get(build);
  if (!p) cache.set(build, (p = init({ build })));
  return p;
}

// |actual − expected| ≤ abs + rel·|expected| element-wise (NaN never passes)
export function expectClose(actual: Arr, expected: Arr, tol: { abs: number; rel?: number }, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const rel = tol.rel ?? 0;
  let worst = -1, worstRatio = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (a === e) continue; // covers matching infinities
    const ratio = Math.abs(a - e) / (tol.abs + rel * Math.abs(e));
    if (!(ratio <= worstRatio)) { worstRatio = Number.isNaN(ratio) ? Infinity : ratio; worst = i; }
  }
  if (worstRatio > 1) {
    throw new Error(`${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} ` +
      `(|diff| ${Math.abs(actual[worst] - expected[worst]).toExponential(2)} > abs ${tol.abs} + rel ${rel})`);
  }
}

export const f64 = (x: Arr) => Float64Array.from(x);

// A cleared tensor: alloc() may hand back memory a previous scope used, and backward kernels accumulate
export function zeros(k: Kernels, n: number) {
  const t = k.alloc(n);
  k.zero(t);
  return t;
}
