// LoRA and IA3 on every family the runtime loads: a zero B is the base model bit for bit; A, B and
// the IA3 vectors' gradients agree with central differences (fused Phi-3 qkv/gate_up, Gemma 3's
// sandwich and q/k norms, Qwen3, Mistral, GPT-2's Conv1D c_attn); a merged export scores like the
// unmerged adapter and generates the same tokens.
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as ortNode from 'onnxruntime-node';
import '../../src/cli/commands/index.js';
import type { CliIO } from '../../src/cli/command.js';
import { commands } from '../../src/cli/registry.js';
import { isPromptkilnError } from '../../src/errors.js';
import { loadModel, type Model } from '../../src/model/index.js';
import { loadCheckpoint } from '../../src/model/source.js';
import { OrtBackend } from '../../src/ort/backend.js';
import { rng } from '../../src/model/sampling.js';
import { initIa3 } from '../../src/soft/ia3.js';
import { linearConditioning, loadLinearPeft } from '../../src/soft/linear-adapter.js';
import { LinearTuning } from '../../src/soft/linear-tuning.js';
import { initLora } from '../../src/soft/lora.js';
import { mergeAdapter } from '../../src/soft/merge.js';
import type { LinearArtifact } from '../../src/soft/peft-linear.js';
import { MODELS_DIR, REFS_DIR } from '../helpers/paths.js';
import { expectClose } from './helpers.js';

const HF = path.join(REFS_DIR, 'hf');
const dirOf = (name: string) => (name === 'gpt2-tiny-random' ? path.join(MODELS_DIR, name) : path.join(HF, name));
const models = new Map<string, Promise<Model>>();
const load = (name: string) => {
  if (!models.has(name)) models.set(name, loadModel(dirOf(name)));
  return models.get(name)!;
};

const IDS = [1, 12, 80, 7, 150, 33, 91, 5, 64, 120, 18];
const ROWS = [6, 7, 8, 9];
const TARGETS = [91, 5, 64, 120];

// mean NLL of TARGETS after IDS[..row] with the method's adapter; grads when `grad`
function lossOf(t: LinearTuning, grad: boolean): number {
  const m = t.model, V = m.config.vocabSize;
  const st = m.run([[{ ids: IDS.map((x) => x % V) }]], { train: grad, adapter: t.adapter });
  const { sum } = st.nll(ROWS, TARGETS.map((x) => x % V), 1 / ROWS.length, grad);
  if (grad) st.backward();
  return sum / ROWS.length;
}

// random B (else dA = 0) and IA3 vectors away from 1, so every path carries gradient
function perturbed(a: LinearArtifact, seed: number): LinearArtifact {
  const u = rng(seed);
  if (a.kind === 'lora') return { ...a, modules: a.modules.map((m) => ({ ...m, B: m.B.map(() => 0.3 * (2 * u() - 1)) })) };
  return { ...a, modules: a.modules.map((m) => ({ ...m, l: m.l.map(() => 1 + 0.5 * (2 * u() - 1)) })) };
}

// central differences (h = 1e-2, f32 loss of a few nats: ≈ 3e-5 of rounding noise in the
// quotient) on the largest and two random elements of the first and last layers' params
function checkFiniteDiff(t: LinearTuning): void {
  for (const p of t.params) t.model.kernels.zero(p.grad);
  lossOf(t, true);
  const L = t.model.config.nLayers;
  const pick = t.params.filter((p) => /layers\.0\.|h\.0\./.test(p.name) || p.name.includes(`.${L - 1}.`));
  expect(pick.length).toBeGreaterThan(0);
  const r = rng(3), h = 1e-2;
  for (const p of pick) {
    const g = p.grad.f32().slice();
    const scale = Math.max(...Array.from(g, Math.abs));
    expect(scale, `${p.name} has gradient`).toBeGreaterThan(0);
    const idx = [g.findIndex((x) => Math.abs(x) === scale), Math.floor(r() * g.length), Math.floor(r() * g.length)];
    for (const i of idx) {
      const x = p.value.f32()[i];
      p.value.f32()[i] = x + h;
      const up = lossOf(t, false);
      p.value.f32()[i] = x - h;
      const down = lossOf(t, false);
      p.value.f32()[i] = x;
      const fd = (up - down) / (2 * h);
      expect(Math.abs(fd - g[i]), `${p.name}[${i}]: fd ${fd} vs ${g[i]}`).toBeLessThanOrEqual(3e-5 + 3e-3 * scale + 2e-2 * Math.abs(g[i]));
    }
  }
}

