// Distillation into a soft prompt on the real stories260K: the student (N soft rows) moves toward
// the teacher (the model reading an instruction with demonstrations, or the model with a LoRA
// adapter on), measured as held-out KL; the loop's checkpoints resume it exactly; bad settings are
// typed errors.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import '../../src/cli/commands/index.js';
import type { CliIO } from '../../src/cli/command.js';
import { commands } from '../../src/cli/registry.js';
import { loadPeft } from '../../src/soft/peft.js';
import { MODELS_DIR } from '../helpers/paths.js';
import { initLora, type LoraArtifact } from '../../src/soft/lora.js';
import { linearConditioning } from '../../src/soft/linear-adapter.js';
import { savePeft } from '../../src/soft/peft.js';
import { rng } from '../../src/model/sampling.js';
import { isPromptkilnError } from '../../src/errors.js';
import { decodeCheckpoint, encodeCheckpoint, type TrainCheckpoint } from '../../src/soft/checkpoint.js';
import { distillPrompt, type DistillPromptOptions } from '../../src/soft/distill-prompt.js';
import { batchSequences } from '../../src/soft/method.js';
import { layoutExample } from '../../src/soft/mixed.js';
import { PromptTuning } from '../../src/soft/prompt-tuning.js';
import type { Conditioning, Model } from '../../src/model/index.js';
import type { Example, SoftPromptArtifact } from '../../src/soft/types.js';
import { model } from './helpers.js';
import { tomTask } from './tom-task.js';

const { train, valid } = tomTask();
const context = `Stories where Tom always comes next.\n${train.slice(0, 3).map((e) => `${e.input}${e.target}`).join('\n')}\n`;
const opts: DistillPromptOptions = { teacher: { context }, virtualTokens: 4, maxSteps: 12, batchSize: 6, lr: 0.05, seed: 0, valid: valid.slice(0, 6), evalEvery: 6, init: { type: 'text', text: 'Tom' } };

// log-softmax rows (targets, V) of one laid-out sequence, in JS
function logprobRows(m: Model, seq: ReturnType<typeof batchSequences>[number], targetRows: number[], adapter?: Conditioning): Float64Array[] {
  const V = m.config.vocabSize, out: Float64Array[] = [];
  m.run([seq], { adapter: adapter?.linear }).eachHeadChunk(targetRows, (lg, _s, n) => {
    const a = lg.f32();
    for (let i = 0; i < n; i++) {
      const row = a.subarray(i * V, (i + 1) * V);
      let mx = -Infinity;
      for (const x of row) mx = Math.max(mx, x);
      let z = 0;
      for (const x of row) z += Math.exp(x - mx);
      out.push(Float64Array.from(row, (x) => x - mx - Math.log(z)));
    }
    return false;
  });
  return out;
}

// mean KL(teacher ‖ student with soft rows) over the examples' target rows, computed here from two
// plain forwards; the teacher is the model reading the context, or the model with `teacher`'s hook
// on reading the input alone
function heldOutKl(m: Model, soft: Float32Array, n: number, ex: Example[], teacher?: Conditioning): number {
  let sum = 0, rows = 0;
  for (const e of ex) {
    const t = layoutExample(m, teacher ? [{ input: true }] : [{ text: context }, { input: true }], e);
    const s = layoutExample(m, [{ soft: n }, { input: true }], e);
    const P = logprobRows(m, batchSequences(m, [t], null)[0], t.targetRows, teacher), Q = logprobRows(m, batchSequences(m, [s], soft)[0], s.targetRows);
    P.forEach((p, r) => { for (let v = 0; v < p.length; v++) sum += Math.exp(p[v]) * (p[v] - Q[r][v]); });
    rows += P.length;
  }
  return sum / rows;
}

