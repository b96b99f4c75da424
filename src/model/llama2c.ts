// llama2.c checkpoints (Karpathy's llama2.c `export.py`), three layouts:
//
//   v0 (legacy): 7 int32 {dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len};
//       then f32 arrays stacked over layers: tok_embeddings (V, C), rms_att (L, C), wq (L, C, C),
//       wk (L, kv, C), wv (L, kv, C), wo (L, C, C), rms_ffn (L, C), w1 (L, hidden, C),
//       w2 (L, C, hidden), w3 (L, hidden, C), rms_final (C), freq_cis_real (seq, hd/2),
//       freq_cis_imag (seq, hd/2), and wcls (V, C) only when vocab_size < 0 (untied head).
//       Some third-party exporters omit the freq_cis tables; we accept both lengths because the
//       file size tells them apart (run.c skips the tables and recomputes RoPE anyway).
//   ak42 v1: 256-byte header: u32 magic 0x616b3432, i32 version = 1, the 7 int32 (vocab > 0),
//       u8 shared_classifier, zero padding; then f32: attn norms (L, C), ffn norms (L, C),
//       final norm (C), tok_embeddings (V, C), wq ×L, wk ×L, wv ×L, wo ×L, w1 ×L, w2 ×L, w3 ×L,
//       [wcls (V, C) when not shared].
//   ak42 v2 (Q8_0): same header plus i32 group_size at byte 37; f32 norms as in v1; then for each
//       of tok_embeddings, wq ×L, …, w3 ×L, [wcls]: int8 values (numel) then f32 scales
//       (numel / group_size); w = q · scale[group]. We dequantize to f32 on load.
//
// In every layout the file size must equal what the header implies: this is how a folder's
// checkpoint is recognised and how truncation or a corrupt header is caught before any read.

import { PromptkilnError } from '../errors.js';
import type { ModelConfig, TensorMap } from './types.js';

export const AK42_MAGIC = 0x616b3432;
const AK42_HEADER = 256;

export type Llama2cFormat = 'v0' | 'ak42-v1' | 'ak42-v2';

export interface Llama2cHeader {
  format: Llama2cFormat;
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number; // always positive here
  seqLen: number;
  shared: boolean; // classifier tied to the token embedding
  groupSize: number; // ak42 v2 only, else 0
  freqCis: boolean; // v0 only: the file carries the legacy RoPE tables
  dataStart: number; // byte offset of the first weight
}

// The header fields read straight from the file; validated by layoutOf().
interface RawHeader {
  format: Llama2cFormat;
  ints: number[]; // the 7 int32
  shared: boolean;
  groupSize: number;
  dataStart: number;
}

function readRaw(bytes: Uint8Array): RawHeader | string {
  if (bytes.byteLength < 28) return `file is ${bytes.byteLength} bytes, shorter than the 28-byte llama2.c header`;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) === AK42_MAGIC) {
    if (bytes.byteLength < AK42_HEADER) return `ak42 header needs ${AK42_HEADER} bytes, the file has ${bytes.byteLength}`;
    const version = dv.getInt32(4, true);
    if (version !== 1 && version !== 2) return `ak42 version ${version} is not supported (expected 1 = fp32 or 2 = int8 Q8_0)`;
    const ints = Array.from({ length: 7 }, (_, i) => dv.getInt32(8 + 4 * i, true));
    const flag = bytes[36];
    if (flag > 1) return `ak42 shared_classifier flag is ${flag}, expected 0 or 1`;
    return {
      format: version === 1 ? 'ak42-v1' : 'ak42-v2',
      ints,
      shared: flag === 1,
      groupSize: version === 2 ? dv.getInt32(37, true) : 0,
      dataStart: AK42_HEADER,
    };
  }
  const ints = Array.from({ length: 7 }, (_, i) => dv.getInt32(4 * i, true));
  return { format: 'v0', ints, shared: ints[5] > 0, groupSize: 0, dataStart: 28 };
}

// floats (or bytes for Q8 weights) each section occupies, in file order
function weightCounts(h: Omit<Llama2cHeader, 'format' | 'shared' | 'freqCis' | 'dataStart' | 'groupSize'>) {
  const { dim: C, hiddenDim: F, nLayers: L, vocabSize: V } = h;
  const kv = (C / h.nHeads) * h.nKvHeads;
  return { emb: V * C, norm: L * C, wq: L * C * C, wk: L * kv * C, wv: L * kv * C, wo: L * C * C, w1: L * F * C, w2: L * C * F, w3: L * F * C, final: C, cls: V * C, kv };
}

