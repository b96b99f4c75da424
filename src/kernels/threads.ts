// GEMM and attention split across threads that share one WebAssembly memory.
//
// The threads build (simd + threads, imports a shared `env.memory`) is instantiated once on the
// calling thread and once in each worker over the same memory. A call cuts its output columns
// (GEMM), its (batch, head) pairs (attention forward) or its sequences (attention backward) into
// a few chunks per thread; the caller and the workers claim chunks from a shared counter until
// none is left (see thread-worker.ts), so a worker the OS is slow to schedule costs at most the
// chunk it holds. Every chunk is the same kernel code over a range of independent outputs, and
// no accumulation order depends on the cut, so results are
// those of one thread (bit-identical in fact; the tests allow float tolerance).
//
// Node: worker_threads. Browsers: Web Workers, only when SharedArrayBuffer exists and the page is
// crossOriginIsolated. A browser's main thread may not block in Atomics.wait, so there the
// caller spins until the workers are done (the heavy public APIs run in a dedicated worker).
import { PromptkilnError } from '../errors.js';
import type { KernelExports } from './exports.js';
import { hasSharedMemory, hasSimd, isNode } from './features.js';
import { Kernels, ptr, type Opt, type Parallel } from './kernels.js';
import type { Tensor } from './memory.js';
import { compileFile, instantiate, type InitOptions } from './module.js';
import { warmUp } from './warmup.js';
import {
  ALIGN, ARGS, CTL_INTS, DONE, FLAGS, NEXT, OP, OP_ATTENTION, OP_ATTENTION_BWD, OP_MATMUL, OP_MATMUL_BF16, OP_MATMUL_DX, OP_MATMUL_DX_BF16,
  SEQ, TOTAL, WORKER_SOURCE, chunkRange,
} from './thread-worker.js';

export const THREADS_FILE = 'promptkiln.threads.wasm';

// How long an idle worker spins before it sleeps. Long enough to bridge the small kernels a
// model runs between two GEMMs (norms, activations: tens of µs), short enough not to hold a
// core while the caller does something else.
const DEFAULT_SPIN_MICROS = 200;

interface WorkerHandle {
  terminate(): unknown;
}

// Chunks per thread: enough that a late or descheduled worker delays the call by little, few
// enough that each chunk still fills the micro-kernels' cache blocks.
const CHUNKS_PER_THREAD = 4;

export class ThreadPool implements Parallel {
  readonly threads: number;
  private readonly ctl: Int32Array; // CTL_INTS ints, layout in thread-worker.ts
  private readonly canBlock: boolean;
  private disposed = false;

  private constructor(private readonly raw: KernelExports, private readonly workers: WorkerHandle[], ctl: Int32Array) {
    this.threads = workers.length + 1;
    this.ctl = ctl;
    this.canBlock = agentCanBlock();
  }

  // Starts `threads - 1` workers over `memory`, each with its own instance of `module`.
  static async start(module: WebAssembly.Module, memory: WebAssembly.Memory, raw: KernelExports, threads: number,
    spinMicros = DEFAULT_SPIN_MICROS): Promise<ThreadPool> {
    const n = threads - 1;
    const ctl = new Int32Array(new SharedArrayBuffer(CTL_INTS * 4));
    const workers: WorkerHandle[] = [];
    try {
      const ready: Promise<void>[] = [];
      for (let i = 0; i < n; i++) {
        const w = await spawn();
        workers.push(w.handle);
        ready.push(w.ready);
        w.post({ module, memory, ctl: ctl.buffer, spinMicros });
      }
      await Promise.all(ready);
    } catch (e) {
      for (const w of workers) w.terminate();
      if (e instanceof PromptkilnError) throw e;
      throw new PromptkilnError('BUILD', `could not start ${n} kernel worker threads: ${(e as Error).message}`, undefined, { cause: e });
    }
    return new ThreadPool(raw, workers, ctl);
  }

