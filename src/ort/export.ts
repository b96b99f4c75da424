// Export a model (config + canonical tensors) to an ONNX graph of standard opset-17 ops.
//
// Graph inputs (B batch, T sequence, S = P + T keys, P prefix length):
//   inputs_embeds  (B, T, C) f32    token embeddings and/or soft rows — embedding lookup happens
//                                   outside the graph so soft prompts apply (option `inputIds`
//                                   swaps this for input_ids (B, T) i64 and a Gather inside)
//   attention_mask (B, S)    i64    1 = attend, 0 = padding; covers the prefix slots first (as
//                                   Hugging Face does when past_key_values are given)
//   position_ids   (B, T)    i64    RoPE angle row (llama) / wpe row (gpt2); soft rows get one too
//   target_ids     (B, T)    i64    the token whose log-prob row t reports (any valid id where unused)
//   past_key_{i}, past_value_{i} (B, Hkv, P, hd) f32    [option `prefix`] prefix K/V per layer,
//                                   used exactly as given (no RoPE on prefix keys)
// Graph outputs:
//   target_logprobs (B, T)   f32    log_softmax(logits[b, t])[target_ids[b, t]]
//   logits (B, T, V)         f32    [option `logits`]
// Computing the log-softmax and the gather inside the graph keeps B×T×V on the device.

import { transpose } from '../model/hf-checkpoint.js';
import { PromptkilnError } from '../errors.js';
import { ropeOf, ropeTables as ropeTablesOf } from '../model/rope.js';
import type { ModelConfig, RopeParams, TensorMap } from '../model/types.js';
import { ropeTables as modelRopeTables } from '../model/weights.js';
import { DT, GraphBuilder } from './graph-builder.js';
import { encodeModel, type EncodedModel } from './onnx.js';

export interface ExportOptions {
  prefix?: boolean; // add past_key_{i} / past_value_{i} inputs
  logits?: boolean; // also output logits (B, T, V)
  inputIds?: boolean; // take input_ids instead of inputs_embeds
  // initializers of at least this many bytes go to a side file (default: none)
  externalThreshold?: number;
  externalLocation?: string;
}

export interface ExportedModel extends EncodedModel {
  inputNames: string[];
  outputNames: string[];
}

// A large finite negative instead of -Inf: a fully masked row (a padded query) then softmaxes to a
// uniform row instead of NaN. Its outputs are never read, but NaN must not appear anywhere.
const MASKED = -3.4028234663852886e38;

