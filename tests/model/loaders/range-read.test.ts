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
import { readFileSync } from 'node:fs';
import { loadModel } from '../../../src/model/index.js';
import { REFS_DIR } from '../../helpers/paths.js';

const FILE = path.join(GPT2_DIR, 'model.safetensors');
const bytes = read(FILE);
const whole = parseSafetensors(bytes);

let server: Server, url: string, base: string;
const ranges: string[] = [];
let honourRange = true;
const LLAMA = path.join(REFS_DIR, 'hf', 'llama-gqa');
beforeAll(async () => {
  // /gpt2/<file> and /llama/<file>; Range requests answered with 206, others with the whole file
  server = createServer((req, res) => {
    const [, dirName, name] = /^\/(gpt2|llama)\/([\w.-]+)$/.exec(req.url ?? '') ?? [];
    let data: Uint8Array;
    try {
      data = readFileSync(path.join(dirName === 'gpt2' ? GPT2_DIR : LLAMA, name));
    } catch {
      res.writeHead(404).end();
      return;
    }
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (!honourRange || !m) {
      res.writeHead(200, { 'content-length': data.byteLength });
      res.end(data);
      return;
    }
    ranges.push(req.headers.range!);
    const a = Number(m[1]), b = Math.min(Number(m[2]), data.byteLength - 1);
    res.writeHead(206, { 'content-range': `bytes ${a}-${b}/${data.byteLength}`, 'content-length': b - a + 1 });
    res.end(data.subarray(a, b + 1));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  url = `${base}/gpt2/model.safetensors`;
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

  it('loadModel from an http(s) folder URL and from Blobs (a browser File) scores as from the folder on disk', async () => {
    const names = ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
    const files = Object.fromEntries(names.map((n) => [n, new Blob([readFileSync(path.join(LLAMA, n))])]));
    const disk = await loadModel(LLAMA);
    ranges.length = 0;
    const overHttp = await loadModel(`${base}/llama/`, { kernels: disk.kernels });
    expect(ranges.length).toBeGreaterThan(2); // the weights came in ranges
    const fromBlobs = await loadModel({ files, name: 'llama-gqa' }, { kernels: disk.kernels });
    try {
      const ids = [1, 17, 23, 5, 99, 42, 7];
      const want = await disk.score(ids.slice(0, 3), ids.slice(3));
      for (const m of [overHttp, fromBlobs]) {
        expect(m.tokenizer).not.toBeNull();
        expect((await m.score(ids.slice(0, 3), ids.slice(3))).logprobs).toEqual(want.logprobs);
      }
    } finally {
      for (const m of [disk, overHttp, fromBlobs]) m.dispose();
    }
  });
});
