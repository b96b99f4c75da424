// The transformer prompt encoder: finite differences of every tensor (alone, and through the frozen
// model over a batch mixing tasks), training across tasks through tune() (progress, checkpoints,
// exact resume, abort), its own files (round trip, every refusal), a new task's prompt from one
// forward pass through loadAdapter, and the CLI (tune --method encoder, score --description,
// tune --from-encoder).
import fs from 'node:fs/promises';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import '../../src/cli/commands/index.js';
import type { CliIO } from '../../src/cli/command.js';
import { commands } from '../../src/cli/registry.js';
import { isPromptkilnError } from '../../src/errors.js';
import { readSafetensorsHeader, writeSafetensors } from '../../src/model/safetensors.js';
import { rng } from '../../src/model/sampling.js';
import { decodeCheckpoint, encodeCheckpoint, type TrainCheckpoint } from '../../src/soft/checkpoint.js';
import { artifactForward, toConditioning } from '../../src/soft/conditioning.js';
import { ENCODER_CONFIG_FILE, ENCODER_WEIGHTS_FILE, loadPromptEncoder } from '../../src/soft/encoder-files.js';
import { EncoderTuning } from '../../src/soft/encoder-tuning.js';
import { evaluateLaid } from '../../src/soft/evaluate.js';
import { layoutExample } from '../../src/soft/mixed.js';
import { loadAdapter, loadPeft, saveTuned } from '../../src/soft/peft.js';
import { encodeTask, encoderTensorShapes, freeActs, PromptEncoder } from '../../src/soft/prompt-encoder.js';
import { tune, type TuneOptions } from '../../src/soft/trainer.js';
import type { Example, SoftPromptArtifact } from '../../src/soft/types.js';
import { MODELS_DIR } from '../helpers/paths.js';
import { checkParams } from './grad-check.js';
import { model, MODELS } from './helpers.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'pk-penc-'));
const rejects = async (p: Promise<unknown> | (() => unknown), code: string, re?: RegExp) => {
  const e = await (typeof p === 'function' ? Promise.resolve().then(p) : p).then(() => null, (x) => x);
  expect(isPromptkilnError(e, code as never), String(e)).toBe(true);
  if (re) expect((e as Error).message).toMatch(re);
};

// gpt2-tiny-random, ids only: task t's description is [d, d+1], its target [d, d, d+1]
const DESC = [[11, 12], [30, 31], [47, 48]];
const ids = (seed: number, n: number) => Array.from({ length: n }, (_, i) => (seed * 17 + i * 5) % 64);
const tasks = (n: number, off: number): Example[] => Array.from({ length: n }, (_, i) => {
  const t = i % DESC.length;
  return { input: ids(i + off, 3 + (i % 3)), target: [DESC[t][0], DESC[t][0], DESC[t][1]], taskId: t };
});
const train = tasks(12, 0), valid = tasks(6, 40);
const DIMS = { width: 16, layers: 2, heads: 2, hidden: 24 };
const opts: TuneOptions & { method: 'encoder' } = {
  method: 'encoder', virtualTokens: 3, promptEncoder: { descriptions: DESC, ...DIMS }, batchSize: 4, lr: 0.02, seed: 1, epochs: 16, valid, evalEvery: 12,
};

