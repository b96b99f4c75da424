// `promptkiln tune` through the command registry on the real stories260K, with real files; the
// CLI I/O is captured in memory. Then `score --adapter` reads what tune wrote.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cmd, io } from '../helpers/cli-io.js';
import { isPromptkilnError } from '../../src/errors.js';
import { loadModel } from '../../src/model/index.js';
import { decodeCheckpoint } from '../../src/soft/checkpoint.js';
import { artifactForward } from '../../src/soft/conditioning.js';
import { evaluateLaid } from '../../src/soft/evaluate.js';
import { loadPeft } from '../../src/soft/peft.js';
import { learningRate } from '../../src/train/index.js';
import { MODELS_DIR } from '../helpers/paths.js';
import { tomTask } from './tom-task.js';

const MODEL = path.join(MODELS_DIR, 'stories260K');
const jsonl = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).join('\n') + '\n';

async function files() {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-tune-'));
  const { train, valid } = tomTask();
  await fs.writeFile(path.join(dir, 'train.jsonl'), jsonl(train.map(({ input, target }) => ({ input, target }))));
  await fs.writeFile(path.join(dir, 'valid.jsonl'), jsonl(valid.map(({ input, target }) => ({ input, target }))));
  return dir;
}

describe('promptkiln tune (CLI)', () => {
  it('trains, prints --json metrics, writes PEFT files + report.html + train state; --resume continues exactly; score --adapter uses it', async () => {
    const dir = await files();
    const out = path.join(dir, 'out');
    const common = ['--model', MODEL, '--data', path.join(dir, 'train.jsonl'), '--valid', path.join(dir, 'valid.jsonl'),
      '--method', 'prompt', '--virtual-tokens', '8', '--init', 'text:Tom came to play.', '--lr', '0.05', '--batch', '8', '--seed', '3', '--json'];
    const a = io();
    expect(await cmd('tune').run([...common, '--epochs', '4', '--out', out], a.io)).toBe(0);
    const j = JSON.parse(a.out[0]);
    expect(j.steps).toBe(20); // 4 epochs × ceil(36 / 8)
    // the reported validation loss is the saved prompt's (recomputed from the PEFT files), and a real drop
    const m = await loadModel(MODEL);
    const saved = await loadPeft(out, m);
    const fw = artifactForward(m, saved);
    const { valid } = tomTask();
    const again = evaluateLaid({ model: m, template: saved.template, posOffset: fw.posOffset, forward: fw.forward }, valid);
    fw.free();
    expect(j.validLoss).toBeCloseTo(again.loss, 5);
    expect(j.bestStep).toBeGreaterThan(0); // a trained prompt, not the restored initial one
    expect(j.validLoss).toBeLessThan(0.9 * j.validLossBefore); // 2.96 → 2.46 measured
    expect(a.err.length).toBeGreaterThan(0);
    expect(a.err.filter((l) => /^tune 20\/20 .*loss/.test(l))).toHaveLength(1);
    expect(a.err.filter((l) => l.startsWith('checkpoint: step'))).toEqual([5, 10, 15, 20].map((n) => `checkpoint: step ${n} saved to ${path.join(out, 'train_state.safetensors')}`));
    expect((await fs.readdir(out)).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors', 'report.html', 'train_state.safetensors']);
    const cfg = JSON.parse(await fs.readFile(path.join(out, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'PROMPT_TUNING', num_virtual_tokens: 8, prompt_tuning_init: 'TEXT', prompt_tuning_init_text: 'Tom came to play.' });
    const html = await fs.readFile(path.join(out, 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('Samples (greedy)');
    expect(html).toContain('Once upon a time');

    // the same run cut at 2 epochs and resumed to 4 gives the same prompt
    const w1 = await fs.readFile(path.join(out, 'adapter_model.safetensors'));
    const out3 = path.join(dir, 'out3');
    await fs.mkdir(out3);
    // Ctrl-C as soon as the CLI announces the step-10 checkpoint on disk: a resumable state, then --resume
    const ac = new AbortController();
    const statePath = path.join(out3, 'train_state.safetensors');
    const cut = { ...io().io, signal: ac.signal, err: (s: string) => { if (/^checkpoint: step 10 saved/.test(s)) ac.abort(); } };
    const err = await cmd('tune').run([...common, '--epochs', '4', '--out', out3, '--checkpoint-every', '10'], cut).then(() => null, (x) => x);
    expect(isPromptkilnError(err, 'ABORTED'), String(err)).toBe(true);
    const st = decodeCheckpoint(new Uint8Array(await fs.readFile(statePath)));
    expect(st.step).toBe(10);
    await expect(fs.stat(path.join(out3, 'adapter_model.safetensors'))).rejects.toThrow(); // nothing final written
    const d = io();
    expect(await cmd('tune').run([...common, '--epochs', '4', '--out', out3, '--checkpoint-every', '10', '--resume'], d.io)).toBe(0);
    expect((await fs.readFile(path.join(out3, 'adapter_model.safetensors'))).equals(w1)).toBe(true);
    expect(JSON.parse(d.out[0])).toMatchObject({ validLossBefore: j.validLossBefore, validLoss: j.validLoss, steps: 20 });

    // score with and without the adapter
    const e = io(), f = io();
    const scoreArgs = ['--model', MODEL, '--prompt', 'Once upon a time, there was a small cat. It was a sunny day.', '--target', ' Then Tom came to help.', '--json', '--backend', 'wasm'];
    expect(await cmd('score').run(scoreArgs, e.io)).toBe(0);
    expect(await cmd('score').run([...scoreArgs, '--adapter', out], f.io)).toBe(0);
    expect(JSON.parse(f.out[0]).total).toBeGreaterThan(JSON.parse(e.out[0]).total);
  }, 120_000);

  it('--method prefix --reparameterize --schedule --warmup --clip --eval-every --labels --patience each change the run', async () => {
    const dir = await files();
    // validation: two label choices, the targets training does not push toward
    const labels = [' Lily was sad.', ' The cat ran away.'];
    const { valid } = tomTask();
    await fs.writeFile(path.join(dir, 'labels.jsonl'), jsonl(valid.slice(0, 6).map((e, i) => ({ input: e.input, target: labels[i % 2] }))));
    const args = (out: string, extra: string[]) => ['--model', MODEL, '--data', path.join(dir, 'train.jsonl'), '--valid', path.join(dir, 'labels.jsonl'),
      '--method', 'prefix', '--virtual-tokens', '2', '--reparameterize', '16', '--lr', '0.05', '--batch', '8', '--epochs', '3', '--seed', '1',
      '--schedule', 'linear', '--warmup', '2', '--eval-every', '2', '--labels', labels.join(','), '--out', path.join(dir, out), '--json', ...extra];
    const state = async (out: string) => decodeCheckpoint(new Uint8Array(await fs.readFile(path.join(dir, out, 'train_state.safetensors'))));
    const run = async (out: string, extra: string[]) => {
      const x = io();
      expect(await cmd('tune').run(args(out, extra), x.io)).toBe(0);
      return { j: JSON.parse(x.out[0]), st: await state(out) };
    };
    const a = await run('a', ['--clip', '0.5']);
    const total = 15; // 3 epochs × ceil(36 / 8)
    expect(a.j.steps).toBe(total);
    // --reparameterize: E and the MLP's W1, b1, W2, b2 train (the saved file holds the merged prefix)
    expect(a.st.params.map((p) => p.length)).toEqual([2 * 64, 16 * 64, 16, 5 * 2 * 32 * 16, 5 * 2 * 32]);
    // --schedule linear --warmup 2: the lr of every step
    expect(a.st.history.filter((h) => h.loss !== undefined).map((h) => h.lr)).toEqual(
      Array.from({ length: total }, (_, s) => learningRate(s, { lr: 0.05, warmup: 2, totalSteps: total, schedule: 'linear' })));
    // --eval-every 2: evaluations at 0, 2, 4, … (default: once per epoch)
    const evals = a.st.history.filter((h) => h.validLoss !== undefined);
    expect(evals.map((h) => h.step)).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 15]); // and the last step
    // --labels: label accuracy by log-likelihood over the choices, as evaluateLaid computes it on the saved prefix
    const m = await loadModel(MODEL);
    const prefix = await loadPeft(path.join(dir, 'a'), m);
    const f = artifactForward(m, prefix);
    const vs = (await fs.readFile(path.join(dir, 'labels.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    const again = evaluateLaid({ model: m, template: prefix.template, posOffset: f.posOffset, forward: f.forward, labels }, vs);
    f.free();
    expect(a.j.labelAccuracy).toBe(again.labelAccuracy);
    expect(a.j.validLoss).toBeCloseTo(again.loss, 5);
    expect(evals.every((h) => typeof h.labelAccuracy === 'number')).toBe(true);

    // --clip: the same run unclipped moves differently from step 1 on (its first gradient is above 0.5)
    const b = await run('b', ['--clip', '0']);
    expect(a.st.history[1].gradNorm).toBeGreaterThan(0.5);
    expect(b.st.history[1].loss).toBe(a.st.history[1].loss);
    expect(b.st.history[2].loss).not.toBe(a.st.history[2].loss);

    // --patience 1: stops at the first evaluation that does not beat the best so far, returns the best
    let stop = total;
    for (let i = 1, best = evals[0].validLoss!; i < evals.length; best = Math.min(best, evals[i].validLoss!), i++) {
      if (evals[i].validLoss! >= best) { stop = evals[i].step; break; }
    }
    expect(stop).toBeLessThan(total);
    const c = await run('c', ['--clip', '0.5', '--patience', '1']);
    expect(c.j.stoppedEarly).toBe(true);
    expect(c.j.steps).toBe(stop);
    const bestBefore = evals.filter((h) => h.step < stop);
    expect(c.j.validLoss).toBeCloseTo(Math.min(...bestBefore.map((h) => h.validLoss!)), 6);
  }, 120_000);

  it('a template with the soft rows after the input trains, saves and reports (no greedy samples: not a plain prompt)', async () => {
    const dir = await files();
    const out = path.join(dir, 'mixed');
    const a = io();
    expect(await cmd('tune').run(['--model', MODEL, '--data', path.join(dir, 'train.jsonl'), '--template', '{input}[soft:2]',
      '--epochs', '1', '--batch', '16', '--out', out, '--json'], a.io)).toBe(0);
    expect(JSON.parse(a.out[0]).steps).toBe(3);
    expect(await fs.readFile(path.join(out, 'report.html'), 'utf8')).toContain('no text samples');
  });

  it('bad input: malformed JSONL, missing options, ort backend', async () => {
    const dir = await files();
    await fs.writeFile(path.join(dir, 'bad.jsonl'), '{"input": "a", "target": "b"}\n{"input": "a", "target": 5}\n');
    const run = (args: string[]) => cmd('tune').run(args, io().io).then(() => null, (e) => e);
    let e = await run(['--model', MODEL, '--data', path.join(dir, 'bad.jsonl'), '--out', path.join(dir, 'o')]);
    expect(isPromptkilnError(e, 'DATA')).toBe(true);
    expect(e.message).toMatch(/bad.jsonl:2: field "target"/);
    e = await run(['--model', MODEL, '--out', path.join(dir, 'o')]);
    expect(isPromptkilnError(e, 'ARGUMENT')).toBe(true);
    e = await run(['--model', MODEL, '--data', path.join(dir, 'train.jsonl'), '--out', path.join(dir, 'o'), '--backend', 'ort']);
    expect(e.message).toMatch(/WASM backend/);
    e = await run(['--model', MODEL, '--data', path.join(dir, 'train.jsonl'), '--out', path.join(dir, 'o'), '--init', 'zeros']);
    expect(e.message).toMatch(/--init expects random, vocab or text/);
    e = await run(['--model', MODEL, '--data', path.join(dir, 'train.jsonl'), '--out', path.join(dir, 'nothing-here'), '--resume']);
    expect(isPromptkilnError(e, 'DATA')).toBe(true);
    expect(e.message).toMatch(/train_state.safetensors: cannot read/);
  });
});
