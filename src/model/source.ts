// loadCheckpoint: a folder, a .bin file, a hub id, or in-memory files → Checkpoint.
//
// Recognition works on a set of files, wherever they live:
//   - `config.json` present → a Hugging Face folder: config.json (+ generation_config.json) +
//     model.safetensors (or model.safetensors.index.json and its shards) + tokenizer.json /
//     tokenizer_config.json / chat_template.jinja.
//   - otherwise llama2.c: the checkpoint is the `.bin` whose header parses as a llama2.c config
//     and whose size matches it (tried in order: `<folder name>.bin`, other non-`tok*` .bin files
//     largest first, then `tok*` ones); the tokenizer is `tok<vocab>.bin` (llama2.c's naming, e.g.
//     tok512.bin), else `tokenizer.bin`, else any other `tok*.bin` that parses with the vocab size.
// Hub ids list their files with the tree API (or the cache when offline); when neither answers,
// the client probes: config.json, then `<subfolder>.bin` / `model.bin` and the tokenizer names.
// `opts.files` replaces the listing. A checkpoint without a tokenizer loads with tokenizer: null.

import { PromptkilnError } from '../errors.js';
import { nodeFs } from '../util/files.js';
import { blobSource, bytesSource, httpSource, nodeFileSource, type ByteSource } from './byte-source.js';
import { checkRunnable, hfTensors, type RefMap } from './hf-checkpoint.js';
import { hfConfig } from './hf-config.js';
import { parseGenerationConfig, withGenerationConfig } from './generation-config.js';
import { formatHubId, hubFileIfExists, hubFileSourceIfExists, hubListFiles, looksLikeHubId, parseHubId, type HubOptions } from './hub.js';
import { parseLlama2c, probeLlama2c } from './llama2c.js';
import { parseSafetensorsIndex, readSafetensorsLayout } from './safetensors.js';
import { loadHfTokenizer } from './tokenizer-hf.js';
import { parseLlama2cTokenizer } from './tokenizer-llama2c.js';
import type { Checkpoint, TensorMap, Tokenizer } from './types.js';
import { WeightRef } from './weight-ref.js';

export interface LoadCheckpointOptions extends HubOptions {
  // file names (relative to the folder / hub subfolder) to use instead of a listing
  files?: string[];
  // load the tokenizer (default true)
  tokenizer?: boolean;
  // leave safetensors weights in their files (Checkpoint.lazy) for Model.fromCheckpoint to read
  // straight into the kernel heap; `tensors` stays empty. loadModel does this; the default reads
  // every tensor into f32 arrays (what ONNX export and tests work on).
  lazy?: boolean;
}

// A path, a hub id, an http(s) folder URL (files fetched, weights read with Range requests), or
// files in memory: bytes, or Blobs / Files (a browser's file picker), whose weights are read with
// Blob.slice, never whole.
export type CheckpointSource = string | { files: Record<string, Uint8Array | Blob>; name?: string };

interface FileEntry {
  name: string;
  size: number | null;
}

// Where the files come from: a local folder, the hub, or memory.
interface FileSet {
  label: string; // for messages
  folderName: string; // last path segment, for `<folder>.bin`
  list(): Promise<FileEntry[] | null>;
  read(name: string): Promise<Uint8Array | null>; // null: no such file
  // random access to a weights file, for files of any size; null: no such file
  open(name: string): Promise<ByteSource | null>;
  // first `n` bytes and the total size, when cheaper than read() (local files)
  head?(name: string, n: number): Promise<{ head: Uint8Array; size: number } | null>;
}

const TEXT = new TextDecoder();

async function localFileSet(dir: string): Promise<FileSet> {
  const { fs, path } = await nodeFs();
  return {
    label: dir,
    folderName: path.basename(path.resolve(dir)),
    async list() {
      const out: FileEntry[] = [];
      for (const d of await fs.readdir(dir, { withFileTypes: true })) {
        // symlinks count when they point at a file: Hugging Face's cache snapshots are all links
        if (!d.isFile() && !d.isSymbolicLink()) continue;
        const st = await fs.stat(path.join(dir, d.name)).catch(() => null);
        if (st?.isFile()) out.push({ name: d.name, size: st.size });
      }
      return out;
    },
    async read(name) {
      try {
        return new Uint8Array(await fs.readFile(path.join(dir, name)));
      } catch (e) {
        if ((e as { code?: string }).code === 'ENOENT') return null;
        throw new PromptkilnError('CHECKPOINT', `${path.join(dir, name)}: cannot read (${(e as Error).message})`, { file: name });
      }
    },
    async open(name) {
      try {
        return await nodeFileSource(path.join(dir, name));
      } catch (e) {
        if ((e as { code?: string }).code === 'ENOENT') return null;
        throw new PromptkilnError('CHECKPOINT', `${path.join(dir, name)}: cannot open (${(e as Error).message})`, { file: name });
      }
    },
    async head(name, n) {
      let fh;
      try {
        fh = await fs.open(path.join(dir, name), 'r');
      } catch {
        return null;
      }
      try {
        const size = (await fh.stat()).size;
        const buf = new Uint8Array(Math.min(n, size));
        await fh.read(buf, 0, buf.length, 0);
        return { head: buf, size };
      } finally {
        await fh.close();
      }
    },
  };
}

