// Families people run: a Qwen2.5-0.5B-shaped model (seeded random weights, built in memory) —
// forward log-lik of 8 × 128 as a share of our own GEMM's GFLOP/s, against onnxruntime-web's wasm
// EP scoring the same model through our export (1 and 2 threads), the prompt-tuning step over
// the forward of the same batch, generation at batch 1; PyTorch (bench/torch_qwen2.py, on
// OpenBLAS with its native kernel) beside it, measured in the same run.
//
//   npm run bench -- families                 the full shape (≈ 2 GB f32; one model in memory at a time)
//   node bench/run.mjs families --layers=2    a 2-layer model (its own section, families-2l)
//   --threads=1 (default 1,2)   --extras=0 skips the prompt-tuning step and generation   --runs=N (default 1)
import { execFile } from 'node:child_process';
import path from 'node:path';
import os from 'node:os';
import { init, disposeThreads, type Kernels } from '../src/kernels/index.js';
import { Model } from '../src/model/model.js';
import type { Checkpoint, ModelConfig, TensorMap } from '../src/model/types.js';
import { OrtBackend } from '../src/ort/backend.js';
import { AdamW } from '../src/train/optim.js';
import { batchTargets } from '../src/soft/method.js';
import { layoutExample } from '../src/soft/mixed.js';
import { PromptTuning } from '../src/soft/prompt-tuning.js';
import { randomTokens } from './gpt2-small.js';
import { REPO } from './paths.js';

const B = 8, T = 128, P = 20, GEN_PROMPT = 16, GEN_NEW = 32;
const GiB = 2 ** 30;
// wasm32's whole 4 GiB: the f32 weights (1.98 GB) plus a training step's (B·(P+T), V) logits and their
// gradient (0.72 GB each) do not fit 3.5 GiB
const HEAP = 4 * GiB - 65536;

// Qwen2.5-0.5B: 24 × 896, 14 q / 2 kv heads of 64, MLP 4864, vocab 151936, tied, q/k/v bias, no o bias
function qwen05Config(layers: number): ModelConfig {
  return {
    arch: 'llama', family: 'qwen2', dim: 896, nLayers: layers, nHeads: 14, nKvHeads: 2, headDim: 64, hiddenDim: 4864,
    vocabSize: 151936, maxSeqLen: 32768, normEps: 1e-6, ropeTheta: 1e6, ropeMode: 'half', tiedEmbeddings: true,
    attnBias: true, attnOutBias: false, mlpBias: false, bosId: null, eosId: null,
  };
}

// Uniform(-scale/2, scale/2) from an LCG: ~0.5 G values in seconds; speed does not depend on the values.
function random(n: number, seed: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 4294967296 - 0.5) * scale;
  }
  return a;
}

function qwen05Checkpoint(layers: number): Checkpoint {
  const config = qwen05Config(layers);
  const { dim: C, hiddenDim: F, nHeads: H, nKvHeads: Hkv, headDim: hd, vocabSize: V } = config;
  const t: TensorMap = new Map();
  let seed = 1;
  const put = (name: string, n: number, scale: number, offset = 0) => {
    const a = random(n, seed++, scale);
    if (offset) for (let i = 0; i < n; i++) a[i] += offset;
    t.set(name, a);
  };
  put('tok_embeddings', V * C, 0.07);
  for (let l = 0; l < layers; l++) {
    const p = `layers.${l}.`;
    put(p + 'attn_norm', C, 0.1, 1);
    put(p + 'wq', H * hd * C, 0.07); put(p + 'bq', H * hd, 0.1);
    put(p + 'wk', Hkv * hd * C, 0.07); put(p + 'bk', Hkv * hd, 0.1);
    put(p + 'wv', Hkv * hd * C, 0.07); put(p + 'bv', Hkv * hd, 0.1);
    put(p + 'wo', C * H * hd, 0.07);
    put(p + 'mlp_norm', C, 0.1, 1);
    put(p + 'w1', F * C, 0.07); put(p + 'w3', F * C, 0.07); put(p + 'w2', C * F, 0.035);
  }
  put('final_norm', C, 0.1, 1);
  return { config, tensors: t, tokenizer: null, source: 'memory:qwen2.5-0.5b-shape', id: `qwen2.5-0.5b-shape-${layers}l` };
}

