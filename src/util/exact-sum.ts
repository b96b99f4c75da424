// An order-independent float sum (Shewchuk's exact partials, as Python's math.fsum): the result is
// the exactly rounded total whatever order the terms arrive in — money spent by concurrent calls
// must not depend on which call finished first (a resumed run's spend equals the original's).
export class ExactSum {
  private partials: number[] = []; // non-overlapping, increasing magnitude; their exact sum is the total

  add(x: number): void {
    if (!Number.isFinite(x)) throw new RangeError(`ExactSum: ${x} is not a finite number`);
    const next: number[] = [];
    for (let y of this.partials) {
      if (Math.abs(x) < Math.abs(y)) [x, y] = [y, x];
      const hi = x + y, lo = y - (hi - x);
      if (lo !== 0) next.push(lo);
      x = hi;
    }
    next.push(x);
    this.partials = next;
  }

  // The exact total rounded once to the nearest double (half-even, as fsum does).
  get value(): number {
    const p = this.partials;
    let n = p.length;
    if (!n) return 0;
    let hi = p[--n], lo = 0;
    while (n > 0) {
      const x = hi, y = p[--n];
      hi = x + y;
      lo = y - (hi - x);
      if (lo !== 0) break;
    }
    // correct the rounding when the rest of the partials push the halfway case (fsum's step)
    if (n > 0 && ((lo < 0 && p[n - 1] < 0) || (lo > 0 && p[n - 1] > 0))) {
      const y = lo * 2, x = hi + y;
      if (y === x - hi) hi = x;
    }
    return hi;
  }
}
