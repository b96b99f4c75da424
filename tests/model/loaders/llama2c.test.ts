// Loading llama2.c checkpoints in every export version, against the README's offsets.
import { describe, expect, test } from 'vitest';
import { AK42_MAGIC, parseLlama2c, probeLlama2c } from '../../../src/model/llama2c.js';
import { expectCode, read, STORIES_BIN } from './util.js';

const bin = read(STORIES_BIN);
const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
const f32 = (b: Uint8Array, byteOffset: number, n: number) => new Float32Array(b.slice(byteOffset, byteOffset + 4 * n).buffer);

// Writes the same weights in the ak42 layouts of llama2.c export.py (version1_export / version2_export).
function ak42(version: 1 | 2, t: Map<string, Float32Array>, L: number, ints: number[], shared: boolean, gs = 64): Uint8Array {
  const parts: Uint8Array[] = [];
  const header = new Uint8Array(256);
  const dv = new DataView(header.buffer);
  dv.setUint32(0, AK42_MAGIC, true);
  dv.setInt32(4, version, true);
  ints.forEach((v, i) => dv.setInt32(8 + 4 * i, v, true));
  header[36] = shared ? 1 : 0;
  if (version === 2) dv.setInt32(37, gs, true);
  parts.push(header);
  const fp = (a: Float32Array) => parts.push(new Uint8Array(a.slice().buffer));
  const layers = (k: string) => Array.from({ length: L }, (_, i) => t.get(`layers.${i}.${k}`)!);
  for (const k of ['attn_norm', 'mlp_norm']) layers(k).forEach(fp);
  fp(t.get('final_norm')!);
  const mats = [t.get('tok_embeddings')!, ...['wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3'].flatMap(layers)];
  if (!shared) mats.push(t.get('lm_head') ?? t.get('tok_embeddings')!);
  for (const w of mats) {
    if (version === 1) fp(w);
    else {
      // Q8_0 as in export.py quantize_q80: per group scale = max|w| / 127, q = round(w / scale)
      const q = new Int8Array(w.length);
      const s = new Float32Array(w.length / gs);
      for (let g = 0; g < s.length; g++) {
        let m = 0;
        for (let i = g * gs; i < (g + 1) * gs; i++) m = Math.max(m, Math.abs(w[i]));
        s[g] = m / 127;
        for (let i = g * gs; i < (g + 1) * gs; i++) q[i] = Math.round(w[i] / s[g]);
      }
      parts.push(new Uint8Array(q.buffer));
      fp(s);
    }
  }
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
}

