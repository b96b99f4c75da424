// The Node host as a package consumer sees it: after `npm run build`, the ESM and CJS entry points
// both load and init() works, every package.json `exports` subpath resolves to a file that is
// also in the published file list, and `bin` is an executable script with a shebang.
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  bin: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
  files: string[];
};
// resolve through the package's own name, as a dependent would (self-reference uses `exports`)
const requireFromPkg = createRequire(path.join(ROOT, 'package.json'));

interface EntryModule {
  init(opts?: { build?: string }): Promise<{ build: string; raw: { abi_version(): number; self_test(): number } }>;
  PromptkilnError: new (...a: never[]) => Error;
}

// the files an `exports` entry points at, through nested conditions
function exportTargets(t: string | Record<string, unknown>): string[] {
  return typeof t === 'string' ? [t] : Object.values(t).flatMap((v) => exportTargets(v as string | Record<string, unknown>));
}

function built(file: string): string {
  const p = path.join(ROOT, file);
  if (!existsSync(p)) throw new Error(`${file} is missing: run \`npm run build\` first (npm test does)`);
  return p;
}

describe('package (Node host)', () => {
  it('dist/index.js loads as ESM and init() runs the kernels', async () => {
    const m = (await import(pathToFileURL(built('dist/index.js')).href)) as EntryModule;
    const k = await m.init({ build: 'simd' });
    expect(k.build).toBe('simd');
    expect(k.raw.self_test()).toBe(0);
    expect(typeof m.PromptkilnError).toBe('function');
  });

  it('dist/index.cjs loads through require() and init() runs the kernels', async () => {
    const m = createRequire(import.meta.url)(built('dist/index.cjs')) as EntryModule;
    const k = await m.init({ build: 'portable' });
    expect(k.build).toBe('portable');
    expect(k.raw.self_test()).toBe(0);
  });

  it('resolves `promptkiln` to the ESM and CJS entries by condition', () => {
    const dot = pkg.exports['.'] as Record<string, string>;
    expect(requireFromPkg.resolve(pkg.name)).toBe(path.join(ROOT, dot.require!));
    for (const cond of ['types', 'import', 'require']) {
      expect(dot[cond], `exports["."].${cond}`).toBeDefined();
      expect(existsSync(path.join(ROOT, dot[cond]!)), `exports["."].${cond} → ${dot[cond]}`).toBe(true);
    }
    // runtimes without Node built-ins (and workerd, which also forbids compiling wasm from bytes)
    // get the build whose Node paths are stubbed; `default` too, for runtimes nobody listed
    for (const cond of ['browser', 'worker', 'workerd', 'default']) expect(dot[cond], `exports["."].${cond}`).toBe('./dist/browser.js');
  });

  it('every exports subpath resolves to an existing file that npm would publish', () => {
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
    ) as { files: { path: string }[] }[];
    const published = new Set(packed[0]!.files.map((f) => f.path));
    const subpaths = Object.entries(pkg.exports).filter(([k]) => k !== '.');
    expect(subpaths.map(([k]) => k)).toEqual(expect.arrayContaining(['./ort', './cli', './wasm/simd.wasm', './wasm/relaxed.wasm', './wasm/portable.wasm', './wasm/promptkiln.h']));
    // every file any condition of any subpath ("." included) points at
    const targets = Object.values(pkg.exports).flatMap(exportTargets);
    for (const target of targets) {
      expect(statSync(path.join(ROOT, target)).size, `${target} is empty`).toBeGreaterThan(0);
      expect(published.has(target.replace(/^\.\//, '')), `${target} is not in the npm package ("files")`).toBe(true);
    }
    for (const [sub, target] of subpaths) {
      const file = typeof target === 'string' ? target : (target as Record<string, string>).require!;
      expect(requireFromPkg.resolve(pkg.name + sub.slice(1)), `exports["${sub}"]`).toBe(path.join(ROOT, file));
    }
    for (const f of ['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/browser.js', 'dist/ort.js', 'dist/ort.d.ts', 'dist/cli.js', 'README.md']) {
      expect(published.has(f), `${f} is not in the npm package`).toBe(true);
    }
  });

  it('bin points at an executable script with a node shebang that runs', () => {
    const [name, file] = Object.entries(pkg.bin)[0]!;
    expect(name).toBe('promptkiln');
    const p = built(file);
    expect(readFileSync(p, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
    expect(statSync(p).mode & 0o111, `${file} is not executable`).not.toBe(0);
    const r = spawnSync(p, ['--help'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/usage: promptkiln <command>/);
  });
});
