// GEMM and attention split across threads that share one WebAssembly memory.
//
// The threads build (simd + threads, imports a shared `env.memory`) is instantiated once on the
// calling thread and once in each worker over the same memory. A call splits its output columns
// (GEMM) or its (batch, head) pairs (attention) into `threads` slices: workers take slices 1..n-1,
// the calling thread computes slice 0 itself and then waits for the rest. Every slice is the
// same kernel code over the same data, so results equal the single-thread ones up to the order
// of float additions (they are in fact bit-identical: no slice changes an accumulation order).
//
// Node: worker_threads. Browsers: Web Workers, only when SharedArrayBuffer exists and the page is
// crossOriginIsolated. A browser's main thread may not block in Atomics.wait, so there the
// caller spins until the workers are done (the heavy public APIs run in a dedicated worker).
import { PromptkilnError } from '../errors.js';
import type { KernelExports } from './exports.js';
import { hasSharedMemory, hasSimd, isNode } from './features.js';
import { Kernels, type Opt, type Parallel } from './kernels.js';
import type { Tensor } from './memory.js';
import { compileFile, instantiate, type InitOptions } from './module.js';
import { warmUp } from './warmup.js';
import { DONE, FAILED, OP_ATTENTION, OP_EXIT, OP_MATMUL, OP_MATMUL_DX, SLOT, WORKER_SOURCE } from './thread-worker.js';

export const THREADS_FILE = 'promptkiln.threads.wasm';

// How long an idle worker spins before it sleeps. Long enough to bridge the small kernels a
// model runs between two GEMMs (norms, activations: tens of µs), short enough not to hold a
// core while the caller does something else.
const DEFAULT_SPIN_MICROS = 200;

interface WorkerHandle {
  terminate(): unknown;
}

const ptr = (t: Opt) => (t ? t.ptr : 0);

// Splits [0, total) into `parts` slices whose boundaries are multiples of `align` (the
// micro-kernel width), so no slice ends inside a register block; the last slice takes the rest.
function slices(total: number, parts: number, align: number): number[] {
  const cuts = [0];
  for (let i = 1; i < parts; i++) {
    const c = Math.min(total, Math.round((total * i) / parts / align) * align);
    cuts.push(Math.max(c, cuts[i - 1]));
  }
  cuts.push(total);
  return cuts;
}

export class ThreadPool implements Parallel {
  readonly threads: number;
  private readonly ctl: Int32Array; // (1 + workers) slots of SLOT ints; slot 0 holds DONE / FAILED
  private readonly seq: number[];
  private readonly canBlock: boolean;
  private disposed = false;

  private constructor(private readonly raw: KernelExports, private readonly workers: WorkerHandle[], ctl: Int32Array) {
    this.threads = workers.length + 1;
    this.ctl = ctl;
    this.seq = workers.map(() => 0);
    this.canBlock = agentCanBlock();
  }

  // Starts `threads - 1` workers over `memory`, each with its own instance of `module`.
  static async start(module: WebAssembly.Module, memory: WebAssembly.Memory, raw: KernelExports, threads: number,
    spinMicros = DEFAULT_SPIN_MICROS): Promise<ThreadPool> {
    const n = threads - 1;
    const ctl = new Int32Array(new SharedArrayBuffer(SLOT * 4 * (n + 1)));
    const workers: WorkerHandle[] = [];
    try {
      const ready: Promise<void>[] = [];
      for (let i = 0; i < n; i++) {
        const w = await spawn();
        workers.push(w.handle);
        ready.push(w.ready);
        w.post({ module, memory, ctl: ctl.buffer, index: i, spinMicros });
      }
      await Promise.all(ready);
    } catch (e) {
      for (const w of workers) w.terminate();
      if (e instanceof PromptkilnError) throw e;
      throw new PromptkilnError('BUILD', `could not start ${n} kernel worker threads: ${(e as Error).message}`, undefined, { cause: e });
    }
    return new ThreadPool(raw, workers, ctl);
  }

  // out (M, N) = inp (M, K) · w (N, K)ᵀ + bias (N), output columns split across threads
  matmul(out: Tensor, inp: Tensor, w: Tensor, bias: Opt, M: number, K: number, N: number): void {
    const cut = slices(N, this.threads, 4);
    const b = ptr(bias);
    this.run(OP_MATMUL, (i) => [out.ptr, inp.ptr, w.ptr, b, M, K, N, cut[i], cut[i + 1]],
      () => this.raw.matmul_fwd_range(out.ptr, inp.ptr, w.ptr, b, M, K, N, cut[0], cut[1]));
  }

  // dinp (M, K) += dout (M, N) · w (N, K), columns of dinp split across threads
  matmulBackwardInput(dinp: Tensor, dout: Tensor, w: Tensor, M: number, K: number, N: number): void {
    const cut = slices(K, this.threads, 16);
    this.run(OP_MATMUL_DX, (i) => [dinp.ptr, dout.ptr, w.ptr, M, K, N, cut[i], cut[i + 1]],
      () => this.raw.matmul_bwd_dx_range(dinp.ptr, dout.ptr, w.ptr, M, K, N, cut[0], cut[1]));
  }

