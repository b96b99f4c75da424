// Range reads of safetensors files from every byte source — a Node file, a Blob (the browser's
// File / Blob.slice path), HTTP Range requests against a real server on 127.0.0.1, bytes in memory —
// give the tensors parseSafetensors gives from the whole file; reading one tensor over HTTP asks
// for its bytes only; a server that ignores Range and a truncated file are typed errors.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobSource, bytesSource, httpSource, nodeFileSource, type ByteSource } from '../../../src/model/byte-source.js';
import { parseSafetensors, readSafetensorsLayout } from '../../../src/model/safetensors.js';
import { WeightRef } from '../../../src/model/weight-ref.js';
import { GPT2_DIR, read } from './util.js';

const FILE = path.join(GPT2_DIR, 'model.safetensors');
const bytes = read(FILE);
const whole = parseSafetensors(bytes);

let server: Server, url: string;
const ranges: string[] = [];
let honourRange = true;
beforeAll(async () => {
  server = createServer((req, res) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (!honourRange || !m) {
      res.writeHead(200, { 'content-length': bytes.byteLength });
      res.end(bytes);
      return;
    }
    ranges.push(req.headers.range!);
    const a = Number(m[1]), b = Math.min(Number(m[2]), bytes.byteLength - 1);
    res.writeHead(206, { 'content-range': `bytes ${a}-${b}/${bytes.byteLength}`, 'content-length': b - a + 1 });
    res.end(bytes.subarray(a, b + 1));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/model.safetensors`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function tensorsOf(src: ByteSource): Promise<Map<string, Float32Array>> {
  const { tensors } = await readSafetensorsLayout(src);
  const out = new Map<string, Float32Array>();
  for (const [k, r] of tensors) out.set(k, await WeightRef.inFile(src, r, k).f32());
  return out;
}

describe('range reads', () => {
  it.each(['node file', 'blob', 'http', 'memory'] as const)('%s: every tensor equals the whole-file parse', async (kind) => {
    const src = kind === 'node file' ? await nodeFileSource(FILE)
      : kind === 'blob' ? blobSource(new Blob([bytes]), 'model.safetensors')
      : kind === 'http' ? await httpSource(url)
      : bytesSource(bytes);
    try {
      expect(src.size).toBe(bytes.byteLength);
      const got = await tensorsOf(src);
      expect([...got.keys()].sort()).toEqual([...whole.tensors.keys()].sort());
      for (const [k, t] of whole.tensors) expect(got.get(k), k).toEqual(t.data);
    } finally {
      await src.close();
    }
  });

  it('http: one tensor costs its own byte range, not the file', async () => {
    ranges.length = 0;
    const src = await httpSource(url);
    const { tensors } = await readSafetensorsLayout(src);
    const r = tensors.get('transformer.h.1.mlp.c_fc.weight')!;
    await WeightRef.inFile(src, r, 'c_fc').f32();
    expect(ranges.at(-1)).toBe(`bytes=${r.offset}-${r.offset + r.bytes - 1}`);
    // the size probe, the 8-byte length, the header, and the tensor
    expect(ranges).toHaveLength(4);
  });

  it('a server that ignores Range is refused (no silent full download); a truncated file names its tensor', async () => {
    honourRange = false;
    try {
      await expect(httpSource(url)).rejects.toMatchObject({ code: 'NETWORK', message: expect.stringMatching(/got HTTP 200 \(the server ignores Range requests\)/) });
    } finally {
      honourRange = true;
    }
    const cut = bytesSource(bytes.subarray(0, bytes.byteLength - 100), 'cut.safetensors');
    await expect(readSafetensorsLayout(cut)).rejects.toMatchObject({
      code: 'CHECKPOINT', message: expect.stringMatching(/^cut\.safetensors: tensor "[^"]+" data_offsets \[\d+, \d+\] run past the data section \(\d+ bytes\): the file is truncated/),
    });
  });
});
