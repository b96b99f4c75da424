// Loading Hugging Face checkpoint folders (GPT-2, Llama names) and refusing bad ones.
import { mkdtempSync, writeFileSync, copyFileSync, readFileSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { hfConfig } from '../../../src/model/hf-config.js';
import { parseLlama2c } from '../../../src/model/llama2c.js';
import { parseSafetensors, writeSafetensors } from '../../../src/model/safetensors.js';
import { loadCheckpoint } from '../../../src/model/source.js';
import { hfTokenizerJsonFromLlama2c } from './hf-tokenizer-from-llama2c.js';
import { REFS_DIR } from '../../helpers/paths.js';
import { expectCode, GPT2_DIR, read, refJson, STORIES_BIN, STORIES_DIR, TOK512 } from './util.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'pk-loaders-'));
const same = (a: Float32Array | undefined, b: Float32Array | undefined) => !!a && !!b && a.length === b.length && a.every((x, i) => Object.is(x, b[i]));

// stories260K's weights under Hugging Face Llama names (what convert_llama_weights_to_hf would
// write, minus the q/k permutation, which only matters for the RoPE convention we record).
function storiesAsHf(): { tensors: Record<string, { shape: number[]; data: Float32Array }>; config: Record<string, unknown> } {
  const ck = parseLlama2c(read(STORIES_BIN));
  const t = ck.tensors;
  const out: Record<string, { shape: number[]; data: Float32Array }> = { 'model.embed_tokens.weight': { shape: [512, 64], data: t.get('tok_embeddings')! } };
  const names: [string, string, number[]][] = [
    ['attn_norm', 'input_layernorm.weight', [64]],
    ['wq', 'self_attn.q_proj.weight', [64, 64]],
    ['wk', 'self_attn.k_proj.weight', [32, 64]],
    ['wv', 'self_attn.v_proj.weight', [32, 64]],
    ['wo', 'self_attn.o_proj.weight', [64, 64]],
    ['mlp_norm', 'post_attention_layernorm.weight', [64]],
    ['w1', 'mlp.gate_proj.weight', [172, 64]],
    ['w2', 'mlp.down_proj.weight', [64, 172]],
    ['w3', 'mlp.up_proj.weight', [172, 64]],
  ];
  for (let i = 0; i < 5; i++) for (const [ours, hf, shape] of names) out[`model.layers.${i}.${hf}`] = { shape, data: t.get(`layers.${i}.${ours}`)! };
  out['model.norm.weight'] = { shape: [64], data: t.get('final_norm')! };
  out['lm_head.weight'] = { shape: [512, 64], data: t.get('tok_embeddings')! };
  const config = {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 64, intermediate_size: 172, num_hidden_layers: 5,
    num_attention_heads: 8, num_key_value_heads: 4, vocab_size: 512, max_position_embeddings: 512, rms_norm_eps: 1e-5,
    rope_theta: 10000, tie_word_embeddings: false, hidden_act: 'silu', bos_token_id: 1, eos_token_id: 2,
  };
  return { tensors: out, config };
}

describe('Hugging Face checkpoints', () => {
  test('gpt2-tiny-random folder: config, Conv1D transposed to (out, in), c_attn split', async () => {
    const ck = await loadCheckpoint(GPT2_DIR);
    expect(ck.config).toMatchObject({ arch: 'gpt2', dim: 32, nLayers: 2, nHeads: 2, nKvHeads: 2, headDim: 16, hiddenDim: 128, vocabSize: 64, maxSeqLen: 64, normEps: 1e-5, tiedEmbeddings: true, attnBias: true, mlpBias: true });
    expect(ck.tokenizer).toBeNull();
    expect(ck.id).toBe('gpt2-tiny-random:120872');
    const raw = parseSafetensors(read(path.join(GPT2_DIR, 'model.safetensors'))).tensors;
    const cAttn = raw.get('transformer.h.1.attn.c_attn.weight')!.data; // [32 in, 96 out]
    const wk = ck.tensors.get('layers.1.wk')!; // (32 out, 32 in): wk[o][i] = c_attn[i][32 + o]
    const wv = ck.tensors.get('layers.1.wv')!;
    for (const [o, i] of [[0, 0], [5, 17], [31, 31]]) {
      expect(wk[o * 32 + i]).toBe(cAttn[i * 96 + 32 + o]);
      expect(wv[o * 32 + i]).toBe(cAttn[i * 96 + 64 + o]);
    }
    expect(Array.from(ck.tensors.get('layers.1.bv')!)).toEqual(Array.from(raw.get('transformer.h.1.attn.c_attn.bias')!.data.subarray(64, 96)));
    const fc = raw.get('transformer.h.0.mlp.c_fc.weight')!.data; // [32, 128]
    expect(ck.tensors.get('layers.0.w1')![100 * 32 + 7]).toBe(fc[7 * 128 + 100]);
    const proj = raw.get('transformer.h.0.mlp.c_proj.weight')!.data; // [128, 32]
    expect(ck.tensors.get('layers.0.w2')![9 * 128 + 100]).toBe(proj[100 * 32 + 9]);
    expect(ck.tensors.has('lm_head')).toBe(false);
    expect(same(ck.tensors.get('pos_embeddings'), raw.get('transformer.wpe.weight')!.data)).toBe(true);
    expect(same(ck.tensors.get('final_norm_bias'), raw.get('transformer.ln_f.bias')!.data)).toBe(true);
  });

  test('GPT-2 names without the transformer. prefix, with attn.bias buffers, load the same', async () => {
    const raw = parseSafetensors(read(path.join(GPT2_DIR, 'model.safetensors'))).tensors;
    const t: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [k, v] of raw) t[k.replace(/^transformer\./, '')] = v;
    t['h.0.attn.bias'] = { shape: [1, 1, 64, 64], data: new Float32Array(4096).fill(1) };
    t['h.0.attn.masked_bias'] = { shape: [], data: Float32Array.of(-1e4) };
    const dir = tmp();
    writeFileSync(path.join(dir, 'model.safetensors'), writeSafetensors(t));
    copyFileSync(path.join(GPT2_DIR, 'config.json'), path.join(dir, 'config.json'));
    const a = await loadCheckpoint(dir);
    const b = await loadCheckpoint(GPT2_DIR);
    expect(a.tensors.size).toBe(b.tensors.size);
    for (const [k, v] of b.tensors) expect(same(a.tensors.get(k), v), k).toBe(true);
  });

  test('a Llama HF folder (stories260K weights, sharded, tokenizer.json, chat template)', async () => {
    const { tensors, config } = storiesAsHf();
    const dir = tmp();
    const names = Object.keys(tensors);
    const half = Math.floor(names.length / 2);
    const shards = [names.slice(0, half), names.slice(half)];
    const weightMap: Record<string, string> = {};
    shards.forEach((ns, s) => {
      const f = `model-0000${s + 1}-of-00002.safetensors`;
      writeFileSync(path.join(dir, f), writeSafetensors(Object.fromEntries(ns.map((n) => [n, tensors[n]]))));
      for (const n of ns) weightMap[n] = f;
    });
    writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    const tj = hfTokenizerJsonFromLlama2c(read(TOK512));
    writeFileSync(path.join(dir, 'tokenizer.json'), tj.tokenizer);
    writeFileSync(path.join(dir, 'tokenizer_config.json'), tj.config);
    const ck = await loadCheckpoint(dir);
    const ref = parseLlama2c(read(STORIES_BIN));
    expect(ck.config).toMatchObject({ ...ref.config, ropeMode: 'half', tiedEmbeddings: false, family: 'llama', eosIds: [2], layerTypes: Array(5).fill('full_attention') });
    expect(ck.config.rope).toMatchObject({ type: 'default', theta: 10000, rotaryDim: 8, attentionFactor: 1 });
    for (const [k, v] of ref.tensors) expect(same(ck.tensors.get(k), v), k).toBe(true);
    expect(same(ck.tensors.get('lm_head'), ref.tensors.get('tok_embeddings'))).toBe(true);
    expect(ck.tokenizer!.encode('Once upon a time')).toEqual([1, 403, 407, 261, 378]);
    expect(ck.chatTemplate).toContain('messages');
    // a shard that lost a tensor the index lists
    writeFileSync(path.join(dir, 'model-00002-of-00002.safetensors'), writeSafetensors(Object.fromEntries(shards[1].slice(1).map((n) => [n, tensors[n]]))));
    await expectCode(() => loadCheckpoint(dir), 'CHECKPOINT', /model-00002-of-00002.*not in the shard/);
  });

  test('attention/MLP biases and head_dim of the config are honoured', () => {
    const { config } = storiesAsHf();
    const c = hfConfig({ ...config, head_dim: 16, attention_bias: true, mlp_bias: true, rope_theta: 500000, rms_norm_eps: 1e-6, tie_word_embeddings: true });
    expect(c).toMatchObject({ headDim: 16, attnBias: true, mlpBias: true, ropeTheta: 500000, normEps: 1e-6, tiedEmbeddings: true });
  });

  test('config errors: missing field → CONFIG naming field and file; unknown arch → ARCH', async () => {
    const { config } = storiesAsHf();
    const { hidden_size: _, ...noHidden } = config;
    await expectCode(() => hfConfig(noHidden, 'x/config.json'), 'CONFIG', /x\/config\.json: hidden_size is missing/);
    await expectCode(() => hfConfig({ ...config, num_key_value_heads: 3 }), 'CONFIG', /num_key_value_heads/);
    await expectCode(() => hfConfig({ ...config, rope_scaling: { type: 'llama3' } }), 'CONFIG', /rope_scaling/);
    await expectCode(() => hfConfig({ architectures: ['FalconForCausalLM'] }, 'm/config.json'), 'ARCH', /m\/config\.json.*FalconForCausalLM/);
    await expectCode(() => hfConfig('{nope'), 'CONFIG', /JSON/);
    const g = JSON.parse(readFileSync(path.join(GPT2_DIR, 'config.json'), 'utf8'));
    const { n_embd: __, ...noEmbd } = g;
    await expectCode(() => hfConfig(noEmbd), 'CONFIG', /n_embd is missing/);
    await expectCode(() => hfConfig({ ...g, activation_function: 'relu' }), 'CONFIG', /activation_function/);
    const dir = tmp();
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...g, n_layer: 3 }));
    copyFileSync(path.join(GPT2_DIR, 'model.safetensors'), path.join(dir, 'model.safetensors'));
    await expectCode(() => loadCheckpoint(dir), 'CHECKPOINT', /missing tensor "h\.2\.ln_1\.weight"/);
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...g, n_inner: 64 }));
    await expectCode(() => loadCheckpoint(dir), 'CHECKPOINT', /c_fc\.weight" has shape \[32, 128\], config\.json implies \[32, 64\]/);
  });
});

