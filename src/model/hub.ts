// Hugging Face hub client: resolve, download, cache.
//
// Ids: `owner/name[/subfolder…][@revision]`, e.g. `karpathy/tinyllamas/stories260K`.
// Files: `{endpoint}/{owner}/{name}/resolve/{revision}/{subfolder/}{file}` with endpoint =
// opts.endpoint ?? $HF_ENDPOINT ?? https://huggingface.co, `Authorization: Bearer $HF_TOKEN`.
// Listing: `{endpoint}/api/models/{owner}/{name}/tree/{revision}/{subfolder}` (the hub's tree
// API) when it answers; the listing is cached beside the files for offline use.
//
// Cache. Node: files under `{cacheDir}/{owner}/{name}/{revision}/{path}` where cacheDir =
// opts.cacheDir ?? $PROMPTKILN_CACHE ?? ~/.cache/promptkiln/hub. A download streams into
// `{file}.part`; a dropped connection is retried (opts.retries, default 3) with `Range` from the
// bytes already there, and a later call resumes a `.part` left by an earlier process. The size
// is verified (Content-Range total / X-Linked-Size / Content-Length) before `.part` is renamed.
// `{file}.meta.json` keeps the ETag and size. A cached file of a moving revision (a branch
// name) is revalidated with one HEAD request; a failing network (or 5xx) falls back to the
// cache, a 404 does not. Revisions that are commit hashes are immutable: no request at all.
// Weights are read from the cached file in ranges (hubFileSource), never copied whole into memory,
// so files over 2 GiB load.
// Browser / worker: the Cache API (`caches.open('promptkiln-hub')`, keyed by URL), no resume;
// whole responses, so a file over BROWSER_MAX_BYTES is a HUB error naming it and its size.
// HF_HUB_OFFLINE=1 (or opts.offline): cache only.
// Node built-ins are imported dynamically so this module stays bundle-safe for browsers.

import { PromptkilnError, throwIfAborted } from '../errors.js';
import { bytesSource, nodeFileSource, type ByteSource } from './byte-source.js';

export interface HubId {
  repo: string; // owner/name
  subfolder: string; // '' or 'a/b' (no slashes at the ends)
  revision: string; // default 'main'
}

export interface HubOptions {
  endpoint?: string;
  token?: string;
  revision?: string; // overrides the id's @revision
  cacheDir?: string;
  offline?: boolean;
  retries?: number; // re-requests after a dropped connection (default 3)
  signal?: AbortSignal;
  fetch?: typeof fetch;
  onProgress?: (e: { file: string; loaded: number; total: number | null }) => void;
}

export interface HubListing {
  path: string; // relative to the id's subfolder
  size: number | null;
}

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function env(name: string): string | undefined {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return p?.env?.[name];
}

// Parse `owner/name[/subfolder][@revision]`. Throws ARGUMENT for anything else.
export function parseHubId(id: string): HubId {
  const at = id.lastIndexOf('@');
  const path = at >= 0 ? id.slice(0, at) : id;
  const revision = at >= 0 ? id.slice(at + 1) : 'main';
  const parts = path.split('/');
  if (parts.length < 2 || !parts.every((p) => SEGMENT.test(p) && p !== '..') || !/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(revision) || revision.includes('..')) {
    throw new PromptkilnError('ARGUMENT', `"${id}" is not a hub id (expected owner/name[/subfolder][@revision])`, { id });
  }
  return { repo: `${parts[0]}/${parts[1]}`, subfolder: parts.slice(2).join('/'), revision };
}

export function looksLikeHubId(s: string): boolean {
  try {
    parseHubId(s);
    return !s.startsWith('.') && !s.startsWith('/');
  } catch {
    return false;
  }
}

export function formatHubId(h: HubId): string {
  return `${h.repo}${h.subfolder ? '/' + h.subfolder : ''}@${h.revision}`;
}

function endpointOf(opts: HubOptions): string {
  return (opts.endpoint ?? env('HF_ENDPOINT') ?? 'https://huggingface.co').replace(/\/+$/, '');
}

function isOffline(opts: HubOptions): boolean {
  if (opts.offline !== undefined) return opts.offline;
  const v = env('HF_HUB_OFFLINE');
  return v !== undefined && ['1', 'true', 'yes', 'on'].includes(v.toLowerCase());
}

