// The score, generate and compress CLI commands on stories260K, against the API's own numbers.
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createBackend } from '../../src/backend.js';
import { loadModel } from '../../src/model/index.js';
import { loadCheckpoint } from '../../src/model/source.js';
import { MODELS_DIR, REFS_DIR } from '../helpers/paths.js';
import '../../src/cli/commands/index.js';
import type { CliIO } from '../../src/cli/command.js';
import { commands } from '../../src/cli/registry.js';
import { runCli } from './run-cli.js';

const STORIES = path.join(MODELS_DIR, 'stories260K');
const cliIO = (): CliIO => ({ out: () => {}, err: () => {}, isTTY: false, signal: new AbortController().signal });

describe('CLI score / generate / compress on stories260K', () => {
  it('score --json prints total, tokens and per-token log-probs equal to the API', async () => {
    const r = await runCli(['score', '--model', STORIES, '--prompt', 'Once upon a time', '--target', ', there was a girl', '--json', '--backend', 'wasm']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    const model = await loadModel(STORIES);
    const api = await model.score('Once upon a time', ', there was a girl');
    expect(out.tokens).toEqual(api.tokens);
    expect(out.logprobs).toEqual(api.logprobs);
    expect(out.total).toBeCloseTo(api.total, 10);
    const ids = await runCli(['score', '--model', path.join(STORIES, 'stories260K.bin'), '--prompt-ids', '1,403', '--target-ids', '407,261', '--json', '--backend', 'wasm']);
    expect(ids.code, ids.stderr).toBe(0);
    expect(JSON.parse(ids.stdout).tokens).toEqual([407, 261]);
  });

  it('score --backend ort runs onnxruntime: its exact numbers, not the WASM kernels\' (within 1e-4 of them)', async () => {
    const prompt = 'Once upon a time', target = ', there was a big dog';
    const args = ['score', '--model', STORIES, '--prompt', prompt, '--target', target, '--json'];
    // onnxruntime's start-up is mostly waiting, so the two CLI runs and the in-process session overlap
    const inProcess = async () => {
      const sel = await createBackend(await loadCheckpoint(STORIES), { backend: 'ort' });
      try {
        return { kind: sel.kind, r: await sel.backend.score(prompt, target) };
      } finally {
        await sel.backend.dispose();
      }
    };
    const [ort, wasm, direct] = await Promise.all([runCli([...args, '--backend', 'ort']), runCli([...args, '--backend', 'wasm']), inProcess()]);
    expect(ort.code, ort.stderr).toBe(0);
    const a = JSON.parse(ort.stdout), b = JSON.parse(wasm.stdout);
    expect(a.backend).toBe('ort');
    expect(b.backend).toBe('wasm');
    // an onnxruntime session in this process gives these numbers to the last bit
    expect(direct.kind).toBe('ort');
    expect(a.tokens).toEqual(direct.r.tokens);
    expect(a.logprobs).toEqual(direct.r.logprobs);
    // and they are not the WASM kernels' numbers (another engine rounds differently), yet agree
    expect(a.tokens).toEqual(b.tokens);
    expect(a.logprobs).not.toEqual(b.logprobs);
    a.logprobs.forEach((x: number, i: number) => expect(Math.abs(x - b.logprobs[i])).toBeLessThan(1e-4));
  });

  it('generate --json is greedy by default and matches the reference continuation', async () => {
    const ref = JSON.parse(readFileSync(path.join(REFS_DIR, 'stories260K/forward.json'), 'utf8')).cases[0];
    const r = await runCli(['generate', '--model', STORIES, '--prompt-ids', ref.tokens.join(','), '--max-tokens', '20', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ text: ref.greedy.text, tokens: ref.greedy.tokens });
  });

  it('compress --json, then score/generate --compressed with the saved σ', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pk-cli-compress-'));
    const ctxFile = path.join(dir, 'story.txt');
    writeFileSync(ctxFile, 'Once upon a time, there was a little girl named Lily. She loved to play with her red ball in the garden. One day, the ball rolled into the pond. Lily was sad. Her friend Tom came and helped her get the ball back. Lily said thank you to Tom.');
    const out = path.join(dir, 'sigma');
    const r = await runCli(['compress', '--model', STORIES, '--context', ctxFile, '--tokens', '4', '--steps', '60', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(r.stdout);
    expect(Object.keys(m)).toEqual(expect.arrayContaining(['kl_before', 'kl_after', 'top1', 'ratio']));
    expect(m.kl_after).toBeLessThan(m.kl_before);
    expect(existsSync(path.join(out, 'report.html'))).toBe(true);
    expect(readFileSync(path.join(out, 'report.html'), 'utf8')).toContain('<svg');
    const s = await runCli(['score', '--model', STORIES, '--compressed', out, '--prompt', '', '--target', ' Lily was happy.', '--json', '--backend', 'wasm']);
    expect(s.code, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout).tokens.length).toBeGreaterThan(2);
    const g = await runCli(['generate', '--model', STORIES, '--compressed', out, '--prompt', '', '--max-tokens', '5', '--json']);
    expect(g.code, g.stderr).toBe(0);
    expect(JSON.parse(g.stdout).tokens.length).toBe(5);
  }, 60_000);

  it('bad input exits non-zero with a typed, actionable message', async () => {
    const noModel = await runCli(['score', '--prompt', 'a', '--target', 'b']);
    expect(noModel.code).toBe(1);
    expect(noModel.stderr).toMatch(/\[ARGUMENT\].*--model is required/);
    // one --backend parser for every command; those that run only on the WASM kernels refuse ort.
    // The exit code and stderr format once through the built CLI, then each command in-process.
    const gpu = await runCli(['generate', '--model', STORIES, '--backend', 'gpu']);
    expect(gpu.code).toBe(1);
    expect(gpu.stderr).toMatch(/promptkiln: error \[ARGUMENT\]: generate: --backend must be one of wasm, ort, auto; found "gpu"/);
    const needs: Record<string, string[]> = { tune: ['--data', 'd.jsonl', '--out', 'o'], optimize: ['--task', 't.json', '--out', 'o'] }; // checked before --backend
    const run = (c: string, backend: string) =>
      commands.find((x) => x.name === c)!.run(['--model', '/nonexistent', ...(needs[c] ?? []), '--backend', backend], cliIO());
    for (const c of ['score', 'generate', 'tune', 'compress', 'serve', 'optimize']) {
      await expect(run(c, 'gpu'), c).rejects.toMatchObject({ code: 'ARGUMENT', message: `${c}: --backend must be one of wasm, ort, auto; found "gpu"` });
    }
    for (const [c, why] of [['generate', 'generation runs on the WASM kernels'], ['tune', 'training runs on the WASM backend'], ['compress', 'compression runs on the WASM kernels'],
      ['serve', 'the server generates text'], ['optimize', 'search generates text']]) {
      await expect(run(c, 'ort'), c).rejects.toMatchObject({ code: 'ARGUMENT', message: expect.stringMatching(new RegExp(`^${c}: --backend ort is not supported: ${why}.*; use --backend wasm or auto$`)) });
    }
    const missing = await runCli(['generate', '--model', '/nonexistent/folder', '--prompt', 'a']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/error \[[A-Z]+\]/);
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    const dir = mkdtempSync(path.join(tmpdir(), 'pk-cli-bad-'));
    writeFileSync(path.join(dir, 'story.txt'), 'Once upon a time, there was a cat.');
    writeFileSync(path.join(dir, 'corpus.jsonl'), '{"context": "Once upon a time"}\nnull\n');
    const badCorpus = await runCli(['compress', '--model', STORIES, '--context', path.join(dir, 'story.txt'), '--method', 'recurrent',
      '--compressor', path.join(dir, 'c.safetensors'), '--train-corpus', path.join(dir, 'corpus.jsonl'), '--out', path.join(dir, 'o')]);
    expect(badCorpus.code, badCorpus.stderr).toBe(1);
    expect(badCorpus.stderr).toMatch(/\[DATA\].*corpus.jsonl:2: expected an object/);
    const badIds = await runCli(['score', '--model', STORIES, '--prompt-ids', '1,x', '--target-ids', '2', '--backend', 'wasm']);
    expect(badIds.stderr).toMatch(/prompt-ids expects comma-separated/);
  });
});
