// Content-addressed cache of model results. Keys are SHA-256 over everything that determines a
// result (model id incl. adapter, rendered prompt, example, metric, sampling parameters), so
// a resumed run replays finished work from disk instead of calling the model again.
import { PromptkilnError } from '../errors.js';

export interface EvalCache {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
  readonly size: number;
  flush(): Promise<void>; // resolves when everything set so far is durable
}

export async function contentKey(parts: unknown[]): Promise<string> {
  const bytes = new TextEncoder().encode(JSON.stringify(parts));
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new PromptkilnError('ARGUMENT', 'contentKey: WebCrypto (crypto.subtle) is not available in this runtime');
  const d = new Uint8Array(await subtle.digest('SHA-256', bytes));
  let s = '';
  for (const b of d) s += b.toString(16).padStart(2, '0');
  return s;
}

export class MemoryCache implements EvalCache {
  protected map = new Map<string, unknown>();
  get(key: string) {
    return this.map.get(key);
  }
  set(key: string, value: unknown) {
    this.map.set(key, value);
  }
  get size() {
    return this.map.size;
  }
  async flush() {}
}

// Node: a JSONL file, one {"k","v"} per line, appended as results arrive. A line cut short by a
// kill is ignored on load (its evaluation simply runs again).
export class DiskCache extends MemoryCache {
  private pending: Promise<void> = Promise.resolve();
  private constructor(
    readonly file: string,
    private append: (s: string) => Promise<void>,
  ) {
    super();
  }

  static async open(file: string): Promise<DiskCache> {
    const fs = await import('node:fs/promises');
    const path = await import('node:path');
    await fs.mkdir(path.dirname(file), { recursive: true });
    const c = new DiskCache(file, (s) => fs.appendFile(file, s, 'utf8'));
    let text = '';
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new PromptkilnError('DATA', `${file}: cannot read the cache: ${(e as Error).message}`);
    }
    let complete = true;
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const { k, v } = JSON.parse(line) as { k: string; v: unknown };
        if (typeof k === 'string') c.map.set(k, v);
      } catch {
        complete = false; // a torn last line from a kill
      }
    }
    // start appending on a fresh line if the file ended mid-record
    if (!complete || (text.length > 0 && !text.endsWith('\n'))) await fs.appendFile(file, '\n', 'utf8');
    return c;
  }

  override set(key: string, value: unknown) {
    super.set(key, value);
    const line = JSON.stringify({ k: key, v: value }) + '\n';
    this.pending = this.pending.then(() => this.append(line));
  }

  override async flush() {
    await this.pending;
  }
}
