// `promptkiln generate` as a user runs it (the built CLI, a child process) on the real stories260K:
// the streamed text without --json, every sampling flag reaching the sampler, --stop, and
// --adapter / --compressed giving the continuation of a full recomputed forward.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CONVENTION, identity, saveCompressed } from '../../src/compress/artifact.js';
import { loadModel, type GenerateOptions, type Model } from '../../src/model/index.js';
import { savePeft } from '../../src/soft/index.js';
import { PrefixTuning } from '../../src/soft/prefix-tuning.js';
import { PromptTuning } from '../../src/soft/prompt-tuning.js';
import { MODELS_DIR } from '../helpers/paths.js';
import { greedyOracle, MIN_MARGIN } from '../model/greedy-oracle.js';
import { prefixFromRef, ref } from '../soft/helpers.js';
import { runCli } from './run-cli.js';

const STORIES = path.join(MODELS_DIR, 'stories260K');
const PROMPT = 'One day, she';

describe('promptkiln generate (CLI) on stories260K', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(STORIES);
  });
  const cli = async (args: string[]) => {
    const r = await runCli(['generate', '--model', STORIES, ...args]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout;
  };

  it('every sampling flag reaches the sampler: --json tokens equal the API with the same options, and dropping any flag changes them', async () => {
    const o: GenerateOptions = { temperature: 2, topK: 5, topP: 0.8, seed: 5, maxTokens: 24, stopAtEos: false };
    const api = await model.generate(PROMPT, o);
    // each flag matters for this draw, so a CLI that ignored one could not match
    for (const drop of [{ temperature: 1 }, { topK: 0 }, { topP: 1 }, { seed: 6 }]) {
      expect((await model.generate(PROMPT, { ...o, ...drop })).tokens, JSON.stringify(drop)).not.toEqual(api.tokens);
    }
    const out = JSON.parse(await cli(['--prompt', PROMPT, '--temperature', '2', '--top-k', '5', '--top-p', '0.8', '--seed', '5', '--max-tokens', '24', '--json']));
    expect(out).toEqual({ text: api.text, tokens: api.tokens });
  });

  it('without --json: streams the continuation text and a newline, the same text --json reports', async () => {
    const args = ['--prompt', PROMPT, '--temperature', '0.5', '--top-p', '0.8', '--seed', '3', '--max-tokens', '30'];
    const [plain, json] = await Promise.all([cli(args), cli([...args, '--json'])]);
    const j = JSON.parse(json);
    expect(j.tokens.length).toBeGreaterThan(0);
    expect(j.text.length).toBeGreaterThan(10);
    expect(plain).toBe(j.text + '\n');
    const api = await model.generate(PROMPT, { temperature: 0.5, topP: 0.8, seed: 3, maxTokens: 30 });
    expect(j.text).toBe(api.text);
  });

  it('--stop ends the text before the first stop string, with and without --json', async () => {
    const full = await model.generate(PROMPT, { maxTokens: 40 });
    const at = full.text!.indexOf('.');
    expect(at).toBeGreaterThan(0); // the greedy text has a full stop to cut at
    const args = ['--prompt', PROMPT, '--max-tokens', '40', '--stop', '.'];
    const [plain, json] = await Promise.all([cli(args), cli([...args, '--json'])]);
    expect(JSON.parse(json).text).toBe(full.text!.slice(0, at));
    expect(plain).toBe(full.text!.slice(0, at) + '\n');
  });

  describe('conditioned: the CLI continuation = argmax of a full recomputed forward', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pk-generate-'));
    const ids = () => model.encodePrompt(PROMPT);
    const STEPS = 12;
    const tokensOf = async (flag: string, folder: string) =>
      JSON.parse(await cli(['--prompt', PROMPT, '--max-tokens', String(STEPS), flag, folder, '--json'])).tokens as number[];

    it('--adapter with a PEFT soft prompt (rows before BOS)', async () => {
      // rows that visibly condition the continuation: the embeddings of a sentence
      const text = model.tokenizer!.encode('Tom and Ben played with a big ball.', { bos: false });
      const soft = model.embeddingRows(text);
      const r = { P: text.length };
      const pt = new PromptTuning(model, [{ soft: r.P }, { input: true }], { type: 'random' }, 0, soft);
      const folder = path.join(dir, 'prompt');
      try {
        await savePeft(folder, pt.artifact());
      } finally {
        pt.free();
      }
      const want = await greedyOracle(model, STEPS, ids(), (x) => [{ embeds: soft, rows: r.P }, { ids: x }]);
      expect(want.margin).toBeGreaterThan(MIN_MARGIN);
      expect(want.tokens).not.toEqual((await model.generate(PROMPT, { maxTokens: STEPS })).tokens); // the rows change it
      expect(await tokensOf('--adapter', folder)).toEqual(want.tokens);
    });

    it('--adapter with a PEFT prefix (sequence positions from P)', async () => {
      const r = ref('stories260K', 'prefix_tuning');
      const pre = { P: r.P as number, ...prefixFromRef(r.prefix_init) };
      const pf = new PrefixTuning(model, [{ input: true }], { P: pre.P, init: { type: 'random' }, seed: 0 }, pre);
      const folder = path.join(dir, 'prefix');
      try {
        await savePeft(folder, pf.artifact());
      } finally {
        pf.free();
      }
      const want = await greedyOracle(model, STEPS, ids(), (x) => [{ ids: x }], { prefix: pre, posOffset: pre.P });
      expect(want.margin).toBeGreaterThan(MIN_MARGIN);
      const plain = await model.generate(PROMPT, { maxTokens: STEPS });
      expect(want.tokens).not.toEqual(plain.tokens); // the prefix changes the continuation
      expect(await tokensOf('--adapter', folder)).toEqual(want.tokens);
    });

    it('--compressed: σ replaces the context, BOS included', async () => {
      const ctx = model.encodePrompt('Once upon a time, there was a little boy named Tom. Tom had a big red ball.');
      const sigma = model.embeddingRows(ctx); // σ that reads exactly like the context
      const folder = path.join(dir, 'compressed');
      await saveCompressed(folder, {
        sigma, tokens: ctx.length, method: 'distill', model: identity(model), convention: CONVENTION, contextTokens: ctx.length, ratio: 1,
      });
      const body = ids().slice(1); // the prompt without its BOS
      expect(ids()[0]).toBe(model.config.bosId);
      const want = await greedyOracle(model, STEPS, body, (x) => [{ embeds: sigma, rows: ctx.length }, { ids: x }]);
      expect(want.margin).toBeGreaterThan(MIN_MARGIN);
      expect(want.tokens).not.toEqual((await model.generate(body, { maxTokens: STEPS })).tokens); // σ conditions it
      expect(await tokensOf('--compressed', folder)).toEqual(want.tokens);
    });
  });
});
