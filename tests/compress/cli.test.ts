// `promptkiln compress` through the command registry on stories260K (real files, CLI I/O in
// memory): --queries, --objective, and recurrent training with --slots/--segments on a real corpus,
// each checked against the API run it must equal, bit for bit.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import '../../src/cli/commands/index.js';
import type { CliIO } from '../../src/cli/command.js';
import { commands } from '../../src/cli/registry.js';
import {
  compress, encodeContext, loadCompressed, loadCompressor, RECURRENT_DEFAULTS, RecurrentCompressor,
} from '../../src/compress/index.js';
import { isPromptkilnError } from '../../src/errors.js';
import { loadModel, type Model } from '../../src/model/index.js';
import { MODELS_DIR } from '../helpers/paths.js';

const MODEL = path.join(MODELS_DIR, 'stories260K');
const STORY = 'Once upon a time, there was a little girl named Lily. She loved to play with her red ball in the garden. One day, the ball rolled into the pond. Lily was sad. Her friend Tom came and helped her get the ball back.';
const QUERIES = [' Lily said thank you to Tom.', ' They played with the ball all day.', ' The sun was warm.', ' Tom was happy.'];

function io() {
  const out: string[] = [], err: string[] = [];
  const x: CliIO = { out: (s) => out.push(s), err: (s) => err.push(s), isTTY: false, signal: new AbortController().signal };
  return { io: x, out, err };
}
const cmd = commands.find((c) => c.name === 'compress')!;

describe('promptkiln compress (CLI options)', () => {
  let model: Model;
  let dir: string;
  beforeAll(async () => {
    model = await loadModel(MODEL);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-compress-cli-'));
    await fs.writeFile(path.join(dir, 'story.txt'), STORY);
    await fs.writeFile(path.join(dir, 'queries.jsonl'), QUERIES.map((q) => JSON.stringify({ query: q })).join('\n') + '\n');
  });

  it('--queries FILE and --objective argmax: the σ of compress() with those queries and that objective', async () => {
    const run = async (out: string, extra: string[]) => {
      const x = io();
      expect(await cmd.run(['--model', MODEL, '--context', path.join(dir, 'story.txt'), '--tokens', '4', '--steps', '20',
        '--queries', path.join(dir, 'queries.jsonl'), '--out', path.join(dir, out), '--json', ...extra], x.io)).toBe(0);
      return (await loadCompressed(path.join(dir, out))).sigma;
    };
    const argmax = await run('argmax', ['--objective', 'argmax']);
    const kl = await run('kl', []);
    const api = (objective: 'kl' | 'argmax') => compress(model, STORY, { tokens: 4, steps: 20, queries: QUERIES, objective, numHeldOut: 1 });
    expect(Array.from(argmax)).toEqual(Array.from((await api('argmax')).compressed.sigma));
    expect(Array.from(kl)).toEqual(Array.from((await api('kl')).compressed.sigma));
    expect(Array.from(argmax)).not.toEqual(Array.from(kl));
    // other queries, another σ
    const sampled = await compress(model, STORY, { tokens: 4, steps: 20, numQueries: 4, numHeldOut: 1 });
    expect(Array.from(kl)).not.toEqual(Array.from(sampled.compressed.sigma));
  }, 60_000);

  it('--method recurrent --train-corpus --slots --segments, cut and --resume: the compressor an uninterrupted API run trains, σ of slots × segments rows', async () => {
    const stories = [
      'Once upon a time, there was a little dog named Max. Max liked to run in the park with his friend Sue.',
      'One day, a boy named Ben found a big red box. He opened it and saw a small cat inside.',
      'Lily had a pretty doll. She took the doll to the park and played with it under a tree.',
    ];
    const corpus = stories.map((context, i) => ({ context, queries: [QUERIES[i], QUERIES[(i + 1) % 4]] }));
    await fs.writeFile(path.join(dir, 'corpus.jsonl'), corpus.map((c) => JSON.stringify(c)).join('\n') + '\n');
    const file = path.join(dir, 'compressor.safetensors');
    const args = ['--model', MODEL, '--method', 'recurrent', '--train-corpus', path.join(dir, 'corpus.jsonl'), '--compressor', file,
      '--slots', '3', '--segments', '3', '--steps', '30', '--context', path.join(dir, 'story.txt'), '--queries', path.join(dir, 'queries.jsonl'),
      '--out', path.join(dir, 'rec'), '--json'];
    // Ctrl-C when the step-25 checkpoint of the compressor's training is announced, then --resume
    const ac = new AbortController();
    const cut = { ...io().io, signal: ac.signal, err: (s: string) => { if (/^checkpoint: compressor step 25 saved/.test(s)) ac.abort(); } };
    const stopped = await cmd.run(args, cut).then(() => null, (e) => e);
    expect(isPromptkilnError(stopped, 'ABORTED'), String(stopped)).toBe(true);
    const x = io();
    expect(await cmd.run([...args, '--resume'], x.io)).toBe(0);
    expect(x.err.some((l) => l.includes('resuming compressor training from') && l.endsWith('at step 25'))).toBe(true);
    await expect(fs.stat(path.join(dir, 'rec', 'compressor_state.safetensors'))).rejects.toThrow(); // trained: no state left
    expect(JSON.parse(x.out[0]).tokens).toBe(9); // accumulate: 3 slots × 3 segments (neither the default)
    const cli = await loadCompressor(file, model);
    expect(cli.spec).toEqual({ slots: 3, segments: 3, mode: 'accumulate' });
    // the same training through the API, bit for bit
    const enc = corpus.map((c) => { const { ctx, zs } = encodeContext(model, c.context, c.queries); return { context: ctx, queries: zs }; });
    const rc = RecurrentCompressor.init(model, { slots: 3, segments: 3, mode: 'accumulate' }, enc[0].context, 0);
    const untrained = rc.weights();
    await rc.train(enc, { steps: 30, lr: RECURRENT_DEFAULTS.lr, seed: 0 }); // uninterrupted
    expect(Array.from(cli.weights().projW)).toEqual(Array.from(rc.weights().projW));
    expect(Array.from(cli.weights().slots)).toEqual(Array.from(rc.weights().slots));
    expect(Array.from(cli.weights().slots)).not.toEqual(Array.from(untrained.slots));
    const cc = await loadCompressed(path.join(dir, 'rec'));
    expect(cc.method).toBe('recurrent');
    expect(Array.from(cc.sigma)).toEqual(Array.from(rc.compress(encodeContext(model, STORY, []).ctx)));
    cli.dispose();
    rc.dispose();
  }, 60_000);
});
