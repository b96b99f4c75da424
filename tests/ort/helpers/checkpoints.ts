// Throwaway parsers for the two test checkpoints, so the ONNX tests do not wait on
// src/model's loaders. They follow ../shared/models/*/README.md exactly; when loadCheckpoint()
// lands, tests/ort cross-checks against it (see backend tests) and this file can go.
import fs from 'node:fs';
import path from 'node:path';
import type { ModelConfig, TensorMap } from '../../../src/model/types.js';
import { MODELS_DIR } from '../../helpers/paths.js';

export interface TestCheckpoint {
  config: ModelConfig;
  tensors: TensorMap;
}

export function loadStories260K(): TestCheckpoint {
  const buf = fs.readFileSync(path.join(MODELS_DIR, 'stories260K', 'stories260K.bin'));
  const hdr = new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + 28));
  const [dim, hidden, nLayers, nHeads, nKv, vocabRaw, seqLen] = Array.from(hdr) as number[];
  const V = Math.abs(vocabRaw!);
  const C = dim!, F = hidden!, L = nLayers!, hd = C / nHeads!, kvDim = nKv! * hd;
  const f = new Float32Array(buf.buffer.slice(buf.byteOffset + 28, buf.byteOffset + buf.byteLength));
  let off = 0;
  const take = (n: number) => { const a = f.slice(off, off + n); off += n; return a; };
  const tensors: TensorMap = new Map();
  tensors.set('tok_embeddings', take(V * C));
  const perLayer = (name: string, n: number) => { for (let l = 0; l < L; l++) tensors.set(`layers.${l}.${name}`, take(n)); };
  perLayer('attn_norm', C);
  perLayer('wq', C * C);
  perLayer('wk', kvDim * C);
  perLayer('wv', kvDim * C);
  perLayer('wo', C * C);
  perLayer('mlp_norm', C);
  perLayer('w1', F * C);
  perLayer('w2', C * F);
  perLayer('w3', F * C);
  tensors.set('final_norm', take(C));
  const config: ModelConfig = {
    arch: 'llama', dim: C, nLayers: L, nHeads: nHeads!, nKvHeads: nKv!, headDim: hd, hiddenDim: F,
    vocabSize: V, maxSeqLen: seqLen!, normEps: 1e-5, ropeTheta: 10000, ropeMode: 'interleaved',
    tiedEmbeddings: vocabRaw! > 0, attnBias: false, mlpBias: false, bosId: 1, eosId: 2,
  };
  return { config, tensors };
}

export function loadGpt2Tiny(): TestCheckpoint {
  const dir = path.join(MODELS_DIR, 'gpt2-tiny-random');
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  const buf = fs.readFileSync(path.join(dir, 'model.safetensors'));
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const base = 8 + n;
  const raw = (key: string): { shape: number[]; data: Float32Array } => {
    const e = header[key];
    const [b, end] = e.data_offsets as [number, number];
    return { shape: e.shape, data: new Float32Array(buf.buffer.slice(buf.byteOffset + base + b, buf.byteOffset + base + end)) };
  };
  const C = cfg.n_embd as number, L = cfg.n_layer as number, F = (cfg.n_inner ?? 4 * C) as number;
  // Conv1D [in, out] → canonical (out, in); `cols` picks a column range of the [in, out] matrix
  const convT = (key: string, c0: number, c1: number) => {
    const { shape, data } = raw(key);
    const [inp, out] = shape as [number, number];
    const w = c1 - c0;
    const t = new Float32Array(w * inp);
    for (let i = 0; i < inp; i++) for (let o = c0; o < c1; o++) t[(o - c0) * inp + i] = data[i * out + o]!;
    return t;
  };
  const tensors: TensorMap = new Map();
  tensors.set('tok_embeddings', raw('transformer.wte.weight').data);
  tensors.set('pos_embeddings', raw('transformer.wpe.weight').data);
  for (let l = 0; l < L; l++) {
    const h = `transformer.h.${l}.`, p = `layers.${l}.`;
    tensors.set(`${p}attn_norm`, raw(`${h}ln_1.weight`).data);
    tensors.set(`${p}attn_norm_bias`, raw(`${h}ln_1.bias`).data);
    const bqkv = raw(`${h}attn.c_attn.bias`).data;
    (['wq', 'wk', 'wv'] as const).forEach((name, j) => {
      tensors.set(`${p}${name}`, convT(`${h}attn.c_attn.weight`, j * C, (j + 1) * C));
      tensors.set(`${p}b${name[1]}`, bqkv.slice(j * C, (j + 1) * C));
    });
    tensors.set(`${p}wo`, convT(`${h}attn.c_proj.weight`, 0, C));
    tensors.set(`${p}bo`, raw(`${h}attn.c_proj.bias`).data);
    tensors.set(`${p}mlp_norm`, raw(`${h}ln_2.weight`).data);
    tensors.set(`${p}mlp_norm_bias`, raw(`${h}ln_2.bias`).data);
    tensors.set(`${p}w1`, convT(`${h}mlp.c_fc.weight`, 0, F));
    tensors.set(`${p}b1`, raw(`${h}mlp.c_fc.bias`).data);
    tensors.set(`${p}w2`, convT(`${h}mlp.c_proj.weight`, 0, C));
    tensors.set(`${p}b2`, raw(`${h}mlp.c_proj.bias`).data);
  }
  tensors.set('final_norm', raw('transformer.ln_f.weight').data);
  tensors.set('final_norm_bias', raw('transformer.ln_f.bias').data);
  const config: ModelConfig = {
    arch: 'gpt2', dim: C, nLayers: L, nHeads: cfg.n_head, nKvHeads: cfg.n_head, headDim: C / cfg.n_head,
    hiddenDim: F, vocabSize: cfg.vocab_size, maxSeqLen: cfg.n_positions, normEps: cfg.layer_norm_epsilon,
    ropeTheta: 0, ropeMode: 'half', tiedEmbeddings: true, attnBias: true, mlpBias: true, bosId: null, eosId: null,
  };
  return { config, tensors };
}
