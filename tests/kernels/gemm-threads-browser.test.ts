// The threaded GEMM in a real browser: Debian's headless Chromium loads src/kernels (bundled by
// esbuild) from a loopback server that sends COOP/COEP, so the page is crossOriginIsolated and
// may share wasm memory with Web Workers. On a page's main thread Atomics.wait throws, so this
// also exercises the pool's spin-only wait. Results must equal the single-thread build's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startStaticServer, type StaticServer } from '../helpers/static-server.js';
import { launchChromium, type Browser } from '../hosts/chromium.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const PAGE = `<!doctype html><meta charset="utf-8"><title>threads</title>
<script type="module">
import { init, disposeThreads } from '/js/kernels.mjs';
window.run = async () => {
  const single = await init({ build: 'simd' });
  const k = await init({ threads: 2 });
  const out = { isolated: crossOriginIsolated, threads: k.parallel ? k.parallel.threads : 1, shapes: [] };
  for (const [M, K, N] of [[64, 64, 64], [37, 200, 91], [128, 768, 96]]) {
    const x = Float32Array.from({ length: M * K }, (_, i) => Math.sin(i) * 0.5);
    const w = Float32Array.from({ length: N * K }, (_, i) => Math.cos(i * 0.7) * 0.5);
    const run = (kk) => kk.heap.scope(() => {
      const W = kk.from(w), Y = kk.alloc(M * N), DX = kk.alloc(M * K);
      kk.zero(DX);
      kk.matmul(Y, kk.from(x), W, null, M, K, N);
      kk.matmulBackwardInput(DX, Y, W, M, K, N);
      return [Array.from(Y.f32()), Array.from(DX.f32())];
    });
    const [y1, dx1] = run(single), [y2, dx2] = run(k);
    let worst = 0;
    for (let i = 0; i < y1.length; i++) worst = Math.max(worst, Math.abs(y1[i] - y2[i]) / (1 + Math.abs(y1[i])));
    for (let i = 0; i < dx1.length; i++) worst = Math.max(worst, Math.abs(dx1[i] - dx2[i]) / (1 + Math.abs(dx1[i])));
    out.shapes.push({ shape: [M, K, N], worst, nonzero: y2.some((v) => v !== 0) });
  }
  disposeThreads(k);
  return out;
};
window.ready = true;
</script>`;

describe('threaded GEMM in headless Chromium (Web Workers over a shared memory)', () => {
  let server: StaticServer;
  let browser: Browser;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'pk-threads-'));
    await build({
      entryPoints: [path.join(root, 'src/kernels/index.ts')], outfile: path.join(dir, 'js/kernels.mjs'),
      bundle: true, format: 'esm', platform: 'browser', target: 'es2022', external: ['node:*'], logLevel: 'error',
    });
    writeFileSync(path.join(dir, 'index.html'), PAGE);
    server = await startStaticServer({
      mounts: { '/wasm/': path.join(root, 'wasm'), '/': dir },
      crossOriginIsolated: true,
    });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs on 2 threads and matches one thread', async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${server.url}/index.html`);
    await page.waitForFunction('window.ready === true', undefined, { timeout: 30_000 });
    const r = await page.evaluate('window.run()') as {
      isolated: boolean; threads: number; shapes: { shape: number[]; worst: number; nonzero: boolean }[];
    };
    expect(errors).toEqual([]);
    expect(r.isolated).toBe(true);
    expect(r.threads).toBe(2);
    for (const s of r.shapes) {
      expect(s.nonzero, `shape ${s.shape}`).toBe(true);
      expect(s.worst, `shape ${s.shape}`).toBeLessThanOrEqual(1e-6);
    }
    expect(server.requests).toContain('/wasm/promptkiln.threads.wasm');
  }, 120_000);
});
