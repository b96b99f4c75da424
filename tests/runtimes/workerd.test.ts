// Cloudflare workerd (the `workerd` npm package, pinned): esbuild bundles apps/worker.mjs as
// wrangler would (conditions workerd, worker, browser), workerd serves it on a loopback socket
// this test opened (so requests queue until the Worker accepts: no readiness polling), and the
// answers are checked: a log-likelihood ranking, the shared workload equal to Node's bit for bit
// (the same relaxed build on V8), a saved program.json run by the Worker against an
// OpenAI-compatible endpoint on loopback (promptkiln's own serve() over stories260K, in this
// process) with Node's answer, and a model over the 128 MB Worker limit refused with OOM.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { MODELS_DIR, REPO_DIR } from '../helpers/paths.js';
import { APPS_DIR, runtimeBinary, scratchProject, type WorkloadResult } from './runtimes.js';
import * as pk from '../../src/index.js';
// @ts-expect-error: a plain .mjs module without types
import { workload } from './apps/workload.mjs';

// The Worker's fetch() reaches loopback only (the test's endpoint), no other network.
const CONFIG = `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .worker), (name = "loopback", network = (allow = ["local"]))],
  sockets = [(name = "http", address = "127.0.0.1:0", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "kernels.wasm", wasm = embed "kernels.wasm"),
    (name = "stories260K.bin", data = embed "stories260K.bin"),
    (name = "tok512.bin", data = embed "tok512.bin"),
  ],
  compatibilityDate = "2025-01-01",
  globalOutbound = "loopback",
);
`;
const PROGRAM = path.join(APPS_DIR, 'program.json');

describe('workerd serves a Worker that imports promptkiln', () => {
  let dir: string;
  let child: ChildProcess;
  let base: string;
  let stderr = '';
  let exited: Promise<never>;
  let spawnedAt: number;
  let entry = '';
  let endpoint: pk.RunningServer;
  let served: pk.Model;

  beforeAll(async () => {
    dir = scratchProject('workerd');
    served = await pk.loadModel(path.join(MODELS_DIR, 'stories260K'));
    endpoint = await pk.serve(served, { port: 0, name: 'stories260K' });
    const bundled = await build({
      entryPoints: [path.join(APPS_DIR, 'worker.mjs')], outfile: path.join(dir, 'worker.js'), bundle: true, format: 'esm', platform: 'browser',
      conditions: ['workerd', 'worker', 'browser'], external: ['./kernels.wasm', './stories260K.bin', './tok512.bin'], nodePaths: [path.join(dir, 'node_modules')], logLevel: 'silent', metafile: true,
    });
    // the workerd condition picked the build without Node built-ins (none is enabled: no nodejs_compat)
    entry = Object.keys(bundled.metafile!.inputs).find((f) => /dist\/[a-z]+\.js$/.test(f)) ?? '';
    symlinkSync(path.join(REPO_DIR, 'wasm', 'promptkiln.relaxed.wasm'), path.join(dir, 'kernels.wasm'));
    for (const f of ['stories260K.bin', 'tok512.bin']) symlinkSync(path.join(MODELS_DIR, 'stories260K', f), path.join(dir, f));
    writeFileSync(path.join(dir, 'config.capnp'), CONFIG);

    // the listening socket is ours; workerd inherits it as fd 3 and accepts on it
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
    spawnedAt = performance.now();
    child = spawn(runtimeBinary('workerd'), ['serve', 'config.capnp', '--socket-fd', 'http=3'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe', fd] });
    server.close(); // the child holds its own copy: connections now queue for workerd alone
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    exited = new Promise((_, reject) => child.on('exit', (code) => reject(new Error(`workerd exited (${code}):\n${stderr}`))));
    exited.catch(() => {});
    base = `http://127.0.0.1:${port}`;
  }, 60_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    }
    await endpoint?.close();
    served?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  async function request(p: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await Promise.race([
      fetch(base + p, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      exited,
    ]);
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  it('ranks candidate endings by log-likelihood, as Node does', async () => {
    expect(entry).toMatch(/dist\/browser\.js$/);
    const candidates = [' Tom.', ' a big rock.', ' Lily.', ' Sue.'];
    const { status, json } = await request('/rank', { prompt: 'Once upon a time, there was a little girl named', candidates });
    console.log(`workerd cold start (spawn → first /rank answered): ${(performance.now() - spawnedAt).toFixed(0)} ms`);
    expect(status, JSON.stringify(json)).toBe(200);
    const ranking = json.ranking as { candidate: string; loglik: number }[];
    expect(ranking.map((r) => r.candidate)).toEqual([' Lily.', ' Sue.', ' Tom.', ' a big rock.']);
    const model = await pk.loadModel(path.join(MODELS_DIR, 'stories260K'), { kernels: await pk.init({ build: 'relaxed' }) });
    const node = await model.scoreMany('Once upon a time, there was a little girl named', ranking.map((r) => r.candidate));
    model.dispose();
    expect(ranking.map((r) => r.loglik)).toEqual(node.map((r) => r.total));
  });

  it('runs the shared workload (score, generate, tune) with Node\'s results bit for bit', async () => {
    const { status, json } = await request('/workload');
    expect(status, JSON.stringify(json)).toBe(200);
    const w = json as unknown as WorkloadResult;
    const node = (await workload(pk, path.join(MODELS_DIR, 'stories260K'), { kernelOptions: { build: 'relaxed' } })) as WorkloadResult;
    expect(w.build).toBe('relaxed');
    expect(w.scores).toEqual(node.scores);
    expect(w.tokens).toEqual(node.tokens);
    expect(w.text).toBe(node.text);
    expect(w.losses).toEqual(node.losses);
  });

  it('runs a saved program.json against an OpenAI-compatible endpoint on loopback, answering as Node does', async () => {
    const program = JSON.parse(readFileSync(PROGRAM, 'utf8')) as pk.ProgramJson;
    const inputs = { input: 'Once upon a time' };
    const { status, json } = await request('/program', { program, inputs, baseURL: endpoint.url, model: 'stories260K' });
    expect(status, JSON.stringify(json)).toBe(200);
    const lm = pk.openaiModel({ baseURL: endpoint.url, model: 'stories260K', apiKey: 'none' });
    const node = await pk.loadProgram(program).run(lm, inputs);
    expect(json.outputs).toEqual(node);
    // the model's own greedy continuation, cut at the program's stop sequence
    expect((json.outputs as { output: string }).output).toBe(', there was a little girl named Lily');
  });

  it('a model larger than the Worker memory limit is a typed OOM error, and the Worker keeps serving', async () => {
    const { status, json } = await request('/too-large');
    expect(status).toBe(500);
    expect(json.code, String(json.error)).toBe('OOM');
    const again = await request('/rank', { prompt: 'Once upon a time', candidates: [' there', ' zebra'] });
    expect(again.status).toBe(200);
  });
});
