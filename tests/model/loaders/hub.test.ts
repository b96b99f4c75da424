// The hub client against a loopback hub: ids, downloads, cache, tokens, resume, offline mode.
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { hubFile, hubFileUrl, parseHubId } from '../../../src/model/hub.js';
import { loadCheckpoint } from '../../../src/model/source.js';
import { startHubServer, type HubServer } from '../../helpers/hub-server.js';
import { expectCode, read, STORIES_BIN, TOK512 } from './util.js';

// vitest's deep equality is slow on megabyte arrays
const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
const ID = 'karpathy/tinyllamas/stories260K';
let server: HubServer;
let cacheDir: string;
const opts = () => ({ endpoint: server.url, cacheDir });
const cached = (file: string) => path.join(cacheDir, 'karpathy', 'tinyllamas', 'main', 'stories260K', file);

beforeAll(async () => {
  server = await startHubServer();
});
afterAll(() => server.close());
beforeEach(() => {
  cacheDir = mkdtempSync(path.join(os.tmpdir(), 'pk-hub-'));
  server.requests.length = 0;
  for (const k of Object.keys(server.faults)) delete (server.faults as Record<string, unknown>)[k];
});

describe('hub client against a loopback hub', () => {
  test('ids and URLs', () => {
    expect(parseHubId('karpathy/tinyllamas/stories260K@abc')).toEqual({ repo: 'karpathy/tinyllamas', subfolder: 'stories260K', revision: 'abc' });
    expect(hubFileUrl(parseHubId(ID), 'tok512.bin', { endpoint: 'http://h/' })).toBe('http://h/karpathy/tinyllamas/resolve/main/stories260K/tok512.bin');
    expect(() => parseHubId('justone')).toThrow(/not a hub id/);
  });

  test('loadCheckpoint(hub id) via HF_ENDPOINT: tree API, download, cache, token header', async () => {
    const env = { HF_ENDPOINT: process.env.HF_ENDPOINT, HF_TOKEN: process.env.HF_TOKEN, PROMPTKILN_CACHE: process.env.PROMPTKILN_CACHE };
    process.env.HF_ENDPOINT = server.url;
    process.env.HF_TOKEN = 'hf_test';
    process.env.PROMPTKILN_CACHE = cacheDir;
    try {
      const ck = await loadCheckpoint(ID);
      expect(ck.id).toBe('karpathy/tinyllamas/stories260K@main');
      expect(ck.config.vocabSize).toBe(512);
      expect(ck.tokenizer!.encode('Once upon a time')).toEqual([1, 403, 407, 261, 378]);
      expect(readFileSync(cached('stories260K.bin')).equals(readFileSync(STORIES_BIN))).toBe(true);
      expect(server.requests.some((r) => r.url.startsWith('/api/models/karpathy/tinyllamas/tree/main/stories260K'))).toBe(true);
      expect(server.requests.every((r) => r.auth === 'Bearer hf_test')).toBe(true);
    } finally {
      for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  test('offline (HF_HUB_OFFLINE=1) loads from the cache with no request; empty cache → HUB', async () => {
    await loadCheckpoint(ID, opts());
    server.requests.length = 0;
    process.env.HF_HUB_OFFLINE = '1';
    try {
      const ck = await loadCheckpoint(ID, opts());
      expect(ck.tokenizer).not.toBeNull();
      expect(server.requests).toEqual([]);
      const empty = mkdtempSync(path.join(os.tmpdir(), 'pk-hub-'));
      await expectCode(() => hubFile(ID, 'tok512.bin', { endpoint: server.url, cacheDir: empty }), 'HUB', /offline/);
    } finally {
      delete process.env.HF_HUB_OFFLINE;
    }
  });

  test('a cached file is revalidated with HEAD only; a dead network falls back to the cache', async () => {
    await loadCheckpoint(ID, opts());
    server.requests.length = 0;
    expect(sameBytes(await hubFile(ID, 'tok512.bin', opts()), read(TOK512))).toBe(true);
    expect(server.requests.map((r) => r.method)).toEqual(['HEAD']);
    const dead = { endpoint: 'http://127.0.0.1:9', cacheDir }; // nothing listens on port 9
    expect(sameBytes(await hubFile(ID, 'tok512.bin', dead), read(TOK512))).toBe(true);
    const ck = await loadCheckpoint(ID, dead); // listing from the cache too
    expect(ck.config.dim).toBe(64);
  });

  test('resumes after a dropped connection with Range, and verifies the size', async () => {
    server.faults.dropAfterBytes = 300_000;
    server.faults.dropTimes = 2;
    const bytes = await hubFile(ID, 'stories260K.bin', opts());
    expect(sameBytes(bytes, read(STORIES_BIN))).toBe(true);
    const gets = server.requests.filter((r) => r.method === 'GET');
    // each retry asks for the rest from what the client saved; that can be a little short of the
    // bytes the server wrote (a cut connection may lose what was still in flight), never more
    const ranges = gets.map((r) => r.range);
    expect(ranges.length, JSON.stringify(ranges)).toBe(3);
    expect(ranges[0]).toBeNull();
    const offs = ranges.slice(1).map((r) => Number(/^bytes=(\d+)-$/.exec(r ?? '')?.[1]));
    expect(offs[0]).toBeGreaterThan(0);
    expect(offs[0]).toBeLessThanOrEqual(300_000);
    expect(offs[1]).toBeGreaterThan(offs[0]);
    expect(offs[1]).toBeLessThanOrEqual(offs[0] + 300_000);
    expect(existsSync(cached('stories260K.bin.part'))).toBe(false);
  });

  test('a .part left by an earlier process is resumed; a Range-ignoring server restarts cleanly', async () => {
    server.faults.dropAfterBytes = 100_000;
    await expectCode(() => hubFile(ID, 'stories260K.bin', { ...opts(), retries: 0 }), 'HUB', /connection/);
    expect(statSync(cached('stories260K.bin.part')).size).toBe(100_000);
    delete server.faults.dropAfterBytes;
    server.requests.length = 0;
    expect(sameBytes(await hubFile(ID, 'stories260K.bin', opts()), read(STORIES_BIN))).toBe(true);
    expect(server.requests.find((r) => r.method === 'GET')!.range).toBe('bytes=100000-');

    mkdirSync(path.dirname(cached('tok512.bin')), { recursive: true });
    writeFileSync(cached('tok512.bin.part'), new Uint8Array(50).fill(7)); // garbage prefix
    server.faults.ignoreRange = true;
    expect(sameBytes(await hubFile(ID, 'tok512.bin', opts()), read(TOK512))).toBe(true);
  });

  test('404 → HUB naming repo and file; 500 and no server → HUB after retries', async () => {
    await expectCode(() => hubFile(ID, 'nope.bin', opts()), 'HUB', /karpathy\/tinyllamas\/stories260K@main: nope\.bin: not found/);
    await expectCode(() => loadCheckpoint('karpathy/nothing-here', opts()), 'CHECKPOINT', /karpathy\/nothing-here@main/);
    server.faults.status = 500;
    await expectCode(() => hubFile(ID, 'tok512.bin', { ...opts(), retries: 1 }), 'HUB', /after 2 attempts.*500/);
    await expectCode(() => hubFile(ID, 'tok512.bin', { endpoint: 'http://127.0.0.1:9', cacheDir, retries: 0 }), 'HUB', /network/);
  });

  test('without the tree API the client probes the llama2.c names; HF repos by config.json', async () => {
    server.faults.noTreeApi = true;
    const ck = await loadCheckpoint(ID, opts());
    expect(ck.tokenizer!.decode([1, 403])).toBe('Once');
    const g = await loadCheckpoint('test/gpt2-tiny-random', opts());
    expect(g.config.arch).toBe('gpt2');
    expect(g.id).toBe('test/gpt2-tiny-random@main');
  });
});
