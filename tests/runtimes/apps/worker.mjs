// A Cloudflare Worker (run by workerd in tests/runtimes/workerd.test.ts) that imports promptkiln
// by name (the `workerd` export condition), the kernels as a precompiled wasm module and the
// model's files as data modules: no network, no filesystem, no compiling wasm from bytes.
//   POST /rank       {prompt, candidates} → candidates by log-likelihood, best first
//   GET  /workload   the shared workload (apps/workload.mjs), to compare with Node's
//   GET  /too-large  a 195 MB checkpoint under Workers' 128 MB memory limit → the typed error
//   POST /program    {program, inputs, baseURL, model} → a saved program.json run against an
//                    OpenAI-compatible endpoint (the test's, on loopback)
import * as pk from 'promptkiln';
import kernelsModule from './kernels.wasm';
import modelBin from './stories260K.bin';
import tokBin from './tok512.bin';
import { workload } from './workload.mjs';

const MEMORY_LIMIT = 128 * 1024 * 1024; // a Worker's memory limit
const kernelOptions = { module: kernelsModule, build: 'relaxed', maxMemoryBytes: MEMORY_LIMIT };
const stories = () => ({ name: 'stories260K', files: { 'stories260K.bin': new Uint8Array(modelBin), 'tok512.bin': new Uint8Array(tokBin) } });

let model = null; // loaded on the first /rank, kept for the next ones
async function rank(prompt, candidates) {
  model ??= await pk.loadModel(stories(), { kernels: await pk.init(kernelOptions) });
  const scores = await model.scoreMany(prompt, candidates);
  return candidates.map((candidate, i) => ({ candidate, loglik: scores[i].total })).sort((a, b) => b.loglik - a.loglik);
}

// A llama2.c (v0) checkpoint of 48.8 M parameters, all zeros: 195 MB of weights.
function largeCheckpoint() {
  const [C, hidden, L, heads, V, seq] = [768, 2048, 6, 12, 8192, 256];
  const floats = V * C + L * C + 4 * L * C * C + L * C + 3 * L * hidden * C + C;
  const bytes = new Uint8Array(28 + 4 * floats);
  new Int32Array(bytes.buffer, 0, 7).set([C, hidden, L, heads, heads, V, seq]);
  return { name: 'large', files: { 'large.bin': bytes } };
}

const json = (body, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

export default {
  async fetch(request) {
    const { pathname } = new URL(request.url);
    try {
      if (pathname === '/rank' && request.method === 'POST') {
        const { prompt, candidates } = await request.json();
        return json({ ranking: await rank(prompt, candidates) });
      }
      if (pathname === '/workload') return json(await workload(pk, stories(), { kernelOptions }));
      if (pathname === '/program' && request.method === 'POST') {
        const { program, inputs, baseURL, model: name } = await request.json();
        const lm = pk.openaiModel({ baseURL, model: name, apiKey: 'none' });
        return json({ outputs: await pk.loadProgram(program).run(lm, inputs) });
      }
      if (pathname === '/too-large') {
        await pk.loadModel(largeCheckpoint(), { kernels: await pk.init(kernelOptions) });
        return json({ loaded: true });
      }
      return json({ error: `no route ${request.method} ${pathname}` }, 404);
    } catch (e) {
      return json({ error: String(e?.message ?? e), code: e instanceof pk.PromptkilnError ? e.code : null }, 500);
    }
  },
};