function memoryFileSet(files: Record<string, Uint8Array | Blob>, name: string): FileSet {
  const size = (b: Uint8Array | Blob) => (b instanceof Uint8Array ? b.byteLength : b.size);
  return {
    label: name,
    folderName: name,
    list: async () => Object.entries(files).map(([n, b]) => ({ name: n, size: size(b) })),
    async read(n) {
      const b = files[n];
      return b === undefined ? null : b instanceof Uint8Array ? b : new Uint8Array(await b.arrayBuffer());
    },
    async open(n) {
      const b = files[n];
      return b === undefined ? null : b instanceof Uint8Array ? bytesSource(b, `${name}/${n}`) : blobSource(b, `${name}/${n}`);
    },
  };
}

// A folder served over HTTP(S): small files fetched whole, weights read in ranges.
function httpFileSet(base: string, opts: LoadCheckpointOptions): FileSet {
  const root = base.endsWith('/') ? base : base + '/';
  const f = opts.fetch ?? fetch;
  const url = (n: string) => new URL(n, root).href;
  return {
    label: root,
    folderName: root.replace(/\/+$/, '').split('/').pop() ?? 'model',
    list: async () => null,
    async read(n) {
      let res: Response;
      try {
        res = await f(url(n), { signal: opts.signal });
      } catch (e) {
        throw new PromptkilnError('NETWORK', `${url(n)}: request failed (${(e as Error).message})`, { url: url(n) }, { cause: e });
      }
      if (res.status === 404) {
        await res.body?.cancel();
        return null;
      }
      if (!res.ok) throw new PromptkilnError('NETWORK', `${url(n)}: HTTP ${res.status}`, { url: url(n), status: res.status });
      return new Uint8Array(await res.arrayBuffer());
    },
    async open(n) {
      try {
        return await httpSource(url(n), { fetch: f, signal: opts.signal });
      } catch (e) {
        if ((e as PromptkilnError).details?.status === 404) return null;
        throw e;
      }
    },
  };
}

function hubFileSet(id: string, opts: LoadCheckpointOptions): FileSet {
  const h = parseHubId(id);
  return {
    label: formatHubId({ ...h, revision: opts.revision ?? h.revision }),
    folderName: (h.subfolder || h.repo).split('/').pop()!,
    async list() {
      const l = await hubListFiles(h, opts);
      return l && l.map((e) => ({ name: e.path, size: e.size }));
    },
    read: (n) => hubFileIfExists(h, n, opts),
    // the hub client streams files into its disk cache: ranges come from that copy
    open: (n) => hubFileSourceIfExists(h, n, opts),
  };
}

async function readRequired(fs: FileSet, name: string): Promise<Uint8Array> {
  const b = await fs.read(name);
  if (!b) throw new PromptkilnError('CHECKPOINT', `${fs.label}: ${name} is missing`, { file: name });
  return b;
}

