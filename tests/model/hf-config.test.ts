// config.json → ModelConfig on every model folder transformers 5.17 wrote (../shared/refs/hf),
// both config forms, and the keys that change the math but are not implemented (typed CONFIG errors).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hfConfig } from '../../src/model/hf-config.js';
import { defaultRope, ropeTables } from '../../src/model/rope.js';
import type { ModelConfig } from '../../src/model/types.js';
import { REFS_DIR } from '../helpers/paths.js';
import { expectCode } from './loaders/util.js';

const HF = path.join(REFS_DIR, 'hf');
const cases = JSON.parse(readFileSync(path.join(HF, 'cases.json'), 'utf8'));
const config = (name: string) => JSON.parse(readFileSync(path.join(HF, name, 'config.json'), 'utf8'));
const f = Math.fround;

// what every llama-like family has unless it says otherwise
const plain = {
  arch: 'llama', ropeMode: 'half', nLayers: 2, dim: 48, hiddenDim: 128, vocabSize: 300, maxSeqLen: 256, attnBias: false, attnOutBias: false,
  mlpBias: false, qkNorm: false, normPlusOne: false, embedScale: 1, sandwichNorm: false, activation: 'silu', slidingWindow: null, ropeLocal: null,
  layerTypes: ['full_attention', 'full_attention'],
};
const rope = (theta: number, rotaryDim: number) => defaultRope(theta, rotaryDim);

const expected: Record<string, ModelConfig> = {
  'llama-gqa': {
    ...plain, family: 'llama', nLayers: 3, nHeads: 6, nKvHeads: 2, headDim: 8, maxSeqLen: 128, normEps: 1e-5, ropeTheta: 10000, rope: rope(10000, 8),
    tiedEmbeddings: false, bosId: 1, eosId: 2, eosIds: [2], queryScale: 1 / Math.sqrt(8), layerTypes: Array(3).fill('full_attention'),
  } as ModelConfig,
  qwen2: {
    ...plain, family: 'qwen2', nHeads: 4, nKvHeads: 2, headDim: 12, normEps: 1e-6, ropeTheta: 1e6, rope: rope(1e6, 12), attnBias: true,
    tiedEmbeddings: true, bosId: null, eosId: null, eosIds: [], queryScale: 1 / Math.sqrt(12),
  } as ModelConfig,
  qwen3: {
    ...plain, family: 'qwen3', nHeads: 4, nKvHeads: 2, headDim: 12, normEps: 1e-6, ropeTheta: 1e6, rope: rope(1e6, 12), qkNorm: true,
    tiedEmbeddings: true, bosId: null, eosId: null, eosIds: [], queryScale: 1 / Math.sqrt(12),
  } as ModelConfig,
  'gemma3-text': {
    ...plain, family: 'gemma3', nHeads: 4, nKvHeads: 2, headDim: 12, normEps: 1e-6, ropeTheta: 1e6, rope: rope(1e6, 12), ropeLocal: rope(10000, 12),
    layerTypes: ['sliding_attention', 'full_attention'], slidingWindow: 4, qkNorm: true, normPlusOne: true, embedScale: f(Math.sqrt(48)),
    sandwichNorm: true, activation: 'gelu_tanh', queryScale: 12 ** -0.5, tiedEmbeddings: true, bosId: 2, eosId: 1, eosIds: [1],
  } as ModelConfig,
  phi3: {
    ...plain, family: 'phi3', nHeads: 4, nKvHeads: 2, headDim: 12, normEps: 1e-5, ropeTheta: 10000, rope: rope(10000, 6),
    tiedEmbeddings: false, bosId: 1, eosId: 2, eosIds: [2], queryScale: 1 / Math.sqrt(12),
  } as ModelConfig,
  'mistral-sp-tokenizer': {
    ...plain, family: 'mistral', nHeads: 4, nKvHeads: 1, headDim: 12, vocabSize: 384, normEps: 1e-6, ropeTheta: 1e6, rope: rope(1e6, 12),
    layerTypes: ['sliding_attention', 'sliding_attention'], slidingWindow: 5, tiedEmbeddings: false, bosId: 1, eosId: 2, eosIds: [2], queryScale: 1 / Math.sqrt(12),
  } as ModelConfig,
  'gpt2-bytelevel': {
    arch: 'gpt2', family: 'gpt2', dim: 48, nLayers: 2, nHeads: 4, nKvHeads: 4, headDim: 12, hiddenDim: 192, vocabSize: 300, maxSeqLen: 128,
    normEps: 1e-5, ropeTheta: 10000, ropeMode: 'half', tiedEmbeddings: true, attnBias: true, mlpBias: true, bosId: 50256, eosId: 50256,
    eosIds: [50256], activation: 'gelu_tanh',
  },
};
// phi3's rope rotates 6 of 12 dims: defaultRope(θ, 6) has rotaryDim 6 already

