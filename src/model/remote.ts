// A model that lives in a dedicated Worker, for pages: the main thread of a browser may not block
// (Atomics.wait throws there) and should not run seconds of kernels, so the heavy, async public
// APIs run in the worker while the page stays responsive. Same method names and results as Model.
import { PromptkilnError, type ErrorCode } from '../errors.js';
import type { BuildName } from '../kernels/index.js';
import type { ForwardBatch, ForwardResult, GenerateOptions, GenerateResult, ScoreOptions, ScoreResult } from './model.js';
import type { HubOptions } from './hub.js';
import type { Text } from './text.js';
import type { ModelConfig } from './types.js';
import { cloneable, type RemoteMethod, type Request, type Response, type TaskChunk } from './worker-protocol.js';

// What the proxy needs of a Worker: a bundler-built one, or one end of a MessageChannel.
export interface WorkerLike {
  postMessage(m: unknown, transfer?: Transferable[]): void;
  addEventListener(type: string, fn: (e: any) => void): void;
  terminate(): void;
}

export interface WorkerModelOptions extends Omit<HubOptions, 'fetch' | 'signal'> {
  workerUrl?: string | URL; // default: worker.js beside this bundle
  worker?: WorkerLike; // an already started worker running promptkiln/worker.js (instead of workerUrl)
  threads?: number; // kernel threads inside the worker (needs cross-origin isolation)
  build?: BuildName;
  maxMemoryBytes?: number;
  weights?: 'f32' | 'bf16' | 'auto'; // as loadModel's (LoadOptions.weights)
  files?: string[];
  signal?: AbortSignal;
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
type Pending = { resolve(v: unknown): void; reject(e: unknown): void; chunk?(c: unknown): void };

export class WorkerModel {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  id = '';
  config!: ModelConfig;
  build: BuildName = 'portable';
  threads = 1;
  hasTokenizer = false;

  private constructor(private readonly worker: WorkerLike) {
    worker.addEventListener('message', (e: MessageEvent<Response>) => {
      const m = e.data;
      const p = this.pending.get(m.id);
      if (!p) return;
      if ('chunk' in m) return p.chunk?.(m.chunk);
      this.pending.delete(m.id);
      if ('error' in m) p.reject(new PromptkilnError((m.error.code ?? 'BACKEND') as ErrorCode, m.error.message));
      else p.resolve(m.result);
    });
    worker.addEventListener('error', (e: ErrorEvent) => {
      const err = new PromptkilnError('BACKEND', `model worker failed: ${e.message || 'script error (is worker.js served beside the bundle?)'}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
  }

  static async load(source: string | { files: Record<string, Uint8Array | Blob>; name?: string }, opts: WorkerModelOptions = {}): Promise<WorkerModel> {
    const worker = opts.worker ?? new Worker(opts.workerUrl ?? new URL('./worker.js', import.meta.url), { type: 'module' });
    const m = new WorkerModel(worker);
    try {
      const info = (await m.send({ type: 'load', source, opts: cloneable(opts as Record<string, unknown>) }, opts.signal,
        opts.onProgress as ((c: unknown) => void) | undefined)) as { id: string; config: ModelConfig; build: BuildName; threads: number; hasTokenizer: boolean };
      Object.assign(m, info);
      return m;
    } catch (e) {
      worker.terminate(); // nobody holds a WorkerModel that failed to load
      throw e;
    }
  }

  private send(req: DistributiveOmit<Request, 'id'>, signal?: AbortSignal, chunk?: (c: unknown) => void): Promise<unknown> {
    const id = this.nextId++;
    if (signal?.aborted) return Promise.reject(new PromptkilnError('ABORTED', 'aborted before it started'));
    const onAbort = () => this.worker.postMessage({ type: 'abort', id });
    signal?.addEventListener('abort', onAbort, { once: true });
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, chunk });
      this.worker.postMessage({ ...req, id } as Request);
    }).finally(() => signal?.removeEventListener('abort', onAbort)); // a long-lived signal must not collect listeners
  }

  private call(method: RemoteMethod, args: unknown[], signal?: AbortSignal): Promise<unknown> {
    return this.send({ type: 'call', method, args }, signal);
  }

  score(prompt: Text, target: Text, opts: ScoreOptions = {}): Promise<ScoreResult> {
    return this.call('score', [prompt, target, cloneable(opts as Record<string, unknown>)], opts.signal) as Promise<ScoreResult>;
  }
  scoreMany(prompt: Text, targets: Text[], opts: ScoreOptions = {}): Promise<ScoreResult[]> {
    return this.call('scoreMany', [prompt, targets, cloneable(opts as Record<string, unknown>)], opts.signal) as Promise<ScoreResult[]>;
  }
  generate(prompt: Text, opts: GenerateOptions = {}): Promise<GenerateResult> {
    return this.call('generate', [prompt, cloneable(opts as Record<string, unknown>)], opts.signal) as Promise<GenerateResult>;
  }
  forward(batch: ForwardBatch): Promise<ForwardResult> {
    return this.call('forward', [batch]) as Promise<ForwardResult>;
  }
  encode(text: string, opts: { bos?: boolean; eos?: boolean } = {}): Promise<number[]> {
    return this.call('encode', [text, opts]) as Promise<number[]>;
  }
  decode(ids: number[]): Promise<string> {
    return this.call('decode', [ids]) as Promise<string>;
  }

  // Long work the worker's entry registers (tune, compress, optimize, generate under an adapter;
  // their typed calls are in src/worker-client.ts): onChunk gets its progress, checkpoints, cache entries.
  runTask(task: string, args: unknown[], opts: Record<string, unknown>, signal?: AbortSignal, onChunk?: (c: TaskChunk) => void): Promise<unknown> {
    return this.send({ type: 'task', task, args, opts }, signal, onChunk as ((c: unknown) => void) | undefined);
  }

  // Tokens as they are generated.
  async *stream(prompt: Text, opts: GenerateOptions = {}): AsyncGenerator<{ token: number; text: string }, GenerateResult> {
    const queue: { token: number; text: string }[] = [];
    let wake: (() => void) | null = null;
    let done = false;
    let result: GenerateResult | null = null;
    let error: unknown = null;
    // the caller's signal, or our own abort when the caller stops iterating early (the worker
    // would otherwise generate to maxTokens with the model held)
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    if (opts.signal?.aborted) ac.abort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    this.send({ type: 'stream', prompt: prompt as string | number[], opts: cloneable(opts as Record<string, unknown>) }, ac.signal, (c) => {
      queue.push(c as { token: number; text: string });
      wake?.();
    }).then((r) => { result = r as GenerateResult; done = true; wake?.(); }, (e) => { error = e; done = true; wake?.(); });
    try {
      for (;;) {
        while (queue.length) yield queue.shift()!;
        if (done) {
          if (error) throw error;
          return result!;
        }
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      if (!done) ac.abort();
    }
  }

  async dispose(): Promise<void> {
    try {
      await this.send({ type: 'dispose' });
    } finally {
      this.worker.terminate();
    }
  }
}

// Load a model into a dedicated Worker (browsers, or any runtime with module Workers).
export function loadModelInWorker(source: string | { files: Record<string, Uint8Array | Blob>; name?: string }, opts: WorkerModelOptions = {}): Promise<WorkerModel> {
  if (typeof Worker === 'undefined' && !opts.worker) throw new PromptkilnError('ARGUMENT', 'loadModelInWorker needs Web Workers (a browser or worker runtime); in Node use loadModel');
  return WorkerModel.load(source, opts);
}