// The safetensors files of an HF folder, opened: each header read and checked against its file's
// size; tensor bytes are read later (WeightRef). `close` releases the files.
async function openWeights(fs: FileSet, has: (n: string) => boolean): Promise<{ raw: RefMap; file: string; bytes: number; close: () => Promise<void> }> {
  const raw: RefMap = new Map();
  const sources: ByteSource[] = [];
  const close = async () => { for (const s of sources.splice(0)) await s.close(); };
  let bytes = 0;
  const addFile = async (src: ByteSource) => {
    sources.push(src);
    bytes += src.size;
    for (const [k, r] of (await readSafetensorsLayout(src)).tensors) raw.set(k, WeightRef.inFile(src, r, k));
  };
  try {
    const single = has('model.safetensors') ? await fs.open('model.safetensors') : null;
    if (single) {
      await addFile(single);
      return { raw, file: 'model.safetensors', bytes, close };
    }
    const file = 'model.safetensors.index.json';
    const idx = has(file) ? await fs.read(file) : null;
    if (!idx) throw new PromptkilnError('CHECKPOINT', `${fs.label}: neither model.safetensors nor model.safetensors.index.json is there`, { file: 'model.safetensors' });
    const map = parseSafetensorsIndex(TEXT.decode(idx), `${fs.label}/${file}`);
    for (const shard of new Set(map.values())) {
      const src = await fs.open(shard);
      if (!src) throw new PromptkilnError('CHECKPOINT', `${fs.label}: ${shard} is missing`, { file: shard });
      await addFile(src);
    }
    for (const [k, shard] of map) {
      if (!raw.has(k)) throw new PromptkilnError('CHECKPOINT', `${fs.label}/${shard}: tensor "${k}" listed in ${file} is not in the shard`, { file: shard, tensor: k });
    }
    return { raw, file, bytes, close };
  } catch (e) {
    await close();
    throw e;
  }
}

async function loadHf(fs: FileSet, names: Set<string> | null, opts: LoadCheckpointOptions): Promise<Omit<Checkpoint, 'source' | 'id'> & { bytes: number }> {
  const has = (n: string) => names === null || names.has(n);
  let config = hfConfig(TEXT.decode(await readRequired(fs, 'config.json')), `${fs.label}/config.json`);
  checkRunnable(config, `${fs.label}/config.json`);
  const gen = has('generation_config.json') ? await fs.read('generation_config.json') : null;
  if (gen) config = withGenerationConfig(config, parseGenerationConfig(TEXT.decode(gen), `${fs.label}/generation_config.json`));
  const w = await openWeights(fs, has);
  let keep = false;
  try {
    const refs = hfTensors(config, w.raw, `${fs.label}/${w.file}`);
    const tensors: TensorMap = new Map();
    if (!opts.lazy) for (const [k, r] of refs) tensors.set(k, await r.f32());
    let tokenizer: Tokenizer | null = null;
    let chatTemplate: string | null = null;
    if (opts.tokenizer !== false && has('tokenizer.json')) {
      const tj = await fs.read('tokenizer.json');
      if (tj) {
        const tc = has('tokenizer_config.json') ? await fs.read('tokenizer_config.json') : null;
        const t = loadHfTokenizer(TEXT.decode(tj), tc && TEXT.decode(tc), { file: `${fs.label}/tokenizer.json`, bosId: config.bosId, eosId: config.eosId });
        if (t.vocabSize > config.vocabSize) {
          throw new PromptkilnError('TOKENIZER', `${fs.label}/tokenizer.json: ids reach ${t.vocabSize - 1}, beyond config.json vocab_size ${config.vocabSize}`, { file: 'tokenizer.json', key: 'vocab_size', value: t.vocabSize });
        }
        tokenizer = t;
        chatTemplate = t.chatTemplate;
      }
    }
    // transformers v5 saves the chat template beside tokenizer_config.json, and prefers it
    const jinja = opts.tokenizer !== false && has('chat_template.jinja') ? await fs.read('chat_template.jinja') : null;
    if (jinja) chatTemplate = TEXT.decode(jinja);
    keep = !!opts.lazy;
    return { config, tensors, lazy: opts.lazy ? { refs, close: w.close } : undefined, tokenizer, chatTemplate, bytes: w.bytes };
  } finally {
    if (!keep) await w.close();
  }
}

const TOK = /^tok.*\.bin$/;

