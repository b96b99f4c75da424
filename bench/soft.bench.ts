// Soft prompts: one prompt-tuning step (forward + backward to the soft prompt + AdamW; batch
// 8 × 128 tokens, 20 virtual tokens → 148 rows) through src/soft, against the forward pass of
// the same 148-row batch (ratio ≤ 2.2x) and against PyTorch CPU's `prompt_step`
// (../shared/bench/torch/bench.py, same run) at one and two threads; peak WASM heap of the
// GPT-2-small step (≤ 1.5 GB); stories260K step vs PyTorch's median (≥ 2x).
import path from 'node:path';
import { init, type Kernels } from '../src/kernels/index.js';
import { disposeThreads } from '../src/kernels/threads.js';
import { AdamW } from '../src/train/optim.js';
import { Model, loadModel } from '../src/model/index.js';
import { batchTargets } from '../src/soft/method.js';
import { layoutExample, type LaidExample } from '../src/soft/mixed.js';
import { PromptTuning } from '../src/soft/prompt-tuning.js';
import { gpt2SmallCheckpoint, randomTokens } from './gpt2-small.js';
import { torchPeer } from './torch-peer.mjs';
import { MODELS } from './paths.js';

// bench/ when run directly, bench/.cache/ when bundled by run.mjs
const B = 8, T = 128, P = 20;

// bench.py's step: loss = mean NLL of tokens[1..127] read from rows P..P+126, Adam lr 1e-2
function setup(m: Model) {
  const pt = new PromptTuning(m, [{ soft: P }, { input: true }], { type: 'random', std: 0.02 }, 1);
  const batch: LaidExample[] = randomTokens(B, T, m.config.vocabSize, 0)
    .map((s) => layoutExample(m, pt.template, { input: [s[0]], target: s.slice(1) }));
  const opt = new AdamW(m.kernels, pt.params, { lr: 1e-2 });
  const { rows, targets } = batchTargets(batch);
  const step = () => {
    opt.zeroGrad();
    const st = pt.forward(batch, true);
    const { sum } = st.nll(rows, targets, 1 / rows.length, true);
    pt.backward(st, batch);
    opt.update();
    return sum;
  };
  // the same 148-row batch, forward + loss only
  const forward = () => pt.forward(batch, false).nll(rows, targets, 1, false).sum;
  return { step, forward, free: () => { opt.free(); pt.free(); } };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
// interleaved runs (step, forward, step, forward, ...) so both see the same machine load
function timePair(a: () => void, b: () => void, runs: number, warm: number): [number, number] {
  for (let i = 0; i < warm; i++) { a(); b(); }
  const ta: number[] = [], tb: number[] = [];
  for (let i = 0; i < runs; i++) {
    let t0 = performance.now(); a(); ta.push(performance.now() - t0);
    t0 = performance.now(); b(); tb.push(performance.now() - t0);
  }
  return [median(ta) / 1000, median(tb) / 1000];
}

export default {
  name: 'soft',
  async run(ctx: any) {
    const peer = await torchPeer(ctx.log);
    const tp = (m: string, th: number) => {
      const r = peer.get(`${m}/prompt_step/${th}`);
      if (!r) throw new Error(`PyTorch peer row ${m}/prompt_step/${th} missing`);
      return r;
    };

    for (const [build, threads] of [['relaxed', 1], ['simd', 1], ['threads', 2]] as const) {
      const k: Kernels = threads > 1 ? await init({ threads }) : await init({ build: build as 'relaxed' | 'simd' });
      const m = await loadModel(path.join(MODELS, 'stories260K'), { kernels: k });
      const s = setup(m);
      const [step, fwd] = timePair(s.step, s.forward, 30, 5);
      const p = tp('stories260K', threads);
      ctx.row({ name: 'stories260K prompt-tuning step 8×(20+128)', build: threads > 1 ? `threads (${k.build})` : build, threads,
        unit: 'tokens/s', value: (B * T) / step, peer: `PyTorch 1.13 CPU prompt_step, ${threads} thread(s) (median)`,
        peer_value: p.tokens_per_s, target: '≥ 2x', step_over_forward: step / fwd });
      s.free();
      m.dispose();
      if (threads > 1) disposeThreads(k);
    }

    const ckpt = gpt2SmallCheckpoint(0);
    for (const [build, threads] of [['relaxed', 1], ['threads', 2]] as const) {
      const k: Kernels = threads > 1 ? await init({ threads, maxMemoryBytes: 3.5 * 1024 ** 3 }) : await init({ build: 'relaxed', maxMemoryBytes: 3.5 * 1024 ** 3 });
      const m = await Model.fromCheckpoint(ckpt, { kernels: k });
      const s = setup(m);
      const [step, fwd] = timePair(s.step, s.forward, 3, 1);
      const p = tp('gpt2-small-shape', threads);
      const b = threads > 1 ? `threads (${k.build})` : build;
      ctx.row({ name: 'GPT-2-small-shape prompt-tuning step 8×(20+128)', build: b, threads, unit: 'tokens/s', value: (B * T) / step,
        peer: `PyTorch 1.13 CPU prompt_step, ${threads} thread(s)`, peer_value: p.tokens_per_s, target: '≥ 0.55x' });
      ctx.row({ name: 'GPT-2-small-shape step time / forward time (same 148-row batch)', build: b, threads, unit: 'x', value: step / fwd,
        peer: 'target', peer_value: 2.2, ratio: step / fwd / 2.2, step_s: step, forward_s: fwd, target: '≤ 2.2x' });
      if (threads === 1) {
        const mem = m.memoryBytes();
        ctx.row({ name: 'GPT-2-small-shape prompt-tuning step: peak WASM heap', build: b, threads, unit: 'MB', value: k.heap.peak / 1e6,
          peer: 'limit', peer_value: 1500, ratio: k.heap.peak / 1.5e9, weights_mb: mem.weights / 1e6, workspace_mb: mem.workspace / 1e6, target: '≤ 1500 MB' });
      }
      s.free();
      m.dispose();
      if (threads > 1) disposeThreads(k);
    }
    ctx.note('soft: tokens/s ratios are ours / PyTorch (higher is better); step/forward and peak heap are ratios to their limits (lower is better). PyTorch rows come from ../shared/bench/torch/bench.py in this run.');
  },
};
