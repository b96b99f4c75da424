// P-tuning (the MLP prompt encoder) and multitask prompt tuning on the real tiny models: finite
// differences of every trainable piece, training through tune() (checkpoints, exact resume, abort,
// progress), PEFT files (fields, tensors, round trip, PyTorch reading them as PEFT does), task ids
// through the conditioning, and the CLI's --method / --tasks / --task-id.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import { mkdtempSync, readFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import '../../src/cli/commands/index.js';
import type { CliIO } from '../../src/cli/command.js';
import { commands } from '../../src/cli/registry.js';
import { isPromptkilnError } from '../../src/errors.js';
import { readSafetensorsHeader } from '../../src/model/safetensors.js';
import { rng } from '../../src/model/sampling.js';
import { decodeCheckpoint, encodeCheckpoint, type TrainCheckpoint } from '../../src/soft/checkpoint.js';
import { artifactForward, toConditioning } from '../../src/soft/conditioning.js';
import { evaluateLaid } from '../../src/soft/evaluate.js';
import { layoutExample } from '../../src/soft/mixed.js';
import { MultitaskTuning } from '../../src/soft/multitask.js';
import { PTuning } from '../../src/soft/p-tuning.js';
import { loadAdapter, loadPeft, savePeft } from '../../src/soft/peft.js';
import { tune, type TuneOptions } from '../../src/soft/trainer.js';
import type { Example, MultitaskArtifact, SoftArtifact, SoftPromptArtifact } from '../../src/soft/types.js';
import { MODELS_DIR, REFS_DIR, REPO_DIR } from '../helpers/paths.js';
import { checkParams } from './grad-check.js';
import { model, MODELS, type ModelName } from './helpers.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'pk-enc-'));
const examples = (name: ModelName): Example[] => name === 'stories260K'
  ? [{ input: 'Once upon a time, there was a cat', target: ' named Tom.' }, { input: 'Lily saw a big dog', target: ' in the park and smiled.' }]
  : [{ input: [3, 9, 27, 1], target: [5, 40, 11] }, { input: [8, 2], target: [60, 7, 7, 19, 2, 33] }];

// gpt2-tiny-random, ids only: task 0 wants [42, 42, 7], task 1 wants [9, 13, 13]
const ids = (seed: number, n: number) => Array.from({ length: n }, (_, i) => (seed * 17 + i * 5) % 64);
const TARGETS = [[42, 42, 7], [9, 13, 13]];
const twoTasks = (n: number, off: number): Example[] => Array.from({ length: n }, (_, i) => ({ input: ids(i + off, 3 + (i % 3)), target: TARGETS[i % 2], taskId: i % 2 }));
const train = twoTasks(12, 0), valid = twoTasks(6, 40);

const rejects = async (p: Promise<unknown> | (() => unknown), code: string, re?: RegExp) => {
  const e = await (typeof p === 'function' ? Promise.resolve().then(p) : p).then(() => null, (x) => x);
  expect(isPromptkilnError(e, code as never), String(e)).toBe(true);
  if (re) expect((e as Error).message).toMatch(re);
};

// mean target NLL of examples under a saved artifact
async function lossWith(name: ModelName, a: SoftArtifact, ex: Example[], taskId?: number): Promise<number> {
  const m = await model(name);
  const f = artifactForward(m, a, taskId);
  try {
    return evaluateLaid({ model: m, template: a.template, posOffset: 0, forward: f.forward }, ex).loss;
  } finally {
    f.free();
  }
}

