import { PromptkilnError } from '../errors.js';
import { Kernels } from './kernels.js';
import { hasRelaxedSimd } from './features.js';
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

// Load and instantiate a kernel module. Without options: the best build this engine validates,
// shared by every model created without an explicit `kernels` option.
export async function init(opts: InitOptions = {}): Promise<Kernels> {
  if (opts.threads !== undefined && opts.threads !== 1) {
    // a Kernels of its own (never the shared one): it owns worker threads; null = no threads here
    const k = await initThreaded({ ...opts, threads: opts.threads });
    if (k) return k;
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
