// init(): load the kernel module build this engine supports, and the kernels' public exports.
import { PromptkilnError } from '../errors.js';
import { Kernels } from './kernels.js';
import { hasRelaxedSimd, hasSharedMemory } from './features.js';
import { compileBuild, instantiate, pickBuild, type BuildName, type InitOptions } from './module.js';
import { initThreaded } from './threads.js';
import { warmUp } from './warmup.js';

export { Kernels, type Parallel, type Opt } from './kernels.js';
export { Tensor, Heap, type DType } from './memory.js';
export { hasSimd, hasRelaxedSimd, hasSharedMemory, isNode } from './features.js';
export type { BuildName, InitOptions } from './module.js';
export type { KernelExports } from './exports.js';
export { ThreadPool, disposeThreads } from './threads.js';

let shared: Promise<Kernels> | null = null;
let warnedSingleThread = false;

// Load and instantiate a kernel module. Without options: the best build this engine validates,
// shared by every model created without an explicit `kernels` option.
export async function init(opts: InitOptions = {}): Promise<Kernels> {
  if (typeof WebAssembly !== 'object' || WebAssembly === null) {
    throw new PromptkilnError('BUILD', 'this JavaScript runtime has no WebAssembly (disabled, e.g. node --jitless, or not supported): promptkiln\'s kernels need it');
  }
  if (opts.threads !== undefined && opts.threads !== 1) {
    // a Kernels of its own (never the shared one): it owns worker threads; null = no threads here
    const k = await initThreaded({ ...opts, threads: opts.threads });
    if (k) return k;
    if (!hasSharedMemory() && !warnedSingleThread) {
      warnedSingleThread = !opts.onWarning; // console.warn once per process; a callback hears every time
      const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
      const why = isolated === false
        ? 'the page is not cross-origin isolated (serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)'
        : 'SharedArrayBuffer is not available in this runtime';
      const message = `init: threads: ${opts.threads} was asked for, but ${why}; running on one thread`;
      if (opts.onWarning) opts.onWarning(message);
      else console.warn(`promptkiln: ${message}`);
    }
    opts = { ...opts, threads: undefined };
  }
  const explicit = opts.build || opts.module || opts.bytes || opts.url || opts.maxMemoryBytes;
  if (!explicit && shared) return shared;
  const p = (async () => {
    const build: BuildName = opts.build ?? (await pickBuild());
    if (build === 'relaxed' && !(await hasRelaxedSimd())) {
      throw new PromptkilnError('BUILD', 'the relaxed build was asked for, but this engine does not validate relaxed SIMD');
    }
    let module: WebAssembly.Module;
    try {
      module = await compileBuild(build, opts);
    } catch (e) {
      if (e instanceof PromptkilnError) throw e;
      throw new PromptkilnError('BUILD', `the ${build} kernel build does not compile on this engine: ${(e as Error).message}`);
    }
    const k = new Kernels(instantiate(module), build, opts.maxMemoryBytes);
    warmUp(k);
    return k;
  })();
  if (!explicit) {
    shared = p;
    p.catch(() => { shared = null; });
  }
  return p;
}
