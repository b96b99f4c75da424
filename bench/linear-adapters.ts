// The LoRA / IA3 rows of the adapters suite: quality on stories260K's Tom task (same step budget as
// the prompt methods), and every method's step time against prompt tuning on a Qwen-shaped model (Qwen2.5-0.5B's
// widths — 896 wide, 14 q / 2 kv heads of 64, MLP 4864, vocabulary 151936 — with 4 of its 24
// layers, seeded random weights: speed does not depend on the values).
import { Model } from '../src/model/index.js';
import type { Checkpoint, ModelConfig } from '../src/model/types.js';
import { evaluateLaid } from '../src/soft/evaluate.js';
import { linearAdapter } from '../src/soft/linear-adapter.js';
import { batchSequences } from '../src/soft/method.js';
import { encodeLinearPeft, type LinearArtifact } from '../src/soft/peft-linear.js';
import { tune, type TuneOptions } from '../src/soft/trainer.js';
import type { Example } from '../src/soft/types.js';

function validNll(m: Model, a: LinearArtifact, valid: Example[]): number {
  const ad = linearAdapter(m, a);
  try {
    return evaluateLaid({ model: m, template: [{ input: true }], posOffset: 0, forward: (b) => m.run(batchSequences(m, b, null), { adapter: ad }) },
      valid.map(({ input, target }) => ({ input, target }))).loss;
  } finally {
    ad.free();
  }
}

const QWEN_SHAPE: ModelConfig = {
  arch: 'llama', family: 'qwen2', dim: 896, nLayers: 4, nHeads: 14, nKvHeads: 2, headDim: 64, hiddenDim: 4864, vocabSize: 151936,
  maxSeqLen: 512, normEps: 1e-6, ropeTheta: 1e6, ropeMode: 'half', tiedEmbeddings: true, attnBias: true, attnOutBias: false, mlpBias: false,
  bosId: null, eosId: null,
};

