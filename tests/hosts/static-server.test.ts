// The loopback static server that the browser test (and others) rely on: real HTTP on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startStaticServer, type StaticServer } from '../helpers/static-server.js';

describe('static server', () => {
  let dir: string;
  let srv: StaticServer;
  let plain: StaticServer;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'pk-static-'));
    mkdirSync(path.join(dir, 'a'));
    mkdirSync(path.join(dir, 'b'));
    writeFileSync(path.join(dir, 'a', 'index.html'), '<p>a</p>');
    writeFileSync(path.join(dir, 'b', 'm.wasm'), new Uint8Array([0, 97, 115, 109]));
    writeFileSync(path.join(dir, 'secret.txt'), 'outside the mounts');
    srv = await startStaticServer({
      mounts: { '/': path.join(dir, 'a'), '/b/': path.join(dir, 'b') },
      crossOriginIsolated: true,
    });
    plain = await startStaticServer({ mounts: { '/': path.join(dir, 'a') } });
  });
  afterAll(async () => {
    await srv.close();
    await plain.close();
  });

  it('serves index.html for a directory, wasm with its MIME type, COOP/COEP when asked', async () => {
    expect(srv.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const r = await fetch(srv.url + '/');
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('<p>a</p>');
    expect(r.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(r.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    const w = await fetch(srv.url + '/b/m.wasm');
    expect(w.headers.get('content-type')).toBe('application/wasm');
    expect([...new Uint8Array(await w.arrayBuffer())]).toEqual([0, 97, 115, 109]);
    expect(srv.requests).toEqual(['/', '/b/m.wasm']);
  });

  it('omits isolation headers by default, 404s outside the mounts', async () => {
    const r = await fetch(plain.url + '/index.html');
    expect(r.status).toBe(200);
    expect(r.headers.get('cross-origin-opener-policy')).toBeNull();
    expect((await fetch(plain.url + '/missing.js')).status).toBe(404);
    expect((await fetch(plain.url + '/../secret.txt')).status).toBe(404);
    expect((await fetch(plain.url + '/%2e%2e/secret.txt')).status).toBe(404);
  });
});
