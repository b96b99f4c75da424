// The size budget as a user's bundler sees it: esbuild (browser platform, minified, no other
// configuration) bundles a small app that imports promptkiln through its package name, so the
// `exports` conditions pick the entry. The app's JS plus the SIMD kernels, gzipped, must stay
// under 150 KB, and nothing in the bundle may come from onnxruntime or a Node built-in.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, type Metafile } from 'esbuild';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BUDGET_GZIP_BYTES = 150 * 1024;

// what an edge function or a page that ranks candidates and applies a saved program imports
const SCORING_APP = `
import { init, loadModel, loadProgram } from 'promptkiln';
const kernels = await init();
const model = await loadModel('karpathy/tinyllamas/stories260K', { kernels });
console.log(await model.score('Once upon a time', ', there was'));
console.log(loadProgram(await (await fetch('program.json')).text()).render({ input: 'Once upon a time' }));
`;
// every export at once: each lazily imported Node-only path must still bundle for the web
const EVERYTHING_APP = `import * as promptkiln from 'promptkiln';\nconsole.log(Object.keys(promptkiln));\n`;

let dir: string;

async function bundle(app: string, conditions?: string[]): Promise<{ js: Uint8Array; inputs: string[] }> {
  const entry = path.join(dir, `app-${Math.random().toString(36).slice(2)}.js`);
  writeFileSync(entry, app);
  const r = await build({ entryPoints: [entry], bundle: true, minify: true, platform: 'browser', format: 'esm', write: false, metafile: true, conditions, logLevel: 'silent' });
  return { js: r.outputFiles[0]!.contents, inputs: Object.keys((r.metafile as Metafile).inputs) };
}

function gz(bytes: Uint8Array): number {
  return gzipSync(bytes, { level: 9 }).length;
}

describe('bundle size budget (esbuild, browser platform)', () => {
  beforeAll(() => {
    // a scratch app whose node_modules/promptkiln is this package, as after `npm i promptkiln`
    dir = mkdtempSync(path.join(os.tmpdir(), 'promptkiln-bundle-'));
    mkdirSync(path.join(dir, 'node_modules'));
    symlinkSync(ROOT, path.join(dir, 'node_modules', 'promptkiln'), 'dir');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('init + loadModel + score + loadProgram, with the SIMD wasm, is at most 150 KB gzipped and reaches no onnxruntime', async () => {
    const { js, inputs } = await bundle(SCORING_APP);
    expect(inputs.filter((f) => /onnxruntime/.test(f)), 'onnxruntime reached from the main entry').toEqual([]);
    expect(new TextDecoder().decode(js)).not.toMatch(/onnxruntime/);
    // the browser condition picked the build without Node built-ins
    expect(inputs.some((f) => f.endsWith('dist/browser.js')), inputs.join('\n')).toBe(true);
    const jsGz = gz(js);
    const wasmGz = gz(readFileSync(path.join(ROOT, 'wasm/promptkiln.simd.wasm')));
    console.log(`size budget: app ${js.length} B (${jsGz} B gzip) + simd wasm ${wasmGz} B gzip = ${jsGz + wasmGz} B of ${BUDGET_GZIP_BYTES}`);
    expect(jsGz + wasmGz).toBeLessThanOrEqual(BUDGET_GZIP_BYTES);
  });

  it.each([
    ['browser', undefined],
    ['workerd', ['workerd', 'worker', 'browser']],
  ])('every export bundles for %s with no Node built-in and no onnxruntime', async (_name, conditions) => {
    // esbuild fails on a `node:` import it cannot resolve for the browser platform
    const { inputs } = await bundle(EVERYTHING_APP, conditions);
    expect(inputs.filter((f) => /^node:|onnxruntime/.test(f))).toEqual([]);
    expect(inputs.some((f) => f.endsWith('dist/browser.js')), inputs.join('\n')).toBe(true);
  });
});
