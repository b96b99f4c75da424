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
import type { ModelConfig, TensorMap } from '../model/types.js';
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

  // ---- positions ----
  let cos = '', sin = ''; // llama: (B, T, 1, hd/2[, 1]) broadcastable over heads
  if (c.arch === 'gpt2') {
    const wpe = g.weight('pos_embeddings', [c.maxSeqLen, C], get('pos_embeddings', [c.maxSeqLen, C]));
    x = g.add(x, g.gather(wpe, posIds)); // (B, T, C)
  } else {
    const t = modelRopeTables(c); // (maxSeqLen, hd/2) each
    const half = hd / 2;
    const cosRows = g.gather(g.weight('rope_cos', [c.maxSeqLen, half], t.cos), posIds); // (B, T, hd/2)
    const sinRows = g.gather(g.weight('rope_sin', [c.maxSeqLen, half], t.sin), posIds);
    const axes = c.ropeMode === 'interleaved' ? [2, 4] : [2];
    cos = g.unsqueeze(cosRows, axes);
    sin = g.unsqueeze(sinRows, axes);
  }

  // RoPE on (B, T, nh, hd)
  const rope = (t: string, nh: number): string => {
    if (c.ropeMode === 'interleaved') {
      // llama2.c: rotate adjacent pairs (2j, 2j+1)
      const pairs = g.reshape(t, [0, 0, nh, hd / 2, 2]); // (B, T, nh, hd/2, 2)
      const a = g.slice(pairs, 4, 0, 1);
      const b = g.slice(pairs, 4, 1, 2);
      const r0 = g.sub(g.mul(a, cos), g.mul(b, sin));
      const r1 = g.add(g.mul(a, sin), g.mul(b, cos));
      return g.reshape(g.concat([r0, r1], 4), [0, 0, nh, hd]);
    }
    // Hugging Face rotate_half: first half with second half
    const a = g.slice(t, 3, 0, hd / 2);
    const b = g.slice(t, 3, hd / 2, hd);
    const r0 = g.sub(g.mul(a, cos), g.mul(b, sin));
    const r1 = g.add(g.mul(b, cos), g.mul(a, sin));
    return g.concat([r0, r1], 3);
  };

  const norm = (t: string, w: string, bias: string): string => {
    if (c.arch === 'gpt2') {
      return g.op('LayerNormalization', [t, vec(w, C), vec(bias, C)], { axis: { i: -1 }, epsilon: { f: c.normEps } });
    }
    // RMSNorm: x / sqrt(mean(x²) + eps) · w
    const ms = g.op('ReduceMean', [g.mul(t, t)], { axes: { ints: [-1] }, keepdims: { i: 1 } }); // (B, T, 1)
    return g.mul(g.div(t, g.op('Sqrt', [g.add(ms, g.f32(c.normEps))])), vec(w, C));
  };

  const linear = (t: string, name: string, bias: string | null, out: number, inp: number): string => {
    const y = g.matmul(t, linearT(name, out, inp));
    return bias !== null && has(bias) ? g.add(y, vec(bias, out)) : y;
  };

  const rep = H / Hkv;
  const sqrtHd = g.f32(Math.sqrt(hd));
  for (let l = 0; l < c.nLayers; l++) {
    const p = `layers.${l}.`;
    // ---- attention ----
    const xn = norm(x, `${p}attn_norm`, `${p}attn_norm_bias`); // (B, T, C)
    let q = g.reshape(linear(xn, `${p}wq`, `${p}bq`, H * hd, C), [0, 0, H, hd]); // (B, T, H, hd)
    let k = g.reshape(linear(xn, `${p}wk`, `${p}bk`, Hkv * hd, C), [0, 0, Hkv, hd]); // (B, T, Hkv, hd)
    const v0 = g.reshape(linear(xn, `${p}wv`, `${p}bv`, Hkv * hd, C), [0, 0, Hkv, hd]);
    if (c.arch === 'llama') {
      q = rope(q, H);
      k = rope(k, Hkv);
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
    const scores = g.div(g.matmul(q, g.transpose(k, [0, 1, 3, 2])), sqrtHd); // (B, H, T, S)
    const probs = g.op('Softmax', [g.op('Where', [mask, scores, g.f32(MASKED)])], { axis: { i: -1 } });
    const heads = g.reshape(g.transpose(g.matmul(probs, v), [0, 2, 1, 3]), [0, 0, H * hd]); // (B, T, H·hd)
    x = g.add(x, linear(heads, `${p}wo`, `${p}bo`, C, H * hd));

    // ---- MLP ----
    const xm = norm(x, `${p}mlp_norm`, `${p}mlp_norm_bias`);
    let hdn: string; // (B, T, F)
    if (c.arch === 'llama') {
      const gate = linear(xm, `${p}w1`, `${p}b1`, F, C);
      const up = linear(xm, `${p}w3`, `${p}b3`, F, C);
      hdn = g.mul(g.mul(gate, g.op('Sigmoid', [gate])), up); // SwiGLU
    } else {
      hdn = geluTanh(g, linear(xm, `${p}w1`, `${p}b1`, F, C));
    }
    x = g.add(x, linear(hdn, `${p}w2`, `${p}b2`, C, F));
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