function revisionOf(h: HubId, opts: HubOptions): string {
  return opts.revision ?? h.revision;
}

function repoPath(h: HubId, file: string): string {
  return (h.subfolder ? h.subfolder + '/' : '') + file;
}

export function hubFileUrl(h: HubId, file: string, opts: HubOptions = {}): string {
  const path = repoPath(h, file).split('/').map(encodeURIComponent).join('/');
  return `${endpointOf(opts)}/${h.repo}/resolve/${encodeURIComponent(revisionOf(h, opts))}/${path}`;
}

function headers(opts: HubOptions, extra: Record<string, string> = {}): Record<string, string> {
  const token = opts.token ?? env('HF_TOKEN');
  return token ? { authorization: `Bearer ${token}`, ...extra } : extra;
}

function checkFileName(h: HubId, file: string): void {
  if (!file || file.split('/').some((p) => !SEGMENT.test(p))) {
    throw new PromptkilnError('ARGUMENT', `"${file}" is not a file name inside ${formatHubId(h)}`, { file });
  }
}

// ---------------------------------------------------------------------------------------------
// Storage: disk (Node) or Cache API (browser)

// A complete cached file: its size and ETag known, its bytes read only when asked for.
interface Cached {
  size: number;
  etag: string | null;
  bytes(): Promise<Uint8Array>; // the whole file (small files: config, tokenizer)
  source(name: string): Promise<ByteSource>; // random access (weights, any size)
}

// The Cache API hands back whole ArrayBuffers; browsers cap those near 2 GiB.
export const BROWSER_MAX_BYTES = 2 ** 31 - 1;
// Node's fs.readFile refuses files over 2 GiB (kIoMaxLength)
const READ_WHOLE_MAX = 2 ** 31 - 1;

interface Store {
  get(h: HubId, file: string, rev: string): Promise<Cached | null>;
  download(h: HubId, file: string, rev: string, opts: HubOptions): Promise<Cached>;
  getListing(h: HubId, rev: string): Promise<HubListing[] | null>;
  putListing(h: HubId, rev: string, l: HubListing[]): Promise<void>;
}

const isNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';

async function defaultCacheDir(): Promise<string> {
  const explicit = env('PROMPTKILN_CACHE');
  if (explicit) return explicit;
  const os = await import('node:os');
  const path = await import('node:path');
  return path.join(os.homedir(), '.cache', 'promptkiln', 'hub');
}

function hubError(h: HubId, file: string, msg: string, cause?: unknown): PromptkilnError {
  return new PromptkilnError('HUB', `${formatHubId(h)}: ${file}: ${msg}`, { repo: h.repo, file }, cause === undefined ? undefined : { cause });
}

// One GET, following redirects; network failures become HUB errors marked retryable.
class Retryable extends Error {}

async function request(url: string, init: RequestInit, opts: HubOptions): Promise<Response> {
  const f = opts.fetch ?? fetch;
  try {
    return await f(url, { ...init, signal: opts.signal, redirect: 'follow' });
  } catch (e) {
    throwIfAborted(opts.signal, 'hub download');
    throw new Retryable(`network error: ${(e as Error).message}`, { cause: e });
  }
}

// total size of the file from a response to a (ranged) GET or HEAD
function totalSize(res: Response): number | null {
  const cr = res.headers.get('content-range');
  const m = cr ? /\/(\d+)\s*$/.exec(cr) : null;
  if (m) return Number(m[1]);
  const linked = res.headers.get('x-linked-size');
  if (linked && /^\d+$/.test(linked)) return Number(linked);
  const cl = res.headers.get('content-length');
  return res.status === 200 && cl && /^\d+$/.test(cl) ? Number(cl) : null;
}

function etagOf(res: Response): string | null {
  return res.headers.get('x-linked-etag') ?? res.headers.get('etag');
}

