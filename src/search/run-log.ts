// The JSONL run log: one line per event (run start, every candidate with its parent, operator,
// score and cost, every iteration, the result). Resume replays the run deterministically
// against the cache; lines the log already holds are not written twice.
import { PromptkilnError } from '../errors.js';
import { completeJsonl } from './jsonl.js';

export interface RunLog {
  write(entry: Record<string, unknown>): void;
  flush(): Promise<void>;
  readonly entries: Record<string, unknown>[]; // everything written (or replayed) in order
}

export class MemoryRunLog implements RunLog {
  readonly entries: Record<string, unknown>[] = [];
  write(e: Record<string, unknown>) {
    this.entries.push({ seq: this.entries.length, ...e });
  }
  async flush() {}
}

export class FileRunLog implements RunLog {
  readonly entries: Record<string, unknown>[] = [];
  private pending: Promise<void> = Promise.resolve();
  private constructor(
    readonly file: string,
    private existing: number,
    private append: (s: string) => Promise<void>,
  ) {}

  // resume: keep the complete lines already there and skip re-writing them during the replay
  static async open(file: string, resume: boolean): Promise<FileRunLog> {
    const fs = await import('node:fs/promises');
    const path = await import('node:path');
    await fs.mkdir(path.dirname(file), { recursive: true });
    let existing = 0;
    if (resume) {
      let text = '';
      try {
        text = await fs.readFile(file, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new PromptkilnError('DATA', `${file}: cannot read the run log: ${(e as Error).message}`);
      }
      // a torn last line from a kill is rewritten
      const good = completeJsonl(text, file).map((l) => l.line);
      // a finished run's result line is replaced by the resumed run's own
      while (good.length && (JSON.parse(good[good.length - 1]) as { type?: string }).type === 'result') good.pop();
      await fs.writeFile(file, good.map((l) => l + '\n').join(''), 'utf8');
      existing = good.length;
    } else {
      await fs.writeFile(file, '', 'utf8');
    }
    return new FileRunLog(file, existing, (s) => fs.appendFile(file, s, 'utf8'));
  }

  write(e: Record<string, unknown>) {
    const seq = this.entries.length;
    const entry = { seq, ...e };
    this.entries.push(entry);
    if (seq < this.existing) return;
    const line = JSON.stringify(entry) + '\n';
    this.pending = this.pending.then(() => this.append(line));
  }

  async flush() {
    await this.pending;
  }
}
