// Runtimes that lack what the kernels need, made real with Node's own switches on the built
// package: no WebAssembly at all (node --jitless) is a typed BUILD error at init(), not a
// ReferenceError somewhere later; no SharedArrayBuffer (as in a page that is not cross-origin
// isolated) runs threads: n on one thread, with the same numbers, and says so once.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_DIR } from '../helpers/paths.js';

const ENTRY = pathToFileURL(path.join(REPO_DIR, 'dist/index.js')).href;

// The script as a file: `-e` with --input-type=module would pass that flag on to the kernel
// worker threads, whose eval'd source is CommonJS.
function node(flags: string[], script: string): { status: number | null; stdout: string; stderr: string } {
  if (!existsSync(new URL(ENTRY))) throw new Error('dist/index.js is missing: run `npm run build` first (npm test does)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pk-limits-'));
  try {
    writeFileSync(path.join(dir, 'script.mjs'), script);
    const r = spawnSync(process.execPath, [...flags, path.join(dir, 'script.mjs')], { encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('runtimes without WebAssembly or SharedArrayBuffer', () => {
  it('no WebAssembly: init() rejects with a typed BUILD error that says why', () => {
    const r = node(['--jitless'], `
      const { init, isPromptkilnError } = await import(${JSON.stringify(ENTRY)});
      console.log(typeof WebAssembly);
      try { await init(); console.log('initialized'); }
      catch (e) { console.log(isPromptkilnError(e, 'BUILD') ? 'BUILD' : 'untyped: ' + e); console.log(e.message); }`);
    expect(r.status, r.stderr).toBe(0);
    const [wasm, code, message] = r.stdout.trim().split('\n');
    expect(wasm).toBe('undefined');
    expect(code).toBe('BUILD');
    expect(message).toMatch(/no WebAssembly/);
  });

  it('no SharedArrayBuffer: threads: 2 runs on one thread with the same numbers, and one warning for two calls', () => {
    const script = `
      const { init } = await import(${JSON.stringify(ENTRY)});
      const out = [];
      for (let i = 0; i < 2; i++) {
        const k = await init({ threads: 2 });
        const x = k.from(Array.from({ length: 96 * 64 }, (_, j) => Math.sin(j)));
        const w = k.from(Array.from({ length: 80 * 64 }, (_, j) => Math.cos(j)));
        const y = k.alloc(96 * 80);
        k.matmul(y, x, w, null, 96, 64, 80);
        out.push({ threads: k.parallel ? 'pool' : 'one', sum: y.f32().reduce((a, b) => a + b, 0), build: k.build });
      }
      console.log(JSON.stringify({ sab: typeof SharedArrayBuffer, out }));
      process.exit(0); // the pool's worker threads would keep the process alive`;
    const without = node(['--no-harmony-sharedarraybuffer'], script);
    expect(without.status, without.stderr).toBe(0);
    const a = JSON.parse(without.stdout) as { sab: string; out: { threads: string; sum: number; build: string }[] };
    expect(a.sab).toBe('undefined');
    expect(a.out.map((o) => o.threads)).toEqual(['one', 'one']);
    const warnings = without.stderr.split('\n').filter((l) => l.startsWith('promptkiln: '));
    expect(warnings).toEqual(['promptkiln: init: threads: 2 was asked for, but SharedArrayBuffer is not available in this runtime; running on one thread']);
    // with SharedArrayBuffer the same call gets the pool, silently, and the same numbers
    const withSab = node([], script);
    expect(withSab.status, withSab.stderr).toBe(0);
    const b = JSON.parse(withSab.stdout) as typeof a;
    expect(b.out.map((o) => o.threads)).toEqual(['pool', 'pool']);
    expect(withSab.stderr).not.toMatch(/promptkiln: /);
    expect(Math.abs(a.out[0]!.sum - b.out[0]!.sum)).toBeLessThanOrEqual(1e-3 * (1 + Math.abs(b.out[0]!.sum)));
  });
});
