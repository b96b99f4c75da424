// Choosing, fetching and instantiating a kernel module build (relaxed, simd, portable).
import { PromptkilnError } from '../errors.js';
import { ABI_VERSION, type KernelExports } from './exports.js';
import { hasRelaxedSimd, hasSimd, isNode } from './features.js';

export type BuildName = 'relaxed' | 'simd' | 'portable';

export interface InitOptions {
  // Which build to use; default: the best the engine validates (relaxed > simd > portable).
  build?: BuildName;
  // A precompiled module (bundlers, Workers that forbid compiling from bytes), or the bytes, or a URL.
  module?: WebAssembly.Module;
  bytes?: BufferSource;
  url?: string | URL;
  // Cap on the module's memory in bytes (default: the 4 GiB wasm32 limit).
  maxMemoryBytes?: number;
  // Threads for GEMM and attention (the threads build over a shared memory, see threads.ts).
  // Default 1. Where SharedArrayBuffer is unavailable it falls back to one thread and says so
  // once (a page that is not cross-origin isolated), through onWarning or else console.warn.
  threads?: number;
  onWarning?: (message: string) => void;
}

export const BUILD_FILES: Record<BuildName, string> = {
  relaxed: 'promptkiln.relaxed.wasm',
  simd: 'promptkiln.simd.wasm',
  portable: 'promptkiln.portable.wasm',
};

export async function pickBuild(): Promise<BuildName> {
  if (await hasRelaxedSimd()) return 'relaxed';
  if (hasSimd()) return 'simd';
  return 'portable';
}

// Where the .wasm files sit: beside dist/ in the package (dist/../wasm), or two levels up when
// running from src/ (tests).
function candidateUrls(file: string): URL[] {
  const here = import.meta.url;
  return [new URL(`../wasm/${file}`, here), new URL(`../../wasm/${file}`, here)];
}

async function readBytes(url: URL): Promise<Uint8Array> {
  if (url.protocol === 'file:' && isNode()) {
    const fs = await import(/* @vite-ignore */ 'node:fs/promises' as string);
    const { fileURLToPath } = await import(/* @vite-ignore */ 'node:url' as string);
    return new Uint8Array(await fs.readFile(fileURLToPath(url)));
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`HTTP ${res.status} for ${url}`);
  return new Uint8Array(await res.arrayBuffer());
}

export async function compileBuild(build: BuildName, opts: InitOptions = {}): Promise<WebAssembly.Module> {
  return compileFile(BUILD_FILES[build], build, opts);
}

// Compile one of the wasm files (`what` names it in errors): opts.module / bytes / url win.
export async function compileFile(file: string, what: string, opts: InitOptions = {}): Promise<WebAssembly.Module> {
  if (opts.module) return opts.module;
  if (opts.bytes) return WebAssembly.compile(opts.bytes);
  const urls = opts.url ? [new URL(opts.url, import.meta.url)] : candidateUrls(file);
  const errors: string[] = [];
  for (const u of urls) {
    try {
      return await WebAssembly.compile((await readBytes(u)) as BufferSource);
    } catch (e) {
      errors.push(`${u}: ${(e as Error).message}`);
    }
  }
  throw new PromptkilnError('BUILD', `could not load the ${what} kernel build:\n  ${errors.join('\n  ')}`);
}

export function instantiate(module: WebAssembly.Module, memory?: WebAssembly.Memory): KernelExports {
  const env: Record<string, WebAssembly.ImportValue> = {
    abort(msg: number, file: number, line: number, col: number) {
      throw new PromptkilnError('BUILD', `kernel abort at ${line}:${col} (msg@${msg}, file@${file})`);
    },
  };
  if (memory) env.memory = memory;
  const inst = new WebAssembly.Instance(module, { env } as WebAssembly.Imports);
  // instance.exports is frozen: an imported memory goes on a copy
  const ex = (memory ? { ...inst.exports, memory } : inst.exports) as unknown as KernelExports;
  const v = ex.abi_version();
  if (v !== ABI_VERSION) {
    throw new PromptkilnError('BUILD', `kernel module ABI version ${v}, this SDK expects ${ABI_VERSION}: rebuild the wasm files`);
  }
  return ex;
}
