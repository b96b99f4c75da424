// Exported graphs against the PyTorch references, run by onnxruntime-node (native CPU EP) and
// onnxruntime-web (wasm EP, in Node).
import { describe, expect, it } from 'vitest';
import * as ortNode from 'onnxruntime-node';
import { exportOnnx } from '../../src/ort/export.js';
import { loadGpt2Tiny, loadStories260K, type TestCheckpoint } from './helpers/checkpoints.js';
import { embed, forwardCases, maxAbsDiff } from './helpers/refs.js';

type Ort = typeof ortNode;

async function runForward(ort: Ort, ck: TestCheckpoint, bytes: Uint8Array, tokens: number[]) {
  const { config: c, tensors } = ck;
  const T = tokens.length;
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] as any });
  try {
    const i64 = (a: number[]) => new ort.Tensor('int64', BigInt64Array.from(a.map(BigInt)), [1, a.length]);
    const out = await session.run({
      inputs_embeds: new ort.Tensor('float32', embed(tensors.get('tok_embeddings')!, c.dim, tokens), [1, T, c.dim]),
      attention_mask: i64(tokens.map(() => 1)),
      position_ids: i64(tokens.map((_, t) => t)),
      target_ids: i64(tokens.map((_, t) => tokens[t + 1] ?? 0)),
    });
    return { logits: out.logits!.data as Float32Array, lp: out.target_logprobs!.data as Float32Array };
  } finally {
    await session.release();
  }
}

const models = [
  { name: 'stories260K', load: loadStories260K },
  { name: 'gpt2-tiny-random', load: loadGpt2Tiny },
] as const;

describe('ONNX export vs PyTorch references (onnxruntime-node)', () => {
  for (const m of models) {
    it(`${m.name}: logits within 2e-4 and next-token log-probs within 1e-4 on every forward case`, async () => {
      const ck = m.load();
      const exp = exportOnnx(ck.config, ck.tensors, { logits: true });
      expect(exp.external).toBeUndefined();
      for (const cs of forwardCases(m.name)) {
        const { logits, lp } = await runForward(ortNode, ck, exp.model, cs.tokens);
        expect(maxAbsDiff(logits, cs.logits.data)).toBeLessThan(2e-4);
        expect(maxAbsDiff(lp.subarray(0, cs.tokens.length - 1), cs.next_token_logprobs.data)).toBeLessThan(1e-4);
        const sum = lp.subarray(0, cs.tokens.length - 1).reduce((a, b) => a + b, 0);
        expect(Math.abs(sum - cs.sum_logprob)).toBeLessThan(5e-4);
      }
    });
  }

  it('input_ids path (embedding Gather inside the graph) gives the same log-probs as inputs_embeds', async () => {
    const ck = loadStories260K();
    const exp = exportOnnx(ck.config, ck.tensors, { inputIds: true });
    expect(exp.inputNames[0]).toBe('input_ids');
    const cs = forwardCases('stories260K')[1]!;
    const s = await ortNode.InferenceSession.create(exp.model);
    try {
      const i64 = (a: number[]) => new ortNode.Tensor('int64', BigInt64Array.from(a.map(BigInt)), [1, a.length]);
      const out = await s.run({
        input_ids: i64(cs.tokens), attention_mask: i64(cs.tokens.map(() => 1)),
        position_ids: i64(cs.tokens.map((_, t) => t)), target_ids: i64(cs.tokens.map((_, t) => cs.tokens[t + 1] ?? 0)),
      });
      const lp = out.target_logprobs!.data as Float32Array;
      expect(maxAbsDiff(lp.subarray(0, cs.tokens.length - 1), cs.next_token_logprobs.data)).toBeLessThan(1e-4);
    } finally {
      await s.release();
    }
  });
});