export function exportOnnx(config: ModelConfig, tensors: TensorMap, opts: ExportOptions = {}): ExportedModel {
  const c = config;
  const { dim: C, nHeads: H, nKvHeads: Hkv, headDim: hd, hiddenDim: F, vocabSize: V } = c;
  if (c.arch !== 'llama' && c.arch !== 'gpt2') throw new PromptkilnError('ARCH', `ONNX export supports llama and gpt2, found arch "${c.arch}"`);
  if (H % Hkv !== 0) throw new PromptkilnError('CONFIG', `nHeads (${H}) must be a multiple of nKvHeads (${Hkv})`);
  if (c.arch === 'llama' && hd % 2 !== 0) throw new PromptkilnError('CONFIG', `RoPE needs an even headDim, found ${hd}`);

  const get = (name: string, dims: number[]): Float32Array => {
    const t = tensors.get(name);
    const n = dims.reduce((a, b) => a * b, 1);
    if (!t) throw new PromptkilnError('CHECKPOINT', `ONNX export: tensor "${name}" is missing (expected shape [${dims.join(', ')}])`);
    if (t.length !== n) throw new PromptkilnError('CHECKPOINT', `ONNX export: tensor "${name}" has ${t.length} elements, expected [${dims.join(', ')}] = ${n}`);
    return t;
  };
  const has = (name: string) => tensors.has(name);

  const g = new GraphBuilder();
  // (out, in) weights become (in, out) initializers so the graph is a plain MatMul.
  const linearT = (name: string, out: number, inp: number): string => g.weight(`${name}.T`, [inp, out], transpose(get(name, [out, inp]), out, inp));
  const vec = (name: string, n: number): string => g.weight(name, [n], get(name, [n]));

  // ---- inputs ----
  let x: string; // (B, T, C)
  if (opts.inputIds) {
    const ids = g.input('input_ids', DT.INT64, ['B', 'T']);
    x = g.gather(g.weight('tok_embeddings', [V, C], get('tok_embeddings', [V, C])), ids);
  } else {
    x = g.input('inputs_embeds', DT.FLOAT, ['B', 'T', C]);
  }
  const attnMask = g.input('attention_mask', DT.INT64, ['B', 'S']);
  const posIds = g.input('position_ids', DT.INT64, ['B', 'T']);
  const targetIds = g.input('target_ids', DT.INT64, ['B', 'T']);
  const past: { k: string; v: string }[] = [];
  if (opts.prefix) {
    for (let l = 0; l < c.nLayers; l++) {
      past.push({
        k: g.input(`past_key_${l}`, DT.FLOAT, ['B', Hkv, 'P', hd]),
        v: g.input(`past_value_${l}`, DT.FLOAT, ['B', Hkv, 'P', hd]),
      });
    }
  }

  // ---- mask (B, 1, T, S), shared by all layers: key j visible to query i iff j <= P + i and
  // attention_mask[b, j] = 1; the prefix keys 0..P-1 are visible to every query ----
  const S = g.op('Squeeze', [g.shapeOf(attnMask, 1, 2), g.i64([0])]); // scalar
  const T = g.op('Squeeze', [g.shapeOf(posIds, 1, 2), g.i64([0])]); // scalar
  const P = g.sub(S, T);
  const one = g.i64([1], []);
  const kIdx = g.op('Range', [g.i64([0], []), S, one]); // (S)
  const qIdx = g.op('Range', [P, S, one]); // (T): query i sits at key index P + i
  const causal = g.op('LessOrEqual', [g.unsqueeze(kIdx, [0]), g.unsqueeze(qIdx, [1])]); // (T, S)
  const pad = g.unsqueeze(g.cast(attnMask, DT.BOOL), [1, 2]); // (B, 1, 1, S)
  const mask = g.op('And', [causal, pad]); // (B, 1, T, S)
  // sliding layers: also (P + i) − j < window, over prefix keys as over any other (as the kernels)
  let windowMask = '';
  if (c.slidingWindow && c.layerTypes?.includes('sliding_attention')) {
    const dist = g.sub(g.unsqueeze(qIdx, [1]), g.unsqueeze(kIdx, [0])); // (T, S)
    windowMask = g.op('And', [mask, g.op('Less', [dist, g.i64([c.slidingWindow], [])])]);
  }

  // ---- positions ----
  // Gemma scales token rows inside its embedding module: here when the graph looks ids up (with
  // inputs_embeds the caller scales its token rows, never soft rows)
  if (opts.inputIds && c.embedScale !== undefined && c.embedScale !== 1) x = g.mul(x, g.f32(c.embedScale));

  // RoPE tables gathered at the positions: (B, T, 1, rd/2[, 1]) broadcastable over heads
  type Angles = { cos: string; sin: string; rd: number };
  const angles = (p: RopeParams, name: string): Angles => {
    const t = ropeTablesOf(p, c.maxSeqLen); // (maxSeqLen, rd/2) each, the WASM model's own tables
    const half = p.rotaryDim / 2;
    const axes = c.ropeMode === 'interleaved' ? [2, 4] : [2];
    const at = (tab: Float32Array, n: string) => g.unsqueeze(g.gather(g.weight(n, [c.maxSeqLen, half], tab), posIds), axes);
    return { cos: at(t.cos, `${name}_cos`), sin: at(t.sin, `${name}_sin`), rd: p.rotaryDim };
  };
  let ropeFull: Angles | null = null, ropeLocal: Angles | null = null;
  if (c.arch === 'gpt2') {
    const wpe = g.weight('pos_embeddings', [c.maxSeqLen, C], get('pos_embeddings', [c.maxSeqLen, C]));
    x = g.add(x, g.gather(wpe, posIds)); // (B, T, C)
  } else {
    ropeFull = angles(ropeOf(c), 'rope');
    if (c.ropeLocal) ropeLocal = angles(ropeOf(c, true), 'rope_local');
  }

  // RoPE on the first rd dims of (B, T, nh, hd); the rest pass through (partial rotary)
  const rope = (t: string, nh: number, a: Angles): string => {
    const rd = a.rd;
    const rot = rd === hd ? t : g.slice(t, 3, 0, rd);
    let out: string;
    if (c.ropeMode === 'interleaved') {
      // llama2.c: rotate adjacent pairs (2j, 2j+1)
      const pairs = g.reshape(rot, [0, 0, nh, rd / 2, 2]); // (B, T, nh, rd/2, 2)
      const x0 = g.slice(pairs, 4, 0, 1);
      const x1 = g.slice(pairs, 4, 1, 2);
      const r0 = g.sub(g.mul(x0, a.cos), g.mul(x1, a.sin));
      const r1 = g.add(g.mul(x0, a.sin), g.mul(x1, a.cos));
      out = g.reshape(g.concat([r0, r1], 4), [0, 0, nh, rd]);
    } else {
      // Hugging Face rotate_half: first half with second half
      const x0 = g.slice(rot, 3, 0, rd / 2);
      const x1 = g.slice(rot, 3, rd / 2, rd);
      const r0 = g.sub(g.mul(x0, a.cos), g.mul(x1, a.sin));
      const r1 = g.add(g.mul(x1, a.cos), g.mul(x0, a.sin));
      out = g.concat([r0, r1], 3);
    }
    return rd === hd ? out : g.concat([out, g.slice(t, 3, rd, hd)], 3);
  };

  // RMSNorm weights, with Gemma's 1 added as the WASM upload adds it
  const normW = (w: string, n: number): string => {
    if (!c.normPlusOne) return vec(w, n);
    return g.weight(w, [n], get(w, [n]).map((v) => Math.fround(1 + v)));
  };
  // RMSNorm over the last axis: x / sqrt(mean(x²) + eps) · w
  const rms = (t: string, w: string, n: number): string => {
    const ms = g.op('ReduceMean', [g.mul(t, t)], { axes: { ints: [-1] }, keepdims: { i: 1 } });
    return g.mul(g.div(t, g.op('Sqrt', [g.add(ms, g.f32(c.normEps))])), normW(w, n));
  };
  const norm = (t: string, w: string, bias: string): string => {
    if (c.arch === 'gpt2') {
      return g.op('LayerNormalization', [t, vec(w, C), vec(bias, C)], { axis: { i: -1 }, epsilon: { f: c.normEps } });
    }
    return rms(t, w, C);
  };

  const linear = (t: string, name: string, bias: string | null, out: number, inp: number): string => {
    const y = g.matmul(t, linearT(name, out, inp));
    return bias !== null && has(bias) ? g.add(y, vec(bias, out)) : y;
  };

  const rep = H / Hkv;
  const qScale = g.f32(c.queryScale ?? 1 / Math.sqrt(hd));
  for (let l = 0; l < c.nLayers; l++) {
    const p = `layers.${l}.`;
    const sliding = c.layerTypes?.[l] === 'sliding_attention';
    // ---- attention ----
    const xn = norm(x, `${p}attn_norm`, `${p}attn_norm_bias`); // (B, T, C)
    let q = g.reshape(linear(xn, `${p}wq`, `${p}bq`, H * hd, C), [0, 0, H, hd]); // (B, T, H, hd)
    let k = g.reshape(linear(xn, `${p}wk`, `${p}bk`, Hkv * hd, C), [0, 0, Hkv, hd]); // (B, T, Hkv, hd)
    const v0 = g.reshape(linear(xn, `${p}wv`, `${p}bv`, Hkv * hd, C), [0, 0, Hkv, hd]);
    if (c.qkNorm) {
      q = rms(q, `${p}q_norm`, hd); // per head
      k = rms(k, `${p}k_norm`, hd);
    }
    if (ropeFull) {
      const a = sliding && ropeLocal ? ropeLocal : ropeFull;
      q = rope(q, H, a);
      k = rope(k, Hkv, a);
    }
    q = g.transpose(q, [0, 2, 1, 3]); // (B, H, T, hd)
    k = g.transpose(k, [0, 2, 1, 3]); // (B, Hkv, T, hd)
    let v = g.transpose(v0, [0, 2, 1, 3]);
    if (opts.prefix) {
      k = g.concat([past[l]!.k, k], 2); // (B, Hkv, S, hd)
      v = g.concat([past[l]!.v, v], 2);
    }
    if (rep > 1) {
      // GQA: kv head j serves query heads j·rep .. j·rep + rep - 1
      const expand = (t: string) => g.reshape(g.op('Expand', [g.unsqueeze(t, [2]), g.i64([1, 1, rep, 1, 1])]), [0, H, -1, hd]);
      k = expand(k); // (B, H, S, hd)
      v = expand(v);
    }
    const scores = g.mul(g.matmul(q, g.transpose(k, [0, 1, 3, 2])), qScale); // (B, H, T, S)
    const layerMask = sliding && windowMask ? windowMask : mask;
    const probs = g.op('Softmax', [g.op('Where', [layerMask, scores, g.f32(MASKED)])], { axis: { i: -1 } });
    const heads = g.reshape(g.transpose(g.matmul(probs, v), [0, 2, 1, 3]), [0, 0, H * hd]); // (B, T, H·hd)
    let attnOut = linear(heads, `${p}wo`, `${p}bo`, C, H * hd);
    if (c.sandwichNorm) attnOut = rms(attnOut, `${p}post_attn_norm`, C);
    x = g.add(x, attnOut);

    // ---- MLP ----
    const xm = norm(x, `${p}mlp_norm`, `${p}mlp_norm_bias`);
    let hdn: string; // (B, T, F)
    if (c.arch === 'llama') {
      const gate = linear(xm, `${p}w1`, `${p}b1`, F, C);
      const up = linear(xm, `${p}w3`, `${p}b3`, F, C);
      hdn = c.activation === 'gelu_tanh' ? g.mul(geluTanh(g, gate), up) : g.mul(g.mul(gate, g.op('Sigmoid', [gate])), up); // GeGLU / SwiGLU
    } else {
      hdn = geluTanh(g, linear(xm, `${p}w1`, `${p}b1`, F, C));
    }
    let mlpOut = linear(hdn, `${p}w2`, `${p}b2`, C, F);
    if (c.sandwichNorm) mlpOut = rms(mlpOut, `${p}post_mlp_norm`, C);
    x = g.add(x, mlpOut);
  }

  const xf = norm(x, 'final_norm', 'final_norm_bias');
  const head = c.tiedEmbeddings ? 'tok_embeddings' : 'lm_head';
  const logits = g.matmul(xf, g.weight(`${head}.T`, [C, V], transpose(get(head, [V, C]), V, C))); // (B, T, V)
  const logp = g.op('LogSoftmax', [logits], { axis: { i: -1 } });
  const picked = g.op('GatherElements', [logp, g.unsqueeze(targetIds, [2])], { axis: { i: 2 } }); // (B, T, 1)
  g.op('Squeeze', [picked, g.i64([2])], undefined, 'target_logprobs');
  g.output('target_logprobs', DT.FLOAT, ['B', 'T']);
  if (opts.logits) {
    g.op('Identity', [logits], undefined, 'logits');
    g.output('logits', DT.FLOAT, ['B', 'T', V]);
  }

  const enc = encodeModel(g.build(`promptkiln_${c.arch}`), {
    externalThreshold: opts.externalThreshold,
    externalLocation: opts.externalLocation,
    docString: `promptkiln export: ${c.arch}, ${c.nLayers} layers, dim ${C}, vocab ${V}`,
  });
  return { ...enc, inputNames: g.inputs.map((i) => i.name), outputNames: g.outputs.map((o) => o.name) };
}

// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) — GPT-2's gelu_new
function geluTanh(g: GraphBuilder, x: string): string {
  const x3 = g.mul(g.mul(x, x), x);
  const inner = g.mul(g.add(x, g.mul(x3, g.f32(0.044715))), g.f32(Math.sqrt(2 / Math.PI)));
  return g.mul(g.mul(x, g.f32(0.5)), g.add(g.op('Tanh', [inner]), g.f32(1)));
}

// cos/sin of pos·θ^(−2j/hd), (maxSeqLen, hd/2): the WASM model's own tables (model/weights.ts,
// rounded like llama2.c's float32 math), so both backends rotate by bit-identical angles.
export function ropeTables(maxSeqLen: number, hd: number, theta: number): { cosT: Float32Array; sinT: Float32Array } {
  const { cos, sin } = modelRopeTables({ maxSeqLen, headDim: hd, ropeTheta: theta } as ModelConfig);
  return { cosT: cos, sinT: sin };
}