describe('llama2.c checkpoints', () => {
  const ck = parseLlama2c(bin, 'stories260K.bin');

  test('stories260K v0 header → config (README table)', () => {
    expect(ck.header.format).toBe('v0');
    expect(ck.header.freqCis).toBe(true);
    expect(ck.config).toMatchObject({ arch: 'llama', dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, headDim: 8, vocabSize: 512, maxSeqLen: 512, ropeMode: 'interleaved', ropeTheta: 10000, normEps: 1e-5, tiedEmbeddings: true, bosId: 1, eosId: 2 });
    expect(ck.tensors.has('lm_head')).toBe(false);
  });

  test('tensors sit at the README byte offsets, split per layer', () => {
    const t = ck.tensors;
    expect(t.get('tok_embeddings')).toEqual(f32(bin, 28, 32768));
    expect(t.get('layers.0.attn_norm')).toEqual(f32(bin, 131100, 64));
    expect(t.get('layers.2.wq')).toEqual(f32(bin, 132380 + 2 * 4096 * 4, 4096));
    expect(t.get('layers.4.wk')).toEqual(f32(bin, 214300 + 4 * 2048 * 4, 2048));
    expect(t.get('layers.1.wo')).toEqual(f32(bin, 296220 + 4096 * 4, 4096));
    expect(t.get('layers.3.mlp_norm')).toEqual(f32(bin, 378140 + 3 * 256, 64));
    expect(t.get('layers.4.w3')).toEqual(f32(bin, 819740 + 4 * 172 * 64 * 4, 172 * 64));
    expect(t.get('final_norm')).toEqual(f32(bin, 1039900, 64));
    for (let i = 0; i < 5; i++) {
      expect(t.get(`layers.${i}.w1`)!.length).toBe(172 * 64);
      expect(t.get(`layers.${i}.w2`)!.length).toBe(64 * 172);
    }
    expect(t.size).toBe(2 + 5 * 9);
  });

  test('negative vocab → untied lm_head read after the freq_cis tables', () => {
    const wcls = new Float32Array(512 * 64).map((_, i) => Math.sin(i));
    const b = new Uint8Array(bin.length + wcls.byteLength);
    b.set(bin);
    b.set(new Uint8Array(wcls.buffer), bin.length);
    new DataView(b.buffer).setInt32(20, -512, true);
    const u = parseLlama2c(b);
    expect(u.config.tiedEmbeddings).toBe(false);
    expect(u.config.vocabSize).toBe(512);
    expect(u.tensors.get('lm_head')).toEqual(wcls);
    expect(u.tensors.get('final_norm')).toEqual(ck.tensors.get('final_norm'));
  });

  test('a v0 file without the freq_cis tables is recognised by its size', () => {
    const noFreq = bin.slice(0, 1040156);
    const u = parseLlama2c(noFreq);
    expect(u.header.freqCis).toBe(false);
    expect(u.tensors.get('final_norm')).toEqual(ck.tensors.get('final_norm'));
  });

  test('ak42 version 1 (fp32) gives the same tensors, tied and untied', () => {
    const ints = [64, 172, 5, 8, 4, 512, 512];
    const v1 = parseLlama2c(ak42(1, ck.tensors, 5, ints, true));
    expect(v1.header.format).toBe('ak42-v1');
    for (const [k, v] of ck.tensors) expect(same(v1.tensors.get(k)!, v), k).toBe(true);
    const untied = parseLlama2c(ak42(1, ck.tensors, 5, ints, false));
    expect(untied.config.tiedEmbeddings).toBe(false);
    expect(untied.tensors.get('lm_head')).toEqual(ck.tensors.get('tok_embeddings'));
  });

  test('ak42 version 2 (Q8_0) dequantizes within half a quantization step', () => {
    const v2 = parseLlama2c(ak42(2, ck.tensors, 5, [64, 172, 5, 8, 4, 512, 512], true, 32));
    expect(v2.header).toMatchObject({ format: 'ak42-v2', groupSize: 32 });
    for (const [k, v] of ck.tensors) {
      const got = v2.tensors.get(k)!;
      expect(got.length, k).toBe(v.length);
      if (k.includes('norm')) {
        expect(got).toEqual(v); // norms stay fp32
        continue;
      }
      let worst = 0; // largest error in units of the group's quantization step
      for (let g = 0; g < v.length / 32; g++) {
        let m = 0;
        for (let i = g * 32; i < (g + 1) * 32; i++) m = Math.max(m, Math.abs(v[i]));
        for (let i = g * 32; i < (g + 1) * 32; i++) worst = Math.max(worst, Math.abs(got[i] - v[i]) / (m / 127));
      }
      expect(worst, k).toBeLessThanOrEqual(0.5 + 1e-4);
    }
  });

  test('probe recognises only a header that matches the file size', () => {
    expect(probeLlama2c(bin.subarray(0, 256), bin.length)).not.toBeNull();
    expect(probeLlama2c(bin.subarray(0, 256), bin.length - 4)).toBeNull();
    expect(probeLlama2c(new Uint8Array(10), 10)).toBeNull();
  });

  test('bad files → CHECKPOINT naming the file and the mismatch', async () => {
    await expectCode(() => parseLlama2c(bin.slice(0, 1000), 'x.bin'), 'CHECKPOINT', /x\.bin.*1000 bytes/);
    await expectCode(() => parseLlama2c(bin.slice(0, 20), 'x.bin'), 'CHECKPOINT', /shorter than the 28-byte/);
    const zero = bin.slice();
    new DataView(zero.buffer).setInt32(12, 0, true);
    await expectCode(() => parseLlama2c(zero), 'CHECKPOINT', /n_heads is 0/);
    const heads = bin.slice();
    new DataView(heads.buffer).setInt32(16, 3, true);
    await expectCode(() => parseLlama2c(heads), 'CHECKPOINT', /n_kv_heads/);
    const ver = ak42(1, ck.tensors, 5, [64, 172, 5, 8, 4, 512, 512], true);
    new DataView(ver.buffer).setInt32(4, 3, true);
    await expectCode(() => parseLlama2c(ver), 'CHECKPOINT', /version 3/);
    const gs = ak42(2, ck.tensors, 5, [64, 172, 5, 8, 4, 512, 512], true, 32);
    new DataView(gs.buffer).setInt32(37, 0, true);
    await expectCode(() => parseLlama2c(gs), 'CHECKPOINT', /group_size/);
  });
});
