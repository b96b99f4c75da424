// Finite differences through the newer layers on tiny random models: for each family the analytic
// gradient of a padded two-sequence batch's mean NLL with respect to its soft rows and to a
// prefix's keys/values (the trainable tensors of prompt and prefix tuning) agrees with central
// differences. Each config turns on what its family adds — q/k/v biases without an o bias (Qwen2),
// per-head q/k RMSNorm (Qwen3), Gemma 3's (1 + w) norms, embedding scale, sandwich norms, GeGLU,
// query_pre_attn_scalar ≠ head_dim and a sliding layer with its own RoPE θ, Phi-3's partial rotary,
// Mistral's window — with windows shorter than prefix + sequence so they cut.
import { describe, expect, it } from 'vitest';
import { init, type Kernels, type Tensor } from '../../src/kernels/index.js';
import { Model, type Segment } from '../../src/model/model.js';
import { defaultRope } from '../../src/model/rope.js';
import { rng } from '../../src/model/sampling.js';
import type { ModelConfig, TensorMap } from '../../src/model/types.js';
import { expectedShapes } from '../../src/model/weights.js';

const C = 16, H = 4, hd = 8, F = 24, V = 40;
const base: ModelConfig = {
  arch: 'llama', dim: C, nLayers: 2, nHeads: H, nKvHeads: 2, headDim: hd, hiddenDim: F, vocabSize: V, maxSeqLen: 64,
  normEps: 1e-6, ropeTheta: 10000, ropeMode: 'half', tiedEmbeddings: false, attnBias: false, mlpBias: false, bosId: 1, eosId: 2,
};
const FAMILIES: Record<string, Partial<ModelConfig>> = {
  qwen2: { family: 'qwen2', attnBias: true, attnOutBias: false, tiedEmbeddings: true },
  qwen3: { family: 'qwen3', qkNorm: true, rope: defaultRope(1e6, hd) },
  gemma3: {
    family: 'gemma3', qkNorm: true, normPlusOne: true, embedScale: Math.fround(Math.sqrt(C)), sandwichNorm: true,
    activation: 'gelu_tanh', queryScale: 1 / Math.sqrt(6), tiedEmbeddings: true,
    layerTypes: ['sliding_attention', 'full_attention'], slidingWindow: 3,
    rope: defaultRope(1e6, hd), ropeLocal: defaultRope(10000, hd),
  },
  phi3: { family: 'phi3', rope: { ...defaultRope(10000, hd), rotaryDim: 4 } },
  mistral: { family: 'mistral', nKvHeads: 1, layerTypes: ['sliding_attention', 'sliding_attention'], slidingWindow: 4 },
};

function tinyModel(k: Kernels, name: string, extra: Partial<ModelConfig>): Promise<Model> {
  const config = { ...base, ...extra };
  const r = rng(11);
  const gauss = () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  const tensors: TensorMap = new Map();
  for (const [n, shape] of expectedShapes(config)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const norm = /norm/.test(n), bias = /\.b[qkvo123]$/.test(n);
    // norm weights near 1 (Gemma: near 0, it adds the 1), biases small, matrices ~1/√fan_in
    const scale = norm ? 0.1 : bias ? 0.1 : n === 'tok_embeddings' || n === 'lm_head' ? 0.5 : 1 / Math.sqrt(shape[shape.length - 1]);
    const offset = norm && !config.normPlusOne ? 1 : 0;
    tensors.set(n, Float32Array.from({ length: size }, () => offset + scale * gauss()));
  }
  return Model.fromCheckpoint({ config, tensors, tokenizer: null, source: 'memory', id: `tiny-${name}` }, { kernels: k });
}

const S = 2, P = 2; // soft rows per sequence, prefix rows
const IDS = [[5, 9, 14, 3, 22, 7], [8, 30, 11]]; // two lengths: padding is exercised