  // out (M, N) = inp (M, K) · w (N, K)ᵀ + bias (N), output columns split in chunks of 4; w f32 or
  // bf16 (each chunk widens its W panels into its own scratch slot: chunk i → slot i)
  matmul(out: Tensor, inp: Tensor, w: Tensor, bias: Opt, M: number, K: number, N: number): void {
    if (w.dtype !== 'bf16') {
      const args = [out.ptr, inp.ptr, w.ptr, ptr(bias), M, K, N];
      return this.run(OP_MATMUL, N, 4, args, (lo, hi) => this.raw.matmul_fwd_range(out.ptr, inp.ptr, w.ptr, ptr(bias), M, K, N, lo, hi));
    }
    const slot = this.raw.dx_scratch_floats() * 4;
    const base = this.scratch?.ptr ?? 0;
    const args = [out.ptr, inp.ptr, w.ptr, ptr(bias), M, K, N, base, slot];
    this.run(OP_MATMUL_BF16, N, 4, args, (lo, hi, i) =>
      this.raw.matmul_fwd_bf16_packed(out.ptr, inp.ptr, w.ptr, ptr(bias), base ? base + i * slot : 0, M, K, N, lo, hi));
  }

  // dinp (M, K) += dout (M, N) · w (N, K), columns of dinp split in chunks of 16; w f32 or bf16
  matmulBackwardInput(dinp: Tensor, dout: Tensor, w: Tensor, M: number, K: number, N: number): void {
    const dx = w.dtype === 'bf16' ? this.raw.matmul_bwd_dx_bf16_packed : this.raw.matmul_bwd_dx_packed;
    // One row of dout streams W row after row at memory speed, which one thread already reaches;
    // cutting the rows into column slices turns that stream into strided reads (measured 3.5x
    // slower even as 2 slices), and the contraction (N) cannot be cut without a reduction.
    if (M === 1) return dx(dinp.ptr, dout.ptr, w.ptr, 0, M, K, N, 0, K);
    // each chunk packs W blocks into its own scratch slot (chunk i → slot i)
    const slot = this.raw.dx_scratch_floats() * 4;
    const base = this.scratch?.ptr ?? 0;
    const args = [dinp.ptr, dout.ptr, w.ptr, M, K, N, base, slot];
    this.run(w.dtype === 'bf16' ? OP_MATMUL_DX_BF16 : OP_MATMUL_DX, K, 16, args, (lo, hi, i) =>
      dx(dinp.ptr, dout.ptr, w.ptr, base ? base + i * slot : 0, M, K, N, lo, hi));
  }

  // causal attention, (batch, head) pairs split across threads
  attention(out: Tensor, att: Tensor, q: Tensor, k: Tensor, v: Tensor, pk: Opt, pv: Opt, mask: Opt,
    B: number, Tq: number, Tk: number, P: number, H: number, Hkv: number, hd: number): void {
    const args = [out.ptr, att.ptr, q.ptr, k.ptr, v.ptr, ptr(pk), ptr(pv), ptr(mask), B, Tq, Tk, P, H, Hkv, hd];
    this.run(OP_ATTENTION, B * H, 1, args, (lo, hi) => this.raw.attention_fwd(out.ptr, att.ptr, q.ptr, k.ptr, v.ptr,
      ptr(pk), ptr(pv), ptr(mask), B, Tq, Tk, P, H, Hkv, hd, lo, hi));
  }