describe('LoRA / IA3 on every family', () => {
  for (const name of ['llama-gqa', 'gpt2-tiny-random', 'phi3', 'gemma3-text']) {
    it(`${name}: LoRA with B = 0 is the base model bit for bit (hidden states and scores)`, async () => {
      const m = await load(name);
      const ids = IDS.filter((x) => x < m.config.vocabSize);
      const base = m.run([[{ ids }]], {}).hidden().f32().slice();
      const cond = linearConditioning(m, initLora(m, { r: 4, alpha: 8, targetModules: 'all-linear', seed: 1 }));
      try {
        const withB0 = m.run([[{ ids }]], { adapter: cond.linear }).hidden().f32().slice();
        expect(Buffer.compare(Buffer.from(withB0.buffer), Buffer.from(base.buffer))).toBe(0);
        const [a] = await m.scoreMany(ids.slice(0, 5), [ids.slice(5)]);
        const [b] = await m.scoreMany(ids.slice(0, 5), [ids.slice(5)], { conditioning: cond });
        expect(b.logprobs).toEqual(a.logprobs);
      } finally {
        (cond.linear as unknown as { free(): void }).free();
      }
    });
  }

  const families: [string, string][] = [
    ['llama-gqa', 'llama (GQA)'], ['phi3', 'Phi-3 fused qkv_proj / gate_up_proj'], ['gemma3-text', 'Gemma 3'], ['qwen3', 'Qwen3 q/k norms'],
    ['qwen2', 'Qwen2 biases'], ['mistral-sp-tokenizer', 'Mistral'], ['gpt2-tiny-random', 'GPT-2 Conv1D'],
  ];
  for (const [name, what] of families) {
    it(`${what}: LoRA A and B gradients match central differences`, async () => {
      const m = await load(name);
      const t = new LinearTuning(m, perturbed(initLora(m, { r: 3, alpha: 6, targetModules: 'all-linear', seed: 2 }), 5));
      try {
        checkFiniteDiff(t);
      } finally {
        t.free();
      }
    });
  }

  for (const [name, targets, ff] of [
    ['llama-gqa', ['k_proj', 'v_proj', 'down_proj', 'o_proj'], ['down_proj']],
    ['phi3', ['qkv_proj', 'gate_up_proj', 'down_proj'], ['gate_up_proj']],
    ['gemma3-text', ['q_proj', 'k_proj', 'down_proj'], ['down_proj']],
    ['gpt2-tiny-random', ['c_attn', 'c_proj', 'c_fc'], ['c_fc']],
  ] as [string, string[], string[]][]) {
    it(`${name}: IA3 vectors (output-scaled ${targets.filter((x) => !ff.includes(x)).join(', ')}; input-scaled ${ff.join(', ')}) match central differences`, async () => {
      const m = await load(name);
      const t = new LinearTuning(m, perturbed(initIa3(m, { targetModules: targets, feedforwardModules: ff }), 6));
      try {
        checkFiniteDiff(t);
      } finally {
        t.free();
      }
    });
  }

  // merged export: same numbers through a plain model load; the same greedy tokens
  async function checkMerged(name: string, a: LinearArtifact): Promise<void> {
    const m = await load(name);
    const out = mkdtempSync(path.join(os.tmpdir(), 'pk-merged-'));
    await mergeAdapter(dirOf(name), a, m, out);
    const merged = await loadModel(out);
    const cond = linearConditioning(m, a);
    try {
      const ids = IDS.filter((x) => x < m.config.vocabSize);
      const [u] = await m.scoreMany(ids.slice(0, 4), [ids.slice(4)], { conditioning: cond });
      const [v] = await merged.scoreMany(ids.slice(0, 4), [ids.slice(4)]);
      expectClose(v.logprobs, u.logprobs, 1e-4, 0, `${name} merged vs unmerged`);
      const [base] = await m.scoreMany(ids.slice(0, 4), [ids.slice(4)]);
      expect(Math.max(...base.logprobs.map((x, i) => Math.abs(x - u.logprobs[i])))).toBeGreaterThan(1e-2);
      const g1 = await m.generate(ids.slice(0, 4), { maxTokens: 6, temperature: 0, conditioning: cond, stopAtEos: false });
      const g2 = await merged.generate(ids.slice(0, 4), { maxTokens: 6, temperature: 0, stopAtEos: false });
      expect(g1.tokens).toEqual(g2.tokens);
    } finally {
      (cond.linear as unknown as { free(): void }).free();
      merged.dispose();
    }
  }

  it('merged export of PEFT\'s lora-llama, lora-gpt2 (Conv1D: ΔWᵀ) and ia3-llama scores and generates like the unmerged adapter', async () => {
    for (const [name, folder] of [['llama-gqa', 'peft-lora-llama'], ['gpt2-tiny-random', 'peft-lora-gpt2'], ['llama-gqa', 'peft-ia3-llama']]) {
      await checkMerged(name, await loadLinearPeft(path.join(HF, folder), await load(name)));
    }
  });

  it('merged export on Phi-3\'s fused modules (LoRA, and IA3 with gate_up_proj input-scaled) and GPT-2 IA3 (c_attn bias scaled)', async () => {
    const phi = await load('phi3'), gpt = await load('gpt2-tiny-random');
    await checkMerged('phi3', perturbed(initLora(phi, { r: 4, alpha: 8, targetModules: ['qkv_proj', 'gate_up_proj', 'o_proj'], seed: 3 }), 9));
    await checkMerged('phi3', perturbed(initIa3(phi, { targetModules: ['qkv_proj', 'gate_up_proj'], feedforwardModules: ['gate_up_proj'] }), 10));
    await checkMerged('gpt2-tiny-random', perturbed(initIa3(gpt, { targetModules: ['c_attn', 'c_fc', 'c_proj'], feedforwardModules: ['c_proj'] }), 11));
  });

  it('the merged folder keeps the base\'s tensor names, shapes and files', async () => {
    const m = await load('gpt2-tiny-random');
    const out = mkdtempSync(path.join(os.tmpdir(), 'pk-merged-'));
    await mergeAdapter(dirOf('gpt2-tiny-random'), await loadLinearPeft(path.join(HF, 'peft-lora-gpt2'), m), m, out);
    const hdr = (d: string) => {
      const b = readFileSync(path.join(d, 'model.safetensors'));
      const n = Number(b.readBigUInt64LE(0));
      const h = JSON.parse(b.subarray(8, 8 + n).toString('utf8'));
      return Object.fromEntries(Object.entries(h).filter(([k]) => k !== '__metadata__').map(([k, v]) => [k, (v as { shape: number[] }).shape]));
    };
    expect(hdr(out)).toEqual(hdr(dirOf('gpt2-tiny-random')));
    expect(readFileSync(path.join(out, 'config.json'), 'utf8')).toBe(readFileSync(path.join(dirOf('gpt2-tiny-random'), 'config.json'), 'utf8'));
  });

  it('promptkiln merge writes what mergeAdapter writes; the ort backend refuses an unmerged adapter and runs the merged folder', async () => {
    const m = await load('llama-gqa');
    const api = mkdtempSync(path.join(os.tmpdir(), 'pk-merged-'));
    const cli = mkdtempSync(path.join(os.tmpdir(), 'pk-merged-'));
    const a = await loadLinearPeft(path.join(HF, 'peft-lora-llama'), m);
    await mergeAdapter(dirOf('llama-gqa'), a, m, api);
    const out: string[] = [];
    const io: CliIO = { out: (x) => out.push(x), err: () => {}, isTTY: false, signal: new AbortController().signal };
    const merge = commands.find((c) => c.name === 'merge')!;
    expect(await merge.run(['--model', dirOf('llama-gqa'), '--adapter', path.join(HF, 'peft-lora-llama'), '--out', cli], io)).toBe(0);
    expect(out[0]).toContain('rank 4');
    expect(readFileSync(path.join(cli, 'model.safetensors')).equals(readFileSync(path.join(api, 'model.safetensors')))).toBe(true);
    const cond = linearConditioning(m, a);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const ort = await OrtBackend.create(await loadCheckpoint(dirOf('llama-gqa')), { runtime: ortNode as any });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const merged = await OrtBackend.create(await loadCheckpoint(cli), { runtime: ortNode as any });
    try {
      let err: unknown = null;
      await ort.scoreMany([1, 12, 80], [[7, 150]], { conditioning: cond }).catch((e) => { err = e; });
      expect(isPromptkilnError(err) && err.code === 'ADAPTER' && /merge/.test(err.message)).toBe(true);
      const [w] = await m.scoreMany([1, 12, 80], [[7, 150]], { conditioning: cond });
      const [o] = await merged.scoreMany([1, 12, 80], [[7, 150]]);
      expectClose(o.logprobs, w.logprobs, 1e-4, 0, 'ort on the merged folder vs WASM unmerged');
    } finally {
      (cond.linear as unknown as { free(): void }).free();
      ort.dispose();
      merged.dispose();
    }
  });
});
