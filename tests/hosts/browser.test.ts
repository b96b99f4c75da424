// The browser and worker hosts: headless Debian Chromium loads the built ESM bundle (dist/) from
// a loopback server, runs GEMM and log-likelihood through the Kernels API on the page's main
// thread and in a module Worker that uses only WebAssembly and postMessage, and the numbers must
// match Node's for the same computation (examples/browser/compute.js, shared by all three).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { startStaticServer, type StaticServer } from '../helpers/static-server.js';
import { launchChromium, type Browser } from './chromium.js';
import { init } from '../../src/kernels/index.js';
import { compute } from '../../examples/browser/compute.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// PROMPTKILN_TEST_DIST points the test at another build of the bundle (e.g. a packed package)
const DIST = process.env.PROMPTKILN_TEST_DIST ?? path.join(ROOT, 'dist');
const BUNDLE = path.join(DIST, 'index.js');

interface Computed {
  build: string;
  gemm: number[][];
  logp: number[][];
  sums: number[];
}
interface PageResult {
  error?: string;
  crossOriginIsolated: boolean;
  sharedArrayBuffer: boolean;
  isPromptkilnErrorExported: boolean;
  page: Computed;
  worker: Computed & { nodeGlobals: string[] };
}

// Same build: the same instructions on the same CPU, so bit for bit. Otherwise (say simd vs
// relaxed, where FMA skips a rounding) within 1e-6 relative.
function expectMatch(got: Computed, want: Computed, where: string): void {
  const same = got.build === want.build;
  const pairs: [number[], number[], string][] = [
    ...got.gemm.map((g, i) => [g, want.gemm[i]!, `gemm[${i}]`] as [number[], number[], string]),
    ...got.logp.map((g, i) => [g, want.logp[i]!, `logp[${i}]`] as [number[], number[], string]),
    [got.sums, want.sums, 'sums'],
  ];
  for (const [g, w, name] of pairs) {
    expect(g.length, `${where} ${name} length`).toBe(w.length);
    for (let i = 0; i < g.length; i++) {
      if (!Number.isFinite(g[i]!)) throw new Error(`${where} ${name}[${i}] is ${g[i]}`);
      if (same) {
        if (g[i] !== w[i]) expect(g[i], `${where} ${name}[${i}] (bitwise, build ${got.build})`).toBe(w[i]);
      } else if (Math.abs(g[i]! - w[i]!) > 1e-6 * (1 + Math.abs(w[i]!))) {
        expect(g[i], `${where} ${name}[${i}] within 1e-6 (${got.build} vs ${want.build})`).toBeCloseTo(w[i]!, 6);
      }
    }
  }
}

describe('browser and worker hosts (headless Chromium)', () => {
  let server: StaticServer;
  let browser: Browser;
  let page: Page;
  let result: PageResult;
  const consoleLines: string[] = [];

  beforeAll(async () => {
    if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run \`npm run build\` first (npm test does)`);
    server = await startStaticServer({
      mounts: {
        '/dist/': DIST,
        '/wasm/': path.join(ROOT, 'wasm'),
        '/examples/browser/': path.join(ROOT, 'examples/browser'),
      },
      crossOriginIsolated: true,
    });
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
    await page.goto(`${server.url}/examples/browser/`, { waitUntil: 'load', timeout: 60_000 });
    // promptkilnResult is a promise the page settles itself (errors included): no polling
    result = (await page.evaluate('window.promptkilnResult', undefined)) as PageResult;
    // undefined: main.js never ran (its imports failed to load), the console says why
    result ??= { error: `the page's module script did not run:\n${consoleLines.join('\n')}` } as PageResult;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('the bundle has no top-level imports of Node built-ins or npm packages', () => {
    const src = readFileSync(BUNDLE, 'utf8');
    const staticImports = [...src.matchAll(/^\s*import\s[^;]*?from\s*["']([^"']+)["']/gm)].map((m) => m[1]!);
    const sideEffect = [...src.matchAll(/^\s*import\s*["']([^"']+)["']/gm)].map((m) => m[1]!);
    const nodeish = [...staticImports, ...sideEffect].filter((s) =>
      /^node:|^(fs|path|url|os|crypto|child_process|worker_threads|v8|module|http|https|stream|util|zlib)(\/|$)/.test(s),
    );
    expect(nodeish, 'static imports of Node built-ins in dist/index.js (use a guarded dynamic import)').toEqual([]);
    // A bare package name ('@huggingface/tokenizers') cannot be resolved by a browser without a
    // bundler or an import map, and module Workers do not inherit the page's import map: import
    // optional dependencies lazily (await import(...)) where they are used.
    const bare = [...staticImports, ...sideEffect].filter((s) => !/^(\.|\/|node:|https?:)/.test(s));
    expect(bare, 'static imports of npm packages in dist/index.js (browsers and workers cannot resolve them)').toEqual([]);
  });

  it('runs init(), GEMM and log-likelihood on the page, cross-origin isolated, on the relaxed build', () => {
    expect(result.error, consoleLines.join('\n')).toBeUndefined();
    expect(result.crossOriginIsolated).toBe(true);
    expect(result.sharedArrayBuffer).toBe(true);
    expect(result.isPromptkilnErrorExported).toBe(true);
    expect(result.page.build, 'Chromium validates relaxed SIMD, so init() must pick it').toBe('relaxed');
    // the page fetched the bundle and the wasm over HTTP from this server
    expect(server.requests).toContain('/dist/index.js');
    expect(server.requests).toContain('/wasm/promptkiln.relaxed.wasm');
  });

  it('matches Node on the same computation', async () => {
    const k = await init({ build: result.page.build as 'relaxed' });
    const node: Computed = compute(k);
    expectMatch(result.page, node, 'page');
    // and Node's default pick agrees with the page's
    expect((await init()).build).toBe('relaxed');
  });

  it('runs in a module Worker with no Node globals, matching the page', () => {
    expect(result.worker.nodeGlobals).toEqual([]);
    expect(result.worker.build).toBe(result.page.build);
    expectMatch(result.worker, result.page, 'worker');
  });
});
