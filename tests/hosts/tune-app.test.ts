// examples/tune-app end to end in headless Chromium: the app is built with Vite 7 (its own config),
// served from a loopback static server with COOP/COEP, and loads stories260K through the hub
// client from a loopback mirror of ../shared/models. The test loads the model, starts tuning,
// waits for the loss to fall, stops, resumes, stops, downloads the PEFT files and checks in Node
// that they load back and generate what the page showed; after a reload it resumes from the
// checkpoint kept in IndexedDB. Screenshot: .cache/test-output/tune-app.png.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Download, Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/model/index.js';
import { loadAdapter, loadPeft } from '../../src/soft/index.js';
import { startHubServer, type HubServer } from '../helpers/hub-server.js';
import { MODELS_DIR, REPO_DIR } from '../helpers/paths.js';
import { startStaticServer, type StaticServer } from '../helpers/static-server.js';
import { launchChromium, type Browser } from './chromium.js';

const OUT = path.join(REPO_DIR, '.cache/tune-app');
const SHOTS = path.join(REPO_DIR, '.cache/test-output');

describe('examples/tune-app (Vite build, headless Chromium)', () => {
  let hub: HubServer;
  let server: StaticServer;
  let browser: Browser;
  let page: Page;
  const log: string[] = [];

  beforeAll(async () => {
    await build({ configFile: path.join(REPO_DIR, 'examples/tune-app/vite.config.ts'), logLevel: 'error', build: { outDir: OUT } });
    hub = await startHubServer();
    server = await startStaticServer({ mounts: { '/': OUT }, crossOriginIsolated: true });
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.on('console', (m) => log.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => log.push(`[pageerror] ${e.message}`));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await hub?.close();
  });

  // waits for the app's status to become `s`; an error, or 'ready' when something else was awaited, fails at once
  const state = async (s: string) => {
    const other = s === 'ready' ? 'error' : 'error], #status[data-state=ready';
    await page.waitForSelector(`#status[data-state=${s}], #status[data-state=${other}]`, { timeout: 60_000 });
    const now = await page.getAttribute('#status', 'data-state');
    if (now !== s) throw new Error(`waiting for ${s}, the app is ${now}: "${await page.textContent('#status')}"\n${log.join('\n')}`);
  };
  const appState = () => page.evaluate(() => {
    const a = (window as any).tuneApp;
    return { losses: a.losses.slice() as number[], progress: (document.getElementById('progress') as HTMLProgressElement).value };
  });

  it('tunes in the worker with a live loss curve, stops and resumes, and its downloaded PEFT files load back', async () => {
    await page.goto(`${server.url}/?hub=${encodeURIComponent(hub.url)}`, { waitUntil: 'load' });
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    await page.click('#load');
    await state('ready');
    expect(await page.textContent('#status')).toContain('karpathy/tinyllamas');
    expect(hub.requests.some((r) => r.url.endsWith('/stories260K/stories260K.bin'))).toBe(true);

    await page.fill('#steps', '400');
    await page.click('#tune');
    // the app writes its "before" samples while still 'ready', then turns to 'tuning': wait for it to
    // leave 'ready' first, or the fail-fast check below would read the old state
    await page.waitForSelector('#status:not([data-state=ready])', { timeout: 60_000 });
    await state('tuning');
    // the loss falls: the mean of the last 5 steps under half the first step's, 30+ steps in
    await page.waitForFunction(() => {
      const l: number[] = (window as any).tuneApp.losses;
      return l.length >= 30 && l.slice(-5).reduce((a, b) => a + b, 0) / 5 < 0.5 * l[0];
    }, null, { timeout: 60_000, polling: 50 });
    await page.click('#stop');
    await state('stopped');
    const first = await appState();
    expect(first.progress).toBeLessThan(400); // stopped before the end
    expect(first.losses.length).toBe(first.progress);
    const stoppedAt = Number(/step (\d+)/.exec((await page.textContent('#status'))!)![1]);
    expect(stoppedAt % 10).toBe(0); // a checkpoint step
    expect(stoppedAt).toBeGreaterThanOrEqual(30);
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, 'tune-app.png'), fullPage: true });

    // Resume continues from the checkpoint: the next progress event is its step + 1
    await page.click('#resume');
    await page.waitForFunction((n) => (window as any).tuneApp.losses.length >= n + 5, first.losses.length, { timeout: 60_000, polling: 50 });
    await page.click('#stop');
    await state('stopped');
    const second = await appState();
    expect(second.progress).toBeGreaterThan(stoppedAt);
    expect(second.losses.length).toBe(first.losses.length + (second.progress - stoppedAt));

    // the two PEFT files, downloaded as a user would
    const dir = mkdtempSync(path.join(tmpdir(), 'pk-tune-app-'));
    try {
      const got: Download[] = [];
      const both = new Promise<void>((resolve) => page.on('download', (d) => got.push(d) === 2 && resolve()));
      await page.click('#download');
      await both;
      for (const d of got) await d.saveAs(path.join(dir, d.suggestedFilename()));
      expect(got.map((d) => d.suggestedFilename()).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
      const model = await loadModel(path.join(MODELS_DIR, 'stories260K'));
      const a = await loadPeft(dir, model);
      expect(a.kind).toBe('prompt');
      expect((a as { rows: number }).rows).toBe(8);
      const conditioning = await loadAdapter(dir, model);
      // the page's "after" sample is what Node generates under the downloaded files
      const [line] = (await page.textContent('#after'))!.split('\n');
      const [input, shown] = line.split(' ⟶');
      const gen = await model.generate(input, { maxTokens: 16, conditioning });
      expect(gen.text).toBe(shown);
      const tuned = await model.score(input, ' Tom was happy.', { conditioning });
      const base = await model.score(input, ' Tom was happy.');
      expect(tuned.total).toBeGreaterThan(base.total + 1);
      model.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    // after a reload the last checkpoint comes back from IndexedDB and Resume continues from it
    const lastSaved = Number(/step (\d+)/.exec((await page.textContent('#status'))!)![1]);
    await page.reload({ waitUntil: 'load' });
    await page.waitForSelector('body[data-restored=yes]');
    await page.click('#load');
    await state('ready');
    await page.click('#resume');
    await page.waitForFunction(() => (window as any).tuneApp.losses.length >= 3, null, { timeout: 60_000, polling: 50 });
    expect(await page.evaluate(() => (window as any).tuneApp.runFirstStep)).toBe(lastSaved + 1);
    await page.click('#stop');
    await state('stopped');
    expect(log.filter((l) => l.startsWith('[pageerror]'))).toEqual([]);
  }, 120_000);
});