// The encoder's forward in plain f64 loops (no kernels): the definition the file documents.
function referenceRows(t: Record<string, Float32Array>, emb: Float32Array, D: number, N: number, C: number, E: number, H: number, L: number, F: number): Float64Array {
  const T = D + N, hd = E / H;
  const lin = (x: Float64Array, W: Float32Array, b: Float32Array | null, rows: number, inp: number, out: number) => {
    const y = new Float64Array(rows * out);
    for (let r = 0; r < rows; r++) for (let o = 0; o < out; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < inp; i++) s += x[r * inp + i] * W[o * inp + i];
      y[r * out + o] = s;
    }
    return y;
  };
  const ln = (x: Float64Array, w: Float32Array, b: Float32Array, rows: number) => {
    const y = new Float64Array(x.length);
    for (let r = 0; r < rows; r++) {
      let mu = 0, v = 0;
      for (let c = 0; c < E; c++) mu += x[r * E + c] / E;
      for (let c = 0; c < E; c++) v += (x[r * E + c] - mu) ** 2 / E;
      for (let c = 0; c < E; c++) y[r * E + c] = ((x[r * E + c] - mu) / Math.sqrt(v + 1e-5)) * w[c] + b[c];
    }
    return y;
  };
  let x = new Float64Array(T * E);
  const e = lin(Float64Array.from(emb), t['in_proj.weight'], t['in_proj.bias'], D, C, E);
  for (let d = 0; d < D; d++) for (let j = 0; j < E; j++) {
    const f = d / Math.pow(10000, (2 * Math.floor(j / 2)) / E);
    x[d * E + j] = e[d * E + j] + (j % 2 ? Math.cos(f) : Math.sin(f));
  }
  x.set(t.slots, D * E);
  for (let l = 0; l < L; l++) {
    const g = (n: string) => t[`blocks.${l}.${n}`];
    const h = ln(x, g('ln1.weight'), g('ln1.bias'), T);
    const q = lin(h, g('attn.q.weight'), g('attn.q.bias'), T, E, E), k = lin(h, g('attn.k.weight'), null, T, E, E), v = lin(h, g('attn.v.weight'), g('attn.v.bias'), T, E, E);
    const o = new Float64Array(T * E);
    for (let hh = 0; hh < H; hh++) for (let i = 0; i < T; i++) {
      const sc = Array.from({ length: i + 1 }, (_, j) => { let s = 0; for (let c = 0; c < hd; c++) s += q[i * E + hh * hd + c] * k[j * E + hh * hd + c]; return s / Math.sqrt(hd); });
      const mx = Math.max(...sc), ex = sc.map((z) => Math.exp(z - mx)), Z = ex.reduce((a2, b2) => a2 + b2, 0);
      for (let j = 0; j <= i; j++) for (let c = 0; c < hd; c++) o[i * E + hh * hd + c] += (ex[j] / Z) * v[j * E + hh * hd + c];
    }
    const x1 = lin(o, g('attn.o.weight'), g('attn.o.bias'), T, E, E).map((z, i) => z + x[i]);
    const a1 = lin(ln(x1, g('ln2.weight'), g('ln2.bias'), T), g('mlp.fc1.weight'), g('mlp.fc1.bias'), T, E, F)
      .map((z) => 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z ** 3))));
    x = lin(a1, g('mlp.fc2.weight'), g('mlp.fc2.bias'), T, F, E).map((z, i) => z + x1[i]);
  }
  return lin(ln(x.slice(D * E), t['ln_f.weight'], t['ln_f.bias'], N), t['out_proj.weight'], t['out_proj.bias'], N, E, C);
}

describe('prompt encoder forward', () => {
  it('equals its definition computed in plain f64 loops', async () => {
    const m = await model('stories260K');
    const N = 3, C = m.config.dim, dims = { width: 8, layers: 2, heads: 2, hidden: 12 };
    const enc = new PromptEncoder(m, N, dims, 9);
    const u = rng(4);
    for (const p of enc.params) if (/bias|ln/.test(p.name)) p.value.f32().forEach((_, i, a) => { a[i] += (2 * u() - 1) * 0.5; });
    const desc = [1, 410, 274, 287, 30, 301];
    const got = enc.encode(desc);
    const want = referenceRows(enc.snapshot(), m.embeddingRows(desc), desc.length, N, C, dims.width, dims.heads, dims.layers, dims.hidden);
    const scale = Math.max(...Array.from(want, Math.abs));
    expect(scale).toBeGreaterThan(0.1);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i]), `row ${Math.floor(i / C)} col ${i % C}`).toBeLessThanOrEqual(1e-5 * scale);
    enc.free();
  });
});