// Multiply-adds ×2 of one forward over B sequences of T tokens: every linear layer (LM head
// included) plus the causal attention products q·kᵀ and p·v over the T(T+1)/2 visible pairs.
function forwardFlops(c: ModelConfig, B: number, T: number): { total: number; lmHead: number } {
  const { dim: C, hiddenDim: F, nHeads: H, nKvHeads: Hkv, headDim: hd, vocabSize: V } = c;
  const perTokenLayer = C * H * hd * 2 + C * Hkv * hd * 2 + 3 * C * F; // q, o; k, v; gate, up, down
  const attnPerSeqLayer = 2 * H * hd * (T * (T + 1)) / 2;
  const lmHead = 2 * B * T * V * C;
  return { total: 2 * B * T * perTokenLayer * c.nLayers + 2 * B * attnPerSeqLayer * c.nLayers + lmHead, lmHead };
}

// median of `runs` timed calls, the first included: one call is ~1 TFLOP, so what a first call
// adds (laying out the workspace, milliseconds) is noise; a separate warm-up would double the run.
async function timed<R>(fn: () => R | Promise<R>, runs: number): Promise<{ s: number; first: R }> {
  const ts: number[] = [];
  let first: R | undefined;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = await fn();
    ts.push(performance.now() - t0);
    if (i === 0) first = r;
  }
  return { s: ts.sort((a, b) => a - b)[Math.floor(runs / 2)] / 1000, first: first as R };
}

interface TorchRow { task: string; threads: number; median_s: number; tokens_per_s: number }
interface TorchBlas { blas: string | null; core: string | null; config: string | null; libs: string[] }

// One Python process per thread count; OPENBLAS_CORETYPE unset so OpenBLAS picks this CPU's own
// kernel (the machine pins Haswell's AVX2 one). A peer without OpenBLAS exits 3: an error here.
function torchPeer(threads: number, runs: number, layers: number, tasks: string): Promise<{ blas: TorchBlas; rows: Map<string, TorchRow> }> {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  const script = path.join(REPO, 'bench/torch_qwen2.py');
  return new Promise((res, rej) => execFile('/usr/bin/python3', [script, String(threads), String(runs), '--layers', String(layers), '--tasks', tasks],
    { env, maxBuffer: 1 << 24 }, (err, out, stderr) => {
      if (err) return rej(new Error(`torch_qwen2.py (${threads} threads) failed: ${err.message} ${stderr}` +
        (err.code === 3 ? ' — PyTorch on the reference BLAS is not a peer: apt-get install -y libopenblas0-pthread' : '')));
      let blas: TorchBlas | null = null;
      const rows = new Map<string, TorchRow>();
      for (const line of out.split('\n')) {
        if (line.startsWith('BLAS ')) blas = JSON.parse(line.slice(5));
        if (line.startsWith('ROW ')) { const r = JSON.parse(line.slice(4)); rows.set(r.task, r); }
      }
      if (!blas?.blas) return rej(new Error(`torch_qwen2.py: no BLAS line in ${out}`));
      res({ blas, rows });
    }));
}

// forward + log-softmax + gather of the 127 next-token log-probs per sequence (model.bench's forwardLL)
function forwardLL(model: Model, seqs: number[][]): number {
  const st = model.run(seqs.map((ids) => [{ ids }]), {});
  const rows: number[] = [], targets: number[] = [];
  seqs.forEach((s, b) => { for (let t = 0; t < T - 1; t++) { rows.push(b * T + t); targets.push(s[t + 1]); } });
  return st.nll(rows, targets, 1, false).sum;
}

// soft.bench's step: 20 soft rows + 128 tokens, mean NLL of tokens[1..127], backward to the soft rows, AdamW
function promptStep(m: Model, seqs: number[][]) {
  const pt = new PromptTuning(m, [{ soft: P }, { input: true }], { type: 'random', std: 0.02 }, 1);
  const batch = seqs.map((s) => layoutExample(m, pt.template, { input: [s[0]], target: s.slice(1) }));
  const opt = new AdamW(m.kernels, pt.params, { lr: 1e-2 });
  const { rows, targets } = batchTargets(batch);
  return {
    step: () => {
      opt.zeroGrad();
      const st = pt.forward(batch, true);
      st.nll(rows, targets, 1 / rows.length, true);
      pt.backward(st, batch);
      opt.update();
    },
    forward: () => pt.forward(batch, false).nll(rows, targets, 1, false).sum,
    free: () => { opt.free(); pt.free(); },
  };
}

