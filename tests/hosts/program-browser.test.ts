// A saved program.json in headless Chromium: a page bundled by esbuild for the browser platform
// (the package's `browser` condition, dist/browser.js) loads the program, renders it and runs it
// against promptkiln's own serve() over stories260K — the same program the workerd test runs —
// and gives Node's prompt and Node's answer. serve() sends no CORS headers, so the page's origin
// proxies /v1 to it (as an app's own backend would); the proxy records the prompts it forwards.
import { createServer, request as httpRequest, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { build, type Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as pk from '../../src/index.js';
import { MODELS_DIR, REPO_DIR } from '../helpers/paths.js';
import { launchChromium, type Browser } from './chromium.js';

const PROGRAM_FILE = path.join(REPO_DIR, 'tests/runtimes/apps/program.json');
const INPUTS = { input: 'Once upon a time' }; // the page's input (pages/program.js)

describe('a saved program.json in headless Chromium', () => {
  let dir: string;
  let served: pk.Model;
  let endpoint: pk.RunningServer;
  let site: Server;
  let browser: Browser;
  let inputs: string[] = [];
  let result: any;
  const prompts: unknown[] = [];
  const consoleLines: string[] = [];

  beforeAll(async () => {
    // a scratch app whose node_modules/promptkiln is this package, as after `npm i promptkiln`
    dir = mkdtempSync(path.join(os.tmpdir(), 'pk-program-browser-'));
    mkdirSync(path.join(dir, 'node_modules'));
    symlinkSync(REPO_DIR, path.join(dir, 'node_modules', 'promptkiln'), 'dir');
    const bundled = await build({
      entryPoints: [path.join(REPO_DIR, 'tests/hosts/pages/program.js')], bundle: true, platform: 'browser', format: 'esm', write: false, metafile: true,
      nodePaths: [path.join(dir, 'node_modules')], logLevel: 'silent',
    });
    inputs = Object.keys((bundled.metafile as Metafile).inputs);
    const app = bundled.outputFiles[0].text;

    served = await pk.loadModel(path.join(MODELS_DIR, 'stories260K'));
    endpoint = await pk.serve(served, { port: 0, name: 'stories260K' });
    const page = '<!doctype html><meta charset="utf-8"><title>program.json</title><script type="module" src="/app.js"></script>';
    const files: Record<string, [string, string]> = {
      '/': ['text/html; charset=utf-8', page],
      '/app.js': ['text/javascript; charset=utf-8', app],
      '/program.json': ['application/json', readFileSync(PROGRAM_FILE, 'utf8')],
    };
    site = createServer((req, res) => {
      const url = req.url ?? '/';
      if (!url.startsWith('/v1/')) {
        const f = files[url];
        return f ? res.writeHead(200, { 'content-type': f[0] }).end(f[1]) : res.writeHead(404).end();
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (body.length) prompts.push(JSON.parse(body.toString('utf8')).prompt);
        const up = httpRequest(`http://127.0.0.1:${endpoint.port}${url}`, { method: req.method, headers: { 'content-type': 'application/json' } }, (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        });
        up.end(body);
      });
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));

    browser = await launchChromium();
    const tab = await browser.context.newPage();
    tab.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    tab.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
    await tab.goto(`http://127.0.0.1:${(site.address() as AddressInfo).port}/`, { waitUntil: 'load', timeout: 60_000 });
    // the page's promise settles when run() has answered (or failed)
    result = await tab.evaluate('window.promptkiln');
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    if (site) await new Promise((r) => site.close(r));
    await endpoint?.close();
    served?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('bundles from the browser build, with no Node built-in', () => {
    expect(inputs.some((f) => f.endsWith('dist/browser.js')), inputs.join('\n')).toBe(true);
    expect(inputs.filter((f) => /^node:/.test(f))).toEqual([]);
  });

  it('render(input) gives Node\'s exact prompt, and run() returns Node\'s answer from the same server', async () => {
    // undefined: the page's module never ran (an import of the bundle threw)
    expect(result, consoleLines.join('\n')).toBeDefined();
    expect(result.error, `${result.error}\n${consoleLines.join('\n')}`).toBeUndefined();
    expect(result.hasProcess).toBe('undefined');
    const program = pk.loadProgram(readFileSync(PROGRAM_FILE, 'utf8'));
    const rendered = program.render(INPUTS);
    expect(result.rendered).toEqual(rendered);
    // the instruction, the demonstration, then the input (template "{instruction} {demos}{input}")
    expect(result.rendered.text).toBe('A story about Tom. One day, a boy went to the park. Tom was happy. Once upon a time');
    // what the browser's run() sent is that prompt, once (a plain program, no retries)
    expect(prompts).toEqual([rendered.text]);
    const lm = pk.openaiModel({ baseURL: endpoint.url, model: 'stories260K', apiKey: 'none' });
    const node = await program.run(lm, INPUTS);
    expect(result.outputs).toEqual(node);
    // greedy: the model's own continuation, cut at the program's stop sequence
    expect(result.outputs).toEqual({ output: ', there was a little girl named Lily' });
  });
});