describe('prompt encoder gradients', () => {
  it('every tensor, alone: L = Σ rows·w against central differences', async () => {
    const m = await model('stories260K');
    const k = m.kernels, N = 3, C = m.config.dim;
    const enc = new PromptEncoder(m, N, { width: 8, layers: 2, heads: 2, hidden: 12 }, 5);
    const u = rng(3);
    // norms off (1, 0), biases nonzero: every gradient at a generic point
    for (const p of enc.params) if (/bias|ln/.test(p.name)) p.value.f32().forEach((_, i, a) => { a[i] += (2 * u() - 1) * 0.5; });
    const desc = [1, 410, 274, 287, 30];
    const w = Float32Array.from({ length: N * C }, () => 2 * u() - 1);
    const loss = () => { const f = enc.forward(desc); const r = f.rows.f32(); let s = 0; for (let i = 0; i < r.length; i++) s += r[i] * w[i]; freeActs(f); return s; };
    for (const p of enc.params) k.zero(p.grad);
    const f = enc.forward(desc);
    enc.backward(f, w);
    freeActs(f);
    expect(enc.params.length).toBe(encoderTensorShapes(N, C, enc.dims).length);
    expect(enc.params.length).toBe(3 + 2 * 15 + 4);
    const h = 1e-2, r = rng(8);
    for (const p of enc.params) {
      const g = p.grad.f32().slice();
      const scale = Math.max(...Array.from(g, Math.abs));
      expect(scale, `${p.name} gradient is not all zero`).toBeGreaterThan(0);
      const idx = [g.indexOf(g.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a), 0)), ...Array.from({ length: 5 }, () => Math.floor(r() * p.value.n))];
      for (const i of idx) {
        const v = p.value.f32(), x0 = v[i];
        v[i] = x0 + h; const up = loss();
        v[i] = x0 - h; const dn = loss();
        v[i] = x0;
        const fd = (up - dn) / (2 * h);
        expect(Math.abs(fd - g[i]), `${p.name}[${i}]: analytic ${g[i]} vs finite difference ${fd}`).toBeLessThanOrEqual(2e-3 * scale + 1e-2 * Math.abs(fd));
      }
    }
    // the heap holds nothing of the passes: activations are freed
    const before = k.heap.usedBytes;
    freeActs(enc.forward(desc));
    expect(k.heap.usedBytes).toBe(before);
    enc.free();
  });

  for (const name of MODELS) {
    it(`${name}: through the frozen model, a batch mixing two of three tasks`, async () => {
      const m = await model(name);
      const desc = name === 'stories260K' ? ['Tom comes next.', 'A story about a cat.', 'Sue.'] : DESC;
      const ex: Example[] = name === 'stories260K'
        ? [{ input: 'Once upon a time, there was a cat', target: ' named Tom.', taskId: 0 }, { input: 'Lily saw a big dog', target: ' in the park.', taskId: 2 }]
        : [{ input: [3, 9, 27, 1], target: [5, 40, 11], taskId: 0 }, { input: [8, 2], target: [60, 7, 7], taskId: 2 }];
      const et = new EncoderTuning(m, [{ soft: 2 }, { input: true }], desc, { width: 8, layers: 1, heads: 2, hidden: 12 }, 2);
      try {
        const batch = ex.map((e) => et.layout(e, layoutExample(m, et.template, e)));
        // everything before the output projection sits behind layer norms: its gradients are small
        // (~1e-3), so a wider step lifts the central difference above the f32 noise of the loss
        checkParams(et, batch, 4, (n) => (n.includes('out_proj') ? 1e-2 : 5e-2));
        // only tasks 0 and 2 ran: a third description changes nothing, and the encoder's rows for
        // task 0 are what the batch read
        const NC = 2 * m.config.dim;
        const rows0 = et.encoder.encode(desc[0]);
        et.forward(batch, false);
        expect(Array.from((et as unknown as { soft: Float32Array }).soft.subarray(0, NC))).toEqual(Array.from(rows0));
      } finally {
        et.free();
      }
    });
  }
});

