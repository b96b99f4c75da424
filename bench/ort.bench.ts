// ORT suite: scoring throughput of a GPT-2-small-shape model (12 layers, 768 wide, 12 heads,
// vocab 50257, seeded random weights — speed does not depend on the values) on a (2, 64) batch:
// our WASM kernels (Model.scoreMany) vs onnxruntime-web's wasm EP vs onnxruntime-node (CPU EP),
// all single-threaded, all through the same scoreMany API and the same exported graph for ORT.
// Each backend's per-token log-probs are cross-checked before timing.
import * as ortNode from 'onnxruntime-node';
import { init } from '../src/kernels/index.js';
import { Model } from '../src/model/model.js';
import type { Checkpoint, ModelConfig, TensorMap } from '../src/model/types.js';
import { OrtBackend } from '../src/ort/backend.js';

interface Ctx {
  row(r: Record<string, unknown>): unknown;
  note(text: string): void;
  log(...a: unknown[]): void;
  args: string[];
}

const B = 2, T = 64;

function random(n: number, seed: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 4294967296 - 0.5) * scale;
  }
  return a;
}

function gpt2Small(): Checkpoint {
  const config: ModelConfig = {
    arch: 'gpt2', dim: 768, nLayers: 12, nHeads: 12, nKvHeads: 12, headDim: 64, hiddenDim: 3072, vocabSize: 50257,
    maxSeqLen: 1024, normEps: 1e-5, ropeTheta: 0, ropeMode: 'half', tiedEmbeddings: true, attnBias: true, mlpBias: true,
    bosId: null, eosId: null,
  };
  const C = 768, F = 3072, V = 50257;
  const t: TensorMap = new Map();
  let seed = 1;
  const put = (name: string, n: number, scale: number, offset = 0) => {
    const a = random(n, seed++, scale);
    if (offset) for (let i = 0; i < n; i++) a[i]! += offset;
    t.set(name, a);
  };
  put('tok_embeddings', V * C, 0.1);
  put('pos_embeddings', 1024 * C, 0.02);
  for (let l = 0; l < 12; l++) {
    const p = `layers.${l}.`;
    put(p + 'attn_norm', C, 0.1, 1); put(p + 'attn_norm_bias', C, 0.02);
    for (const w of ['wq', 'wk', 'wv', 'wo']) put(p + w, C * C, 0.07);
    for (const b of ['bq', 'bk', 'bv', 'bo']) put(p + b, C, 0.02);
    put(p + 'mlp_norm', C, 0.1, 1); put(p + 'mlp_norm_bias', C, 0.02);
    put(p + 'w1', F * C, 0.07); put(p + 'b1', F, 0.02);
    put(p + 'w2', C * F, 0.035); put(p + 'b2', C, 0.02);
  }
  put('final_norm', C, 0.1, 1); put('final_norm_bias', C, 0.02);
  return { config, tensors: t, tokenizer: null, source: 'gpt2-small-random', id: 'gpt2-small-random' };
}

// median of n timed calls after one warm-up call, in ms
async function time(fn: () => Promise<unknown>, n: number): Promise<number> {
  await fn();
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return ms.sort((a, b) => a - b)[Math.floor(n / 2)]!;
}

export default {
  name: 'ort',
  async run(ctx: Ctx) {
    const ck = gpt2Small();
    const targets = Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (b * 7919 + t * 104729) % 50257));
    const score = (m: { scoreMany: Model['scoreMany'] }) => m.scoreMany([], targets);
    const reps = 3;

    const k = await init({ build: 'simd' });
    const model = await Model.fromCheckpoint(ck, { kernels: k });
    const ref = await score(model);
    const oursMs = await time(() => score(model), reps);
    ctx.log(`wasm kernels (simd, 1 thread): ${oursMs.toFixed(0)} ms per (${B}, ${T}) batch`);
    model.dispose();

    const peers: { name: string; make: () => Promise<OrtBackend> }[] = [
      { name: 'onnxruntime-web 1.30 wasm EP (1 thread)', make: () => OrtBackend.create(ck, { ep: 'wasm', numThreads: 1 }) },
      { name: 'onnxruntime-node 1.30 CPU EP (1 thread)', make: () => OrtBackend.create(ck, { runtime: ortNode as any, sessionOptions: { intraOpNumThreads: 1, interOpNumThreads: 1 } }) },
    ];
    const tokens = B * (T - 1); // the first token of each sequence has nothing before it
    for (const p of peers) {
      const t0 = performance.now();
      const be = await p.make();
      const createMs = performance.now() - t0;
      const got = await score(be);
      let diff = 0;
      got.forEach((r, i) => r.logprobs.forEach((x, j) => { diff = Math.max(diff, Math.abs(x - ref[i]!.logprobs[j]!)); }));
      const ms = await time(() => score(be), reps);
      await be.dispose();
      ctx.log(`${p.name}: ${ms.toFixed(0)} ms per batch, session created in ${createMs.toFixed(0)} ms, max |Δ log-prob| vs kernels ${diff.toExponential(2)}`);
      ctx.row({
        name: `GPT-2-small scoring (${B}×${T})`, unit: 'tokens/s', value: (tokens / oursMs) * 1000, build: 'simd', threads: 1,
        peer: p.name, peer_value: (tokens / ms) * 1000, max_logprob_diff: Number(diff.toExponential(2)),
        peer_session_create_ms: Math.round(createMs),
      });
    }
    ctx.note(`GPT-2-small shape with seeded random weights; every backend scores the same ${B} sequences of ${T} tokens through scoreMany (per-token log-probs of ${tokens} tokens), median of ${reps} calls after one warm-up. ORT graphs come from our exporter (LogSoftmax + GatherElements inside the graph).`);
    ctx.note('WebGPU numbers need a real GPU; this machine has none (its SwiftShader adapter is a correctness path, ~0.7 GFLOP/s).');
  },
};