// GFLOP/s of our GEMM alone on the model's largest per-layer shape, (B·T, C) · (F, C)ᵀ
async function gemmRate(k: Kernels, c: ModelConfig, runs: number): Promise<number> {
  const M = B * T, K = c.dim, N = c.hiddenDim;
  const mark = k.heap.mark();
  const X = k.from(random(M * K, 7, 1)), W = k.from(random(N * K, 8, 0.1)), Y = k.alloc(M * N);
  k.matmul(Y, X, W, null, M, K, N);
  const { s } = await timed(() => k.matmul(Y, X, W, null, M, K, N), runs + 2);
  k.heap.reset(mark);
  return (2 * M * K * N) / s / 1e9;
}

// a reduced-depth or one-thread-count run writes its own section (families-1l, families-2t, …), so
// it never replaces the rows of the full default run
const argOf = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const SUITE = 'families' + (argOf('layers') && Number(argOf('layers')) !== 24 ? `-${argOf('layers')}l` : '') +
  (argOf('threads') && argOf('threads') !== '1,2' ? `-${argOf('threads')}t` : '') + (argOf('profile') === '1' ? '-profile' : '') +
  (argOf('step-only') === '1' ? '-step' : '');

// Wraps every Kernels method so one forward reports its wall time per kernel (top-level calls:
// a kernel calling another through `this` counts once, under the outer name). Load on the shared
// machine stretches all of them alike, so the shares hold where absolute GFLOP/s do not.
function profileKernels(k: Kernels): { report: () => [string, number][]; total: () => number } {
  const acc = new Map<string, number>();
  let depth = 0;
  const proto = Object.getPrototypeOf(k);
  for (const name of Object.getOwnPropertyNames(proto)) {
    const f = (k as any)[name];
    if (name === 'constructor' || typeof f !== 'function') continue;
    (k as any)[name] = function (this: unknown, ...a: unknown[]) {
      if (depth > 0) return f.apply(k, a);
      depth++;
      const t0 = performance.now();
      try { return f.apply(k, a); } finally {
        depth--;
        acc.set(name, (acc.get(name) ?? 0) + performance.now() - t0);
      }
    };
  }
  return { report: () => [...acc.entries()].sort((a, b) => b[1] - a[1]), total: () => [...acc.values()].reduce((a, b) => a + b, 0) };
}

const opt = (args: string[], name: string, dflt: number) => {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split('=')[1]) : dflt;
};