class DiskStore implements Store {
  constructor(private root: string) {}
  private async paths(h: HubId, file: string, rev: string) {
    const path = await import('node:path');
    const full = path.join(this.root, ...h.repo.split('/'), encodeURIComponent(rev), ...repoPath(h, file).split('/'));
    return { full, part: full + '.part', meta: full + '.meta.json', dir: path.dirname(full) };
  }
  async get(h: HubId, file: string, rev: string): Promise<Cached | null> {
    const fs = await import('node:fs/promises');
    const p = await this.paths(h, file, rev);
    let size: number;
    try {
      const st = await fs.stat(p.full);
      if (!st.isFile()) return null;
      size = st.size;
    } catch {
      return null;
    }
    let etag: string | null = null;
    try {
      etag = (JSON.parse(await fs.readFile(p.meta, 'utf8')) as { etag?: string }).etag ?? null;
    } catch {
      /* no meta: still a complete file (it was renamed from .part only after verification) */
    }
    return {
      size,
      etag,
      bytes: async () => {
        if (size > READ_WHOLE_MAX) throw hubError(h, file, `${size} bytes is too large to read whole; weights are read in ranges (hubFileSource)`);
        return new Uint8Array(await fs.readFile(p.full));
      },
      source: () => nodeFileSource(p.full),
    };
  }
  async download(h: HubId, file: string, rev: string, opts: HubOptions): Promise<Cached> {
    const fs = await import('node:fs/promises');
    const p = await this.paths(h, file, rev);
    await fs.mkdir(p.dir, { recursive: true });
    const url = hubFileUrl(h, file, { ...opts, revision: rev });
    const retries = opts.retries ?? 3;
    let lastErr: unknown;
    for (let attempt = 0; attempt <= retries; attempt++) {
      throwIfAborted(opts.signal, 'hub download');
      let have = 0;
      try {
        have = (await fs.stat(p.part)).size;
      } catch {
        have = 0;
      }
      try {
        const res = await request(url, { headers: headers(opts, have > 0 ? { range: `bytes=${have}-` } : {}) }, opts);
        if (res.status === 404) throw hubError(h, file, `not found (404 at ${url})`);
        if (res.status === 401 || res.status === 403) throw hubError(h, file, `access denied (${res.status}); set HF_TOKEN for gated or private repos`);
        if (res.status === 416) {
          // the .part is not a prefix the server can continue: start over
          await fs.rm(p.part, { force: true });
          lastErr = hubError(h, file, 'server refused to resume (416)');
          continue;
        }
        if (res.status >= 500) throw new Retryable(`server error ${res.status}`);
        if (res.status !== 200 && res.status !== 206) throw hubError(h, file, `unexpected HTTP ${res.status} from ${url}`);
        if (res.status === 200 && have > 0) {
          await fs.rm(p.part, { force: true }); // the server ignored Range: it sends everything
          have = 0;
        }
        const total = totalSize(res);
        const fh = await fs.open(p.part, 'a');
        let loaded = have;
        try {
          if (res.body) {
            const reader = res.body.getReader();
            for (;;) {
              let chunk: ReadableStreamReadResult<Uint8Array>;
              try {
                chunk = await reader.read();
              } catch (e) {
                throwIfAborted(opts.signal, 'hub download');
                throw new Retryable(`connection dropped after ${loaded} bytes: ${(e as Error).message}`, { cause: e });
              }
              if (chunk.done) break;
              await fh.write(chunk.value);
              loaded += chunk.value.length;
              opts.onProgress?.({ file, loaded, total });
            }
          }
        } finally {
          await fh.close();
        }
        if (total !== null && loaded < total) throw new Retryable(`connection closed at ${loaded} of ${total} bytes`);
        if (total !== null && loaded > total) {
          await fs.rm(p.part, { force: true });
          throw hubError(h, file, `received ${loaded} bytes, the server announced ${total}`);
        }
        await fs.rename(p.part, p.full);
        await fs.writeFile(p.meta, JSON.stringify({ etag: etagOf(res), size: loaded, url }));
        const done = await this.get(h, file, rev);
        if (!done) throw hubError(h, file, `the cached copy vanished right after download (${p.full})`);
        return done;
      } catch (e) {
        if (!(e instanceof Retryable)) throw e;
        lastErr = e;
      }
    }
    throw hubError(h, file, `download failed after ${retries + 1} attempts (${(lastErr as Error).message})`, lastErr);
  }
  async getListing(h: HubId, rev: string) {
    const fs = await import('node:fs/promises');
    const p = await this.paths(h, '.promptkiln-tree.json', rev);
    try {
      return JSON.parse(await fs.readFile(p.full, 'utf8')) as HubListing[];
    } catch {
      // no saved listing: the files already in the cache folder are the listing
      try {
        const names = await fs.readdir(p.dir, { withFileTypes: true });
        const files = names.filter((d) => d.isFile() && !d.name.endsWith('.part') && !d.name.endsWith('.meta.json'));
        return files.length ? files.map((d) => ({ path: d.name, size: null })) : null;
      } catch {
        return null;
      }
    }
  }
  async putListing(h: HubId, rev: string, l: HubListing[]) {
    const fs = await import('node:fs/promises');
    const p = await this.paths(h, '.promptkiln-tree.json', rev);
    await fs.mkdir(p.dir, { recursive: true });
    await fs.writeFile(p.full, JSON.stringify(l));
  }
}

