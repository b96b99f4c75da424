// Runs in headless Chromium: scores with OrtBackend on the webgpu EP (onnxruntime-web/webgpu,
// served from the package by the test's loopback server) and reports the numbers back.
import { OrtBackend } from '../../../src/ort/backend.js';
import { probeWebGpu } from '../../../src/ort/runtime.js';
import type { Checkpoint, ModelConfig } from '../../../src/model/types.js';

interface Job {
  model: string; // folder under the server root holding ckpt.json + ckpt.bin
  prompt: number[];
  targets: number[][];
  conditioning?: any;
}

async function loadCheckpoint(dir: string): Promise<Checkpoint> {
  const meta = await (await fetch(`/${dir}/ckpt.json`)).json() as { config: ModelConfig; tensors: [string, number, number][] };
  const bin = new Float32Array(await (await fetch(`/${dir}/ckpt.bin`)).arrayBuffer());
  const tensors = new Map(meta.tensors.map(([name, off, n]) => [name, bin.subarray(off, off + n)] as [string, Float32Array]));
  return { config: meta.config, tensors, tokenizer: null, source: dir, id: dir };
}

function revive(cond: any): any {
  if (!cond) return cond;
  const out = { ...cond };
  if (cond.soft) out.soft = { rows: cond.soft.rows, data: new Float32Array(cond.soft.data) };
  if (cond.prefix) out.prefix = { P: cond.prefix.P, k: cond.prefix.k.map((a: number[]) => new Float32Array(a)), v: cond.prefix.v.map((a: number[]) => new Float32Array(a)) };
  return out;
}

(window as any).runJobs = async (jobs: Job[]) => {
  const probe = await probeWebGpu();
  const results: any[] = [];
  const warnings: string[] = [];
  for (const job of jobs) {
    const ck = await loadCheckpoint(job.model);
    const t0 = performance.now();
    const be = await OrtBackend.create(ck, { ep: 'webgpu', wasmPaths: '/ort/', onWarning: (m) => warnings.push(m) });
    const created = performance.now() - t0;
    const r = await be.scoreMany(job.prompt, job.targets, { conditioning: revive(job.conditioning) });
    results.push({ ep: be.ep, createdMs: created, scored: r.map((x) => ({ tokens: x.tokens, logprobs: x.logprobs, total: x.total })) });
    await be.dispose();
  }
  return { probe: { fallback: probe.fallback, reason: probe.reason, hasAdapter: !!probe.adapter }, results, warnings, crossOriginIsolated };
};
(window as any).pageReady = true;
