// The kernel thread pool starts under node flags that change how eval'd code parses
// (`node --input-type=module -e`), which worker threads would otherwise inherit.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REPO_DIR } from '../helpers/paths.js';

describe('kernel threads under inherited node flags', () => {
  it('node --input-type=module -e runs a 2-thread GEMM matching one thread', () => {
    const entry = pathToFileURL(path.join(REPO_DIR, 'dist/index.js')).href;
    const code = `
      import { init } from ${JSON.stringify(entry)};
      const run = async (threads) => {
        const k = await init({ threads });
        const n = 96, x = k.from(Array.from({ length: n * n }, (_, i) => Math.sin(i))), w = k.from(Array.from({ length: n * n }, (_, i) => Math.cos(i)));
        const y = k.alloc(n * n);
        k.matmul(y, x, w, null, n, n, n);
        return Array.from(y.f32());
      };
      const one = await run(1), two = await run(2);
      console.log(JSON.stringify({ diff: Math.max(...one.map((v, i) => Math.abs(v - two[i]))), y0: two[0] }));
      process.exit(0);`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/could not start/);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { diff: number; y0: number };
    // one thread may run the relaxed build (FMA), the pool runs the threads build: rounding differs
    expect(out.diff).toBeLessThan(1e-4);
    expect(Number.isFinite(out.y0)).toBe(true);
  });
});