class BrowserStore implements Store {
  private cache(): Promise<Cache> {
    return caches.open('promptkiln-hub');
  }
  // keyed by repo/revision/path, not by endpoint: a mirror serves the same bytes
  private key(h: HubId, file: string, rev: string): string {
    return `https://promptkiln.invalid/${h.repo}/${encodeURIComponent(rev)}/${repoPath(h, file)}`;
  }
  async get(h: HubId, file: string, rev: string): Promise<Cached | null> {
    const res = await (await this.cache()).match(this.key(h, file, rev));
    return res ? inMemory(new Uint8Array(await res.arrayBuffer()), etagOf(res)) : null;
  }
  async download(h: HubId, file: string, rev: string, opts: HubOptions): Promise<Cached> {
    const url = hubFileUrl(h, file, { ...opts, revision: rev });
    let res: Response;
    try {
      res = await request(url, { headers: headers(opts) }, opts);
    } catch (e) {
      if (e instanceof Retryable) throw hubError(h, file, `network error, download failed after 1 attempts (${e.message})`, e);
      throw e;
    }
    if (res.status === 404) throw hubError(h, file, `not found (404 at ${url})`);
    if (!res.ok) throw hubError(h, file, `HTTP ${res.status} from ${url}`);
    const total = totalSize(res);
    if (total !== null && total > BROWSER_MAX_BYTES) {
      await res.body?.cancel();
      throw hubError(h, file, `${total} bytes is more than the browser cache can hold whole (${BROWSER_MAX_BYTES} bytes); load it from a File / Blob or an http(s) URL with range reads instead`);
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (total !== null && bytes.length !== total) throw hubError(h, file, `received ${bytes.length} bytes, the server announced ${total}`);
    const etag = etagOf(res);
    await (await this.cache()).put(this.key(h, file, rev), new Response(bytes, { headers: etag ? { etag } : {} }));
    return inMemory(bytes, etag);
  }
  async getListing(h: HubId, rev: string) {
    const r = await this.get(h, '.promptkiln-tree.json', rev);
    return r ? (JSON.parse(new TextDecoder().decode(await r.bytes())) as HubListing[]) : null;
  }
  async putListing(h: HubId, rev: string, l: HubListing[]) {
    await (await this.cache()).put(this.key(h, '.promptkiln-tree.json', rev), new Response(JSON.stringify(l)));
  }
}

function inMemory(bytes: Uint8Array, etag: string | null): Cached {
  return { size: bytes.byteLength, etag, bytes: async () => bytes, source: async (name) => bytesSource(bytes, name) };
}

async function storeFor(opts: HubOptions): Promise<Store> {
  if (isNode) return new DiskStore(opts.cacheDir ?? (await defaultCacheDir()));
  if (typeof caches !== 'undefined') return new BrowserStore();
  throw new PromptkilnError('HUB', 'no cache available: neither a filesystem (Node) nor the Cache API');
}

// ---------------------------------------------------------------------------------------------

// One file (relative to the id's subfolder) through the cache: downloaded, revalidated or offline.
async function cachedFile(id: HubId | string, file: string, opts: HubOptions): Promise<Cached> {
  const h = typeof id === 'string' ? parseHubId(id) : id;
  checkFileName(h, file);
  const rev = revisionOf(h, opts);
  const store = await storeFor(opts);
  const cached = await store.get(h, file, rev);
  if (isOffline(opts)) {
    if (cached) return cached;
    throw hubError(h, file, 'offline (HF_HUB_OFFLINE) and not in the cache');
  }
  if (cached) {
    if (/^[0-9a-f]{40}$/.test(rev)) return cached; // a commit never changes
    // a branch may have moved: one HEAD to compare; an unreachable hub means "use the cache"
    let res: Response;
    try {
      res = await request(hubFileUrl(h, file, { ...opts, revision: rev }), { method: 'HEAD', headers: headers(opts) }, opts);
    } catch (e) {
      if (e instanceof Retryable) return cached;
      throw e;
    }
    if (res.status === 404) throw hubError(h, file, 'not found (404); the cached copy belongs to an older state of the revision');
    if (!res.ok) return cached;
    const size = totalSize(res);
    const etag = etagOf(res);
    const same = (size === null || size === cached.size) && (etag === null || cached.etag === null || etag === cached.etag);
    if (same) return cached;
  }
  try {
    return await store.download(h, file, rev, opts);
  } catch (e) {
    // the network failed while a (possibly stale) copy exists: better stale than nothing
    if (cached && e instanceof PromptkilnError && e.code === 'HUB' && /network|attempts/.test(e.message)) return cached;
    throw e;
  }
}

// a missing file (404, or absent from the cache when offline) gives null
async function orNull<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof PromptkilnError && e.code === 'HUB' && /404|not in the cache/.test(e.message)) return null;
    throw e;
  }
}