// mean NLL of each sequence's next tokens (rows of ids, after the soft rows)
function lossOf(model: Model, soft: Float32Array, prefix: { k: Tensor[]; v: Tensor[] }, dprefix: { k: Tensor[]; v: Tensor[] } | null): { loss: number; dsoft: Float32Array | null } {
  const seqs: Segment[][] = IDS.map((ids) => [{ embeds: soft, rows: S }, { ids }]);
  const T = S + Math.max(...IDS.map((x) => x.length));
  const rows: number[] = [], targets: number[] = [];
  IDS.forEach((ids, b) => ids.forEach((id, j) => { if (j > 0) { rows.push(b * T + S + j - 1); targets.push(id); } }));
  // the last soft row predicts the first id too
  IDS.forEach((ids, b) => { rows.push(b * T + S - 1); targets.push(ids[0]); });
  const train = dprefix !== null;
  const st = model.run(seqs, { prefix: { P, ...prefix }, posOffset: P, train });
  const { sum } = st.nll(rows, targets, 1 / rows.length, train);
  if (!train) return { loss: sum / rows.length, dsoft: null };
  const dx = st.backward(dprefix).f32(); // (B·T, C)
  const dsoft = new Float32Array(S * C);
  IDS.forEach((_, b) => { for (let i = 0; i < S * C; i++) dsoft[i] += dx[b * T * C + i]; });
  return { loss: sum / rows.length, dsoft };
}

describe('finite differences through the new layers', () => {
  for (const [name, extra] of Object.entries(FAMILIES)) {
    it(`${name}: d(loss)/d(soft rows) and d(loss)/d(prefix K/V)`, async () => {
      const k = await init();
      const model = await tinyModel(k, name, extra);
      const mark = k.heap.mark();
      try {
        const r = rng(3);
        const kvd = model.config.nKvHeads * hd;
        // soft rows as large as token embeddings: RMSNorm of a near-zero row curves too sharply for differences
        const soft = Float32Array.from({ length: S * C }, () => 2 * (r() - 0.5));
        const prefix = { k: [] as Tensor[], v: [] as Tensor[] }, dprefix = { k: [] as Tensor[], v: [] as Tensor[] };
        for (let l = 0; l < model.config.nLayers; l++) {
          for (const t of ['k', 'v'] as const) {
            prefix[t].push(k.from(Array.from({ length: P * kvd }, () => r() - 0.5), 'prefix'));
            dprefix[t].push(k.alloc(P * kvd, 'dprefix').set(new Float32Array(P * kvd)));
          }
        }
        const { dsoft } = lossOf(model, soft, prefix, dprefix);
        // central differences with Richardson extrapolation, (4·D(h/2) − D(h)) / 3: truncation O(h⁴),
        // so h = 2e-2 keeps f32 rounding noise (≈ 5e-7 / h) far below the tolerance even where the
        // tiny random models curve sharply (a short window leaves a query few keys)
        const h = 2e-2;
        const at = (get: () => Float32Array, i: number, x: number, d: number) => {
          get()[i] = x + d;
          const up = lossOf(model, soft, prefix, null).loss;
          get()[i] = x - d;
          const down = lossOf(model, soft, prefix, null).loss;
          get()[i] = x;
          return (up - down) / (2 * d);
        };
        const check = (what: string, get: () => Float32Array, grad: Float32Array, n = 8) => {
          const scale = Math.max(...Array.from(grad, Math.abs));
          expect(scale, `${what} gradient is not all zero`).toBeGreaterThan(0);
          const idx = [grad.indexOf(grad.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a), 0))];
          for (let i = 0; i < n; i++) idx.push(Math.floor(r() * grad.length));
          for (const i of idx) {
            const x = get()[i];
            const fd = (4 * at(get, i, x, h / 2) - at(get, i, x, h)) / 3;
            expect(Math.abs(fd - grad[i]), `${what}[${i}]: analytic ${grad[i]} vs finite difference ${fd}`).toBeLessThanOrEqual(2e-3 * scale + 1e-2 * Math.abs(fd));
          }
        };
        check('soft rows', () => soft, dsoft!);
        for (let l = 0; l < model.config.nLayers; l++) {
          check(`prefix k layer ${l}`, () => prefix.k[l].f32(), dprefix.k[l].f32().slice(), 4);
          check(`prefix v layer ${l}`, () => prefix.v[l].f32(), dprefix.v[l].f32().slice(), 4);
        }
      } finally {
        k.heap.reset(mark);
        model.dispose();
      }
    });
  }
});
