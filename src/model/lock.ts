// One lock per model: its workspace serves one call at a time, and async APIs may interleave.
export class Lock {
  private tail: Promise<unknown> = Promise.resolve();

  // Resolves when every earlier holder has released; call the returned function to release.
  async acquire(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const prev = this.tail;
    this.tail = prev.then(() => held);
    await prev;
    return release;
  }

  // Runs fn alone, releasing on return or throw.
  async run<T>(fn: () => Promise<T> | T): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
