// Test helper: writes safetensors files of any size with seeded random BF16 weights, streaming in
// chunks (never the whole file in JS memory), and the Llama config.json beside them.
import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface TensorSpec {
  name: string;
  shape: number[];
  dtype?: 'BF16' | 'F32'; // default BF16
  // the value pattern: random weights (seeded), or a constant (norm weights: 1)
  fill: { seed: number } | { value: number };
}

const CHUNK = 1 << 22; // elements per write

// Random bf16 bits with magnitudes in [2⁻⁹, 2⁻⁵) (random sign, exponent and mantissa): weights of
// an initialized model's scale, never NaN/Inf. xorshift32, seeded per tensor.
function fillRandom(out: Uint16Array, state: { s: number }): void {
  let s = state.s;
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    out[i] = (s & 0x807f) | ((118 + ((s >>> 8) & 3)) << 7);
  }
  state.s = s;
}

const f32Bits = (x: number) => new Uint32Array(Float32Array.of(x).buffer)[0];

// The 8-byte length and the JSON header (padded to 8 bytes) of tensors laid out back to back, and
// the size of the data section after it.
function encodeHeader(specs: { name: string; shape: number[]; dtype: string }[]): { head: Uint8Array; dataBytes: number } {
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const t of specs) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * (({ F32: 4, I8: 1 } as Record<string, number>)[t.dtype] ?? 2);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const head = new Uint8Array(8 + json.length);
  new DataView(head.buffer).setUint32(0, json.length, true);
  head.set(new TextEncoder().encode(json), 8);
  return { head, dataBytes: off };
}

// Writes the file; returns its size in bytes.
export async function writeSafetensorsFile(file: string, specs: TensorSpec[]): Promise<number> {
  const { head } = encodeHeader(specs.map((t) => ({ ...t, dtype: t.dtype ?? 'BF16' })));
  const fh = await open(file, 'w');
  try {
    let pos = 0;
    const put = async (b: Uint8Array) => {
      await fh.write(b, 0, b.byteLength, pos);
      pos += b.byteLength;
    };
    await put(head);
    const u16 = new Uint16Array(CHUNK), u32 = new Uint32Array(CHUNK);
    for (const t of specs) {
      const n = t.shape.reduce((a, b) => a * b, 1);
      const bf16 = (t.dtype ?? 'BF16') === 'BF16';
      const state = { s: 'seed' in t.fill ? (t.fill.seed * 2654435761 + 1) >>> 0 || 1 : 0 };
      for (let s = 0; s < n; s += CHUNK) {
        const k = Math.min(CHUNK, n - s);
        const a = u16.subarray(0, k);
        if ('seed' in t.fill) fillRandom(a, state);
        else a.fill(f32Bits(t.fill.value) >>> 16);
        if (bf16) await put(new Uint8Array(a.buffer, 0, k * 2));
        else {
          const w = u32.subarray(0, k);
          for (let i = 0; i < k; i++) w[i] = a[i] << 16;
          await put(new Uint8Array(w.buffer, 0, k * 4));
        }
      }
    }
    return pos;
  } finally {
    await fh.close();
  }
}

export interface LlamaShape {
  vocab: number;
  dim: number;
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  tied: boolean;
  maxPos?: number;
}

// The tensors of a Llama checkpoint with random matrices and unit norms, in transformers' names.
export function llamaSpecs(s: LlamaShape, seed = 1): TensorSpec[] {
  const hd = s.dim / s.heads, q = s.heads * hd, kv = s.kvHeads * hd;
  const out: TensorSpec[] = [{ name: 'model.embed_tokens.weight', shape: [s.vocab, s.dim], fill: { seed } }];
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}.`, r = (i: number) => ({ seed: seed * 1000 + l * 10 + i });
    out.push(
      { name: p + 'input_layernorm.weight', shape: [s.dim], fill: { value: 1 } },
      { name: p + 'self_attn.q_proj.weight', shape: [q, s.dim], fill: r(1) },
      { name: p + 'self_attn.k_proj.weight', shape: [kv, s.dim], fill: r(2) },
      { name: p + 'self_attn.v_proj.weight', shape: [kv, s.dim], fill: r(3) },
      { name: p + 'self_attn.o_proj.weight', shape: [s.dim, q], fill: r(4) },
      { name: p + 'post_attention_layernorm.weight', shape: [s.dim], fill: { value: 1 } },
      { name: p + 'mlp.gate_proj.weight', shape: [s.hidden, s.dim], fill: r(5) },
      { name: p + 'mlp.up_proj.weight', shape: [s.hidden, s.dim], fill: r(6) },
      { name: p + 'mlp.down_proj.weight', shape: [s.dim, s.hidden], fill: r(7) },
    );
  }
  out.push({ name: 'model.norm.weight', shape: [s.dim], fill: { value: 1 } });
  if (!s.tied) out.push({ name: 'lm_head.weight', shape: [s.vocab, s.dim], fill: { seed: seed + 7 } });
  return out;
}

// A folder transformers would load: config.json + model.safetensors (BF16). Returns the file size.
export async function writeLlamaFolder(dir: string, s: LlamaShape, seed = 1): Promise<number> {
  await writeLlamaConfig(dir, s);
  return writeSafetensorsFile(path.join(dir, 'model.safetensors'), llamaSpecs(s, seed));
}

// Llama-3.2-1B's shape: 1.24 B parameters, 2.47 GB in bf16.
export const LLAMA_1B: LlamaShape = { vocab: 128256, dim: 2048, layers: 16, hidden: 8192, heads: 32, kvHeads: 8, tied: true };

// A file with the header of `specs` whose data section is a hole (sparse: no disk blocks, reads
// give zeros), cut to `size` bytes when given (a truncated download) — for the refusals that must
// come before any tensor is read. Returns the size the header implies.
export async function writeSparseSafetensors(file: string, specs: (TensorSpec & { dtypeName?: string })[], size?: number): Promise<number> {
  const { head, dataBytes: off } = encodeHeader(specs.map((t) => ({ ...t, dtype: t.dtypeName ?? t.dtype ?? 'BF16' })));
  const fh = await open(file, 'w');
  try {
    await fh.write(head, 0, head.byteLength, 0);
    await fh.truncate(size ?? head.byteLength + off);
  } finally {
    await fh.close();
  }
  return head.byteLength + off;
}

export async function writeLlamaConfig(dir: string, s: LlamaShape): Promise<void> {
  await writeFile(path.join(dir, 'config.json'), JSON.stringify({
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: s.dim, intermediate_size: s.hidden,
    num_hidden_layers: s.layers, num_attention_heads: s.heads, num_key_value_heads: s.kvHeads, head_dim: s.dim / s.heads,
    vocab_size: s.vocab, max_position_embeddings: s.maxPos ?? 2048, rms_norm_eps: 1e-5, hidden_act: 'silu',
    rope_parameters: { rope_theta: 500000, rope_type: 'default' }, tie_word_embeddings: s.tied, attention_bias: false,
    mlp_bias: false, bos_token_id: 1, eos_token_id: 2, dtype: 'bfloat16',
  }));
}