describe('training through tune()', () => {
  it('loss goes down on every task, progress counts steps, checkpoints resume exactly, other settings are refused, abort stops', async () => {
    const m = await model('gpt2-tiny-random');
    const saved: TrainCheckpoint[] = [];
    const steps: number[] = [];
    const full = await tune(m, train, { ...opts, checkpointEvery: 4, onCheckpoint: (c) => { saved.push(decodeCheckpoint(encodeCheckpoint(c))); }, onProgress: (e) => steps.push(e.step) });
    expect(steps).toEqual(Array.from({ length: full.metrics.steps }, (_, i) => i + 1));
    expect(full.metrics.after!.loss).toBeLessThan(full.metrics.before!.loss - 0.5);
    const a = full.prompt;
    expect([a.kind, a.rows, a.tasks, a.dims]).toEqual(['encoder', 3, DESC, DIMS]);
    expect(saved[0].params.length).toBe(37);
    const resumed = await tune(m, train, { ...opts, resume: saved[0] });
    expect(resumed.prompt).toEqual(full.prompt);
    await rejects(tune(m, train, { ...opts, promptEncoder: { descriptions: [[11, 12], [30, 31], [47, 49]], ...DIMS }, resume: saved[0] }), 'DATA');
    await rejects(tune(m, train, { ...opts, promptEncoder: { descriptions: DESC, ...DIMS, width: 8 }, resume: saved[0] }), 'DATA');
    const ac = new AbortController();
    await rejects(tune(m, train, { ...opts, signal: ac.signal, onProgress: (e) => { if (e.step === 2) ac.abort(); } }), 'ABORTED');
    // the encoder's prompt for a training task (one forward pass) is the one training validated
    for (const t of [0, 1, 2]) {
      const mine = valid.filter((e) => e.taskId === t).map(({ input, target }) => ({ input, target }));
      const p = encodeTask(m, a, DESC[t]);
      const f = artifactForward(m, p);
      const own = evaluateLaid({ model: m, template: p.template, posOffset: 0, forward: f.forward }, mine).loss;
      const others = [1, 2].map((d) => evaluateLaid({ model: m, template: p.template, posOffset: 0, forward: artifactForward(m, encodeTask(m, a, DESC[(t + d) % 3])).forward }, mine).loss);
      expect(own, `task ${t}: its own description serves it better than the others' (${others})`).toBeLessThan(Math.min(...others) - 0.5);
    }
  }, 60_000);

  it('refuses what it cannot use', async () => {
    const m = await model('gpt2-tiny-random');
    await rejects(tune(m, [{ ...train[0], taskId: 3 }], opts), 'DATA', /task_id 3 is out of range: 3 task descriptions/);
    await rejects(tune(m, train, { ...opts, promptEncoder: undefined }), 'ARGUMENT', /promptEncoder.descriptions/);
    await rejects(tune(m, train, { ...opts, init: { type: 'vocab' } }), 'ARGUMENT', /"init" applies to prompt rows/);
    await rejects(tune(m, train, { ...opts, promptEncoder: { descriptions: DESC, ...DIMS, heads: 3 } }), 'ARGUMENT', /width 16 does not split over 3 heads/);
    await rejects(tune(m, train, { ...opts, promptEncoder: { descriptions: [[]] } }), 'ARGUMENT', /has no tokens/);
    await rejects(tune(m, train, { ...opts, method: 'prompt' }), 'ARGUMENT', /promptEncoder applies to method "encoder" only/);
    // a refused set of tensors leaves nothing allocated
    const a = (await tune(m, train, { ...opts, maxSteps: 1, valid: undefined, evalEvery: undefined })).prompt;
    const used = m.kernels.heap.usedBytes;
    await rejects(() => encodeTask(m, { ...a, tensors: { ...a.tensors, 'blocks.2.ln1.weight': new Float32Array(16) } }, DESC[0]), 'ADAPTER', /"blocks\.2\.ln1\.weight" is not part of a 2-layer prompt encoder/);
    const { slots: _, ...noSlots } = a.tensors;
    await rejects(() => encodeTask(m, { ...a, tensors: noSlots }, DESC[0]), 'ADAPTER', /tensor "slots" is missing/);
    expect(m.kernels.heap.usedBytes).toBe(used);
  });
});