// The whole file's bytes (config, tokenizer). 404 → HUB error.
export async function hubFile(id: HubId | string, file: string, opts: HubOptions = {}): Promise<Uint8Array> {
  return (await cachedFile(id, file, opts)).bytes();
}

// Like hubFile, but a missing file gives null.
export async function hubFileIfExists(id: HubId | string, file: string, opts: HubOptions = {}): Promise<Uint8Array | null> {
  return orNull(hubFile(id, file, opts));
}

// Random access to a file (weights of any size): on Node, range reads of the cached file. The
// caller closes it. A missing file gives null.
export async function hubFileSourceIfExists(id: HubId | string, file: string, opts: HubOptions = {}): Promise<ByteSource | null> {
  const h = typeof id === 'string' ? parseHubId(id) : id;
  const c = await orNull(cachedFile(h, file, opts));
  return c && c.source(`${formatHubId({ ...h, revision: revisionOf(h, opts) })}/${file}`);
}

// The files of the id's subfolder (not recursive), from the tree API or, offline / when the API
// does not answer, from the cache. null when neither knows.
export async function hubListFiles(id: HubId | string, opts: HubOptions = {}): Promise<HubListing[] | null> {
  const h = typeof id === 'string' ? parseHubId(id) : id;
  const rev = revisionOf(h, opts);
  const store = await storeFor(opts);
  if (!isOffline(opts)) {
    const url = `${endpointOf(opts)}/api/models/${h.repo}/tree/${encodeURIComponent(rev)}${h.subfolder ? '/' + h.subfolder.split('/').map(encodeURIComponent).join('/') : ''}`;
    try {
      const res = await request(url, { headers: headers(opts) }, opts);
      if (res.ok) {
        const j = (await res.json()) as unknown;
        if (Array.isArray(j)) {
          const prefix = h.subfolder ? h.subfolder + '/' : '';
          const listing: HubListing[] = [];
          for (const e of j as { type?: unknown; path?: unknown; size?: unknown }[]) {
            if (e?.type !== 'file' || typeof e.path !== 'string' || !e.path.startsWith(prefix)) continue;
            const rel = e.path.slice(prefix.length);
            if (rel.includes('/')) continue;
            listing.push({ path: rel, size: typeof e.size === 'number' ? e.size : null });
          }
          await store.putListing(h, rev, listing);
          return listing;
        }
      }
      // any other answer (404 from a mirror without the API, HTML, …): fall back below
    } catch (e) {
      if (!(e instanceof Retryable) && !(e instanceof SyntaxError)) throw e;
    }
  }
  return store.getListing(h, rev);
}
