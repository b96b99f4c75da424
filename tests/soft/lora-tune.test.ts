// LoRA and IA3 through tune() and `promptkiln tune --method lora|ia3` on the real stories260K (a
// llama2.c checkpoint: q/k rows leave and enter PEFT files in transformers' order): the validation
// loss drops; checkpoints resume bit for bit; abort and progress; `score --adapter` applies what
// tune wrote, with the numbers the API gives.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import '../../src/cli/commands/index.js';
import type { CliIO } from '../../src/cli/command.js';
import { commands } from '../../src/cli/registry.js';
import { isPromptkilnError } from '../../src/errors.js';
import { loadModel, type Model } from '../../src/model/index.js';
import { decodeCheckpoint, encodeCheckpoint, type TrainCheckpoint } from '../../src/soft/checkpoint.js';
import { evaluateLaid } from '../../src/soft/evaluate.js';
import { linearAdapter, loadLinearPeft } from '../../src/soft/linear-adapter.js';
import { batchSequences } from '../../src/soft/method.js';
import { loadAdapter } from '../../src/soft/peft.js';
import type { LinearArtifact } from '../../src/soft/peft-linear.js';
import { tune, type ProgressEvent } from '../../src/soft/trainer.js';
import { rng } from '../../src/model/sampling.js';
import { initIa3 } from '../../src/soft/ia3.js';
import { initLora } from '../../src/soft/lora.js';
import { savePeft } from '../../src/soft/peft.js';
import { MODELS_DIR, REPO_DIR } from '../helpers/paths.js';
import { tomTask } from './tom-task.js';

const MODEL = path.join(MODELS_DIR, 'stories260K');
let mp: Promise<Model> | null = null;
const model = () => (mp ??= loadModel(MODEL));
const { train, valid } = tomTask();
const bits = (a: LinearArtifact) => (a.kind === 'lora' ? a.modules.flatMap((m) => [...m.A, ...m.B]) : a.modules.flatMap((m) => [...m.l]));

// validation loss of an adapter, computed apart from tune()
function validLoss(m: Model, a: LinearArtifact): number {
  const ad = linearAdapter(m, a);
  try {
    return evaluateLaid({ model: m, template: [{ input: true }], posOffset: 0, forward: (b) => m.run(batchSequences(m, b, null), { adapter: ad }) }, valid).loss;
  } finally {
    ad.free();
  }
}

function io() {
  const out: string[] = [], err: string[] = [];
  const x: CliIO = { out: (s) => out.push(s), err: (s) => err.push(s), isTTY: false, signal: new AbortController().signal };
  return { io: x, out, err };
}
const cmd = (name: string) => commands.find((c) => c.name === name)!;
const jsonl = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).join('\n') + '\n';

