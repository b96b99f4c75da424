// Model runtime: forward log-likelihood of 8 × 128 tokens (GPT-2-small shape with seeded random
// weights, and the real stories260K) against PyTorch CPU in the same run; cold start; peak memory.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { init, type Kernels } from '../src/kernels/index.js';
import { disposeThreads } from '../src/kernels/threads.js';
import { Model, loadModel } from '../src/model/index.js';
import { gpt2SmallCheckpoint, randomTokens } from './gpt2-small.js';
import { torchPeer } from './torch-peer.mjs';
import { MODELS, REPO, SHARED } from './paths.js';

const B = 8, T = 128;

// forward + log-softmax + gather of the 127 next-token log-probs per sequence, as bench.py does
function forwardLL(model: Model, seqs: number[][]): number {
  const st = model.run(seqs.map((ids) => [{ ids }]), {});
  const rows: number[] = [], targets: number[] = [];
  seqs.forEach((s, b) => { for (let t = 0; t < T - 1; t++) { rows.push(b * T + t); targets.push(s[t + 1]); } });
  return st.nll(rows, targets, 1, false).sum;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function timeRuns(fn: () => void, runs: number, warm: number): number {
  for (let i = 0; i < warm; i++) fn();
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return median(ts) / 1000;
}

const run = (cmd: string, args: string[]) => new Promise<string>((res, rej) =>
  execFile(cmd, args, { maxBuffer: 1 << 24 }, (e, out, err) => (e ? rej(new Error(`${cmd}: ${e.message} ${err}`)) : res(out))));

export default {
  name: 'model',
  async run(ctx: any) {
    const peer = await torchPeer(ctx.log);
    const tp = (m: string, task: string, th: number) => {
      const r = peer.get(`${m}/${task}/${th}`);
      if (!r) throw new Error(`PyTorch peer row ${m}/${task}/${th} missing`);
      return r;
    };

    // stories260K, overhead-bound: our median vs PyTorch's median
    for (const [build, threads] of [['relaxed', 1], ['simd', 1], ['threads', 2]] as const) {
      const k: Kernels = threads > 1 ? await init({ threads }) : await init({ build: build as 'relaxed' | 'simd' });
      const m = await loadModel(path.join(MODELS, 'stories260K'), { kernels: k });
      const seqs = randomTokens(B, T, m.config.vocabSize, 0);
      const s = timeRuns(() => forwardLL(m, seqs), 30, 5);
      const p = tp('stories260K', 'forward_ll', threads);
      ctx.row({ name: 'stories260K forward log-lik 8×128', build: threads > 1 ? `threads (${k.build})` : build, threads, unit: 'tokens/s',
        value: (B * T) / s, peer: `PyTorch 1.13 CPU, ${threads} thread(s) (median)`, peer_value: p.tokens_per_s, target: '≥ 2x' });
      m.dispose();
      if (threads > 1) disposeThreads(k);
    }

    // GPT-2-small shape, GEMM-bound
    const ckpt = gpt2SmallCheckpoint(0);
    for (const [build, threads] of [['relaxed', 1], ['simd', 1], ['threads', 2]] as const) {
      const k: Kernels = threads > 1 ? await init({ threads }) : await init({ build: build as 'relaxed' | 'simd', maxMemoryBytes: 3.5 * 1024 ** 3 });
      const m = await Model.fromCheckpoint(ckpt, { kernels: k });
      const seqs = randomTokens(B, T, m.config.vocabSize, 0);
      const before = k.heap.peak;
      const s = timeRuns(() => forwardLL(m, seqs), 3, 1);
      const p = tp('gpt2-small-shape', 'forward_ll', threads);
      ctx.row({ name: 'GPT-2-small-shape forward log-lik 8×128', build: threads > 1 ? `threads (${k.build})` : build, threads, unit: 'tokens/s',
        value: (B * T) / s, peer: `PyTorch 1.13 CPU (OpenBLAS), ${threads} thread(s)`, peer_value: p.tokens_per_s,
        target: threads > 1 ? '≥ 0.5x' : '≥ 0.45x', gflops: (248e6 * B * T) / s / 1e9 });
      if (threads === 1 && build === 'relaxed') {
        const mem = m.memoryBytes();
        ctx.row({ name: 'GPT-2-small-shape forward 8×128: peak WASM heap', build, threads: 1, unit: 'MB', value: k.heap.peak / 1e6,
          peer: 'weights alone', peer_value: mem.weights / 1e6, ratio: k.heap.peak / mem.weights, workspace_mb: mem.workspace / 1e6,
          heap_before_mb: before / 1e6 });
      }
      m.dispose();
      if (threads > 1) disposeThreads(k);
    }

    // cold start in a fresh process: compile + instantiate the kernels, load stories260K, first token
    const script = `
      const t0 = performance.now();
      const { init, loadModel } = await import(${JSON.stringify(path.join(REPO, 'dist/index.js'))});
      const k = await init();
      const t1 = performance.now();
      const m = await loadModel(${JSON.stringify(path.join(MODELS, 'stories260K'))}, { kernels: k });
      const t2 = performance.now();
      await m.generate([1], { maxTokens: 1 });
      const t3 = performance.now();
      console.log(JSON.stringify({ total: t3 - t0, init: t1 - t0, load: t2 - t1, first: t3 - t2, build: k.build }));`;
    const colds = [];
    for (let i = 0; i < 5; i++) colds.push(JSON.parse(await run(process.execPath, ['--input-type=module', '-e', script])));
    const cold = colds.sort((a, b) => a.total - b.total)[2];
    const py = `import time; t0=time.perf_counter()
import sys, torch; sys.path.insert(0, ${JSON.stringify(path.join(SHARED, 'bench/torch'))})
from refmodels import Llama, read_llama2c
cfg, W = read_llama2c(${JSON.stringify(path.join(MODELS, 'stories260K/stories260K.bin'))}); m = Llama(cfg, W)
with torch.no_grad(): m.forward(m.embed(torch.tensor([[1]])))
print((time.perf_counter()-t0)*1000)`;
    const pyRuns: number[] = [];
    for (let i = 0; i < 3; i++) pyRuns.push(Number(await run('/usr/bin/python3', ['-c', py])));
    const pyMs = median(pyRuns);
    ctx.row({ name: 'cold start: import + init + load stories260K + first token (fresh process)', build: cold.build, threads: 1, unit: 'ms',
      value: cold.total, peer: 'PyTorch: import torch + load + first forward', peer_value: pyMs, ratio: pyMs / cold.total,
      target: '≤ 50 ms', init_ms: cold.init, load_ms: cold.load, first_token_ms: cold.first });

    ctx.note('Ratios are ours / PyTorch (higher is better) except cold start (PyTorch / ours). PyTorch rows come from ../shared/bench/torch/bench.py run in this same benchmark run.');
  },
};
