// LoRA / IA3 folders that would compute something else here are refused with a typed ADAPTER error
// naming the setting or module: each math-changing PEFT setting we do not implement, adapters of
// another architecture or shape, target modules the model lacks, ranks larger than the layer, IA3
// input scaling that cannot be expressed; training-time-only settings (lora_dropout) are accepted.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isPromptkilnError } from '../../src/errors.js';
import { loadModel, type Model } from '../../src/model/index.js';
import { initIa3 } from '../../src/soft/ia3.js';
import { loadLinearPeft } from '../../src/soft/linear-adapter.js';
import { initLora } from '../../src/soft/lora.js';
import { decodePeft, loadAdapter } from '../../src/soft/peft.js';
import { MODELS_DIR, REFS_DIR } from '../helpers/paths.js';

const HF = path.join(REFS_DIR, 'hf');
let llamaP: Promise<Model> | null = null, gpt2P: Promise<Model> | null = null;
const llama = () => (llamaP ??= loadModel(path.join(HF, 'llama-gqa')));
const gpt2 = () => (gpt2P ??= loadModel(path.join(MODELS_DIR, 'gpt2-tiny-random')));

// a copy of a PEFT folder with adapter_config.json edited
function edited(folder: string, edit: (c: Record<string, unknown>) => void): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pk-adapter-'));
  cpSync(path.join(HF, folder), dir, { recursive: true });
  const f = path.join(dir, 'adapter_config.json');
  const c = JSON.parse(readFileSync(f, 'utf8'));
  edit(c);
  writeFileSync(f, JSON.stringify(c));
  return dir;
}

async function refused(p: Promise<unknown>, ...words: string[]): Promise<Record<string, unknown>> {
  let err: unknown = null;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(isPromptkilnError(err), `expected a PromptkilnError, got ${String(err)}`).toBe(true);
  const e = err as { code: string; message: string; details?: Record<string, unknown> };
  expect(e.code).toBe('ADAPTER');
  for (const w of words) expect(e.message).toContain(w);
  return e.details ?? {};
}

// PEFT LoraConfig settings that change the forward and are not implemented: each refused, named
const LORA_UNIMPLEMENTED: [string, unknown][] = [
  ['use_rslora', true], ['use_dora', true], ['rank_pattern', { q_proj: 2 }], ['alpha_pattern', { q_proj: 4 }],
  ['layers_to_transform', [0]], ['layers_pattern', 'layers'], ['bias', 'all'], ['bias', 'lora_only'], ['lora_bias', true],
  ['modules_to_save', ['lm_head']], ['exclude_modules', ['q_proj']], ['layer_replication', [[0, 2]]], ['use_qalora', true],
  ['alora_invocation_tokens', [5, 6]], ['target_parameters', ['mlp.experts.gate_up_proj']], ['trainable_token_indices', [3]],
  ['init_lora_weights', 'pissa'], ['init_lora_weights', 'olora'], ['init_lora_weights', 'loftq'], ['some_future_setting', true],
];

describe('LoRA / IA3 adapters that do not fit are refused (ADAPTER)', () => {
  for (const [key, value] of LORA_UNIMPLEMENTED) {
    it(`LoRA ${key} = ${JSON.stringify(value)}`, async () => {
      const m = await llama();
      const dir = edited('peft-lora-llama', (c) => { c[key] = value; });
      const d = await refused(loadAdapter(dir, m), key, 'adapter_config.json');
      expect(d.field).toBe(key);
    });
  }

  it('lora_dropout is training-time only: 0.1 loads and scores exactly like 0', async () => {
    const m = await llama();
    const a = await loadAdapter(path.join(HF, 'peft-lora-llama'), m);
    const b = await loadAdapter(edited('peft-lora-llama', (c) => { c.lora_dropout = 0.1; }), m);
    const [x] = await m.scoreMany([1, 12, 80], [[7, 150, 33]], { conditioning: a });
    const [y] = await m.scoreMany([1, 12, 80], [[7, 150, 33]], { conditioning: b });
    expect(y.logprobs).toEqual(x.logprobs);
  });

  it('IA3 modules_to_save and an unknown setting turned on', async () => {
    const m = await llama();
    await refused(loadAdapter(edited('peft-ia3-llama', (c) => { c.modules_to_save = ['lm_head']; }), m), 'modules_to_save');
    await refused(loadAdapter(edited('peft-ia3-llama', (c) => { c.ia3_new_thing = 3; }), m), 'ia3_new_thing');
  });

  it('an adapter of another architecture: GPT-2\'s LoRA on Llama, Llama\'s on GPT-2 (names the modules)', async () => {
    await refused(loadAdapter(path.join(HF, 'peft-lora-gpt2'), await llama()), '"c_attn"', 'not in');
    await refused(loadAdapter(path.join(HF, 'peft-lora-llama'), await gpt2()), '"q_proj"', 'not in');
  });

  it('an adapter of another shape: tensor shapes checked against the model (names the tensor)', async () => {
    const m = await loadModel(path.join(HF, 'qwen2')); // same module names, 2 layers of other head sizes
    await refused(loadAdapter(path.join(HF, 'peft-lora-llama'), m), 'expected shape');
    m.dispose();
  });

  it('target modules the model lacks, in the config or in the options', async () => {
    const m = await llama();
    const d = await refused(loadAdapter(edited('peft-lora-llama', (c) => { c.target_modules = ['q_proj', 'qkv_proj']; }), m), '"qkv_proj"');
    expect(d.modules).toEqual(['qkv_proj']);
    await refused(Promise.resolve().then(() => initLora(m, { r: 4, alpha: 8, targetModules: ['wq'], seed: 0 })), '"wq"');
    await refused(Promise.resolve().then(() => initLora(m, { r: 4, alpha: 8, targetModules: 'nothing\\.matches', seed: 0 })), 'matches no module');
  });

  it('a rank larger than the layer (k_proj is 16 × 48: r = 17)', async () => {
    const m = await llama();
    await refused(loadAdapter(edited('peft-lora-llama', (c) => { c.r = 17; }), m), 'rank r = 17', 'k_proj');
    await refused(Promise.resolve().then(() => initLora(m, { r: 17, alpha: 8, targetModules: ['v_proj'], seed: 0 })), 'rank r = 17');
  });

  it('IA3: feedforward_modules outside target_modules, and input scaling of gate_proj alone', async () => {
    const m = await llama();
    await refused(loadAdapter(edited('peft-ia3-llama', (c) => { c.feedforward_modules = ['down_proj', 'up_proj']; }), m), 'up_proj', 'subset');
    await refused(Promise.resolve().then(() => initIa3(m, { targetModules: ['gate_proj', 'down_proj'], feedforwardModules: ['gate_proj'] })), 'gate_proj', 'not implemented');
  });

  it('a LORA folder handed to the prompt reader, and a task id given to a LoRA', async () => {
    const m = await llama();
    const cfg = readFileSync(path.join(HF, 'peft-lora-llama', 'adapter_config.json'), 'utf8');
    await refused(Promise.resolve().then(() => decodePeft(cfg, new Uint8Array(8), m)), 'LORA', 'loadAdapter');
    await refused(loadAdapter(path.join(HF, 'peft-lora-llama'), m, { taskId: 1 }), 'task id 1');
    await refused(loadLinearPeft(path.join(HF, 'nope'), m), 'cannot read');
  });
});
