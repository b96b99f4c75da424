// `promptkiln tune` through the command registry on the real stories260K, with real files; the
// CLI I/O is captured in memory. Then `score --adapter` reads what tune wrote.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import '../../src/cli/commands/index.js';
import type { CliIO } from '../../src/cli/command.js';
import { commands } from '../../src/cli/registry.js';
import { isPromptkilnError } from '../../src/errors.js';
import { decodeCheckpoint } from '../../src/soft/checkpoint.js';
import { MODELS_DIR } from '../helpers/paths.js';
import { tomTask } from './tom-task.js';

const MODEL = path.join(MODELS_DIR, 'stories260K');
function io() {
  const out: string[] = [], err: string[] = [];
  const x: CliIO = { out: (s) => out.push(s), err: (s) => err.push(s), isTTY: false, signal: new AbortController().signal };
  return { io: x, out, err };
}
const cmd = (name: string) => commands.find((c) => c.name === name)!;
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
    expect(j.validLoss).toBeLessThan(j.validLossBefore);
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

    // score with and without the adapter
    const e = io(), f = io();
    const scoreArgs = ['--model', MODEL, '--prompt', 'Once upon a time, there was a small cat. It was a sunny day.', '--target', ' Then Tom came to help.', '--json', '--backend', 'wasm'];
    expect(await cmd('score').run(scoreArgs, e.io)).toBe(0);
    expect(await cmd('score').run([...scoreArgs, '--adapter', out], f.io)).toBe(0);
    expect(JSON.parse(f.out[0]).total).toBeGreaterThan(JSON.parse(e.out[0]).total);
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
