// Random-access bytes of one checkpoint file: a Node file (any size: Node's readFile stops at
// 2 GiB), a Blob / File (browser uploads, OPFS), an HTTP URL read with Range requests, or bytes
// already in memory. Loaders read a header, then each tensor in ranges, so no full-size copy of a
// file ever exists in JS memory.
import { PromptkilnError } from '../errors.js';
import { nodeFs } from '../util/files.js';

export interface ByteSource {
  readonly name: string; // for messages
  readonly size: number; // bytes
  // exactly `length` bytes from `offset` (a CHECKPOINT error when the file ends first)
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

function checkRange(src: { name: string; size: number }, offset: number, length: number): void {
  if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0)) {
    throw new PromptkilnError('ARGUMENT', `${src.name}: bad byte range offset ${offset} length ${length}`);
  }
  if (offset + length > src.size) {
    throw new PromptkilnError('CHECKPOINT', `${src.name}: bytes [${offset}, ${offset + length}) run past the end of the file (${src.size} bytes): truncated?`, { file: src.name, size: src.size });
  }
}

export function bytesSource(bytes: Uint8Array, name = 'memory'): ByteSource {
  return {
    name,
    size: bytes.byteLength,
    async read(offset, length) {
      checkRange({ name, size: bytes.byteLength }, offset, length);
      return bytes.subarray(offset, offset + length);
    },
    async close() {},
  };
}

// A Node file through one open handle and positional reads (positions past 2³¹ are fine).
export async function nodeFileSource(file: string): Promise<ByteSource> {
  const { fs } = await nodeFs();
  const fh = await fs.open(file, 'r');
  const size = (await fh.stat()).size;
  return {
    name: file,
    size,
    async read(offset, length) {
      checkRange({ name: file, size }, offset, length);
      const out = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(out, got, length - got, offset + got);
        if (bytesRead === 0) {
          throw new PromptkilnError('CHECKPOINT', `${file}: the file ended at byte ${offset + got} while reading [${offset}, ${offset + length}) (it shrank while open?)`, { file });
        }
        got += bytesRead;
      }
      return out;
    },
    close: () => fh.close(),
  };
}

// A Blob or File (browser): Blob.slice reads only the range asked for.
export function blobSource(blob: Blob, name = (blob as { name?: string }).name ?? 'blob'): ByteSource {
  return {
    name,
    size: blob.size,
    async read(offset, length) {
      checkRange({ name, size: blob.size }, offset, length);
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
    async close() {},
  };
}

// An HTTP(S) file read with Range requests. The size comes from the first range's Content-Range;
// a server that ignores Range (answers 200) is refused rather than downloading the whole file.
export async function httpSource(url: string, opts: { fetch?: typeof fetch; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<ByteSource> {
  const f = opts.fetch ?? fetch;
  const get = async (a: number, b: number): Promise<Response> => {
    let res: Response;
    try {
      res = await f(url, { headers: { ...opts.headers, Range: `bytes=${a}-${b}` }, signal: opts.signal });
    } catch (e) {
      throw new PromptkilnError('NETWORK', `${url}: range request failed (${(e as Error).message})`, { url }, { cause: e });
    }
    if (res.status !== 206) {
      await res.body?.cancel();
      throw new PromptkilnError('NETWORK', `${url}: asked for bytes ${a}-${b}, got HTTP ${res.status}${res.status === 200 ? ' (the server ignores Range requests)' : ''}`, { url, status: res.status });
    }
    return res;
  };
  const first = await get(0, 0);
  const m = /\/(\d+)$/.exec(first.headers.get('content-range') ?? '');
  await first.arrayBuffer();
  if (!m) throw new PromptkilnError('NETWORK', `${url}: the 206 answer has no Content-Range total`, { url });
  const size = Number(m[1]);
  return {
    name: url,
    size,
    async read(offset, length) {
      checkRange({ name: url, size }, offset, length);
      if (length === 0) return new Uint8Array(0);
      const bytes = new Uint8Array(await (await get(offset, offset + length - 1)).arrayBuffer());
      if (bytes.byteLength !== length) {
        throw new PromptkilnError('NETWORK', `${url}: asked for ${length} bytes at ${offset}, got ${bytes.byteLength}`, { url });
      }
      return bytes;
    },
    async close() {},
  };
}