  // causal attention, (batch, head) pairs split across threads
  attention(out: Tensor, att: Tensor, q: Tensor, k: Tensor, v: Tensor, pk: Opt, pv: Opt, mask: Opt,
    B: number, Tq: number, Tk: number, P: number, H: number, Hkv: number, hd: number): void {
    const cut = slices(B * H, this.threads, 1);
    const head = [out.ptr, att.ptr, q.ptr, k.ptr, v.ptr, ptr(pk), ptr(pv), ptr(mask), B, Tq, Tk, P, H, Hkv, hd];
    this.run(OP_ATTENTION, (i) => [...head, cut[i], cut[i + 1]],
      () => this.raw.attention_fwd(out.ptr, att.ptr, q.ptr, k.ptr, v.ptr, ptr(pk), ptr(pv), ptr(mask),
        B, Tq, Tk, P, H, Hkv, hd, cut[0], cut[1]));
  }

  // Stops the workers. Idempotent; a pool is also safe to drop without it (workers are unref'd).
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (let i = 0; i < this.workers.length; i++) this.post(i, OP_EXIT, []);
    for (const w of this.workers) w.terminate();
  }

  private post(i: number, op: number, args: number[]): void {
    const base = SLOT * (i + 1);
    this.ctl[base + 1] = op;
    for (let j = 0; j < args.length; j++) this.ctl[base + 2 + j] = args[j] | 0; // pointers ≥ 2³¹ keep their bits
    this.seq[i] = (this.seq[i] + 1) | 0;
    Atomics.store(this.ctl, base, this.seq[i]);
    Atomics.notify(this.ctl, base);
  }

  private run(op: number, args: (slice: number) => number[], own: () => void): void {
    if (this.disposed) throw new PromptkilnError('ARGUMENT', 'this kernel thread pool was disposed');
    const ctl = this.ctl;
    const start = Atomics.load(ctl, DONE);
    for (let i = 0; i < this.workers.length; i++) this.post(i, op, args(i + 1));
    own();
    const target = (start + this.workers.length) | 0;
    let spins = 0;
    for (;;) {
      const d = Atomics.load(ctl, DONE);
      if (d === target) break;
      // blocking here is fine: workers always count themselves done, also when a kernel fails
      if (this.canBlock && ++spins > 4096) Atomics.wait(ctl, DONE, d, 50);
    }
    if (Atomics.load(ctl, FAILED)) {
      Atomics.store(ctl, FAILED, 0);
      throw new PromptkilnError('BUILD', 'a kernel failed in a worker thread (op ' + op + ')');
    }
  }
}

// Atomics.wait throws on a browser's main thread; everywhere else it may block.
function agentCanBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

async function spawn(): Promise<{ handle: WorkerHandle; post(m: unknown): void; ready: Promise<void> }> {
  if (isNode()) {
    const { Worker } = await import(/* @vite-ignore */ 'node:worker_threads' as string);
    const w = new Worker(WORKER_SOURCE, { eval: true });
    w.unref(); // an idle pool must not keep the process alive
    const ready = new Promise<void>((resolve, reject) => {
      w.once('message', (m: { ready?: boolean; error?: string }) => (m.ready ? resolve() : reject(new Error(m.error))));
      w.once('error', reject);
    });
    return { handle: w, post: (m) => w.postMessage(m), ready };
  }
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
  const w = new Worker(url);
  const ready = new Promise<void>((resolve, reject) => {
    w.onmessage = (ev: MessageEvent) => {
      w.onmessage = null;
      URL.revokeObjectURL(url);
      if (ev.data?.ready) resolve(); else reject(new Error(ev.data?.error ?? 'worker failed'));
    };
    w.onerror = (ev) => reject(new Error(ev.message));
  });
  return { handle: w, post: (m) => w.postMessage(m), ready };
}

const PAGE = 65536;

// init({ threads }) lands here: the threads build over a fresh shared memory, a ThreadPool as the
// Kernels' `parallel`. Where threads cannot run (no SharedArrayBuffer, not crossOriginIsolated,
// no SIMD) it returns null and the caller falls back to one thread: same results, just slower.
export async function initThreaded(opts: InitOptions & { threads: number }): Promise<Kernels | null> {
  const { threads } = opts;
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
    throw new PromptkilnError('ARGUMENT', `init: threads must be an integer from 1 to 256, got ${threads}`);
  }
  if (opts.build && opts.build !== 'simd') {
    throw new PromptkilnError('ARGUMENT', `init: threads run on the threads build (simd + threads); build '${opts.build}' cannot be combined with threads: ${threads}`);
  }
  if (threads === 1 || !hasSharedMemory() || !hasSimd()) return null;
  const module = await compileFile(THREADS_FILE, 'threads', opts);
  // the import asks for at least 16 pages; the maximum bounds the address space a shared memory reserves
  const maxPages = Math.min(65536, Math.max(16, Math.floor((opts.maxMemoryBytes ?? 65536 * PAGE) / PAGE)));
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: 16, maximum: maxPages, shared: true });
  } catch (e) {
    throw new PromptkilnError('OOM', `could not reserve a shared memory of ${maxPages * PAGE} bytes for threads`, { requested: maxPages * PAGE }, { cause: e });
  }
  const raw = instantiate(module, memory);
  const k = new Kernels(raw, 'simd', opts.maxMemoryBytes);
  warmUp(k);
  k.parallel = await ThreadPool.start(module, memory, raw, threads);
  return k;
}

// Stops the worker threads behind a Kernels made with init({ threads }); no-op otherwise.
export function disposeThreads(k: Kernels): void {
  if (k.parallel instanceof ThreadPool) k.parallel.dispose();
}
