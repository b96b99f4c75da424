// A Llama-3.2-1B-shaped model (1.24 B parameters: vocab 128256 × 2048, 16 layers, MLP 8192, 32 q /
// 8 kv heads, tied head; seeded random bf16 weights) from a 2.47 GB safetensors file written here
// in chunks: loadModel reads it in ranges (tensors past the 2 GiB offset) straight into the heap,
// its default picks bf16 (as f32 the weights alone need 4.9 GB) and says so, and the model scores
// 1 × 128 rows and takes one prompt-tuning step inside wasm32's 4 GiB. Position 0's log-probs are
// checked against an f64 JavaScript forward over the same bf16 weights read back from the file.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/model/index.js';
import { nodeFileSource } from '../../src/model/byte-source.js';
import { readSafetensorsLayout } from '../../src/model/safetensors.js';
import { WeightRef } from '../../src/model/weight-ref.js';
import { tune } from '../../src/soft/index.js';
import { LLAMA_1B, writeLlamaFolder } from './loaders/bf16-writer.js';

const GiB = 2 ** 30;
const S = LLAMA_1B;

// log-probs (V) of the token at position 0 in f64: one row attends only to itself, so attention
// gives v (each kv head shared by its query group) and q, k and RoPE drop out
async function position0Logprobs(file: string, token: number): Promise<Float64Array> {
  const src = await nodeFileSource(file);
  try {
    const { tensors } = await readSafetensorsLayout(src);
    const w = (name: string) => WeightRef.inFile(src, tensors.get(name)!, name).f32();
    const C = S.dim, hd = C / S.heads, group = S.heads / S.kvHeads;
    const matvec = (W: Float32Array, x: Float64Array, rows: number) => {
      const y = new Float64Array(rows), K = x.length;
      for (let r = 0; r < rows; r++) { let s = 0; for (let j = 0; j < K; j++) s += W[r * K + j] * x[j]; y[r] = s; }
      return y;
    };
    const rms = (x: Float64Array) => { // norm weights are all 1
      let s = 0;
      for (const v of x) s += v * v;
      const r = 1 / Math.sqrt(s / x.length + 1e-5);
      return x.map((v) => v * r);
    };
    const emb = await w('model.embed_tokens.weight');
    const h = Float64Array.from(emb.subarray(token * C, (token + 1) * C));
    for (let l = 0; l < S.layers; l++) {
      const p = `model.layers.${l}.`;
      const v = matvec(await w(p + 'self_attn.v_proj.weight'), rms(h), S.kvHeads * hd);
      const att = new Float64Array(C);
      for (let q = 0; q < S.heads; q++) att.set(v.subarray(Math.floor(q / group) * hd, (Math.floor(q / group) + 1) * hd), q * hd);
      const o = matvec(await w(p + 'self_attn.o_proj.weight'), att, C);
      for (let i = 0; i < C; i++) h[i] += o[i];
      const x = rms(h);
      const g = matvec(await w(p + 'mlp.gate_proj.weight'), x, S.hidden), u = matvec(await w(p + 'mlp.up_proj.weight'), x, S.hidden);
      const a = g.map((z, i) => (z / (1 + Math.exp(-z))) * u[i]);
      const d = matvec(await w(p + 'mlp.down_proj.weight'), a, C);
      for (let i = 0; i < C; i++) h[i] += d[i];
    }
    const logits = matvec(emb, rms(h), S.vocab);
    const max = logits.reduce((a, b) => Math.max(a, b), -Infinity);
    const lse = max + Math.log(logits.reduce((a, z) => a + Math.exp(z - max), 0));
    return logits.map((z) => z - lse);
  } finally {
    await src.close();
  }
}

describe('Llama-3.2-1B shape from a 2.47 GB bf16 file', () => {
  let dir: string, model: Model, bytes: number;
  const notes: string[] = [];
  const ms: Record<string, number> = {}; // phase times, printed: the suite's budget watches this file
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'pk-1b-'));
    let t = performance.now();
    bytes = await writeLlamaFolder(dir, S, 3);
    ms.write = performance.now() - t; t = performance.now();
    model = await loadModel(dir, { onWarning: (n) => notes.push(n) });
    ms.load = performance.now() - t;
  }, 300_000);
  afterAll(async () => {
    model?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('loads past 2 GiB as bf16 (the default says why), scores 1 × 128 and takes a prompt-tuning step under 4 GiB', async () => {
    expect(bytes).toBeGreaterThan(2 * GiB);
    expect(model.weightsMode).toBe('bf16');
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/loading weights as bf16: as f32 they need \d+ bytes/);
    const w = model.stack.w;
    expect([w.tokEmbeddings.dtype, w.layers[15].w2.dtype, w.layers[0].attnNorm.dtype]).toEqual(['bf16', 'bf16', 'f32']);
    expect(w.lmHead).toBe(w.tokEmbeddings); // tied: one table
    const mem = model.memoryBytes();
    expect(mem.weights).toBeGreaterThan(2.4e9);
    expect(mem.weights).toBeLessThan(2.5e9);

    // 1 × 128 rows: a 1-token prompt, 127 scored targets
    const r = (i: number) => (i * 2654435761 + 12345) % S.vocab;
    const ids = Array.from({ length: 128 }, (_, i) => r(i));
    let t = performance.now();
    const s = await model.score(ids.slice(0, 1), ids.slice(1));
    ms.score = performance.now() - t; t = performance.now();
    expect(s.logprobs).toHaveLength(127);
    expect(s.logprobs.every((x) => Number.isFinite(x) && x < 0)).toBe(true);

    // position 0 against an f64 forward of the same bf16 weights: f32 accumulation over K ≤ 8192
    const ref = await position0Logprobs(path.join(dir, 'model.safetensors'), ids[0]);
    expect(Math.abs(s.logprobs[0] - ref[ids[1]])).toBeLessThan(2e-3);
    ms.reference = performance.now() - t; t = performance.now();
    const fw = await model.forward({ sequences: [[ids[0]]] });
    const lg = fw.logits!; // (1, 1, V)
    const max = lg.reduce((a, b) => Math.max(a, b), -Infinity);
    let z = 0;
    for (const x of lg) z += Math.exp(x - max);
    let worst = 0;
    for (let v = 0; v < S.vocab; v++) worst = Math.max(worst, Math.abs(lg[v] - max - Math.log(z) - ref[v]));
    expect(worst).toBeLessThan(2e-3);

    // one prompt-tuning step at 1 × 128: 8 soft rows + 100 input + 20 target rows (no BOS: the
    // default template is [soft, input])
    const res = await tune(model, [{ input: ids.slice(0, 100), target: ids.slice(100, 120) }], { virtualTokens: 8, maxSteps: 1, batchSize: 1, lr: 0.01 });
    ms.tuneStep = performance.now() - t;
    expect(res.history.length).toBeGreaterThan(0);
    expect(Number.isFinite(res.history[0].loss)).toBe(true);
    expect(res.history[0].gradNorm).toBeGreaterThan(0);
    expect(res.metrics.steps).toBe(1);
    expect(model.kernels.heap.peak).toBeLessThan(4 * GiB);
    expect(model.kernels.heap.capacity).toBeLessThanOrEqual(4 * GiB);
    console.log(`1B: file ${bytes} B, weights ${mem.weights} B, heap peak ${model.kernels.heap.peak} B, position-0 max |Δ log p| ${worst.toExponential(2)}; ms ${JSON.stringify(ms, (_, v) => (typeof v === 'number' ? Math.round(v) : v))}`);
  }, 300_000);
});