export default {
  name: SUITE,
  async run(ctx: any) {
    const layers = opt(ctx.args, 'layers', 24);
    const runs = opt(ctx.args, 'runs', 1); // timed calls (each forward is ~1 TFLOP; the machine is shared)
    const shape = layers === 24 ? 'Qwen2.5-0.5B shape' : `Qwen2.5-0.5B shape (${layers} of 24 layers)`;
    const load = () => os.loadavg().map((x) => x.toFixed(1)).join(' / ');
    const loadStart = load();
    const threadList = (ctx.args.find((a: string) => a.startsWith('--threads='))?.split('=')[1] ?? '1,2').split(',').map(Number);
    const extras = opt(ctx.args, 'extras', 1) !== 0;
    if (opt(ctx.args, 'step-only', 0) === 1) {
      // --step-only=1: the prompt-tuning step / forward of the same batch at 1 thread, nothing else
      const ckpt = qwen05Checkpoint(layers);
      const k = await init({ maxMemoryBytes: HEAP });
      const m = await Model.fromCheckpoint(ckpt, { kernels: k });
      const ps = promptStep(m, randomTokens(B, T, ckpt.config.vocabSize, 0));
      let t0 = performance.now(); ps.step(); const step = (performance.now() - t0) / 1000;
      t0 = performance.now(); ps.forward(); const fwd = (performance.now() - t0) / 1000;
      ps.free();
      ctx.row({
        name: `${shape} prompt-tuning step ${B}×(${P}+${T}) / forward of the same batch`, build: k.build, threads: 1, unit: 'x',
        value: step / fwd, peer: 'target', peer_value: 2.2, ratio: step / fwd / 2.2, target: '≤ 2.2x', step_s: step, forward_s: fwd,
        heap_peak_mb: k.heap.peak / 1e6,
      });
      m.dispose();
      ctx.note(`One step then one forward, adjacent; load average (1 / 5 / 15 min) ${load()} on ${os.cpus().length} cores shared with other engineers' tests.`);
      return;
    }
    if (opt(ctx.args, 'profile', 0) === 1) {
      // --profile=1: one forward per thread count with every kernel call timed; nothing else
      const ckpt = qwen05Checkpoint(layers);
      const flops = forwardFlops(ckpt.config, B, T);
      const seqs = randomTokens(B, T, ckpt.config.vocabSize, 0);
      for (const threads of threadList) {
        const k: Kernels = threads > 1 ? await init({ threads, maxMemoryBytes: HEAP }) : await init({ maxMemoryBytes: HEAP });
        const m = await Model.fromCheckpoint(ckpt, { kernels: k });
        const prof = profileKernels(k);
        const t0 = performance.now();
        forwardLL(m, seqs);
        const wall = performance.now() - t0;
        const rep = prof.report();
        const mm = rep.filter(([n]) => n === 'matmul').reduce((a, [, v]) => a + v, 0);
        ctx.row({
          name: `${shape} forward log-lik ${B}×${T}: GEMM time / forward time`, build: threads > 1 ? `threads (${k.build})` : k.build, threads,
          unit: 'share', value: mm / wall, peer: 'target', peer_value: 0.85, gemm_gflops_inside_forward: flops.total / (mm / 1000) / 1e9,
          forward_gflops: flops.total / (wall / 1000) / 1e9, outside_kernels_share: 1 - prof.total() / wall,
        });
        ctx.note(`${threads}T, share of ${(wall / 1000).toFixed(1)} s: ` + rep.slice(0, 8).map(([n, v]) => `${n} ${(100 * v / wall).toFixed(1)}%`).join(', ') +
          `; outside kernel calls ${(100 * (1 - prof.total() / wall)).toFixed(1)}%`);
        m.dispose();
        if (threads > 1) disposeThreads(k);
      }
      ctx.note(`Load average (1 / 5 / 15 min) ${load()} on ${os.cpus().length} cores shared with other engineers' tests.`);
      return;
    }

    // PyTorch first (its own processes), so our JS heap is not holding 2 GB of weights meanwhile
    const peers = new Map<number, Awaited<ReturnType<typeof torchPeer>>>();
    for (const th of threadList) {
      ctx.log(`PyTorch peer, ${th} thread(s)…`);
      peers.set(th, await torchPeer(th, runs, layers, th === 1 && extras ? 'forward_ll,prompt_step,generate' : 'forward_ll'));
    }
    const t1 = peers.get(threadList[0])!;
    const blas = `${t1.blas.blas}, kernel ${t1.blas.core}`;
    const torchName = (th: number) => `PyTorch ${th}T (${blas})`;

    const ckpt = qwen05Checkpoint(layers);
    const cfg = ckpt.config;
    const flops = forwardFlops(cfg, B, T);
    const seqs = randomTokens(B, T, cfg.vocabSize, 0);
    const targets = seqs; // scoreMany with an empty prompt: the same 8 × 128 ids
    const heap = HEAP;

    let ours1 = 0, ours2 = 0, score1 = 0, score2 = 0, ref = 0;
    let scoreRef: { logprobs: number[] }[] = [];
    for (const threads of threadList) {
      const k: Kernels = threads > 1 ? await init({ threads, maxMemoryBytes: heap }) : await init({ maxMemoryBytes: heap });
      const build = threads > 1 ? `threads (${k.build})` : k.build;
      const m = await Model.fromCheckpoint(ckpt, { kernels: k });
      const gemm = await gemmRate(k, cfg, runs);
      const { s, first: sum } = await timed(() => forwardLL(m, seqs), runs);
      // thread counts must agree on the number
      if (ref === 0) ref = sum;
      else if (Math.abs(sum - ref) > 1e-3 * Math.abs(ref)) throw new Error(`families: 2-thread sum log-lik ${sum} vs 1-thread ${ref}`);
      const gflops = flops.total / s / 1e9;
      const tr = peers.get(threads)!.rows.get('forward_ll')!;
      if (threads === 1) ours1 = s; else ours2 = s;
      ctx.row({
        name: `${shape} forward log-lik ${B}×${T}: share of our GEMM`, build, threads, unit: 'GFLOP/s', value: gflops,
        peer: `our GEMM (${B * T},${cfg.dim},${cfg.hiddenDim})`, peer_value: gemm, target: '≥ 0.85x',
        seconds: s, tflop: flops.total / 1e12, lm_head_share: flops.lmHead / flops.total,
      });
      ctx.row({
        name: `${shape} forward log-lik ${B}×${T}`, build, threads, unit: 'tokens/s', value: (B * T) / s,
        peer: torchName(threads), peer_value: tr.tokens_per_s, torch_gflops: flops.total / tr.median_s / 1e9,
      });
      // scoreMany is what the onnxruntime rows time: one call here (the workspace is warm)
      let t0 = performance.now();
      const scored = await m.scoreMany([], targets);
      const scoreS = (performance.now() - t0) / 1000;
      if (scoreRef.length === 0) scoreRef = scored;
      if (threads === 1) score1 = scoreS; else score2 = scoreS;
      if (threads === 1 && extras) {
        // the prompt-tuning step against the forward of the same 148-row batch, interleaved
        const ps = promptStep(m, seqs);
        const st: number[] = [], fw: number[] = [];
        for (let i = 0; i < Math.max(1, runs - 1); i++) {
          let t0 = performance.now(); ps.step(); st.push(performance.now() - t0);
          t0 = performance.now(); ps.forward(); fw.push(performance.now() - t0);
        }
        const med = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] / 1000;
        const [step, fwd] = [med(st), med(fw)];
        ps.free();
        const tr1 = peers.get(1)!.rows.get('prompt_step')!;
        ctx.row({
          name: `${shape} prompt-tuning step ${B}×(${P}+${T}) / forward of the same batch`, build, threads, unit: 'x',
          value: step / fwd, peer: 'target', peer_value: 2.2, ratio: step / fwd / 2.2, target: '≤ 2.2x', step_s: step, forward_s: fwd,
          torch_step_s: tr1.median_s, step_tokens_per_s_vs_torch: (tr1.median_s / step),
        });
        // generation at batch 1: 16-token prompt, 32 greedy tokens (prefill included, as the peer does)
        const prompt = Array.from({ length: GEN_PROMPT }, (_, i) => (i * 7919 + 3) % cfg.vocabSize);
        t0 = performance.now();
        const g = await m.generate(prompt, { maxTokens: GEN_NEW, stopAtEos: false, temperature: 0 });
        const gs = (performance.now() - t0) / 1000;
        const tg = peers.get(1)!.rows.get('generate')!;
        ctx.row({
          name: `${shape} generation at batch 1 (${GEN_PROMPT}-token prompt, ${GEN_NEW} tokens)`, build, threads, unit: 'tokens/s',
          value: g.tokens.length / gs, peer: torchName(1), peer_value: tg.tokens_per_s,
        });
      }
      m.dispose();
      if (threads > 1) disposeThreads(k);
    }

    // onnxruntime-web's wasm EP on our export of the same checkpoint, scoring the same batch
    for (const threads of threadList) {
      const be = await OrtBackend.create(ckpt, { ep: 'wasm', numThreads: threads });
      // create() made the session; the first call is timed and cross-checked against our scores
      const { s, first: got } = await timed(() => be.scoreMany([], targets), runs);
      let diff = 0;
      got.forEach((r, i) => r.logprobs.forEach((x, j) => { diff = Math.max(diff, Math.abs(x - scoreRef[i].logprobs[j])); }));
      await be.dispose();
      const ours = threads === 1 ? score1 : score2;
      ctx.row({
        name: `${shape} scoreMany ${B}×${T}: ours vs onnxruntime-web`, build: threads > 1 ? 'threads' : 'default', threads, unit: 'tokens/s',
        value: (B * T) / ours, ours_forward_ll_tokens_per_s: (B * T) / (threads === 1 ? ours1 : ours2), peer: `onnxruntime-web wasm EP (${threads}T), our ONNX export`, peer_value: (B * T) / s,
        target: '≥ 1.4x', max_logprob_diff: Number(diff.toExponential(2)),
      });
    }
    const loadEnd = load();
    ctx.note(`${shape}: ${(flops.total / 1e12).toFixed(3)} TFLOP per ${B}×${T} forward (every linear layer incl. the ${cfg.vocabSize}-row LM head = ${(100 * flops.lmHead / flops.total).toFixed(0)}%, plus causal q·kᵀ and p·v); seeded random weights built in memory; median of ${runs} timed call(s), no separate warm-up (a first call's extra work is milliseconds beside a ~1 TFLOP forward).`);
    ctx.note(`PyTorch 1.13 (Debian python3-torch) on ${t1.blas.config} — OPENBLAS_CORETYPE unset for the peer so OpenBLAS runs this CPU's own kernel; hand-written Qwen2 in bench/torch_qwen2.py, same shapes and tasks.`);
    ctx.note(`Load average (1 / 5 / 15 min) at start ${loadStart}, at end ${loadEnd} on ${os.cpus().length} cores shared with other engineers' tests: absolute numbers are depressed; ratios of interleaved or adjacent runs less so.`);
  },
};