describe('encoder files', () => {
  it('round-trip exactly; loadAdapter encodes a task id or a description; every refusal names file and key', async () => {
    const m = await model('gpt2-tiny-random');
    const a = (await tune(m, train, { ...opts, epochs: 1, valid: undefined, evalEvery: undefined })).prompt;
    const dir = tmp();
    await saveTuned(dir, a);
    expect((await fs.readdir(dir)).sort()).toEqual([ENCODER_CONFIG_FILE, ENCODER_WEIGHTS_FILE]);
    const hdr = readSafetensorsHeader(new Uint8Array(readFileSync(path.join(dir, ENCODER_WEIGHTS_FILE))));
    expect(Object.fromEntries([...hdr.tensors].map(([n, t]) => [n, [t.dtype, t.shape]]))).toEqual(Object.fromEntries(encoderTensorShapes(3, m.config.dim, DIMS).map(([n, sh]) => [n, ['F32', sh]])));
    expect(hdr.tensors.size).toBe(37);
    const back = await loadPromptEncoder(dir, m);
    expect(back).toEqual(a);
    // a task id: that training task's description; a description: a new task; the same rows as encodeTask
    const byId = await loadAdapter(dir, m, { taskId: 1 }), byText = await loadAdapter(dir, m, { description: [30, 31] }), fresh = await loadAdapter(dir, m, { description: [5, 6, 7] });
    expect(byId.soft!.data).toEqual(encodeTask(m, a, DESC[1]).data);
    expect(byText.soft!.data).toEqual(byId.soft!.data);
    expect(fresh.soft!.data).not.toEqual(byId.soft!.data);
    await rejects(loadAdapter(dir, m), 'ADAPTER', /needs a task: a description/);
    await rejects(loadAdapter(dir, m, { taskId: 3 }), 'ADAPTER', /task id 3 is out of range: this encoder was trained on 3 tasks/);
    await rejects(loadAdapter(dir, m, { taskId: 0, description: 'x' }), 'ADAPTER', /not both/);
    await rejects(loadAdapter(dir, await model('stories260K')), 'ADAPTER', /encoder\.json was made for model .*: architecture gpt2 vs llama/);
    // a PEFT folder does not take a description
    const pdir = tmp();
    await saveTuned(pdir, (await tune(m, train.slice(0, 2), { method: 'prompt', virtualTokens: 2, maxSteps: 1 })).prompt);
    await rejects(loadAdapter(pdir, m, { description: 'x' }), 'ADAPTER', /is not a prompt encoder/);

    const cfg = JSON.parse(readFileSync(path.join(dir, ENCODER_CONFIG_FILE), 'utf8'));
    const broken = async (edit: (c: Record<string, unknown>) => void, re: RegExp) => {
      const d = tmp();
      const c = structuredClone(cfg);
      edit(c);
      writeFileSync(path.join(d, ENCODER_CONFIG_FILE), JSON.stringify(c));
      await fs.copyFile(path.join(dir, ENCODER_WEIGHTS_FILE), path.join(d, ENCODER_WEIGHTS_FILE));
      await rejects(loadPromptEncoder(d, m), 'ADAPTER', re);
    };
    await broken((c) => { c.dropout = 0.1; }, /encoder\.json: key "dropout" is not part of prompt encoder format 1/);
    await broken((c) => { c.positions = 'rope'; }, /positions "rope" is not implemented/);
    await broken((c) => { c.layer_norm_eps = 1e-6; }, /layer_norm_eps 0.000001 is not implemented/);
    await broken((c) => { c.version = 2; }, /version 2 is not supported/);
    await broken((c) => { c.layers = 1; }, /tensor "blocks\.1\.ln1\.weight" is not part of a 1-layer prompt encoder/);
    await broken((c) => { c.width = 8; }, /tensor "in_proj\.weight" has shape \[16,\d+\], expected \[8,\d+\]/);
    await broken((c) => { c.num_virtual_tokens = 4; }, /template has 3 soft rows, num_virtual_tokens is 4/);
    // a missing tensor
    const d = tmp();
    writeFileSync(path.join(d, ENCODER_CONFIG_FILE), JSON.stringify(cfg));
    writeFileSync(path.join(d, ENCODER_WEIGHTS_FILE), writeSafetensors({ slots: { shape: [3, 16], data: new Float32Array(48) } }));
    await rejects(loadPromptEncoder(d, m), 'ADAPTER', /encoder\.safetensors: tensor "in_proj\.weight" is missing/);
  }, 60_000);
});

