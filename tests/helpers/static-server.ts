// A loopback static file server for tests: real HTTP on 127.0.0.1, a free port, no dependencies.
// Used by the browser host test (dist/, wasm/, examples/ under one origin) and by anything else
// that needs files over HTTP. Optional COOP/COEP headers make pages cross-origin isolated, which
// browsers require before they expose SharedArrayBuffer (and so shared wasm memory).
import { createServer, type Server } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { AddressInfo } from 'node:net';

export interface StaticServerOptions {
  // URL prefix → directory on disk, e.g. { '/dist/': 'dist', '/': 'examples/browser' }.
  // The longest matching prefix wins.
  mounts: Record<string, string>;
  // Send Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp.
  crossOriginIsolated?: boolean;
  // Extra headers on every response.
  headers?: Record<string, string>;
}

export interface StaticServer {
  readonly url: string; // 'http://127.0.0.1:PORT' (no trailing slash)
  readonly port: number;
  // Every path requested so far, in order (lets a test check what a page actually fetched).
  readonly requests: string[];
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.cjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm', // WebAssembly.compileStreaming insists on this type
  '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.h': 'text/plain; charset=utf-8',
  '.bin': 'application/octet-stream',
  '.safetensors': 'application/octet-stream',
};

export function contentType(file: string): string {
  return TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

// Map a request path onto a file under one of the mounts; null when it would leave the mount.
function resolveFile(mounts: [string, string][], urlPath: string): string | null {
  for (const [prefix, dir] of mounts) {
    if (!urlPath.startsWith(prefix)) continue;
    const rel = urlPath.slice(prefix.length);
    const file = path.resolve(dir, '.' + path.posix.normalize('/' + rel));
    if (file !== dir && !file.startsWith(dir + path.sep)) return null;
    return file;
  }
  return null;
}

export async function startStaticServer(opts: StaticServerOptions): Promise<StaticServer> {
  // longest prefix first, so '/dist/' beats '/'
  const mounts = Object.entries(opts.mounts)
    .map(([p, d]) => [p.endsWith('/') ? p : p + '/', path.resolve(d)] as [string, string])
    .sort((a, b) => b[0].length - a[0].length);
  const base: Record<string, string> = { 'Cache-Control': 'no-store', ...(opts.headers ?? {}) };
  if (opts.crossOriginIsolated) {
    base['Cross-Origin-Opener-Policy'] = 'same-origin';
    base['Cross-Origin-Embedder-Policy'] = 'require-corp';
    base['Cross-Origin-Resource-Policy'] = 'same-origin';
  }
  const requests: string[] = [];

  const server: Server = createServer((req, res) => {
    void (async () => {
      let urlPath: string;
      try {
        urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      } catch {
        res.writeHead(400, base).end('bad request path');
        return;
      }
      requests.push(urlPath);
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { ...base, Allow: 'GET, HEAD' }).end();
        return;
      }
      let file = resolveFile(mounts, urlPath);
      if (!file) {
        res.writeHead(404, base).end(`not found: ${urlPath}`);
        return;
      }
      let st = await stat(file).catch(() => null);
      if (st?.isDirectory()) {
        file = path.join(file, 'index.html');
        st = await stat(file).catch(() => null);
      }
      if (!st || !st.isFile()) {
        res.writeHead(404, base).end(`not found: ${urlPath}`);
        return;
      }
      res.writeHead(200, { ...base, 'Content-Type': contentType(file), 'Content-Length': String(st.size) });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      createReadStream(file)
        .on('error', () => res.destroy())
        .pipe(res);
    })().catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, base);
      res.end(String(e));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        // keep-alive sockets from a browser would hold close() open forever
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}