describe('LoRA / IA3 tuning', () => {
  it('LoRA r = 4: checkpoints resume bit for bit, progress per step, abort stops with ABORTED', async () => {
    const m = await model();
    const o = { method: 'lora' as const, lora: { r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj', 'down_proj'] }, lr: 0.01, batchSize: 8, maxSteps: 6, seed: 1 };
    const saved: TrainCheckpoint[] = [];
    const ev: ProgressEvent[] = [];
    const full = await tune(m, train, { ...o, checkpointEvery: 3, onCheckpoint: (c) => { saved.push(decodeCheckpoint(encodeCheckpoint(c))); }, onProgress: (e) => ev.push(e) });
    expect(ev.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(full.prompt.kind).toBe('lora');
    const resumed = await tune(m, train, { ...o, resume: saved[0] });
    expect(bits(resumed.prompt)).toEqual(bits(full.prompt));
    // a checkpoint of another rank is refused
    await expect(tune(m, train, { ...o, lora: { ...o.lora, r: 2 }, resume: saved[0] })).rejects.toSatisfy((e) => isPromptkilnError(e) && e.code === 'DATA');
    // prompt-row options mean nothing to an adapter: refused, not ignored
    await expect(tune(m, train, { ...o, virtualTokens: 4 })).rejects.toSatisfy((e) => isPromptkilnError(e) && e.code === 'ARGUMENT' && e.message.includes('virtualTokens'));
    const ac = new AbortController();
    await expect(tune(m, train, { ...o, signal: ac.signal, onProgress: (e) => { if (e.step === 2) ac.abort(); } }))
      .rejects.toSatisfy((e) => isPromptkilnError(e) && e.code === 'ABORTED');
  });

  it('promptkiln tune --method lora --rank 4 --alpha 8 --target-modules: loss drops, PEFT files, score --adapter = API', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-lora-tune-'));
    await fs.writeFile(path.join(dir, 'train.jsonl'), jsonl(train.map(({ input, target }) => ({ input, target }))));
    await fs.writeFile(path.join(dir, 'valid.jsonl'), jsonl(valid.map(({ input, target }) => ({ input, target }))));
    const out = path.join(dir, 'out');
    const a = io();
    expect(await cmd('tune').run(['--model', MODEL, '--data', path.join(dir, 'train.jsonl'), '--valid', path.join(dir, 'valid.jsonl'),
      '--method', 'lora', '--rank', '4', '--alpha', '8', '--target-modules', 'q_proj,k_proj,v_proj,o_proj', '--lr', '0.02', '--epochs', '3',
      '--batch', '8', '--seed', '2', '--json', '--out', out], a.io)).toBe(0);
    const j = JSON.parse(a.out[0]);
    expect(j.validLoss).toBeLessThan(0.95 * j.validLossBefore);
    const cfg = JSON.parse(await fs.readFile(path.join(out, 'adapter_config.json'), 'utf8'));
    expect([cfg.peft_type, cfg.r, cfg.lora_alpha, cfg.target_modules]).toEqual(['LORA', 4, 8, ['q_proj', 'k_proj', 'v_proj', 'o_proj']]);
    // what was saved (q/k rows through the file's order and back) gives the reported validation loss
    const m = await model();
    expect(validLoss(m, await loadLinearPeft(out, m))).toBeCloseTo(j.validLoss, 5);
    // score --adapter applies it: the same numbers as the API
    const s = io();
    expect(await cmd('score').run(['--model', MODEL, '--adapter', out, '--backend', 'wasm', '--prompt', valid[0].input as string, '--target', valid[0].target as string, '--json'], s.io)).toBe(0);
    const cond = await loadAdapter(out, m);
    const r = await m.score(valid[0].input as string, valid[0].target as string, { conditioning: cond });
    expect(JSON.parse(s.out[0]).logprobs).toEqual(r.logprobs);
    const base = await m.score(valid[0].input as string, valid[0].target as string);
    expect(r.total).not.toBe(base.total);
  });

  it('promptkiln tune --method ia3: PEFT\'s default targets (k_proj, v_proj, down_proj input-scaled); method flags refused elsewhere', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-ia3-tune-'));
    await fs.writeFile(path.join(dir, 'train.jsonl'), jsonl(train.map(({ input, target }) => ({ input, target }))));
    const out = path.join(dir, 'out');
    const a = io();
    expect(await cmd('tune').run(['--model', MODEL, '--data', path.join(dir, 'train.jsonl'), '--method', 'ia3', '--lr', '0.05', '--epochs', '1',
      '--batch', '8', '--json', '--out', out], a.io)).toBe(0);
    const cfg = JSON.parse(await fs.readFile(path.join(out, 'adapter_config.json'), 'utf8'));
    expect([cfg.peft_type, cfg.target_modules, cfg.feedforward_modules]).toEqual(['IA3', ['k_proj', 'v_proj', 'down_proj'], ['down_proj']]);
    const m = await model();
    const ia3 = await loadLinearPeft(out, m);
    expect(ia3.kind === 'ia3' && ia3.modules.some((x) => x.l.some((v) => v !== 1))).toBe(true); // trained away from the identity
    for (const bad of [['--method', 'ia3', '--alpha', '8'], ['--method', 'prompt', '--target-modules', 'q_proj'], ['--method', 'lora', '--feedforward-modules', 'down_proj'],
      ['--method', 'lora', '--virtual-tokens', '4'], ['--method', 'ia3', '--init', 'text:Tom']]) {
      await expect(cmd('tune').run(['--model', MODEL, '--data', path.join(dir, 'train.jsonl'), '--out', out, ...bad], io().io))
        .rejects.toSatisfy((e) => isPromptkilnError(e) && e.code === 'ARGUMENT' && e.message.includes(bad[2]));
    }
  });

  // what we write, read by PyTorch as PEFT would (tests/soft/peft_torch.py check_linear: merged from
  // the files alone into the reference models, stories260K in transformers' layout)
  it('PyTorch reads our LoRA / IA3 files as PEFT would and reproduces our loss (stories260K, GPT-2 Conv1D)', async () => {
    for (const name of ['stories260K', 'gpt2-tiny-random']) {
      const m = name === 'stories260K' ? await model() : await loadModel(path.join(MODELS_DIR, name));
      const V = m.config.vocabSize;
      const u = rng(4);
      const arts: LinearArtifact[] = [
        initLora(m, { r: 4, alpha: 8, targetModules: 'all-linear', seed: 5 }),
        initIa3(m, name === 'stories260K' ? { targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'down_proj'], feedforwardModules: ['down_proj'] }
          : { targetModules: ['c_attn', 'c_proj', 'c_fc'], feedforwardModules: ['mlp.c_proj'] }),
      ].map((a) => (a.kind === 'lora' ? { ...a, modules: a.modules.map((x) => ({ ...x, B: x.B.map(() => 0.2 * (2 * u() - 1)) })) }
        : { ...a, modules: a.modules.map((x) => ({ ...x, l: x.l.map(() => 1 + 0.5 * (2 * u() - 1)) })) }));
      const input = [1, 40, 17, 300, 22, 9].map((x) => x % V), target = [55, 120, 3].map((x) => x % V);
      for (const a of arts) {
        const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-torch-'));
        await savePeft(dir, a);
        const ad = linearAdapter(m, await loadLinearPeft(dir, m));
        const rows = target.map((_, j) => input.length - 1 + j);
        const ours = m.run([[{ ids: [...input, ...target] }]], { adapter: ad }).nll(rows, target, 1, false).sum / target.length;
        ad.free();
        const out = spawnSync('/usr/bin/python3', [path.join(REPO_DIR, 'tests/soft/peft_torch.py'), 'check', dir, name], {
          input: JSON.stringify({ input, target }), encoding: 'utf8', timeout: 120_000,
        });
        expect(out.status, out.stderr).toBe(0);
        expect(Math.abs(JSON.parse(out.stdout).loss - ours), `${name} ${a.kind}: PyTorch vs ours`).toBeLessThanOrEqual(2e-5);
        const base = m.run([[{ ids: [...input, ...target] }]], {}).nll(rows, target, 1, false).sum / target.length;
        expect(Math.abs(base - ours), `${name} ${a.kind} changes the loss`).toBeGreaterThan(1e-3);
      }
      if (name !== 'stories260K') m.dispose();
    }
  }, 130_000);
});