describe('llama2.c folders and files through loadCheckpoint', () => {
  test('the folder: checkpoint by its header, tokenizer tok<vocab>.bin', async () => {
    const ck = await loadCheckpoint(STORIES_DIR);
    expect(ck.id).toBe('stories260K.bin:1056540');
    expect(ck.source).toBe(STORIES_DIR);
    expect(ck.config.dim).toBe(64);
    expect(ck.tokenizer!.encode('Once upon a time')).toEqual([1, 403, 407, 261, 378]);
  });

  test('a .bin path; a folder with decoys; a folder without tokenizer', async () => {
    const byFile = await loadCheckpoint(STORIES_BIN);
    expect(byFile.tokenizer).not.toBeNull();
    const dir = tmp();
    copyFileSync(STORIES_BIN, path.join(dir, 'weights.bin'));
    writeFileSync(path.join(dir, 'zzz-big.bin'), new Uint8Array(2_000_000)); // largest, but no valid header
    writeFileSync(path.join(dir, 'tok4096.bin'), new Uint8Array(100)); // another model's tokenizer name
    let ck = await loadCheckpoint(dir);
    expect(ck.id).toBe('weights.bin:1056540');
    expect(ck.tokenizer).toBeNull();
    copyFileSync(TOK512, path.join(dir, 'tokenizer.bin'));
    ck = await loadCheckpoint(dir);
    expect(ck.tokenizer!.decode([1, 403, 407])).toBe('Once upon');
  });

  test('a folder of symlinks (a Hugging Face cache snapshot) loads like the files', async () => {
    const dir = tmp();
    symlinkSync(STORIES_BIN, path.join(dir, 'stories260K.bin'));
    symlinkSync(TOK512, path.join(dir, 'tok512.bin'));
    symlinkSync(path.join(dir, 'gone.bin'), path.join(dir, 'dangling.bin'));
    const ck = await loadCheckpoint(dir);
    expect(ck.id).toBe('stories260K.bin:1056540');
    expect(ck.tokenizer!.encode('Once upon a time')).toEqual([1, 403, 407, 261, 378]);
  });

  test('bad inputs → typed errors', async () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'broken.bin'), read(STORIES_BIN).slice(0, 5000));
    await expectCode(() => loadCheckpoint(dir), 'CHECKPOINT', /no llama2\.c checkpoint.*broken\.bin/);
    await expectCode(() => loadCheckpoint(path.join(dir, 'broken.bin')), 'CHECKPOINT', /broken\.bin.*5000 bytes/);
    copyFileSync(STORIES_BIN, path.join(dir, 'm.bin'));
    writeFileSync(path.join(dir, 'tok512.bin'), read(TOK512).slice(0, 3000));
    await expectCode(() => loadCheckpoint(dir), 'TOKENIZER', /tok512\.bin/);
    await expectCode(() => loadCheckpoint('./definitely/not/here'), 'ARGUMENT', /neither an existing file/);
  });
});

