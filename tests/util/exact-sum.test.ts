// ExactSum: the same total in every order, equal to the exact sum rounded once (BigInt reference).
import { describe, expect, it } from 'vitest';
import { rng } from '../../src/model/sampling.js';
import { ExactSum } from '../../src/util/exact-sum.js';

const K = 200n; // every test value times 2^200 is an integer (magnitudes ≥ 1e-20)
function exact(xs: number[]): number {
  let s = 0n;
  for (const x of xs) {
    // x = m · 2^e exactly: scale by 2^K in steps a double holds without rounding
    let v = x, e = 0n;
    while (!Number.isInteger(v)) { v *= 2; e++; }
    s += (BigInt(v) << K) >> e;
  }
  return Number(s) / 2 ** Number(K); // Number(bigint) rounds to nearest, ties to even; the division is exact
}
const sum = (xs: number[]) => { const a = new ExactSum(); xs.forEach((x) => a.add(x)); return a.value; };

describe('ExactSum', () => {
  it('cancellation a naive sum gets wrong in one order', () => {
    expect(1e16 + 1 - 1e16 + 1).not.toBe(2);
    expect(sum([1e16, 1, -1e16, 1])).toBe(2);
    expect(sum([0.1, 0.2, 0.3])).toBe(exact([0.1, 0.2, 0.3]));
    expect(sum([])).toBe(0);
    expect(() => new ExactSum().add(NaN)).toThrow(/not a finite number/);
  });

  it('every order gives the exactly rounded total (money-like and mixed magnitudes)', () => {
    const r = rng(5);
    for (let trial = 0; trial < 40; trial++) {
      const n = 50 + Math.floor(r() * 200);
      const xs = Array.from({ length: n }, () => trial % 2
        ? Math.round(r() * 5000) * (0.1 + r()) / 1e6 // token counts × prices per million
        : (r() - 0.5) * 10 ** (Math.floor(r() * 40) - 20));
      const want = exact(xs);
      for (let p = 0; p < 5; p++) {
        const ys = [...xs];
        for (let i = ys.length - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [ys[i], ys[j]] = [ys[j], ys[i]]; }
        expect(sum(ys)).toBe(want);
      }
    }
  });
});
