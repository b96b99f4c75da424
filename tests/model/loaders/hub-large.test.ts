// A hub checkpoint over 2 GiB: the hub client streams it into the disk cache and the loader reads
// tensors in ranges from the cached file, so a tensor past the 2 GiB offset reads back exactly and
// no full-size copy of the file ever exists in memory (Node's readFile cannot even hold it).
import { mkdir, mkdtemp, open, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeFileSource } from '../../../src/model/byte-source.js';
import { readSafetensorsLayout } from '../../../src/model/safetensors.js';
import { loadCheckpoint } from '../../../src/model/source.js';
import { startHubServer, type HubServer } from '../../helpers/hub-server.js';
import { LLAMA_1B, llamaSpecs, writeLlamaConfig, writeSparseSafetensors } from './bf16-writer.js';

const GiB = 2 ** 30;
let dir: string;
let server: HubServer;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'pk-hub-large-'));
});
afterAll(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('hub checkpoints over 2 GiB', () => {
  it('stream to the disk cache; a tensor past 2 GiB reads back exactly; memory stays far below the file size', async () => {
    // the repo: Llama-3.2-1B's shape cut to 14 layers (just over 2 GiB, the fewest bytes to stream)
    // as a sparse bf16 file (a hole), model.norm.weight last
    const shape = { ...LLAMA_1B, layers: 14 };
    const repo = path.join(dir, 'repo');
    await mkdir(repo);
    await writeLlamaConfig(repo, shape);
    const file = path.join(repo, 'model.safetensors');
    const size = await writeSparseSafetensors(file, llamaSpecs(shape));
    expect(size).toBeGreaterThan(2 * GiB);
    const src = await nodeFileSource(file);
    const norm = (await readSafetensorsLayout(src)).tensors.get('model.norm.weight')!;
    await src.close();
    expect(norm.offset).toBeGreaterThan(2 * GiB);
    const want = new Uint16Array(shape.dim);
    for (let i = 0; i < want.length; i++) want[i] = 0x3f80 + (i % 97) * 3 - (i % 2 ? 0x8000 : 0); // ±(1 + small steps)
    const fh = await open(file, 'r+');
    await fh.write(new Uint8Array(want.buffer), 0, want.byteLength, norm.offset);
    await fh.close();

    server = await startHubServer({ 'test/big': repo });
    const cacheDir = path.join(dir, 'cache');
    const env = { HF_ENDPOINT: process.env.HF_ENDPOINT, PROMPTKILN_CACHE: process.env.PROMPTKILN_CACHE };
    process.env.HF_ENDPOINT = server.url;
    process.env.PROMPTKILN_CACHE = cacheDir;
    const base = process.memoryUsage().arrayBuffers;
    let peak = base;
    let loaded = 0;
    const sample = () => { peak = Math.max(peak, process.memoryUsage().arrayBuffers); };
    try {
      const ck = await loadCheckpoint('test/big', {
        lazy: true,
        onProgress: (e) => { if (e.file === 'model.safetensors') loaded = e.loaded; sample(); },
      });
      sample();
      try {
        expect(loaded).toBe(size); // the weights came over the wire, streamed
        const cached = path.join(cacheDir, 'test', 'big', 'main', 'model.safetensors');
        expect((await stat(cached)).size).toBe(size);
        const ref = [...ck.lazy!.refs.values()].find((r) => r.name.endsWith('tensor "model.norm.weight"'))!;
        expect(ref.name).toBe(`${cached}: tensor "model.norm.weight"`); // read in ranges from the cached file
        const bits = new Uint32Array((await ref.f32()).buffer);
        sample();
        expect(Array.from(bits)).toEqual(Array.from(want, (b) => b << 16 >>> 0));
      } finally {
        await ck.lazy!.close();
      }
    } finally {
      for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    }
    // a full-size copy would be 2.16 GB of ArrayBuffers; streaming holds a few chunks
    expect(peak - base).toBeLessThan(256 * 2 ** 20);
  }, 120_000);
});
