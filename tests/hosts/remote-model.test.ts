// loadModelInWorker in headless Chromium: the model is downloaded by the hub client inside a
// dedicated worker (loopback mirror, Cache API), runs on 2 kernel threads there, and gives the
// numbers Node gives — while the page's main thread stays free.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/model/index.js';
import { startHubServer, type HubServer } from '../helpers/hub-server.js';
import { MODELS_DIR, REPO_DIR } from '../helpers/paths.js';
import { startStaticServer, type StaticServer } from '../helpers/static-server.js';
import { launchChromium, type Browser } from './chromium.js';

describe('a model in a dedicated worker (headless Chromium)', () => {
  let hub: HubServer;
  let server: StaticServer;
  let browser: Browser;
  let result: any;
  const consoleLines: string[] = [];

  beforeAll(async () => {
    if (!existsSync(path.join(REPO_DIR, 'dist/worker.js'))) throw new Error('dist/worker.js is missing: run `npm run build` first (npm test does)');
    hub = await startHubServer();
    server = await startStaticServer({
      mounts: { '/dist/': path.join(REPO_DIR, 'dist'), '/wasm/': path.join(REPO_DIR, 'wasm'), '/page/': path.join(REPO_DIR, 'tests/hosts/pages') },
      crossOriginIsolated: true,
    });
    browser = await launchChromium();
    const page = await browser.context.newPage();
    page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
    await page.goto(`${server.url}/page/remote.html?hub=${encodeURIComponent(hub.url)}`, { waitUntil: 'load', timeout: 60_000 });
    result = await page.evaluate('window.promptkiln');
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await hub?.close();
  });

  it('loads through the hub client, runs threaded, and scores / generates like Node', async () => {
    expect(result.error, `${result.error}\n${consoleLines.join('\n')}`).toBeUndefined();
    expect(result.info.id).toContain('karpathy/tinyllamas');
    expect(result.info.crossOriginIsolated).toBe(true);
    expect(result.info.threads).toBe(2);
    const node = await loadModel(path.join(MODELS_DIR, 'stories260K'));
    const want = await node.score('Once upon a time', ', there was a little girl');
    expect(result.score.tokens).toEqual(want.tokens);
    for (let i = 0; i < want.logprobs.length; i++) expect(Math.abs(result.score.logprobs[i] - want.logprobs[i])).toBeLessThan(1e-5);
    const many = await node.scoreMany('Once upon a time, there was a little girl named', [' Lily.', ' Tom.']);
    expect(result.many.map((r: any) => r.tokens)).toEqual(many.map((r) => r.tokens));
    expect(Math.abs(result.many[0].total - many[0].total)).toBeLessThan(1e-4);
    const gen = await node.generate('Once upon a time', { maxTokens: 20 });
    expect(result.streamed.tokens).toEqual(gen.tokens);
    expect(result.pieces.join('')).toBe(gen.text);
    node.dispose();
  });

  it('keeps the main thread free, passes aborts and typed errors across, and caches downloads', () => {
    expect(result.long.tokens).toBe(300);
    expect(result.long.ticks).toBeGreaterThan(0);
    expect(result.aborted).toBe('ABORTED');
    expect(result.tokenError.code).toBe('TOKEN');
    expect(result.tokenError.name).toBe('PromptkilnError');
    expect(result.again.total).toBe(result.score.total);
    // the offline load made no new resolve requests
    const resolves = hub.requests.filter((r) => r.url.includes('/resolve/') && r.method === 'GET');
    expect(new Set(resolves.map((r) => r.url)).size).toBe(resolves.length);
  });
});
