// Compression of a real story into soft tokens on stories260K, and its typed input errors.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compress, loadCompressed, loadCompressedConditioning, saveCompressed } from '../../src/compress/index.js';
import { isPromptkilnError } from '../../src/errors.js';
import { loadModel, type Model } from '../../src/model/index.js';
import { MODELS_DIR, REFS_DIR } from '../helpers/paths.js';

// The README's reference story: stories260K's greedy 200 tokens from BOS (llama2.c's test text).
const story = JSON.parse(readFileSync(path.join(REFS_DIR, 'stories260K/forward.json'), 'utf8')).bos_greedy_200.tokens as number[];

describe('compression on the real model (stories260K)', () => {
  let model: Model;
  let gpt2: Model;
  beforeAll(async () => {
    model = await loadModel(path.join(MODELS_DIR, 'stories260K'));
    gpt2 = await loadModel(path.join(MODELS_DIR, 'gpt2-tiny-random'));
  });

  it('a ~200-token story into 8 soft tokens: KL falls ≥ 60% and top-1 rises ≥ 15 points on 5 held-out continuations', async () => {
    const r = await compress(model, story, { tokens: 8, steps: 300, lr: 0.05, seed: 0 });
    expect(r.compressed.contextTokens).toBe(story.length);
    expect(r.compressed.ratio).toBeCloseTo(story.length / 8);
    expect(r.before.rows).toBe(5 * 16);
    const klDrop = 1 - r.after.kl / r.before.kl;
    expect(klDrop).toBeGreaterThanOrEqual(0.6);
    expect(r.after.top1 - r.before.top1).toBeGreaterThanOrEqual(0.15);
    // answering with σ reads 8 rows instead of 201
    expect(r.tokensSavedPerQuery).toBe(story.length - 8);
    // counted work, not wall clock: each held-out query's forward reads K + |z| rows instead of Lc + |z|
    expect(r.rowsPerQuery).toEqual({ context: story.length + 16, sigma: 8 + 16 });
    // the loss went down during training
    const h = r.history;
    const head = h.slice(0, 10).reduce((a, b) => a + b.loss, 0) / 10;
    const tail = h.slice(-10).reduce((a, b) => a + b.loss, 0) / 10;
    expect(tail).toBeLessThan(head * 0.5);

    // saved folder → score/generate conditioning: σ replaces the context, BOS included
    const dir = mkdtempSync(path.join(tmpdir(), 'pk-compressed-'));
    await saveCompressed(dir, r.compressed);
    const back = await loadCompressed(dir, model);
    expect(Array.from(back.sigma)).toEqual(Array.from(r.compressed.sigma));
    const cond = await loadCompressedConditioning(dir, model);
    const z = [...story.slice(-3)];
    const withSigma = await model.score([model.config.bosId!], z, { conditioning: cond });
    const direct = await model.forward({ sequences: [[{ embeds: back.sigma, rows: 8 }, { ids: z }]] });
    // first target token is predicted by σ's last row; compare one log-prob exactly
    const V = model.config.vocabSize;
    const row = direct.logits!.subarray(7 * V, 8 * V);
    const mx = Math.max(...row);
    const lse = mx + Math.log(row.reduce((a, v) => a + Math.exp(v - mx), 0));
    expect(withSigma.logprobs[0]).toBeCloseTo(row[z[0]] - lse, 5);
    const gen = await model.generate([model.config.bosId!], { conditioning: cond, maxTokens: 8 });
    expect(gen.tokens.length).toBe(8);

    // a compressed file for another model is refused, naming what differs
    await expect(loadCompressedConditioning(dir, gpt2)).rejects.toSatisfy(
      (e: unknown) => isPromptkilnError(e, 'ADAPTER') && /hidden size 64 vs 32/.test((e as Error).message));
  }, 120_000);

  it('bad input: empty context, K ≥ context, over-long context, missing tokens → typed errors', async () => {
    await expect(compress(model, [], { tokens: 2, steps: 1 })).rejects.toSatisfy((e: unknown) => isPromptkilnError(e, 'ARGUMENT'));
    await expect(compress(model, story.slice(0, 6), { tokens: 6, steps: 1, queries: [[300, 301]], heldOut: [[300]] }))
      .rejects.toSatisfy((e: unknown) => isPromptkilnError(e, 'ARGUMENT') && /compresses nothing/.test((e as Error).message));
    const long = Array.from({ length: 520 }, (_, i) => 300 + (i % 100));
    await expect(compress(model, long, { tokens: 8, steps: 1 })).rejects.toSatisfy((e: unknown) => isPromptkilnError(e, 'CONTEXT'));
    await expect(compress(model, story, { steps: 1, queries: [[300]], heldOut: [[300]] }))
      .rejects.toSatisfy((e: unknown) => isPromptkilnError(e, 'ARGUMENT') && /tokens/.test((e as Error).message));
    await expect(compress(model, story, { method: 'recurrent', queries: [[300]], heldOut: [[300]] }))
      .rejects.toSatisfy((e: unknown) => isPromptkilnError(e, 'ARGUMENT') && /compressor/.test((e as Error).message));
  });

  it('a compressed folder written before the model identity was merged (camelCase fields) still loads and is still checked', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pk-compressed-old-'));
    const C = model.config.dim;
    await saveCompressed(dir, {
      sigma: Float32Array.from({ length: 2 * C }, (_, i) => i / 100), tokens: 2, method: 'distill', convention: 'sigma-replaces-context-including-bos',
      model: { id: model.id } as never, contextTokens: 10, ratio: 5,
    });
    const meta = JSON.parse(readFileSync(path.join(dir, 'compressed.json'), 'utf8'));
    meta.model = { id: model.id, arch: 'llama', dim: C, vocabSize: 512, nLayers: 5 };
    writeFileSync(path.join(dir, 'compressed.json'), JSON.stringify(meta));
    expect((await loadCompressed(dir, model)).tokens).toBe(2);
    meta.model.nLayers = 6;
    writeFileSync(path.join(dir, 'compressed.json'), JSON.stringify(meta));
    await expect(loadCompressed(dir, model)).rejects.toSatisfy((e: unknown) => isPromptkilnError(e, 'ADAPTER') && /layers 6 vs 5/.test((e as Error).message));
  });

  it('a corrupt compressed folder is refused with the file named', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pk-compressed-bad-'));
    writeFileSync(path.join(dir, 'compressed.json'), '{"convention": "something-else"}');
    await expect(loadCompressed(dir, model)).rejects.toSatisfy(
      (e: unknown) => isPromptkilnError(e, 'ADAPTER') && e.message.includes('compressed.json'));
  });
});
