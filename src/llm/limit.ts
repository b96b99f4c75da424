// A FIFO concurrency limit: at most `n` tasks run at once, started in the order they asked.
// FIFO matters: evaluations start in a deterministic order, so budget cut-offs are reproducible.
export class Limit {
  private active = 0;
  private queue: (() => void)[] = [];
  constructor(readonly n: number) {
    if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`concurrency must be an integer ≥ 1, got ${n}`);
  }
  async run<T>(f: () => Promise<T>): Promise<T> {
    if (this.active >= this.n) await new Promise<void>((res) => this.queue.push(res));
    this.active++;
    try {
      return await f();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}