function qwenShaped(seed = 0): Checkpoint {
  let a = seed + 1;
  const u = () => { a ^= a << 13; a >>>= 0; a ^= a >>> 17; a ^= a << 5; a >>>= 0; return (a + 0.5) / 4294967296 - 0.5; };
  const c = QWEN_SHAPE, C = c.dim, F = c.hiddenDim, qd = c.nHeads * c.headDim, kvd = c.nKvHeads * c.headDim;
  const fill = (n: number, s: number) => { const x = new Float32Array(n); for (let i = 0; i < n; i++) x[i] = s * u(); return x; };
  const t = new Map<string, Float32Array>();
  t.set('tok_embeddings', fill(c.vocabSize * C, 0.05));
  for (let l = 0; l < c.nLayers; l++) {
    const p = `layers.${l}.`;
    t.set(p + 'attn_norm', new Float32Array(C).fill(1)); t.set(p + 'mlp_norm', new Float32Array(C).fill(1));
    t.set(p + 'wq', fill(qd * C, 0.05)); t.set(p + 'wk', fill(kvd * C, 0.05)); t.set(p + 'wv', fill(kvd * C, 0.05)); t.set(p + 'wo', fill(C * qd, 0.05));
    t.set(p + 'bq', fill(qd, 0.05)); t.set(p + 'bk', fill(kvd, 0.05)); t.set(p + 'bv', fill(kvd, 0.05));
    t.set(p + 'w1', fill(F * C, 0.05)); t.set(p + 'w3', fill(F * C, 0.05)); t.set(p + 'w2', fill(C * F, 0.02));
  }
  t.set('final_norm', new Float32Array(C).fill(1));
  return { config: c, tensors: t, tokenizer: null, source: 'memory:qwen2.5-0.5b-widths-4-layers', id: 'qwen-shape-4l' };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function linearRows(ctx: any, m: Model, tom: { train: Example[]; valid: Example[] }, common: TuneOptions, base: number, steps: number): Promise<void> {
  let trainable = 0;
  const count: TuneOptions = { onCheckpoint: (c) => { trainable = c.params.reduce((a, p) => a + p.length, 0); } };
  // their learning rates differ from a prompt's by orders of magnitude: each row is the best of
  // three (named in the row), picked on the same held-out openings
  const runs: [string, TuneOptions & { method: 'lora' | 'ia3' }, number[]][] = [
    ['LoRA r = 4, alpha 8 (all seven projections)', { method: 'lora', lora: { r: 4, alpha: 8, targetModules: 'all-linear' } }, [3e-4, 1e-3, 3e-3]],
    ['IA3 (k, v; down_proj input-scaled)', { method: 'ia3' }, [0.03, 0.1, 0.3]],
  ];
  for (const [name, o, lrs] of runs) {
    ctx.log(`adapters: ${name}`);
    let best: { after: number; lr: number; ms: number; bytes: number } | null = null;
    for (const lr of lrs) {
      const r = await tune(m, tom.train, { maxSteps: steps, batchSize: common.batchSize, seed: common.seed, checkpointEvery: steps, ...count, ...o, lr });
      const after = validNll(m, r.prompt, tom.valid);
      if (!best || after < best.after) best = { after, lr, ms: (1000 * r.metrics.seconds) / r.metrics.steps, bytes: encodeLinearPeft(r.prompt).weights.length };
    }
    ctx.row({
      name: `stories260K ${name}: Tom-task validation NLL after ${steps} steps`, build: m.kernels.build, unit: 'nats/token', value: best!.after,
      peer: 'no prompt', peer_value: base, ratio: best!.after / base, trainable, lr: best!.lr, lr_tried: lrs.join(' '), ms_per_step: best!.ms,
      file_bytes: best!.bytes,
    });
  }
  ctx.note('adapters (LoRA / IA3): lr picked per method from the three in lr_tried on the held-out openings (the prompt methods use fixed lrs); trainable counts every LoRA A and B or IA3 vector; file_bytes is adapter_model.safetensors. Qwen-shaped speed rows: one training step of batch 4 (32 tokens each, 8 targets) on Qwen2.5-0.5B widths with 4 layers and its 151936-token head, measured on the shared 2-core machine under load from other work (repeat runs differed by up to 2x): they show the order of cost, not a ranking.');
  // speed: ms per training step (batch 4 × 32 tokens) on the Qwen-shaped model, prompt tuning as the peer
  const q = await Model.fromCheckpoint(qwenShaped());
  try {
    const data: Example[] = Array.from({ length: 4 }, (_, i) => ({ input: Array.from({ length: 24 }, (_, j) => (i * 977 + j * 131) % 151000), target: [5, 6, 7, 8, 9, 10, 11, 12] }));
    const S = 3;
    const time = async (o: TuneOptions) => {
      await tune(q, data, { ...o, maxSteps: 1, batchSize: 4, lr: 1e-3 } as TuneOptions); // warm-up: layout, first-touch
      const r = await tune(q, data, { ...o, maxSteps: S, batchSize: 4, lr: 1e-3 } as TuneOptions);
      return (1000 * r.metrics.seconds) / r.metrics.steps;
    };
    const peer = await time({ method: 'prompt', virtualTokens: 8 });
    const methods: [string, TuneOptions][] = [
      ['LoRA r = 4 (all seven projections)', { method: 'lora', lora: { r: 4, alpha: 8, targetModules: 'all-linear' } }], ['IA3 (k, v, down_proj)', { method: 'ia3' }],
      ['prefix tuning (8 tokens)', { method: 'prefix', virtualTokens: 8 }], ['P-tuning (8 tokens, MLP encoder hidden 896)', { method: 'p-tuning', virtualTokens: 8 }],
      ['multitask prompt (8 tokens, 4 tasks, rank 2)', { method: 'multitask', virtualTokens: 8, multitask: { tasks: 4, rank: 2 } }],
      ['transformer prompt encoder (8 tokens, 2 blocks of width 128, 4 tasks)', { method: 'encoder', virtualTokens: 8, promptEncoder: { descriptions: [[11, 12, 13], [21, 22], [31, 32, 33, 34], [41]] } }],
    ];
    for (const [name, o] of methods) {
      const ms = await time(o);
      ctx.row({ name: `Qwen-shaped (Qwen2.5-0.5B widths, 4 layers) ${name}: training step, batch 4 × 32 tokens`, build: q.kernels.build, unit: 'ms/step', value: ms,
        peer: 'prompt tuning (8 tokens)', peer_value: peer, ratio: ms / peer });
    }
  } finally {
    q.dispose();
  }
}