function expectedSize(h: Llama2cHeader): number {
  const n = weightCounts(h);
  const matrices = n.wq + n.wk + n.wv + n.wo + n.w1 + n.w2 + n.w3;
  const clsF = h.shared ? 0 : n.cls;
  if (h.format === 'v0') {
    const freq = h.freqCis ? h.seqLen * (h.dim / h.nHeads) : 0; // two tables of (seq, hd/2)
    return h.dataStart + 4 * (n.emb + 2 * n.norm + matrices + n.final + freq + clsF);
  }
  if (h.format === 'ak42-v1') return h.dataStart + 4 * (2 * n.norm + n.final + n.emb + matrices + clsF);
  // Q8_0: 1 byte per weight + one f32 scale per group
  const q = n.emb + matrices + clsF;
  return h.dataStart + 4 * (2 * n.norm + n.final) + q + (4 * q) / h.groupSize;
}

// Validate the header against the file size. Returns the layout, or why it is not a llama2.c file.
function layoutOf(bytes: Uint8Array, fileSize: number): Llama2cHeader | string {
  const raw = readRaw(bytes);
  if (typeof raw === 'string') return raw;
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocab, seqLen] = raw.ints;
  const names = ['dim', 'hidden_dim', 'n_layers', 'n_heads', 'n_kv_heads', 'vocab_size', 'seq_len'];
  for (let i = 0; i < 7; i++) {
    const v = i === 5 ? Math.abs(raw.ints[i]) : raw.ints[i];
    if (!(v > 0)) return `header field ${names[i]} is ${raw.ints[i]}, expected a positive integer`;
  }
  if (raw.format !== 'v0' && vocab < 0) return `ak42 header vocab_size is ${vocab}, expected positive`;
  if (dim % nHeads !== 0) return `dim ${dim} is not a multiple of n_heads ${nHeads}`;
  if ((dim / nHeads) % 2 !== 0) return `head_dim ${dim / nHeads} is odd; RoPE needs pairs`;
  if (nKvHeads > nHeads || nHeads % nKvHeads !== 0) return `n_heads ${nHeads} is not a multiple of n_kv_heads ${nKvHeads}`;
  const base = { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: Math.abs(vocab), seqLen };
  if (raw.format === 'ak42-v2') {
    const gs = raw.groupSize;
    if (!(gs > 0)) return `ak42 v2 group_size is ${gs}, expected a positive integer`;
    const n = weightCounts(base);
    // export.py asserts this for every quantized tensor; per-layer sizes are the stacked ones / L
    for (const [k, v] of [['tok_embeddings', n.emb], ['wq', n.wq / nLayers], ['wk', n.wk / nLayers], ['w1', n.w1 / nLayers]] as const) {
      if (v % gs !== 0) return `ak42 v2 group_size ${gs} does not divide ${k} (${v} values)`;
    }
  }
  const candidates: Llama2cHeader[] =
    raw.format === 'v0'
      ? [true, false].map((freqCis) => ({ ...base, format: raw.format, shared: raw.shared, groupSize: 0, freqCis, dataStart: raw.dataStart }))
      : [{ ...base, format: raw.format, shared: raw.shared, groupSize: raw.groupSize, freqCis: false, dataStart: raw.dataStart }];
  for (const c of candidates) if (expectedSize(c) === fileSize) return c;
  const want = expectedSize(candidates[0]);
  return `file is ${fileSize} bytes but its ${raw.format} header (dim ${dim}, hidden_dim ${hiddenDim}, n_layers ${nLayers}, n_heads ${nHeads}, n_kv_heads ${nKvHeads}, vocab_size ${vocab}, seq_len ${seqLen}) implies ${want}${raw.format === 'v0' ? ` (or ${expectedSize(candidates[1])} without the freq_cis tables)` : ''}`;
}

// Does this look like a llama2.c checkpoint? `head` needs the first 256 bytes (or the whole file
// when it is shorter); `fileSize` is the size on disk. Never throws.
export function probeLlama2c(head: Uint8Array, fileSize: number): Llama2cHeader | null {
  const l = layoutOf(head, fileSize);
  return typeof l === 'string' ? null : l;
}

