// The WebGPU path for real on a GPU-less machine: headless Debian Chromium exposes a SwiftShader
// (CPU) WebGPU adapter; a page served from a loopback server scores through onnxruntime-web's
// webgpu EP and must match our WASM kernels (Model.scoreMany) within 1e-4 per token.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { Model } from '../../src/model/model.js';
import type { Checkpoint } from '../../src/model/types.js';
import type { Conditioning } from '../../src/model/model.js';
import { REPO_DIR } from '../helpers/paths.js';
import { startStaticServer, type StaticServer } from '../helpers/static-server.js';
import { loadGpt2Tiny, loadStories260K } from './helpers/checkpoints.js';
import { forwardCases, maxAbsDiff, readRef } from './helpers/refs.js';

const CHROMIUM = '/usr/bin/chromium';
// SwiftShader's Vulkan gives Chromium a software WebGPU adapter; the rest keeps the browser quiet.
export const WEBGPU_ARGS = [
  '--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=swiftshader',
  '--use-webgpu-adapter=swiftshader', '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--disable-quic',
];

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-webgpu-'));
let server: StaticServer;
let browser: Browser;

// Canonical tensors → ckpt.json (config, [name, offset, length]) + ckpt.bin (f32) for the page.
function writeCheckpoint(name: string, ck: { config: any; tensors: Map<string, Float32Array> }): void {
  fs.mkdirSync(path.join(dir, name), { recursive: true });
  const entries: [string, number, number][] = [];
  let off = 0;
  for (const [k, t] of ck.tensors) { entries.push([k, off, t.length]); off += t.length; }
  const bin = new Float32Array(off);
  for (const [k, o] of entries.map((e) => [e[0], e[1]] as const)) bin.set(ck.tensors.get(k)!, o);
  fs.writeFileSync(path.join(dir, name, 'ckpt.json'), JSON.stringify({ config: ck.config, tensors: entries }));
  fs.writeFileSync(path.join(dir, name, 'ckpt.bin'), new Uint8Array(bin.buffer));
}

beforeAll(async () => {
  const out = await build({
    entryPoints: [path.join(REPO_DIR, 'tests/ort/browser/page.ts')], bundle: true, format: 'esm', platform: 'browser',
    target: 'es2022', // node: built-ins sit behind isNode() guards the page never takes
    external: ['onnxruntime-web', 'onnxruntime-web/webgpu', 'node:*'], write: false, logLevel: 'silent',
  });
  fs.writeFileSync(path.join(dir, 'page.js'), out.outputFiles[0]!.contents);
  // the import map sends the bare specifiers to the package's own files, served by this server
  fs.writeFileSync(path.join(dir, 'index.html'), `<!doctype html><meta charset="utf-8">
<script type="importmap">{"imports": {"onnxruntime-web/webgpu": "/ort/ort.webgpu.min.mjs", "onnxruntime-web": "/ort/ort.min.mjs"}}</script>
<script type="module" src="/page.js"></script>`);
  writeCheckpoint('stories260K', loadStories260K());
  writeCheckpoint('gpt2-tiny-random', loadGpt2Tiny());
  server = await startStaticServer({ mounts: { '/ort/': path.join(REPO_DIR, 'node_modules/onnxruntime-web/dist'), '/': dir } });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: WEBGPU_ARGS });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function ckpt(name: 'stories260K' | 'gpt2-tiny-random'): Checkpoint {
  return name === 'stories260K' ? loadStories260K() : loadGpt2Tiny();
}

describe('WebGPU EP in headless Chromium (SwiftShader adapter)', () => {
  it('scores stories260K and gpt2-tiny-random (plain, soft rows, prefix K/V) like the WASM kernels, within 1e-4', async () => {
    const page = await browser.newPage();
    const logs: string[] = [];
    page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    const urls: string[] = [];
    page.on('request', (q) => urls.push(q.url()));
    await page.goto(`${server.url}/index.html`);
    await page.waitForFunction(() => (window as any).pageReady === true, undefined, { timeout: 30_000 });

    const jobs: { model: 'stories260K' | 'gpt2-tiny-random'; prompt: number[]; targets: number[][]; conditioning?: Conditioning }[] = [];
    for (const name of ['stories260K', 'gpt2-tiny-random'] as const) {
      const [a, b] = forwardCases(name);
      const prompt = a!.tokens.slice(0, 9), targets = [a!.tokens.slice(9, 20), b!.tokens.slice(2, 6)];
      jobs.push({ model: name, prompt, targets });
      const pt = readRef(name, 'prompt_tuning.json');
      const ptc = pt.cases?.[0] ?? pt;
      jobs.push({ model: name, prompt, targets, conditioning: { id: 'soft', soft: { rows: ptc.P, data: Array.from(ptc.soft_prompt_init.data) as any } } });
    }
    // a prefix for stories260K (GQA heads), in Conditioning's (P, Hkv, hd) per-layer layout
    const s = ckpt('stories260K').config;
    const P = 2, n = P * s.nKvHeads * s.headDim;
    const rnd = (seed: number) => Array.from({ length: n }, (_, i) => Math.sin(seed * 7919 + i * 12.9898) * 2);
    const prefix = { P, k: Array.from({ length: s.nLayers }, (_, l) => rnd(l + 1)), v: Array.from({ length: s.nLayers }, (_, l) => rnd(l + 100)) };
    jobs.push({ model: 'stories260K', prompt: jobs[0]!.prompt, targets: jobs[0]!.targets, conditioning: { id: 'prefix', prefix: prefix as any, posOffset: P } });

    const got = await page.evaluate(async (j) => (window as any).runJobs(j), jobs);
    expect(got.probe.hasAdapter, logs.join('\n')).toBe(true);
    expect(got.probe.fallback).toBe(true); // SwiftShader: 'auto' would keep the WASM kernels
    expect(got.warnings).toEqual([]);
    // onnxruntime-web's WebGPU build and its wasm came from the package via our server; nothing else was fetched
    // (1.30's WebGPU build runs on the asyncify wasm flavour)
    expect(server.requests).toContain('/ort/ort.webgpu.min.mjs');
    expect(server.requests.some((r) => /^\/ort\/ort-wasm-simd-threaded\.\w+\.wasm$/.test(r))).toBe(true);
    expect(urls.filter((u) => !u.startsWith(server.url))).toEqual([]);

    let worst = 0;
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i]!;
      const r = got.results[i];
      expect(r.ep).toBe('webgpu');
      const model = await Model.fromCheckpoint(ckpt(job.model));
      const c = job.conditioning;
      const cond: Conditioning | null = !c ? null : {
        ...c,
        soft: c.soft ? { rows: c.soft.rows, data: new Float32Array(c.soft.data as any) } : undefined,
        prefix: c.prefix ? { P: c.prefix.P, k: c.prefix.k.map((a: any) => new Float32Array(a)), v: c.prefix.v.map((a: any) => new Float32Array(a)) } : undefined,
      };
      const want = await model.scoreMany(job.prompt, job.targets, { conditioning: cond });
      model.dispose();
      want.forEach((w, t) => {
        expect(r.scored[t].tokens).toEqual(w.tokens);
        expect(r.scored[t].logprobs.length).toBe(job.targets[t]!.length);
        const d = maxAbsDiff(r.scored[t].logprobs, w.logprobs);
        worst = Math.max(worst, d);
        expect(d, `${job.model} ${c?.id ?? 'plain'} target ${t}`).toBeLessThan(1e-4);
      });
    }
    console.log(`webgpu vs wasm kernels: max |Δ log-prob| = ${worst.toExponential(2)}`);
    await page.close();
  }, 240_000);
});