  // Split over sequences; the caller guarantees no prefix gradients (they sum over the batch).
  attentionBackward(dq: Opt, dk: Opt, dv: Opt, dout: Tensor, att: Tensor, q: Tensor, k: Tensor, v: Tensor, pk: Opt, pv: Opt,
    B: number, Tq: number, Tk: number, P: number, H: number, Hkv: number, hd: number): void {
    const args = [ptr(dq), ptr(dk), ptr(dv), 0, 0, dout.ptr, att.ptr, q.ptr, k.ptr, v.ptr, ptr(pk), ptr(pv), B, Tq, Tk, P, H, Hkv, hd];
    this.run(OP_ATTENTION_BWD, B, 1, args, (lo, hi) => this.raw.attention_bwd_range(ptr(dq), ptr(dk), ptr(dv), 0, 0, dout.ptr,
      att.ptr, q.ptr, k.ptr, v.ptr, ptr(pk), ptr(pv), B, Tq, Tk, P, H, Hkv, hd, lo, hi));
  }

  // Stops the workers. Idempotent; a pool is also safe to drop without it (workers are unref'd).
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    Atomics.or(this.ctl, FLAGS, 1);
    Atomics.add(this.ctl, SEQ, 1);
    Atomics.notify(this.ctl, SEQ);
    for (const w of this.workers) w.terminate();
  }

  // One packing slot per chunk (threads · CHUNKS_PER_THREAD of dx_scratch_floats()) for dX and the
  // bf16 forward, set by initThreaded.
  scratch: Tensor | null = null;
  get scratchSlots(): number {
    return this.threads * CHUNKS_PER_THREAD;
  }

  private run(op: number, total: number, align: number, args: number[], own: (lo: number, hi: number, chunk: number) => void): void {
    if (this.disposed) throw new PromptkilnError('ARGUMENT', 'this kernel thread pool was disposed');
    const ctl = this.ctl;
    const chunks = Math.max(1, Math.min(this.threads * CHUNKS_PER_THREAD, Math.ceil(total / align), 0xffff));
    // publish the job: arguments first, then the chunk counter that lets threads claim it
    ctl[OP] = op;
    ctl[ALIGN] = align;
    ctl[TOTAL] = total;
    for (let j = 0; j < args.length; j++) ctl[ARGS + j] = args[j] | 0; // pointers ≥ 2³¹ keep their bits
    Atomics.store(ctl, DONE, 0);
    Atomics.store(ctl, NEXT, chunks << 16);
    Atomics.add(ctl, SEQ, 1);
    Atomics.notify(ctl, SEQ);
    // the caller claims chunks like any worker
    let failure: unknown = null;
    for (;;) {
      const v = Atomics.load(ctl, NEXT);
      const i = v & 0xffff;
      if (i >= chunks) break;
      if (Atomics.compareExchange(ctl, NEXT, v, v + 1) !== v) continue;
      const [lo, hi] = chunkRange(i, chunks, total, align);
      try { own(lo, hi, i); } catch (e) { failure = e; }
      Atomics.add(ctl, DONE, 1);
    }
    // chunks still running in workers: spin, then sleep in short waits (where blocking is allowed)
    let spins = 0;
    for (;;) {
      const d = Atomics.load(ctl, DONE);
      if (d >= chunks) break;
      if (this.canBlock && ++spins > 4096) Atomics.wait(ctl, DONE, d, 5);
    }
    // clear the worker-failure bit even when the caller's own chunk failed too, or the next job
    // would report this one's failure
    const workerFailed = Atomics.and(ctl, FLAGS, ~2) & 2;
    if (failure) throw failure;
    if (workerFailed) throw new PromptkilnError('BUILD', `a kernel failed in a worker thread (op ${op})`);
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
    // execArgv: [] — a worker inherits the parent's flags, and `node --input-type=module -e` would
    // make our classic-script source parse as a module (where `self` is undefined)
    const w = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
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
  const pool = await ThreadPool.start(module, memory, raw, threads);
  pool.scratch = k.heap.alloc(pool.scratchSlots * raw.dx_scratch_floats(), 'GEMM packing scratch (per chunk)', false);
  k.parallel = pool;
  return k;
}

// Stops the worker threads behind a Kernels made with init({ threads }); no-op otherwise.
export function disposeThreads(k: Kernels): void {
  if (k.parallel instanceof ThreadPool) k.parallel.dispose();
}
