// Progress display for long CLI commands: a bar on terminals, plain periodic lines in logs.
import type { CliIO } from './command.js';

// A progress bar on stderr for terminals; one plain line every few seconds otherwise (CI logs).
export class Progress {
  private lastDraw = 0;
  private readonly t0 = Date.now();
  constructor(private readonly io: CliIO, private readonly label: string, private readonly total: number) {}

  update(done: number, info: Record<string, string | number> = {}): void {
    const now = Date.now();
    const last = done >= this.total;
    if (!last && now - this.lastDraw < (this.io.isTTY ? 100 : 2000)) return;
    this.lastDraw = now;
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const elapsed = (now - this.t0) / 1000;
    const eta = frac > 0 ? elapsed * (1 / frac - 1) : 0;
    const fields = Object.entries(info)
      .map(([k, v]) => `${k} ${typeof v === 'number' ? fmt(v) : v}`)
      .join('  ');
    if (this.io.isTTY) {
      const width = 24;
      const fill = Math.round(frac * width);
      const bar = '█'.repeat(fill) + '░'.repeat(width - fill);
      process.stderr.write(`\r\x1b[2K${this.label} ${bar} ${done}/${this.total}  ${fields}  eta ${eta.toFixed(0)}s${last ? '\n' : ''}`);
    } else {
      this.io.err(`${this.label} ${done}/${this.total}  ${fields}  elapsed ${elapsed.toFixed(1)}s`);
    }
  }
}

function fmt(v: number): string {
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : v.toFixed(4);
}