for (const name of MODELS) {
  describe(`${name} finite differences`, () => {
    it('P-tuning: the embedding and all three linears of the MLP encoder', async () => {
      const m = await model(name);
      // He-scaled weights keep the encoder's gain near 1, so the embedding's gradient stands well
      // above the f32 noise of a central difference (ReLU kinks: the probes are deterministic and
      // none crosses one; PEFT's own gradients test the masks exactly in peft-refs.test.ts)
      const C = m.config.dim, H = 8, z = rng(21);
      const he = (n: number, fanIn: number) => Float32Array.from({ length: n }, () => Math.sqrt(6 / fanIn) * (2 * z() - 1));
      const b = (n: number) => Float32Array.from({ length: n }, () => 0.1 * (2 * z() - 1));
      const pt = new PTuning(m, [{ soft: 3 }, { input: true }], { type: 'random' }, 4, { hidden: H }, {
        'embedding.weight': b(3 * C).map((x) => 5 * x), 'mlp_head.0.weight': he(H * C, C), 'mlp_head.0.bias': b(H),
        'mlp_head.2.weight': he(H * H, H), 'mlp_head.2.bias': b(H), 'mlp_head.4.weight': he(C * H, H), 'mlp_head.4.bias': b(C),
      });
      try {
        // the output layer is linear into the model (h 1e-2); the rest sits before a ReLU (h 1e-3)
        checkParams(pt, examples(name).map((e) => layoutExample(m, pt.template, e)), 6, (n) => (n.includes('mlp_head.4') ? 1e-2 : 1e-3));
      } finally {
        pt.free();
      }
    });

    it('multitask: shared prompt and both task factors, a batch mixing two tasks', async () => {
      const m = await model(name);
      const C = m.config.dim, N = 2, T = 3, r = 2, z = rng(9);
      const g = (n: number, s: number) => Float32Array.from({ length: n }, () => s * (2 * z() - 1));
      const mt = new MultitaskTuning(m, [{ soft: N }, { input: true }], { type: 'random' }, 0, { tasks: T, rank: r }, 0,
        { shared: g(N * C, 1), taskCols: g(T * N * r, 1), taskRows: g(T * r * C, 1) });
      try {
        const ex = examples(name).map((e, i) => ({ ...e, taskId: 2 - i }));
        const batch = ex.map((e) => mt.layout(e, layoutExample(m, mt.template, e)));
        checkParams(mt, batch, 10);
        // task 0 is in no example: its factors get no gradient, the others do
        const dc = mt.params[1].grad.f32();
        expect(Array.from(dc.subarray(0, N * r)).every((x) => x === 0)).toBe(true);
        expect(Array.from(dc.subarray(N * r, 2 * N * r)).some((x) => x !== 0)).toBe(true);
      } finally {
        mt.free();
      }
    });
  });
}

describe('training through tune()', () => {
  const pOpts: TuneOptions = { method: 'p-tuning', virtualTokens: 3, encoder: { hidden: 16 }, batchSize: 4, lr: 0.01, seed: 1, epochs: 3, valid, evalEvery: 3 };
  const mOpts: TuneOptions = { method: 'multitask', virtualTokens: 3, multitask: { tasks: 2, rank: 2 }, init: { type: 'random', std: 1 }, batchSize: 4, lr: 0.05, seed: 1, epochs: 4, valid, evalEvery: 3 };

  for (const [kind, opts] of [['p-tuning', pOpts], ['multitask', mOpts]] as const) {
    it(`${kind}: loss goes down, checkpoints resume exactly, progress counts steps, abort stops`, async () => {
      const m = await model('gpt2-tiny-random');
      const saved: TrainCheckpoint[] = [];
      const steps: number[] = [];
      const full = await tune(m, train, { ...opts, checkpointEvery: 4, onCheckpoint: (c) => { saved.push(decodeCheckpoint(encodeCheckpoint(c))); }, onProgress: (e) => steps.push(e.step) });
      const total = full.metrics.steps;
      expect(steps).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      expect(full.metrics.after!.loss).toBeLessThan(full.metrics.before!.loss - 0.5);
      expect(saved[0].params.length).toBe(kind === 'p-tuning' ? 7 : 3);
      const resumed = await tune(m, train, { ...opts, resume: saved[0] });
      expect(resumed.prompt).toEqual(full.prompt);
      // a checkpoint of the other settings is refused
      await rejects(tune(m, train, { ...opts, ...(kind === 'p-tuning' ? { encoder: { hidden: 8 } } : { multitask: { tasks: 2, rank: 1 } }), resume: saved[0] }), 'DATA');
      const ac = new AbortController();
      await rejects(tune(m, train, { ...opts, signal: ac.signal, onProgress: (e) => { if (e.step === 2) ac.abort(); } }), 'ABORTED');
    });
  }

  it('multitask: each task\'s prompt serves its own task (task ids reach the rows)', async () => {
    const m = await model('gpt2-tiny-random');
    const r = await tune(m, train, { ...mOpts, epochs: 12 });
    const a = r.prompt as MultitaskArtifact;
    expect([a.kind, a.tasks, a.rank]).toEqual(['multitask', 2, 2]);
    for (const t of [0, 1]) {
      const mine = valid.filter((e) => e.taskId === t).map(({ input, target }) => ({ input, target }));
      const own = await lossWith('gpt2-tiny-random', a, mine, t), other = await lossWith('gpt2-tiny-random', a, mine, 1 - t);
      expect(own, `task ${t}`).toBeLessThan(other - 1);
    }
    // examples' task ids out of range, or a task id for another method: refused
    await rejects(tune(m, [{ ...train[0], taskId: 2 }], mOpts), 'DATA', /task_id 2 is out of range: training 2 tasks/);
    await rejects(tune(m, train, { ...pOpts, taskId: 1 }), 'ARGUMENT', /taskId applies to methods "multitask" and "encoder" only/);
    await rejects(tune(m, train, { ...pOpts, encoder: { hidden: 8, type: 'GRU' as 'LSTM' } }), 'ARGUMENT', /encoder_reparameterization_type "GRU" is unknown/);
  });
});