describe('promptkiln tune --method encoder, score --description, tune --from-encoder (CLI)', () => {
  const io = () => {
    const out: string[] = [], err: string[] = [];
    const x: CliIO = { out: (t) => out.push(t), err: (t) => err.push(t), isTTY: false, signal: new AbortController().signal };
    return { io: x, out, err };
  };
  const cmd = (n: string) => commands.find((c) => c.name === n)!;
  const MODEL = path.join(MODELS_DIR, 'stories260K');
  const NAMES = ['Tom', 'Sue', 'Ben'];
  const lines = NAMES.flatMap((n, t) => ['Once upon a time, there was a cat.', 'Lily saw a big dog.'].map((s) => JSON.stringify({ input: s, target: ` ${n} came to play.`, task_id: t })));

  it('trains, scores a new task by description as the API does, and fine-tunes a prompt from the encoder', async () => {
    const dir = tmp();
    await fs.writeFile(path.join(dir, 'train.jsonl'), lines.join('\n') + '\n');
    await fs.writeFile(path.join(dir, 'tasks.txt'), NAMES.map((n) => `${n} comes next.`).join('\n') + '\n');
    const out = path.join(dir, 'enc');
    const base = ['--model', MODEL, '--data', path.join(dir, 'train.jsonl')];
    const t = io();
    const rc = await cmd('tune').run([...base, '--out', out, '--method', 'encoder', '--descriptions', path.join(dir, 'tasks.txt'), '--virtual-tokens', '4',
      '--encoder-width', '32', '--encoder-layers', '1', '--encoder-heads', '4', '--batch', '3', '--epochs', '2', '--lr', '0.003'], t.io);
    expect(rc, t.err.join('\n')).toBe(0);
    expect(t.out.join('\n')).toMatch(/1 layers of width 32 over 3 tasks, 4 virtual tokens/);
    expect((await fs.readdir(out)).sort()).toEqual([ENCODER_CONFIG_FILE, ENCODER_WEIGHTS_FILE, 'report.html', 'train_state.safetensors']);
    const m = await model('stories260K');
    const a = await loadPromptEncoder(out, m);
    expect([a.tasks, a.dims]).toEqual([NAMES.map((n) => `${n} comes next.`), { width: 32, layers: 1, heads: 4, hidden: 128 }]);
    // a task it never saw, by description: the CLI's score is the API's
    const s = io();
    expect(await cmd('score').run(['--model', MODEL, '--adapter', out, '--description', 'Max comes next.', '--prompt', 'Once upon a time,', '--target', ' Max came.', '--json', '--backend', 'wasm'], s.io)).toBe(0);
    const p = encodeTask(m, a, 'Max comes next.');
    const want = await m.score('Once upon a time,', ' Max came.', { conditioning: toConditioning(p) });
    expect(JSON.parse(s.out[0]).total).toBeCloseTo(want.total, 5);
    // fine-tune that prompt: it starts from the encoder's rows (a run at lr 1e-9 stays on them)
    const ft = path.join(dir, 'ft');
    const f = io();
    expect(await cmd('tune').run([...base, '--out', ft, '--method', 'prompt', '--from-encoder', out, '--description', 'Max comes next.', '--epochs', '1', '--batch', '6', '--lr', '1e-9'], f.io), f.err.join('\n')).toBe(0);
    const tuned = (await loadPeft(ft, m)) as SoftPromptArtifact;
    expect(tuned.rows).toBe(4);
    expect(Math.max(...p.data.map(Math.abs))).toBeGreaterThan(0.1);
    expect(Math.max(...tuned.data.map((x, i) => Math.abs(x - p.data[i])))).toBeLessThan(1e-6);
    // flags that do not apply are refused, never ignored
    const bad = async (args: string[], re: RegExp) => rejects(cmd('tune').run([...base, '--out', path.join(dir, 'x'), ...args], io().io), 'ARGUMENT', re);
    await bad(['--method', 'encoder'], /--method encoder needs --descriptions FILE/);
    await bad(['--method', 'prompt', '--descriptions', 'f'], /--descriptions applies to --method encoder, not prompt/);
    await bad(['--method', 'encoder', '--descriptions', path.join(dir, 'tasks.txt'), '--init', 'vocab'], /--init does not apply to --method encoder/);
    await bad(['--method', 'prompt', '--from-encoder', out], /--from-encoder DIR and --description TEXT go together/);
    await bad(['--method', 'prompt', '--from-encoder', out, '--description', 'x', '--virtual-tokens', '2'], /--init, --template and --virtual-tokens do not apply/);
    await fs.writeFile(path.join(dir, 'gap.txt'), 'a\n\nb\n');
    await rejects(cmd('tune').run([...base, '--out', path.join(dir, 'x'), '--method', 'encoder', '--descriptions', path.join(dir, 'gap.txt')], io().io), 'DATA', /gap\.txt:2: empty task description/);
    await rejects(cmd('score').run(['--model', MODEL, '--description', 'x', '--prompt', 'a', '--target', 'b', '--backend', 'wasm'], io().io), 'ARGUMENT', /--description is the task for a prompt-encoder --adapter/);
  }, 120_000);
});
