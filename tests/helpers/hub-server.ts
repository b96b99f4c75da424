// A real loopback HTTP server (127.0.0.1, random port) serving local folders in the Hugging Face
// hub's URL layout, so tests exercise the real hub client with HF_ENDPOINT pointed at it:
//   GET/HEAD /{owner}/{name}/resolve/{revision}/{path}   (Range supported, ETag, X-Linked-Size)
//   GET      /api/models/{owner}/{name}/tree/{revision}[/{path}]
// Default mapping: repo `karpathy/tinyllamas` → MODELS_DIR (which holds `stories260K/`), and
// `test/gpt2-tiny-random` → MODELS_DIR/gpt2-tiny-random. Any revision serves the same files.
// Faults, switchable per test: drop the connection after N body bytes (once or always), answer
// 404 or 500 for everything, disable the tree API. `requests` records what the client asked.
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { MODELS_DIR } from './paths.js';

export interface HubFaults {
  dropAfterBytes?: number; // close the socket after sending this many body bytes
  dropTimes?: number; // how many responses to cut (default: every one)
  status?: 404 | 500; // answer every resolve request with this
  noTreeApi?: boolean; // the tree API answers 404 (like a plain mirror)
  ignoreRange?: boolean; // answer 200 with the whole file even when a Range is asked
}

export interface HubRequest {
  method: string;
  url: string;
  range: string | null;
  auth: string | null;
}

export interface HubServer {
  url: string;
  faults: HubFaults;
  requests: HubRequest[];
  close(): Promise<void>;
}

export async function startHubServer(repos: Record<string, string> = defaultRepos()): Promise<HubServer> {
  const faults: HubFaults = {};
  const requests: HubRequest[] = [];
  let dropped = 0;
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push({ method: req.method ?? 'GET', url: url.pathname, range: req.headers.range ?? null, auth: req.headers.authorization ?? null });
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    // browsers (tests/hosts/remote-model.test.ts) fetch cross-origin from a COEP page
    res.setHeader('access-control-allow-origin', '*');
    res.setHeader('cross-origin-resource-policy', 'cross-origin');
    res.setHeader('access-control-expose-headers', 'content-length, content-range, etag, x-linked-size');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { 'access-control-allow-headers': 'authorization, range', 'access-control-allow-methods': 'GET, HEAD' });
      return res.end();
    }
    try {
      if (parts[0] === 'api' && parts[1] === 'models' && parts[4] === 'tree') {
        const root = repos[`${parts[2]}/${parts[3]}`];
        if (!root || faults.noTreeApi) return send(res, 404, 'not found');
        const sub = parts.slice(6).join('/');
        const dir = safeJoin(root, sub);
        const list = [];
        for (const d of await fsp.readdir(dir, { withFileTypes: true })) {
          const p = sub ? `${sub}/${d.name}` : d.name;
          if (d.isDirectory()) list.push({ type: 'directory', oid: 'x', size: 0, path: p });
          else list.push({ type: 'file', oid: 'x', size: (await fsp.stat(path.join(dir, d.name))).size, path: p });
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify(list));
      }
      if (parts[2] !== 'resolve' || parts.length < 5) return send(res, 404, 'not found');
      if (faults.status) return send(res, faults.status, 'fault');
      const root = repos[`${parts[0]}/${parts[1]}`];
      if (!root) return send(res, 404, 'Repository not found');
      const file = safeJoin(root, parts.slice(4).join('/'));
      const st = await fsp.stat(file).catch(() => null);
      if (!st?.isFile()) return send(res, 404, 'Entry not found');
      const etag = `"${createHash('sha1').update(`${file}:${st.size}:${st.mtimeMs}`).digest('hex')}"`;
      const base = { etag, 'x-linked-size': String(st.size), 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
      let start = 0;
      let end = st.size - 1;
      let status = 200;
      const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      if (m && !faults.ignoreRange) {
        start = Number(m[1]);
        if (m[2]) end = Math.min(end, Number(m[2]));
        if (start >= st.size) {
          res.writeHead(416, { ...base, 'content-range': `bytes */${st.size}` });
          return res.end();
        }
        status = 206;
      }
      const headers: Record<string, string> = { ...base, 'content-length': String(end - start + 1) };
      if (status === 206) headers['content-range'] = `bytes ${start}-${end}/${st.size}`;
      res.writeHead(status, headers);
      if (req.method === 'HEAD') return res.end();
      const cut = faults.dropAfterBytes !== undefined && (faults.dropTimes === undefined || dropped < faults.dropTimes);
      if (cut) {
        dropped++;
        const n = Math.min(faults.dropAfterBytes!, end - start + 1);
        const buf = Buffer.alloc(n);
        const fh = await fsp.open(file, 'r');
        await fh.read(buf, 0, n, start);
        await fh.close();
        // end (FIN) rather than destroy (RST): every byte written reaches the client before the cut,
        // so the resume offset is exactly dropAfterBytes
        res.write(buf, () => res.socket?.end());
        return;
      }
      createReadStream(file, { start, end }).pipe(res);
    } catch (e) {
      send(res, 500, String(e));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    faults,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export function defaultRepos(): Record<string, string> {
  return { 'karpathy/tinyllamas': MODELS_DIR, 'test/gpt2-tiny-random': path.join(MODELS_DIR, 'gpt2-tiny-random') };
}

function send(res: http.ServerResponse, status: number, body: string) {
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(body);
}

function safeJoin(root: string, rel: string): string {
  const p = path.resolve(root, rel);
  if (p !== path.resolve(root) && !p.startsWith(path.resolve(root) + path.sep)) throw new Error('path escapes the repo');
  return p;
}