describe('config.json of every refs folder → the full ModelConfig', () => {
  for (const [name, want] of Object.entries(expected)) {
    it(name, () => {
      expect(hfConfig(config(name), `${name}/config.json`)).toEqual(want);
    });
  }

  it('Llama 3: rope_parameters (v5) and rope_theta + rope_scaling (pre-v5) give the same config', () => {
    const v5 = hfConfig(config('llama3-rope-scaled-tied'));
    const legacy = hfConfig(config('llama3-legacy-config'));
    expect(legacy).toEqual(v5);
    expect(v5.rope).toEqual({ ...rope(500000, 12), type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPos: 32 });
    expect(v5.eosIds).toEqual([2, 5, 7]);
  });

  it('any RoPE setting: the v5 dict and the pre-v5 keys give the same config and the same tables (property, 300 cases)', () => {
    const base = config('llama-gqa');
    const { rope_parameters: _, ...bare } = base;
    const scaling = fc.oneof(
      fc.record({ rope_type: fc.constant('linear'), factor: fc.double({ min: 1, max: 64, noNaN: true }) }),
      fc.record({ rope_type: fc.constant('llama3'), factor: fc.double({ min: 1, max: 64, noNaN: true }), low_freq_factor: fc.double({ min: 0.5, max: 2, noNaN: true }), high_freq_factor: fc.double({ min: 2.5, max: 8, noNaN: true }), original_max_position_embeddings: fc.integer({ min: 8, max: 8192 }) }),
      fc.record({ rope_type: fc.constant('yarn'), factor: fc.double({ min: 1, max: 64, noNaN: true }), original_max_position_embeddings: fc.integer({ min: 8, max: 8192 }), truncate: fc.boolean() }, { requiredKeys: ['rope_type', 'factor'] }),
    );
    fc.assert(fc.property(scaling, fc.double({ min: 100, max: 1e7, noNaN: true }), (sc, theta) => {
      const v5 = hfConfig({ ...bare, rope_parameters: { ...sc, rope_theta: theta } });
      const legacy = hfConfig({ ...bare, rope_theta: theta, rope_scaling: sc });
      expect(legacy).toEqual(v5);
      expect(v5.rope!.type).toBe(sc.rope_type);
      expect(Array.from(ropeTables(legacy.rope!, 40).cos)).toEqual(Array.from(ropeTables(v5.rope!, 40).cos));
    }), { numRuns: 300 });
  });

  it('Gemma 3 pre-v5 form (rope_theta, rope_local_base_freq, rope_scaling on global layers) equals the per-layer-type dict', () => {
    const v5 = config('gemma3-text');
    const { rope_parameters: _, ...rest } = v5;
    const old = { ...rest, rope_theta: 1e6, rope_local_base_freq: 10000 };
    expect(hfConfig(old)).toEqual(hfConfig(v5));
    const scaled = hfConfig({ ...old, rope_scaling: { rope_type: 'linear', factor: 8 } });
    expect(scaled.rope).toMatchObject({ type: 'linear', factor: 8, theta: 1e6 });
    expect(scaled.ropeLocal).toEqual(rope(10000, 12));
    const v5scaled = hfConfig({ ...v5, rope_parameters: { ...v5.rope_parameters, full_attention: { rope_type: 'linear', factor: 8, rope_theta: 1e6 } } });
    expect(v5scaled).toEqual(scaled);
  });

  it('layer_types absent: derived per family as transformers does', () => {
    const g = config('gemma3-text');
    const { layer_types: _, ...noTypes } = g;
    const six = hfConfig({ ...noTypes, num_hidden_layers: 7 }); // pattern 6: every 6th layer global
    expect(six.layerTypes!.map((t) => t[0])).toEqual(['s', 's', 's', 's', 's', 'f', 's']);
    const q = config('qwen2');
    const { layer_types: __, ...qNoTypes } = q;
    const qs = hfConfig({ ...qNoTypes, num_hidden_layers: 4, use_sliding_window: true, sliding_window: 9, max_window_layers: 2 });
    expect(qs.layerTypes).toEqual(['full_attention', 'full_attention', 'sliding_attention', 'sliding_attention']);
    expect(qs.slidingWindow).toBe(9);
    // Qwen keeps sliding_window in the file and ignores it without use_sliding_window
    const off = hfConfig({ ...qNoTypes, sliding_window: 9, max_window_layers: 0 });
    expect([off.slidingWindow, off.layerTypes]).toEqual([null, ['full_attention', 'full_attention']]);
  });

  it('Phi-3 longrope: original context from the top-level key, attention factor √(1 + ln f / ln orig), context capped at the original (published formula)', () => {
    const p = config('phi3');
    const short = Array.from({ length: 3 }, (_, i) => 1 + i / 10);
    const c = hfConfig({ ...p, max_position_embeddings: 1024, original_max_position_embeddings: 64, rope_parameters: { rope_type: 'longrope', rope_theta: 10000, partial_rotary_factor: 0.5, short_factor: short, long_factor: [2, 3, 4], original_max_position_embeddings: 128 } });
    expect(c.rope).toMatchObject({ type: 'longrope', rotaryDim: 6, originalMaxPos: 64, factor: 16, shortFactor: short, longFactor: [2, 3, 4] });
    expect(c.rope!.attentionFactor).toBeCloseTo(Math.sqrt(1 + Math.log(16) / Math.log(64)), 12);
    expect(c.maxSeqLen).toBe(64);
  });
});