describe('distillPrompt', () => {
  it('the held-out loss is KL(model reading the context ‖ model with the prompt), before and after', async () => {
    const m = await model('stories260K');
    const r = await distillPrompt(m, train.slice(0, 6), { ...opts, maxSteps: 3, evalEvery: 3 });
    const init = new PromptTuning(m, [{ soft: 4 }, { input: true }], opts.init!, 0);
    try {
      expect(r.metrics.before!.loss).toBeCloseTo(heldOutKl(m, init.values(), 4, opts.valid!), 4);
    } finally {
      init.free();
    }
    expect(r.metrics.after!.loss).toBeCloseTo(heldOutKl(m, (r.prompt as SoftPromptArtifact).data, 4, opts.valid!), 4);
  }, 60_000);

  it('held-out KL to the teacher goes down; checkpoints resume exactly; a plain PEFT prompt comes out', async () => {
    const m = await model('stories260K');
    const saved: TrainCheckpoint[] = [];
    const r = await distillPrompt(m, train.slice(0, 18), { ...opts, checkpointEvery: 6, onCheckpoint: (c) => { saved.push(decodeCheckpoint(encodeCheckpoint(c))); } });
    expect(r.metrics.steps).toBe(12);
    expect(r.metrics.after!.loss).toBeLessThan(0.8 * r.metrics.before!.loss);
    expect(r.prompt.kind).toBe('prompt');
    expect((r.prompt as SoftPromptArtifact).encoder).toBeUndefined();
    const resumed = await distillPrompt(m, train.slice(0, 18), { ...opts, resume: saved[0] });
    expect((resumed.prompt as SoftPromptArtifact).data).toEqual((r.prompt as SoftPromptArtifact).data);
    // another teacher context is another run: its checkpoint is refused
    const e = await distillPrompt(m, train.slice(0, 18), { ...opts, teacher: { context: 'Stories.' }, resume: saved[0] }).then(() => null, (x) => x);
    expect(isPromptkilnError(e, 'DATA'), String(e)).toBe(true);
  }, 60_000);

  it('a LoRA teacher: the held-out loss is KL(model with the adapter on ‖ model with the prompt) and falls; resume needs the same adapter', async () => {
    const m = await model('stories260K');
    const teacher = linearConditioning(m, loraTeacher(m, 1));
    const o: DistillPromptOptions = { ...opts, teacher: { adapter: teacher } };
    const saved: TrainCheckpoint[] = [];
    const r = await distillPrompt(m, train.slice(0, 18), { ...o, checkpointEvery: 6, onCheckpoint: (c) => { saved.push(decodeCheckpoint(encodeCheckpoint(c))); } });
    const init = new PromptTuning(m, [{ soft: 4 }, { input: true }], opts.init!, 0);
    let before: number;
    try {
      before = heldOutKl(m, init.values(), 4, opts.valid!, teacher);
    } finally {
      init.free();
    }
    expect(r.metrics.before!.loss).toBeCloseTo(before, 4);
    expect(r.metrics.after!.loss).toBeCloseTo(heldOutKl(m, (r.prompt as SoftPromptArtifact).data, 4, opts.valid!, teacher), 4);
    expect(r.metrics.after!.loss).toBeLessThan(0.8 * r.metrics.before!.loss);
    const resumed = await distillPrompt(m, train.slice(0, 18), { ...o, resume: saved[0] });
    expect((resumed.prompt as SoftPromptArtifact).data).toEqual((r.prompt as SoftPromptArtifact).data);
    // another adapter is another teacher: its checkpoint is refused
    const e = await distillPrompt(m, train.slice(0, 18), { ...o, teacher: { adapter: linearConditioning(m, loraTeacher(m, 2)) }, resume: saved[0] }).then(() => null, (x) => x);
    expect(isPromptkilnError(e, 'DATA'), String(e)).toBe(true);
  }, 60_000);

  it('promptkiln tune --method distill --teacher-adapter DIR distils a LoRA folder; both teachers at once are refused', async () => {
    const m = await model('stories260K');
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-distill-lora-cli-'));
    await savePeft(path.join(dir, 'lora'), loraTeacher(m, 1));
    await fs.writeFile(path.join(dir, 'train.jsonl'), train.slice(0, 6).map((e) => JSON.stringify({ input: e.input, target: e.target })).join('\n') + '\n');
    await fs.writeFile(path.join(dir, 'context.txt'), context);
    const out: string[] = [], err: string[] = [];
    const io: CliIO = { out: (t) => out.push(t), err: (t) => err.push(t), isTTY: false, signal: new AbortController().signal };
    const tune = commands.find((c) => c.name === 'tune')!;
    const args = ['--model', path.join(MODELS_DIR, 'stories260K'), '--data', path.join(dir, 'train.jsonl'), '--valid', path.join(dir, 'train.jsonl'), '--out', path.join(dir, 'out'), '--method', 'distill', '--virtual-tokens', '4', '--batch', '6', '--epochs', '4', '--lr', '0.05', '--json'];
    expect(await tune.run([...args, '--teacher-adapter', path.join(dir, 'lora')], io), err.join('\n')).toBe(0);
    const s = JSON.parse(out[0]);
    expect(s).toMatchObject({ method: 'distill', steps: 4 });
    expect(s.validLoss).toBeLessThan(s.validLossBefore);
    const a = await loadPeft(path.join(dir, 'out'), m);
    expect([a.kind, a.kind === 'prompt' && a.rows]).toEqual(['prompt', 4]);
    for (const bad of [[...args, '--teacher-adapter', path.join(dir, 'lora'), '--teacher-context', path.join(dir, 'context.txt')], [...args.map((x) => (x === 'distill' ? 'prompt' : x)), '--teacher-adapter', path.join(dir, 'lora')]]) {
      const e = await tune.run(bad, io).then(() => null, (x) => x);
      expect(isPromptkilnError(e, 'ARGUMENT'), String(e)).toBe(true);
    }
  }, 60_000);

  it('refuses a missing teacher context, a teacher that is no LoRA / IA3, and an unknown objective', async () => {
    const m = await model('stories260K');
    const soft = { adapter: { id: 'soft', soft: { rows: 1, data: new Float32Array(m.config.dim) } } };
    for (const bad of [{ ...opts, teacher: { context: '' } }, { ...opts, teacher: soft }, { ...opts, teacher: { context, ...soft } as never }, { ...opts, objective: 'mse' as never }]) {
      const e = await distillPrompt(m, train.slice(0, 2), bad).then(() => null, (x) => x);
      expect(isPromptkilnError(e, 'ARGUMENT'), String(e)).toBe(true);
    }
  });

  it('promptkiln tune --method distill --teacher-context FILE writes a PEFT prompt; without the file it is refused', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-distill-'));
    await fs.writeFile(path.join(dir, 'train.jsonl'), train.slice(0, 6).map((e) => JSON.stringify({ input: e.input, target: e.target })).join('\n') + '\n');
    await fs.writeFile(path.join(dir, 'context.txt'), context);
    const out: string[] = [], err: string[] = [];
    const io: CliIO = { out: (t) => out.push(t), err: (t) => err.push(t), isTTY: false, signal: new AbortController().signal };
    const tune = commands.find((c) => c.name === 'tune')!;
    const args = ['--model', path.join(MODELS_DIR, 'stories260K'), '--data', path.join(dir, 'train.jsonl'), '--out', path.join(dir, 'out'), '--method', 'distill', '--virtual-tokens', '4', '--batch', '6', '--epochs', '2', '--json'];
    expect(await tune.run([...args, '--teacher-context', path.join(dir, 'context.txt')], io), err.join('\n')).toBe(0);
    expect(JSON.parse(out[0])).toMatchObject({ method: 'distill', steps: 2 });
    const a = await loadPeft(path.join(dir, 'out'), await model('stories260K'));
    expect([a.kind, a.kind === 'prompt' && a.rows]).toEqual(['prompt', 4]);
    for (const bad of [args, [...args, '--teacher-context', path.join(dir, 'missing.txt')]]) {
      const e = await tune.run(bad, io).then(() => null, (x) => x);
      expect(isPromptkilnError(e, 'ARGUMENT'), String(e)).toBe(true);
    }
  }, 60_000);
});

// A LoRA on every projection with seeded random A and B (PEFT's init has B = 0, the identity):
// a teacher that differs from the base model.
function loraTeacher(m: Model, seed: number): LoraArtifact {
  const a = initLora(m, { r: 2, alpha: 4, targetModules: 'all-linear', seed });
  const u = rng(seed + 100);
  for (const mod of a.modules) for (let i = 0; i < mod.B.length; i++) mod.B[i] = (2 * u() - 1) * 0.5;
  return a;
}
