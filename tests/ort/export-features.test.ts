// Soft prompts, prefix K/V, padding and external data through the exported graph
// (onnxruntime-node), against ../shared/refs and against unbatched runs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { exportOnnx } from '../../src/ort/export.js';
import { loadGpt2Tiny, loadStories260K, type TestCheckpoint } from './helpers/checkpoints.js';
import { embed, forwardCases, maxAbsDiff, readRef } from './helpers/refs.js';

const models = [
  { name: 'stories260K', load: loadStories260K },
  { name: 'gpt2-tiny-random', load: loadGpt2Tiny },
] as const;

const i64 = (a: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(a.map(BigInt)), dims);
const f32 = (a: Float32Array, dims: number[]) => new ort.Tensor('float32', a, dims);

async function withSession<R>(model: Uint8Array | string, fn: (s: ort.InferenceSession) => Promise<R>): Promise<R> {
  const s = await ort.InferenceSession.create(model as any);
  try { return await fn(s); } finally { await s.release(); }
}

describe('exported graph features (onnxruntime-node)', () => {
  for (const m of models) {
    it(`${m.name}: prompt tuning — soft rows in inputs_embeds give the reference target NLLs within 1e-4`, async () => {
      const ck = m.load();
      const cs = readRef(m.name, 'prompt_tuning.json').cases?.[0] ?? readRef(m.name, 'prompt_tuning.json');
      const soft = new Float32Array(cs.soft_prompt_init.data);
      const P = cs.P as number, C = ck.config.dim;
      const ids = [...cs.input_tokens, ...cs.target_tokens] as number[];
      const L = P + ids.length;
      const x = new Float32Array(L * C); // (1, L, C): [soft rows, tokens]
      x.set(soft, 0);
      x.set(embed(ck.tensors.get('tok_embeddings')!, C, ids), P * C);
      const seq = [...new Array(P).fill(0), ...ids];
      const lp = await withSession(exportOnnx(ck.config, ck.tensors).model, async (s) => {
        const out = await s.run({
          inputs_embeds: f32(x, [1, L, C]),
          attention_mask: i64(seq.map(() => 1), [1, L]),
          position_ids: i64(seq.map((_, t) => t), [1, L]),
          target_ids: i64(seq.map((_, t) => seq[t + 1] ?? 0), [1, L]),
        });
        return out.target_logprobs!.data as Float32Array;
      });
      const Lx = cs.input_tokens.length, Ly = cs.target_tokens.length;
      const nll = Array.from(lp.subarray(P + Lx - 1, P + Lx - 1 + Ly), (v) => -v);
      expect(maxAbsDiff(nll, cs.target_nll.data)).toBeLessThan(1e-4);
      expect(Math.abs(nll.reduce((a, b) => a + b, 0) / Ly - cs.loss)).toBeLessThan(2e-5);
    });

    it(`${m.name}: prefix tuning — past K/V inputs give the reference target NLLs (hf_peft and positions_from_zero) within 1e-4`, async () => {
      const ck = m.load();
      const { nLayers: NL, nKvHeads: Hkv, headDim: hd, dim: C } = ck.config;
      const cs = readRef(m.name, 'prefix_tuning.json').cases[0];
      const P = cs.P as number;
      const prefix = new Float32Array(cs.prefix_init.data); // (NL, 2, Hkv, P, hd)
      const ids = [...cs.input_tokens, ...cs.target_tokens] as number[];
      const T = ids.length;
      const exp = exportOnnx(ck.config, ck.tensors, { prefix: true });
      await withSession(exp.model, async (s) => {
        for (const variant of cs.variants) {
          const off = variant.pos_offset as number;
          const feeds: Record<string, ort.Tensor> = {
            inputs_embeds: f32(embed(ck.tensors.get('tok_embeddings')!, C, ids), [1, T, C]),
            attention_mask: i64(new Array(P + T).fill(1), [1, P + T]),
            position_ids: i64(ids.map((_, t) => t + off), [1, T]),
            target_ids: i64(ids.map((_, t) => ids[t + 1] ?? 0), [1, T]),
          };
          const block = Hkv * P * hd;
          for (let l = 0; l < NL; l++) {
            feeds[`past_key_${l}`] = f32(prefix.slice((2 * l) * block, (2 * l + 1) * block), [1, Hkv, P, hd]);
            feeds[`past_value_${l}`] = f32(prefix.slice((2 * l + 1) * block, (2 * l + 2) * block), [1, Hkv, P, hd]);
          }
          const lp = (await s.run(feeds)).target_logprobs!.data as Float32Array;
          const Lx = cs.input_tokens.length, Ly = cs.target_tokens.length;
          const nll = Array.from(lp.subarray(Lx - 1, Lx - 1 + Ly), (v) => -v);
          expect(maxAbsDiff(nll, variant.target_nll.data), variant.variant).toBeLessThan(1e-4);
        }
      });
    });

    it(`${m.name}: a right- and left-padded batch of different lengths equals each sequence run alone, with no NaN`, async () => {
      const ck = m.load();
      const C = ck.config.dim;
      const seqs = forwardCases(m.name).map((c) => c.tokens.slice(0, 20));
      seqs[1] = seqs[1]!.slice(0, 13);
      const T = 20, pad = T - 13;
      const emb = ck.tensors.get('tok_embeddings')!;
      // row 0: full; row 1: right-padded; row 2 (a copy of row 1): left-padded, positions start at 0 after the pad
      const rows = [
        { ids: seqs[0]!, left: 0 },
        { ids: seqs[1]!, left: 0 },
        { ids: seqs[1]!, left: pad },
      ];
      const B = rows.length;
      const x = new Float32Array(B * T * C), mask: number[] = [], pos: number[] = [], tgt: number[] = [];
      rows.forEach((r, b) => {
        x.set(embed(emb, C, r.ids), (b * T + r.left) * C);
        for (let t = 0; t < T; t++) {
          const j = t - r.left; // index into r.ids
          const real = j >= 0 && j < r.ids.length;
          mask.push(real ? 1 : 0);
          pos.push(real ? j : 0);
          tgt.push(real ? (r.ids[j + 1] ?? 0) : 0);
        }
      });
      const exp = exportOnnx(ck.config, ck.tensors);
      await withSession(exp.model, async (s) => {
        const out = (await s.run({
          inputs_embeds: f32(x, [B, T, C]), attention_mask: i64(mask, [B, T]),
          position_ids: i64(pos, [B, T]), target_ids: i64(tgt, [B, T]),
        })).target_logprobs!.data as Float32Array;
        expect(out.every(Number.isFinite)).toBe(true);
        for (let b = 0; b < B; b++) {
          const ids = rows[b]!.ids, n = ids.length;
          const alone = (await s.run({
            inputs_embeds: f32(embed(emb, C, ids), [1, n, C]), attention_mask: i64(ids.map(() => 1), [1, n]),
            position_ids: i64(ids.map((_, t) => t), [1, n]), target_ids: i64(ids.map((_, t) => ids[t + 1] ?? 0), [1, n]),
          })).target_logprobs!.data as Float32Array;
          const got = out.subarray(b * T + rows[b]!.left, b * T + rows[b]!.left + n - 1);
          expect(maxAbsDiff(got, alone.subarray(0, n - 1))).toBeLessThan(1e-5);
        }
      });
    });
  }

  it('external data: initializers above the threshold go to a side file that onnxruntime-node loads from disk', async () => {
    const ck: TestCheckpoint = loadStories260K();
    const inline = exportOnnx(ck.config, ck.tensors);
    const ext = exportOnnx(ck.config, ck.tensors, { externalThreshold: 4096, externalLocation: 'stories.onnx.data' });
    expect(ext.external?.location).toBe('stories.onnx.data');
    expect(ext.model.byteLength).toBeLessThan(inline.model.byteLength / 10);
    expect(ext.external!.data.byteLength).toBeGreaterThan(1_000_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-ort-'));
    try {
      fs.writeFileSync(path.join(dir, 'stories.onnx'), ext.model);
      fs.writeFileSync(path.join(dir, 'stories.onnx.data'), ext.external!.data);
      const cs = forwardCases('stories260K')[0]!;
      const feeds = (ids: number[]) => ({
        inputs_embeds: f32(embed(ck.tensors.get('tok_embeddings')!, ck.config.dim, ids), [1, ids.length, ck.config.dim]),
        attention_mask: i64(ids.map(() => 1), [1, ids.length]),
        position_ids: i64(ids.map((_, t) => t), [1, ids.length]),
        target_ids: i64(ids.map((_, t) => ids[t + 1] ?? 0), [1, ids.length]),
      });
      const lp = await withSession(path.join(dir, 'stories.onnx'), async (s) => (await s.run(feeds(cs.tokens))).target_logprobs!.data as Float32Array);
      expect(maxAbsDiff(lp.subarray(0, cs.tokens.length - 1), cs.next_token_logprobs.data)).toBeLessThan(1e-4);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('HF rotate-half RoPE: stories260K with wq/wk rows permuted as HF conversion does, in half mode, gives the reference log-probs', async () => {
    const ck = loadStories260K();
    const { nLayers, nHeads: H, nKvHeads: Hkv, headDim: hd, dim: C } = ck.config;
    // HF's convert_llama_weights permutes each head's rows so pair (2j, 2j+1) becomes (j, j + hd/2);
    // q·k is unchanged because q and k get the same permutation.
    const permute = (w: Float32Array, heads: number) => {
      const out = new Float32Array(w.length);
      for (let h = 0; h < heads; h++) for (let j = 0; j < hd / 2; j++) for (const [src, dst] of [[2 * j, j], [2 * j + 1, j + hd / 2]]) {
        out.set(w.subarray((h * hd + src!) * C, (h * hd + src! + 1) * C), (h * hd + dst!) * C);
      }
      return out;
    };
    const tensors = new Map(ck.tensors);
    for (let l = 0; l < nLayers; l++) {
      tensors.set(`layers.${l}.wq`, permute(ck.tensors.get(`layers.${l}.wq`)!, H));
      tensors.set(`layers.${l}.wk`, permute(ck.tensors.get(`layers.${l}.wk`)!, Hkv));
    }
    const exp = exportOnnx({ ...ck.config, ropeMode: 'half' }, tensors);
    const cs = forwardCases('stories260K')[2]!;
    const ids = cs.tokens;
    const lp = await withSession(exp.model, async (s) => (await s.run({
      inputs_embeds: f32(embed(tensors.get('tok_embeddings')!, C, ids), [1, ids.length, C]),
      attention_mask: i64(ids.map(() => 1), [1, ids.length]),
      position_ids: i64(ids.map((_, t) => t), [1, ids.length]),
      target_ids: i64(ids.map((_, t) => ids[t + 1] ?? 0), [1, ids.length]),
    })).target_logprobs!.data as Float32Array);
    expect(maxAbsDiff(lp.subarray(0, ids.length - 1), cs.next_token_logprobs.data)).toBeLessThan(1e-4);
  });
});