async function loadLlama2c(fs: FileSet, entries: FileEntry[] | null, fixedBin: string | null, opts: LoadCheckpointOptions) {
  let candidates: string[];
  if (fixedBin) candidates = [fixedBin];
  else if (entries) {
    const bins = entries.filter((e) => e.name.endsWith('.bin'));
    const rank = (e: FileEntry) => (e.name === `${fs.folderName}.bin` ? 0 : TOK.test(e.name) ? 2 : 1);
    candidates = bins.sort((a, b) => rank(a) - rank(b) || (b.size ?? 0) - (a.size ?? 0)).map((e) => e.name);
  } else candidates = [`${fs.folderName}.bin`, 'model.bin'];
  const tried: string[] = [];
  let found: { name: string; bytes: Uint8Array } | null = null;
  for (const name of candidates) {
    if (fs.head && !fixedBin) {
      const h = await fs.head(name, 256);
      if (!h) continue;
      if (!probeLlama2c(h.head, h.size)) {
        tried.push(name);
        continue;
      }
    }
    const bytes = await fs.read(name);
    if (!bytes) continue;
    if (!fixedBin && !probeLlama2c(bytes.subarray(0, 256), bytes.byteLength)) {
      tried.push(name);
      continue;
    }
    found = { name, bytes };
    break;
  }
  if (!found) {
    throw new PromptkilnError(
      'CHECKPOINT',
      `${fs.label}: no config.json and no llama2.c checkpoint (${tried.length ? `no header matched its size in: ${tried.join(', ')}` : `looked for ${candidates.join(', ') || 'a .bin file'}`})`,
      { file: fs.label },
    );
  }
  const { config, tensors } = parseLlama2c(found.bytes, `${fs.label}/${found.name}`);
  let tokenizer: Tokenizer | null = null;
  if (opts.tokenizer !== false) {
    // tok<V>.bin and tokenizer.bin must parse if present; other tok*.bin may belong to other models
    const strict = [`tok${config.vocabSize}.bin`, 'tokenizer.bin'];
    const loose = entries ? entries.map((e) => e.name).filter((n) => TOK.test(n) && !strict.includes(n) && n !== found!.name) : [];
    const names = entries ? new Set(entries.map((e) => e.name)) : null;
    for (const name of [...strict, ...loose]) {
      if (names && !names.has(name)) continue;
      const b = await fs.read(name);
      if (!b) continue;
      try {
        tokenizer = parseLlama2cTokenizer(b, config.vocabSize, `${fs.label}/${name}`);
        break;
      } catch (e) {
        if (strict.includes(name)) throw e;
      }
    }
  }
  return { config, tensors, tokenizer, name: found.name, size: found.bytes.byteLength };
}

async function fromFileSet(fs: FileSet, opts: LoadCheckpointOptions, fixedBin: string | null): Promise<Omit<Checkpoint, 'source'>> {
  let entries = opts.files ? opts.files.map((name) => ({ name, size: null })) : fixedBin ? null : await fs.list();
  const names = entries && new Set(entries.map((e) => e.name));
  const isHf = fixedBin ? false : names ? names.has('config.json') : (await fs.read('config.json')) !== null;
  if (isHf) {
    const r = await loadHf(fs, names, opts);
    return { config: r.config, tensors: r.tensors, lazy: r.lazy, tokenizer: r.tokenizer, chatTemplate: r.chatTemplate, id: `${fs.folderName}:${r.bytes}` };
  }
  if (fixedBin && !opts.files) entries = await fs.list();
  const r = await loadLlama2c(fs, entries, fixedBin, opts);
  return { config: r.config, tensors: r.tensors, tokenizer: r.tokenizer, chatTemplate: null, id: `${r.name}:${r.size}` };
}

// Load a checkpoint from a folder, a llama2.c .bin file, a hub id (`owner/name[/sub][@rev]`,
// used when the string is not an existing path), or in-memory files.
export async function loadCheckpoint(source: CheckpointSource, opts: LoadCheckpointOptions = {}): Promise<Checkpoint> {
  if (typeof source !== 'string') {
    const name = source.name ?? 'memory';
    return { ...(await fromFileSet(memoryFileSet(source.files, name), opts, null)), source: 'memory' };
  }
  const isNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
  if (isNode) {
    const { fs: fsp, path } = await nodeFs();
    const st = await fsp.stat(source).catch(() => null);
    if (st?.isDirectory()) return { ...(await fromFileSet(await localFileSet(source), opts, null)), source };
    if (st?.isFile()) {
      const fs = await localFileSet(path.dirname(source));
      const base = path.basename(source);
      if (base.endsWith('.safetensors') || base === 'config.json') return { ...(await fromFileSet(fs, opts, null)), source };
      return { ...(await fromFileSet(fs, opts, base)), source };
    }
  }
  if (/^https?:\/\//.test(source)) return { ...(await fromFileSet(httpFileSet(source, opts), opts, null)), source };
  if (looksLikeHubId(source)) {
    const fs = hubFileSet(source, opts);
    const ck = await fromFileSet(fs, opts, null);
    return { ...ck, id: fs.label, source };
  }
  throw new PromptkilnError('ARGUMENT', `"${source}" is neither an existing file or folder nor a hub id (owner/name[/subfolder][@revision])`, { source });
}