describe('Hugging Face folders as transformers writes them: bad input names file, tensor or key', () => {
  const files = (name: string) => {
    const dir = path.join(REFS_DIR, 'hf', name);
    const out: Record<string, Uint8Array> = {};
    for (const f of refJson('hf/cases.json').models[name].files as string[]) out[f] = read(path.join(dir, f));
    return out;
  };
  const withConfig = (f: Record<string, Uint8Array>, edit: Record<string, unknown>) => {
    const c = JSON.parse(new TextDecoder().decode(f['config.json']));
    return { ...f, 'config.json': new TextEncoder().encode(JSON.stringify({ ...c, ...edit })) };
  };

  test('a missing tensor of a known architecture, named', async () => {
    const f = files('llama3-rope-scaled-tied');
    const raw = parseSafetensors(f['model.safetensors']).tensors;
    const t = Object.fromEntries([...raw].filter(([k]) => k !== 'model.layers.1.mlp.up_proj.weight'));
    await expectCode(() => loadCheckpoint({ files: { ...f, 'model.safetensors': writeSafetensors(t) }, name: 'l3' }), 'CHECKPOINT', /l3\/model\.safetensors: missing tensor "layers\.1\.mlp\.up_proj\.weight" \(expected shape \[128, 48\]\)/);
  });

  test('a shape that disagrees with the config, naming tensor and shapes', async () => {
    const f = withConfig(files('llama3-rope-scaled-tied'), { intermediate_size: 96 });
    await expectCode(() => loadCheckpoint({ files: f, name: 'l3' }), 'CHECKPOINT', /tensor "model\.layers\.0\.mlp\.gate_proj\.weight" has shape \[128, 48\], config\.json implies \[96, 48\]/);
  });

  test('an unknown architecture is ARCH; a RoPE the Llama path cannot run is CONFIG naming the key', async () => {
    await expectCode(() => loadCheckpoint({ files: withConfig(files('llama-gqa'), { architectures: ['MambaForCausalLM'] }), name: 'g' }), 'ARCH', /g\/config\.json: architecture "MambaForCausalLM"/);
    await expectCode(() => loadCheckpoint({ files: withConfig(files('llama-gqa'), { partial_rotary_factor: 0.5 }), name: 'g' }), 'CONFIG', /g\/config\.json: partial_rotary_factor rotates 4 of 8 head dims; only Phi-3/);
  });

  test('generation_config.json: its eos_token_id list replaces config.json\'s; malformed → CONFIG naming the file', async () => {
    const f = files('llama-gqa');
    expect((await loadCheckpoint({ files: f })).config.eosIds).toEqual([2]);
    const g = { ...f, 'generation_config.json': new TextEncoder().encode(JSON.stringify({ eos_token_id: [2, 9] })) };
    expect((await loadCheckpoint({ files: g })).config).toMatchObject({ eosIds: [2, 9], eosId: 2 });
    const bad = { ...f, 'generation_config.json': new TextEncoder().encode(JSON.stringify({ eos_token_id: 'x' })) };
    await expectCode(() => loadCheckpoint({ files: bad, name: 'g' }), 'CONFIG', /g\/generation_config\.json: eos_token_id is "x"/);
  });
});