// Keys that change the math and are not implemented: each must be refused with CONFIG naming file,
// key and value (a broken reader that skips one passes the config through silently).
const REFUSED: [what: string, base: string, edit: Record<string, unknown>, key: RegExp][] = [
  ['dynamic NTK RoPE (v5)', 'llama-gqa', { rope_parameters: { rope_type: 'dynamic', factor: 2, rope_theta: 10000 } }, /rope_parameters\.rope_type is "dynamic"/],
  ['dynamic NTK RoPE (pre-v5)', 'llama3-legacy-config', { rope_scaling: { type: 'dynamic', factor: 2 } }, /rope_scaling\.rope_type is "dynamic"/],
  ['an unknown RoPE type', 'qwen2', { rope_parameters: { rope_type: 'mrope', rope_theta: 1e6 } }, /rope_type is "mrope"/],
  ['a RoPE key its type does not use', 'llama-gqa', { rope_parameters: { rope_type: 'default', rope_theta: 1e4, mrope_section: [2, 2] } }, /rope_parameters\.mrope_section is \[2,2\]/],
  ['llama3 RoPE without low_freq_factor', 'llama3-rope-scaled-tied', { rope_parameters: { rope_type: 'llama3', factor: 8, high_freq_factor: 4, rope_theta: 5e5 } }, /low_freq_factor is missing/],
  ['a per-layer RoPE type we do not run', 'gemma3-text', { rope_parameters: { full_attention: { rope_type: 'dynamic', factor: 2 }, sliding_attention: { rope_type: 'default' } } }, /rope_parameters\.full_attention\.rope_type is "dynamic"/],
  ['a per-layer RoPE dict missing a layer type', 'gemma3-text', { rope_parameters: { full_attention: { rope_type: 'default', rope_theta: 1e6 } } }, /rope_parameters has no entry for the "sliding_attention" layers/],
  ['attention logit soft-capping', 'gemma3-text', { attn_logit_softcapping: 50 }, /attn_logit_softcapping is 50/],
  ['final logit soft-capping', 'gemma3-text', { final_logit_softcapping: 30 }, /final_logit_softcapping is 30/],
  ['bidirectional attention', 'gemma3-text', { use_bidirectional_attention: true }, /use_bidirectional_attention is true/],
  ['quantization settings', 'llama-gqa', { quantization_config: { quant_method: 'gptq', bits: 4 } }, /quantization_config is \{"quant_method":"gptq","bits":4\}/],
  ['an activation we do not have', 'qwen3', { hidden_act: 'relu' }, /hidden_act is "relu"/],
  ['a Gemma activation we do not have', 'gemma3-text', { hidden_activation: 'gelu' }, /hidden_activation is "gelu"/],
  ['an attention variant in layer_types', 'qwen2', { layer_types: ['full_attention', 'chunked_attention'] }, /layer_types\[1\] is "chunked_attention"/],
  ['sliding layers without a window', 'mistral-sp-tokenizer', { sliding_window: null, layer_types: ['sliding_attention', 'full_attention'] }, /sliding_window is null/],
  ['sliding layers in a Llama', 'llama-gqa', { layer_types: ['full_attention', 'sliding_attention', 'full_attention'] }, /layer_types/],
  ['partial rotary over 1', 'phi3', { partial_rotary_factor: 1.5, rope_parameters: { rope_type: 'default', rope_theta: 1e4 } }, /partial_rotary_factor is 1.5/],
  ['longrope factors of the wrong length', 'phi3', { rope_parameters: { rope_type: 'longrope', short_factor: [1], long_factor: [1, 1, 1], partial_rotary_factor: 0.5 } }, /short_factor is \[1\], expected 3/],
  ['GPT-2 attention scaled by layer index', 'gpt2-bytelevel', { scale_attn_by_inverse_layer_idx: true }, /scale_attn_by_inverse_layer_idx is true/],
  ['GPT-2 without attention scaling', 'gpt2-bytelevel', { scale_attn_weights: false }, /scale_attn_weights is false/],
];

describe('never silently wrong: unimplemented math-changing keys are CONFIG errors naming file, key and value', () => {
  for (const [what, base, edit, msg] of REFUSED) {
    it(what, async () => {
      const e = await expectCode(() => hfConfig({ ...config(base), ...edit }, `${base}/config.json`), 'CONFIG', msg);
      expect(e.message.startsWith(`${base}/config.json: `)).toBe(true);
      expect(e.details).toHaveProperty('key');
    });
  }

  it('an architecture we do not know is ARCH, naming it', async () => {
    await expectCode(() => hfConfig({ ...config('qwen2'), architectures: ['Qwen2MoeForCausalLM'] }, 'q/config.json'), 'ARCH', /q\/config\.json: architecture "Qwen2MoeForCausalLM"/);
  });

  it('the refs configs themselves carry none of them (every folder reads)', () => {
    for (const name of Object.keys(cases.models)) expect(() => hfConfig(config(name))).not.toThrow();
  });
});
