// The safetensors reader and writer, on a real file and on broken ones.
import { describe, expect, test } from 'vitest';
import { parseSafetensors, parseSafetensorsIndex, readSafetensorsHeader, writeSafetensors } from '../../../src/model/safetensors.js';
import { expectCode, GPT2_DIR, read } from './util.js';
import path from 'node:path';

const real = read(path.join(GPT2_DIR, 'model.safetensors'));

// Build a file from a header object and a data section, as a malicious or broken writer might.
function file(header: unknown, data: Uint8Array, lenOverride?: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setUint32(0, lenOverride ?? json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('safetensors', () => {
  test('reads the real gpt2-tiny-random file (28 tensors — the README table lists 28 though its text says 26 —, header 2592 bytes, metadata)', () => {
    const st = parseSafetensors(real);
    expect(new DataView(real.buffer, real.byteOffset).getUint32(0, true)).toBe(2592);
    expect(st.tensors.size).toBe(2 + 2 * 12 + 2);
    expect(st.metadata).toEqual({ format: 'pt' });
    const wte = st.tensors.get('transformer.wte.weight')!;
    expect(wte.shape).toEqual([64, 32]);
    expect(wte.dtype).toBe('F32');
    // first data float sits right after the header
    expect(wte.data[0]).toBe(new DataView(real.buffer, real.byteOffset).getFloat32(8 + 2592, true));
    expect(st.tensors.get('transformer.h.1.attn.c_attn.weight')!.shape).toEqual([32, 96]);
    let total = 0;
    for (const t of st.tensors.values()) total += t.data.length;
    expect(total).toBe(29568);
  });

  test('writer round-trips, pads the header to 8 bytes, and keeps metadata', () => {
    const a = Float32Array.from({ length: 15 }, (_, i) => i / 7);
    const b = Float32Array.of(-1, 2.5);
    const bytes = writeSafetensors({ 'prompt_embeddings': { shape: [3, 5], data: a }, b: { shape: [2], data: b } }, { format: 'pt' });
    expect(new DataView(bytes.buffer).getUint32(0, true) % 8).toBe(0);
    const st = parseSafetensors(bytes);
    expect(st.tensors.get('prompt_embeddings')).toEqual({ dtype: 'F32', shape: [3, 5], data: a });
    expect(st.tensors.get('b')!.data).toEqual(b);
    expect(st.metadata).toEqual({ format: 'pt' });
    // and the real file survives a rewrite
    const re = parseSafetensors(writeSafetensors(Object.fromEntries([...parseSafetensors(real).tensors].map(([k, t]) => [k, t]))));
    expect(re.tensors.get('transformer.ln_f.bias')!.data).toEqual(parseSafetensors(real).tensors.get('transformer.ln_f.bias')!.data);
  });

  test('F16, BF16 and F64 are widened to f32 exactly; unaligned offsets work', () => {
    const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7c00, 0x3555]).buffer); // 1, -2, 2^-24, inf, 0.333251953125
    const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0xc049]).buffer); // 1, -3.140625
    const f64 = new Uint8Array(new Float64Array([0.1, -1e-3]).buffer);
    const data = new Uint8Array(1 + f16.length + bf16.length + f64.length);
    data.set(f16, 1);
    data.set(bf16, 1 + f16.length);
    data.set(f64, 1 + f16.length + bf16.length);
    const o1 = 1 + f16.length;
    const o2 = o1 + bf16.length;
    const st = parseSafetensors(
      file(
        {
          h: { dtype: 'F16', shape: [5], data_offsets: [1, o1] },
          b: { dtype: 'BF16', shape: [1, 2], data_offsets: [o1, o2] },
          d: { dtype: 'F64', shape: [2], data_offsets: [o2, o2 + 16] },
        },
        data,
      ),
    );
    expect(Array.from(st.tensors.get('h')!.data)).toEqual([1, -2, 2 ** -24, Infinity, 0.333251953125]);
    expect(Array.from(st.tensors.get('b')!.data)).toEqual([1, -3.140625]);
    expect(Array.from(st.tensors.get('d')!.data)).toEqual([Math.fround(0.1), Math.fround(-1e-3)]);
  });

  test('unsorted offsets are fine; header-only read', () => {
    const data = new Uint8Array(16);
    const st = readSafetensorsHeader(file({ b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] }, a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, data));
    expect([...st.tensors.keys()]).toEqual(['b', 'a']);
  });

  test('bad files → CHECKPOINT naming file, tensor and field', async () => {
    const d8 = new Uint8Array(8);
    await expectCode(() => parseSafetensors(real.slice(0, 5), 'm.safetensors'), 'CHECKPOINT', /m\.safetensors.*shorter/);
    await expectCode(() => parseSafetensors(real.slice(0, 1000), 'm.safetensors'), 'CHECKPOINT', /header length 2592 runs past/);
    await expectCode(() => parseSafetensors(file({}, d8, 200 * 1024 * 1024)), 'CHECKPOINT', /exceeds/);
    const notJson = real.slice();
    notJson[8] = 0x5b; // '['
    await expectCode(() => parseSafetensors(notJson), 'CHECKPOINT', /JSON/);
    await expectCode(() => parseSafetensors(file({ x: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, d8)), 'CHECKPOINT', /"x" has dtype "I64"/);
    await expectCode(() => parseSafetensors(file({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, d8)), 'CHECKPOINT', /"x": F32 × shape \[3\] is 12 bytes but data_offsets span 8/);
    await expectCode(() => parseSafetensors(file({ x: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, d8)), 'CHECKPOINT', /run past the data section/);
    await expectCode(
      () => parseSafetensors(file({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, y: { dtype: 'F16', shape: [2], data_offsets: [4, 8] } }, d8)),
      'CHECKPOINT',
      /overlap/,
    );
    await expectCode(() => parseSafetensors(file({ x: { dtype: 'F32', shape: [-1], data_offsets: [0, 8] } }, d8)), 'CHECKPOINT', /shape/);
    await expectCode(() => parseSafetensors(file({ x: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, d8)), 'CHECKPOINT', /data_offsets/);
    await expectCode(() => parseSafetensors(file({ __metadata__: { a: 1 } }, d8)), 'CHECKPOINT', /__metadata__\.a/);
    await expectCode(() => parseSafetensorsIndex('{"weight_map": {"a": "../x"}}'), 'CHECKPOINT', /weight_map/);
    await expectCode(() => writeSafetensors({ a: { shape: [2, 2], data: new Float32Array(3) } }), 'SHAPE', /"a"/);
  });
});
