import type { Kernels, Tensor } from '../kernels/index.js';

// Named activation buffers that grow to the largest shape seen and are reused across calls:
// a model laid out once per (batch, length) pays no allocation on later calls of that size.
// get() returns an exact-size view of the buffer, so elementwise kernels never touch the slack.
export class Workspace {
  private readonly bufs = new Map<string, Tensor>();
  constructor(private readonly k: Kernels) {}

  get(name: string, n: number): Tensor {
    let t = this.bufs.get(name);
    if (!t || t.n < n) {
      t?.free();
      t = this.k.alloc(n, `workspace ${name}`, false);
      this.bufs.set(name, t);
    }
    return t.n === n ? t : t.at(0, n);
  }

  // get() then zero (gradient accumulators)
  zeros(name: string, n: number): Tensor {
    const t = this.get(name, n);
    this.k.zero(t);
    return t;
  }

  bytes(): number {
    let s = 0;
    for (const t of this.bufs.values()) s += t.n * 4;
    return s;
  }

  release(prefix = ''): void {
    for (const [name, t] of this.bufs) {
      if (name.startsWith(prefix)) {
        t.free();
        this.bufs.delete(name);
      }
    }
  }
}
