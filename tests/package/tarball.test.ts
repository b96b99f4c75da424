// The package as a new user gets it: `npm pack` → `npm install` of the tarball into a scratch
// project (dependencies from the npm cache, else the registry; nothing else) → its ESM and CJS
// entries score with the real model and agree with the sources, `promptkiln/ort` loads without
// onnxruntime-web installed and says so with a typed error, the declarations type-check through
// `exports`, and the CLI runs from node_modules/.bin.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODELS_DIR, REPO_DIR } from '../helpers/paths.js';
import { init } from '../../src/kernels/index.js';
import { loadModel } from '../../src/model/index.js';

const CONSUMER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'consumer');
const MODEL = path.join(MODELS_DIR, 'stories260K');
// Type-checked in the scratch project (it lives here, not as a .ts file of this repository, whose
// tsconfig would try to resolve the self-reference to 'promptkiln')
const TYPES_TS = `import { init, loadModel, PromptkilnError, type Kernels, type ScoreResult } from 'promptkiln';
import { createBackend, type BackendChoice } from 'promptkiln/ort';

export async function rank(dir: string, endings: string[]): Promise<number[]> {
  const kernels: Kernels = await init({ build: 'simd' });
  const model = await loadModel(dir, { kernels });
  const scores: ScoreResult[] = await model.scoreMany('Once upon a time', endings);
  return scores.map((s) => s.total);
}

export const choice: BackendChoice = 'wasm';
export const backend: typeof createBackend = createBackend;
export const isError = (e: unknown): boolean => e instanceof PromptkilnError && e.code === 'OOM';

// @ts-expect-error: not a kernel build; passes only if init's options are typed
void init({ build: 'sse9' });
`;

let dir: string;
let app: string;

function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
}

function runJson(file: string): Record<string, unknown> {
  return JSON.parse(run(process.execPath, [file, MODEL], app).trim().split('\n').pop()!) as Record<string, unknown>;
}

describe('packed tarball installed into a scratch project', () => {
  let expected: number;

  beforeAll(async () => {
    for (const f of ['dist/index.js', 'dist/index.cjs', 'dist/browser.js', 'dist/ort.js', 'dist/index.d.ts']) {
      if (!existsSync(path.join(REPO_DIR, f))) throw new Error(`${f} is missing: run \`npm run build\` first (npm test does)`);
    }
    dir = mkdtempSync(path.join(os.tmpdir(), 'promptkiln-pack-'));
    const packed = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], REPO_DIR)) as { filename: string }[];
    const tarball = path.join(dir, packed[0]!.filename);
    app = path.join(dir, 'app');
    execFileSync('mkdir', [app]);
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'scratch-app', private: true, version: '0.0.0' }));
    run('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock'], app);
    for (const f of ['esm.mjs', 'cjs.cjs']) copyFileSync(path.join(CONSUMER, f), path.join(app, f));
    writeFileSync(path.join(app, 'types.ts'), TYPES_TS);

    const kernels = await init({ build: 'simd' });
    const model = await loadModel(MODEL, { kernels });
    expected = (await model.score('Once upon a time', ', there was a little girl')).total;
    model.dispose();
  }, 120_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('installs without onnxruntime-web (an optional peer of promptkiln/ort only)', () => {
    const installed = path.join(app, 'node_modules');
    expect(existsSync(path.join(installed, 'promptkiln', 'package.json'))).toBe(true);
    expect(existsSync(path.join(installed, 'onnxruntime-web'))).toBe(false);
    // a real copy from the tarball, not a link back to this checkout
    expect(realpathSync(path.join(installed, 'promptkiln')).startsWith(dir)).toBe(true);
  });

  it('ESM: import from "promptkiln" scores like the sources; promptkiln/ort without onnxruntime-web is a typed BACKEND error', () => {
    const r = runJson('esm.mjs');
    expect(r.entry).toMatch(/\/node_modules\/promptkiln\/dist\/index\.js$/);
    expect(r.build).toBe('simd');
    expect(r.total).toBe(expected);
    expect(r.ort).toBe('BACKEND');
  });

  it('CJS: require("promptkiln") scores like the sources; wasm subpaths and promptkiln/ort resolve', () => {
    const r = runJson('cjs.cjs');
    expect(r.entry).toMatch(/\/node_modules\/promptkiln\/dist\/index\.cjs$/);
    expect(r.total).toBe(expected);
    expect(r.wasm).toMatch(/\/node_modules\/promptkiln\/wasm\/promptkiln\.simd\.wasm$/);
    expect(r.createBackend).toBe('function');
  });

  it('types resolve through exports (nodenext) and are real declarations', () => {
    writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, lib: ['es2022', 'dom'], types: [] }, files: ['types.ts'] }),
    );
    const tsc = path.join(REPO_DIR, 'node_modules', 'typescript', 'bin', 'tsc');
    let out = '';
    try {
      out = run(process.execPath, [tsc, '-p', 'tsconfig.json'], app);
    } catch (e) {
      out = `${(e as { stdout?: string }).stdout ?? ''}${(e as Error).message}`;
      throw new Error(`tsc failed in the scratch project:\n${out}`);
    }
    expect(out).toBe('');
  });

  it('the CLI runs from node_modules/.bin', () => {
    expect(run(path.join(app, 'node_modules', '.bin', 'promptkiln'), ['--help'], app)).toMatch(/usage: promptkiln <command>/);
    const pkg = JSON.parse(readFileSync(path.join(app, 'node_modules', 'promptkiln', 'package.json'), 'utf8')) as { version: string };
    expect(pkg.version).toBe((JSON.parse(readFileSync(path.join(REPO_DIR, 'package.json'), 'utf8')) as { version: string }).version);
  });
});
