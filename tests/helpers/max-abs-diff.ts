// The largest elementwise |a − b| of two equally long arrays, for comparisons against references.
// Different lengths throw and a NaN anywhere gives Infinity, so neither can pass a tolerance.
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return Number.isNaN(m) ? Infinity : m;
}
