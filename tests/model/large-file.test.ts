// Files over 2 GiB without writing gigabytes: sparse files (a header, then a hole the filesystem
// stores as nothing) hold tensors past the 2 GiB offset, which range reads return exactly (Node's
// readFile refuses the file). Bad large inputs are typed errors before any large allocation: a
// file truncated past 2 GiB (CHECKPOINT naming the tensor), a dtype the loader cannot convert
// (CHECKPOINT naming it and what converts), a model too large in every mode or in the mode asked
// for (OOM naming the bytes) — the kernel heap untouched in each.
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init, type Kernels } from '../../src/kernels/index.js';
import { nodeFileSource } from '../../src/model/byte-source.js';
import { loadModel } from '../../src/model/index.js';
import { readSafetensorsLayout } from '../../src/model/safetensors.js';
import { WeightRef } from '../../src/model/weight-ref.js';
import { LLAMA_1B, llamaSpecs, writeLlamaConfig, writeSparseSafetensors } from './loaders/bf16-writer.js';

const GiB = 2 ** 30;
let dir: string;
let kernels: Kernels;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'pk-large-'));
  kernels = await init({ build: 'simd' });
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

// loadModel on a folder must fail with `code` and a message matching `re`, allocating nothing
async function refused(folder: string, code: string, re: RegExp, opts: { weights?: 'f32' | 'bf16' } = {}) {
  const used = kernels.heap.usedBytes, cap = kernels.heap.capacity;
  await expect(loadModel(folder, { kernels, ...opts })).rejects.toMatchObject({ code, message: expect.stringMatching(re) });
  expect([kernels.heap.usedBytes, kernels.heap.capacity]).toEqual([used, cap]);
}

describe('files over 2 GiB', () => {
  it('tensors past the 2 GiB offset read back exactly in ranges (f32 and bf16, into the heap as either)', async () => {
    const file = path.join(dir, 'far.safetensors');
    const size = await writeSparseSafetensors(file, [
      { name: 'hole', shape: [1_100_000_000], fill: { value: 0 } }, // 2.2 GB of bf16 zeros
      { name: 'far32', shape: [5], dtype: 'F32', fill: { value: 0 } },
      { name: 'far16', shape: [3], fill: { value: 0 } },
    ]);
    expect(size).toBeGreaterThan(2.2e9);
    const src = await nodeFileSource(file);
    try {
      const { tensors } = await readSafetensorsLayout(src);
      const far32 = tensors.get('far32')!, far16 = tensors.get('far16')!;
      expect(far32.offset).toBeGreaterThan(2 * GiB);
      const fh = await open(file, 'r+');
      await fh.write(new Uint8Array(Float32Array.of(1.5, -2, 3.25, 1e-3, 7).buffer), 0, 20, far32.offset);
      await fh.write(new Uint8Array(Uint16Array.of(0x3fc0, 0xc040, 0x0001).buffer), 0, 6, far16.offset); // 1.5, -3, tiny subnormal
      await fh.close();
      expect(Array.from(await WeightRef.inFile(src, far32, 'far32').f32())).toEqual(Array.from(Float32Array.of(1.5, -2, 3.25, 1e-3, 7)));
      const bits16 = new Uint32Array((await WeightRef.inFile(src, far16, 'far16').f32()).buffer);
      expect(Array.from(bits16)).toEqual([0x3fc00000, 0xc0400000, 0x00010000]);
      // into the heap: f32 → bf16 rounds (1e-3 → 0x3A83), bf16 → f32 widens exactly
      const staging = kernels.alloc(16, 'staging');
      const a = kernels.alloc(5, 'a', true, 'bf16'), b = kernels.alloc(3, 'b', true, 'f32');
      await WeightRef.inFile(src, far32, 'far32').upload(kernels, a, staging);
      await WeightRef.inFile(src, far16, 'far16').upload(kernels, b, staging);
      expect(Array.from(a.u16())).toEqual([0x3fc0, 0xc000, 0x4050, 0x3a83, 0x40e0]);
      expect(Array.from(new Uint32Array(b.f32().slice().buffer))).toEqual([0x3fc00000, 0xc0400000, 0x00010000]);
      for (const t of [a, b, staging]) t.free();
    } finally {
      await src.close();
    }
    await expect(readFile(file)).rejects.toMatchObject({ code: 'ERR_FS_FILE_TOO_LARGE' }); // why range reads
  });

  it('a file truncated past 2 GiB is refused naming the tensor that runs past its end, before any allocation', async () => {
    const folder = path.join(dir, 'truncated');
    await (await import('node:fs/promises')).mkdir(folder);
    await writeLlamaConfig(folder, LLAMA_1B);
    const full = await writeSparseSafetensors(path.join(folder, 'model.safetensors'), llamaSpecs(LLAMA_1B), 2.3e9);
    expect(full).toBeGreaterThan(2.47e9);
    await refused(folder, 'CHECKPOINT', /tensor "model\.layers\.\d+\.[a-z_.]+weight" data_offsets \[\d+, \d+\] run past the data section \(\d+ bytes\): the file is truncated/);
  });

  it('a dtype the loader cannot convert is named with what it converts', async () => {
    const folder = path.join(dir, 'int8');
    await (await import('node:fs/promises')).mkdir(folder);
    await writeLlamaConfig(folder, LLAMA_1B);
    const specs = llamaSpecs(LLAMA_1B).map((t) => (t.name === 'model.layers.9.mlp.up_proj.weight' ? { ...t, dtypeName: 'I8' } : t));
    await writeSparseSafetensors(path.join(folder, 'model.safetensors'), specs);
    await refused(folder, 'CHECKPOINT', /tensor "model\.layers\.9\.mlp\.up_proj\.weight" has dtype "I8"; expected one of F32, F16, BF16, F64/);
  });

  it('too large in every mode, or in the mode asked for: OOM naming the bytes, nothing allocated', async () => {
    const big = { vocab: 128256, dim: 4096, layers: 32, hidden: 14336, heads: 32, kvHeads: 8, tied: false }; // Llama-3-8B's shape
    const folder = path.join(dir, '8b');
    await (await import('node:fs/promises')).mkdir(folder);
    await writeLlamaConfig(folder, big);
    await writeSparseSafetensors(path.join(folder, 'model.safetensors'), llamaSpecs(big)); // 16 GB hole
    await refused(folder, 'OOM', /too large in every mode: bf16 weights need 160\d{8} bytes \(\d+ MiB\) \+ \d+ bytes .* for activations/);
    const one = path.join(dir, '1b-zeros');
    await (await import('node:fs/promises')).mkdir(one);
    await writeLlamaConfig(one, LLAMA_1B);
    await writeSparseSafetensors(path.join(one, 'model.safetensors'), llamaSpecs(LLAMA_1B));
    await refused(one, 'OOM', /f32 weights need 49\d{8} bytes .*; weights: 'bf16' would fit/, { weights: 'f32' });
  });
});