export function llama2cConfig(h: Llama2cHeader): ModelConfig {
  return {
    arch: 'llama',
    dim: h.dim,
    nLayers: h.nLayers,
    nHeads: h.nHeads,
    nKvHeads: h.nKvHeads,
    headDim: h.dim / h.nHeads,
    hiddenDim: h.hiddenDim,
    vocabSize: h.vocabSize,
    maxSeqLen: h.seqLen,
    normEps: 1e-5,
    ropeTheta: 10000,
    ropeMode: 'interleaved',
    tiedEmbeddings: h.shared,
    attnBias: false,
    mlpBias: false,
    bosId: 1,
    eosId: 2,
  };
}

// Reads f32 sections in order. Views on the file's buffer when aligned (no copy).
class Reader {
  private f32: Float32Array;
  private dv: DataView;
  constructor(
    private bytes: Uint8Array,
    public pos: number,
  ) {
    // an unaligned buffer (a Node pool slice, say) is copied once so every section can be a view
    if (bytes.byteOffset % 4 !== 0) this.bytes = bytes = bytes.slice();
    this.f32 = new Float32Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.byteLength / 4));
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  floats(n: number): Float32Array {
    let out: Float32Array;
    if (this.pos % 4 === 0) out = this.f32.subarray(this.pos / 4, this.pos / 4 + n);
    else {
      out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = this.dv.getFloat32(this.pos + 4 * i, true);
    }
    this.pos += 4 * n;
    return out;
  }
  // Q8_0 block: n int8 values then n / gs f32 scales
  q8(n: number, gs: number): Float32Array {
    const q = new Int8Array(this.bytes.buffer, this.bytes.byteOffset + this.pos, n);
    this.pos += n;
    const out = new Float32Array(n);
    for (let g = 0; g < n / gs; g++) {
      const s = this.dv.getFloat32(this.pos + 4 * g, true);
      for (let i = g * gs; i < (g + 1) * gs; i++) out[i] = q[i] * s;
    }
    this.pos += (4 * n) / gs;
    return out;
  }
}

// Parse a llama2.c checkpoint into canonical tensors. `file` is used in error messages.
export function parseLlama2c(bytes: Uint8Array, file = 'model.bin'): { config: ModelConfig; tensors: TensorMap; header: Llama2cHeader } {
  const h = layoutOf(bytes, bytes.byteLength);
  if (typeof h === 'string') throw new PromptkilnError('CHECKPOINT', `${file}: not a valid llama2.c checkpoint: ${h}`, { file });
  const config = llama2cConfig(h);
  const n = weightCounts(h);
  const L = h.nLayers;
  const tensors: TensorMap = new Map();
  const r = new Reader(bytes, h.dataStart);
  // stacked (L, …) arrays are split into per-layer views
  const perLayer = (name: string, stacked: Float32Array) => {
    const each = stacked.length / L;
    for (let i = 0; i < L; i++) tensors.set(`layers.${i}.${name}`, stacked.subarray(i * each, (i + 1) * each));
  };
  if (h.format === 'v0') {
    tensors.set('tok_embeddings', r.floats(n.emb));
    perLayer('attn_norm', r.floats(n.norm));
    for (const k of ['wq', 'wk', 'wv', 'wo'] as const) perLayer(k, r.floats(n[k]));
    perLayer('mlp_norm', r.floats(n.norm));
    for (const k of ['w1', 'w2', 'w3'] as const) perLayer(k, r.floats(n[k]));
    tensors.set('final_norm', r.floats(n.final));
    if (h.freqCis) r.pos += 4 * h.seqLen * (h.dim / h.nHeads);
    if (!h.shared) tensors.set('lm_head', r.floats(n.cls));
    return { config, tensors, header: h };
  }
  perLayer('attn_norm', r.floats(n.norm));
  perLayer('mlp_norm', r.floats(n.norm));
  tensors.set('final_norm', r.floats(n.final));
  const read = h.format === 'ak42-v1' ? (k: number) => r.floats(k) : (k: number) => r.q8(k, h.groupSize);
  tensors.set('tok_embeddings', read(n.emb));
  // v2 quantizes each layer's matrix separately; reading layer by layer works for both versions
  for (const k of ['wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3'] as const) {
    for (let i = 0; i < L; i++) tensors.set(`layers.${i}.${k}`, read(n[k] / L));
  }
  if (!h.shared) tensors.set('lm_head', read(n.cls));
  return { config, tensors, header: h };
}