describe('PEFT files of the new types', () => {
  const peftKeys = (folder: string) => Object.keys(JSON.parse(readFileSync(path.join(REFS_DIR, 'hf', folder, 'adapter_config.json'), 'utf8'))).filter((k) => k !== 'peft_version').sort();

  for (const name of MODELS) {
    it(`${name}: P-tuning and multitask files have PEFT's fields and tensors, round-trip exactly, and PyTorch reads them as PEFT does`, async () => {
      const m = await model(name);
      const ex: Example[] = [{ input: [3, 9, 27, 1], target: [5, 40, 11] }]; // ids: the same sequence in PyTorch
      const p = await tune(m, ex, { method: 'p-tuning', virtualTokens: 3, encoder: { hidden: 8 }, maxSteps: 2, batchSize: 1 });
      const mt = await tune(m, ex, { method: 'multitask', virtualTokens: 3, multitask: { tasks: 3, rank: 2 }, init: { type: 'random', std: 1 }, taskId: 1, maxSteps: 2, batchSize: 1 });
      const checks: { dir: string; taskId: number | null; ours: number }[] = [];
      for (const [r, folder, tensors, taskId] of [
        [p, 'peft-p-tuning-llama', { prompt_embeddings: [3, m.config.dim] }, undefined],
        [mt, 'peft-multitask-prompt-tuning-llama', { prefix_task_cols: [3, 3, 2], prefix_task_rows: [3, 2, m.config.dim], prompt_embeddings: [3, m.config.dim] }, 1],
      ] as const) {
        const dir = tmp();
        await savePeft(dir, r.prompt);
        const cfg = JSON.parse(readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
        expect(Object.keys(cfg).filter((k) => k !== 'promptkiln').sort()).toEqual(peftKeys(folder));
        const hdr = readSafetensorsHeader(new Uint8Array(readFileSync(path.join(dir, 'adapter_model.safetensors'))));
        expect(hdr.metadata).toEqual({ format: 'pt' });
        expect(Object.fromEntries([...hdr.tensors].map(([n, t]) => [n, [t.dtype, t.shape]]))).toEqual(Object.fromEntries(Object.entries(tensors).map(([n, s]) => [n, ['F32', s]])));
        const back = await loadPeft(dir, m);
        expect(back).toEqual(r.prompt);
        checks.push({ dir, taskId: taskId ?? null, ours: await lossWith(name, back, ex, taskId) });
      }
      // one PyTorch start reads both folders
      const out = spawnSync('/usr/bin/python3', [path.join(REPO_DIR, 'tests/soft/peft_torch.py'), 'check', ...checks.map((c) => c.dir), name], {
        input: JSON.stringify({ input: ex[0].input, target: ex[0].target, task_ids: checks.map((c) => c.taskId) }), encoding: 'utf8', timeout: 120_000,
      });
      expect(out.status, out.stderr).toBe(0);
      const losses = out.stdout.trim().split('\n').map((l) => JSON.parse(l).loss as number);
      expect(losses.length).toBe(2);
      checks.forEach((c, i) => expect(Math.abs(losses[i] - c.ours), `${c.dir}: PyTorch vs ours`).toBeLessThanOrEqual(2e-5));
    }, 130_000);
  }

  it('task ids: required by a multitask adapter, in range, refused by the others', async () => {
    const m = await model('gpt2-tiny-random');
    const mt = (await tune(m, train.slice(0, 2), { ...{ method: 'multitask', virtualTokens: 2, multitask: { tasks: 2 } }, maxSteps: 1 })).prompt;
    const pt = (await tune(m, train.slice(0, 2), { method: 'p-tuning', virtualTokens: 2, encoder: { hidden: 4 }, maxSteps: 1 })).prompt;
    const dir = tmp(), pdir = tmp();
    await savePeft(dir, mt);
    await savePeft(pdir, pt);
    await rejects(loadAdapter(dir, m), 'ADAPTER', /needs a task id \(0\.\.1\)/);
    await rejects(loadAdapter(dir, m, { taskId: 2 }), 'ADAPTER', /task id 2 is out of range: this prompt has 2 tasks/);
    await rejects(loadAdapter(pdir, m, { taskId: 0 }), 'ADAPTER', /task id 0 given, but this is a P-tuning adapter/);
    const c0 = await loadAdapter(dir, m, { taskId: 0 }), c1 = await loadAdapter(dir, m, { taskId: 1 });
    expect(c0.soft!.data).toEqual(toConditioning(mt, { taskId: 0 }).soft!.data);
    expect(c0.soft!.data).not.toEqual(c1.soft!.data);
    expect(c0.id).not.toBe(c1.id);
    expect((pt as SoftPromptArtifact).encoder).toEqual({ encoder_reparameterization_type: 'MLP', encoder_hidden_size: 4, encoder_num_layers: 2, encoder_dropout: 0 });
  });
});

describe('promptkiln tune --method multitask / p-tuning, score --task-id (CLI)', () => {
  const io = () => {
    const out: string[] = [], err: string[] = [];
    const x: CliIO = { out: (t) => out.push(t), err: (t) => err.push(t), isTTY: false, signal: new AbortController().signal };
    return { io: x, out, err };
  };
  const cmd = (n: string) => commands.find((c) => c.name === n)!;
  const MODEL = path.join(MODELS_DIR, 'gpt2-tiny-random');

  it('trains a multitask prompt from task_id lines; score --adapter --task-id equals the API; method flags are checked', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-mt-cli-'));
    const line = (e: Example) => JSON.stringify({ input: e.input, target: e.target, task_id: e.taskId });
    await fs.writeFile(path.join(dir, 'train.jsonl'), train.map(line).join('\n') + '\n');
    const out = path.join(dir, 'out');
    const t = io();
    const rc = await cmd('tune').run(['--model', MODEL, '--data', path.join(dir, 'train.jsonl'), '--out', out, '--method', 'multitask', '--tasks', '2', '--rank', '2',
      '--virtual-tokens', '3', '--batch', '4', '--epochs', '2', '--lr', '0.05', '--json'], t.io);
    expect(rc, t.err.join('\n')).toBe(0);
    expect(JSON.parse(t.out[0]).method).toBe('multitask');
    const m = await model('gpt2-tiny-random');
    const a = await loadPeft(out, m);
    expect([a.kind, (a as MultitaskArtifact).tasks]).toEqual(['multitask', 2]);
    const ex = { input: ids(50, 4), target: TARGETS[1] };
    const s = io();
    expect(await cmd('score').run(['--model', MODEL, '--adapter', out, '--task-id', '1', '--prompt-ids', ex.input.join(','), '--target-ids', ex.target.join(','), '--json', '--backend', 'wasm'], s.io)).toBe(0);
    const want = -(await lossWith('gpt2-tiny-random', a, [ex], 1)) * ex.target.length;
    expect(JSON.parse(s.out[0]).total).toBeCloseTo(want, 4);
    // without --task-id: the typed error; a flag of another method: refused
    await rejects(cmd('score').run(['--model', MODEL, '--adapter', out, '--prompt-ids', '1,2', '--target-ids', '3', '--backend', 'wasm'], io().io), 'ADAPTER', /needs a task id/);
    await rejects(cmd('tune').run(['--model', MODEL, '--data', path.join(dir, 'train.jsonl'), '--out', out, '--method', 'prompt', '--tasks', '2'], io().io), 'ARGUMENT', /--tasks applies to --method multitask/);
    await rejects(cmd('tune').run(['--model', MODEL, '--data', path.join(dir, 'train.jsonl'), '--out', out, '--method', 'lstm'], io().io), 'ARGUMENT', /--method must be one of prompt, prefix, p-tuning, multitask, encoder, lora, ia3, distill, got "lstm"/);
  }, 60_000);
});
