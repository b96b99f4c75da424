// Runs inside a dedicated Worker: loads one model and serves score / generate / forward calls
// from the page (model/remote.ts). Blocking waits (Atomics.wait in the thread pool) are allowed
// here, unlike on a browser's main thread, so the heavy work can use every kernel thread.
// Long work above model/ (tune, compress, optimize) comes in as task handlers from the worker's
// entry (src/worker.ts), so this room never imports the rooms above it.
import { PromptkilnError } from '../errors.js';
import { init, type BuildName } from '../kernels/index.js';
import { Model } from './model.js';
import { loadCheckpoint } from './source.js';
import type { Request, Response, TaskChunk } from './worker-protocol.js';

interface Port {
  postMessage(m: Response, transfer?: Transferable[]): void;
  addEventListener(type: 'message', fn: (e: MessageEvent<Request>) => void): void;
}

// What a task handler gets besides its arguments: the page's abort, and ways to stream to it.
export interface TaskContext {
  signal: AbortSignal;
  send(chunk: TaskChunk, transfer?: Transferable[]): void;
}
export type TaskHandler = (model: Model, args: unknown[], opts: Record<string, unknown>, ctx: TaskContext) => Promise<unknown>;

export function serveModel(port: Port, tasks: Record<string, TaskHandler> = {}): void {
  let model: Model | null = null;
  const aborts = new Map<number, AbortController>();
  const fail = (id: number, e: unknown) =>
    port.postMessage({ id, error: { code: e instanceof PromptkilnError ? e.code : null, message: (e as Error)?.message ?? String(e) } });
  const need = () => {
    if (!model) throw new PromptkilnError('ARGUMENT', 'no model is loaded in this worker');
    return model;
  };

  port.addEventListener('message', async (ev) => {
    const m = ev.data;
    try {
      switch (m.type) {
        case 'load': {
          const o = m.opts as { threads?: number; build?: BuildName; maxMemoryBytes?: number };
          const ac = new AbortController(); // the page's abort stops a download in progress
          aborts.set(m.id, ac);
          const kernels = await init({ threads: o.threads, build: o.build, maxMemoryBytes: o.maxMemoryBytes });
          const ckpt = await loadCheckpoint(m.source, {
            ...(m.opts as object),
            lazy: true, // weights read in ranges straight into the heap (files over 2 GiB, bf16)
            signal: ac.signal,
            onProgress: (p: { file: string; loaded: number; total: number | null }) => port.postMessage({ id: m.id, chunk: p }),
          });
          aborts.delete(m.id);
          model?.dispose();
          model = await Model.fromCheckpoint(ckpt, { kernels, weights: (m.opts as { weights?: 'f32' | 'bf16' | 'auto' }).weights });
          port.postMessage({ id: m.id, result: { id: model.id, config: model.config, build: kernels.build, threads: kernels.parallel?.threads ?? 1, hasTokenizer: model.tokenizer !== null } });
          return;
        }
        case 'call': {
          const md = need();
          const ac = new AbortController();
          aborts.set(m.id, ac);
          const args = m.args.map((a, i) => (i === m.args.length - 1 && a && typeof a === 'object' && !Array.isArray(a) ? { ...(a as object), signal: ac.signal } : a));
          let result: unknown;
          switch (m.method) {
            case 'score': result = await md.score(args[0] as string, args[1] as string, args[2] as object); break;
            case 'scoreMany': result = await md.scoreMany(args[0] as string, args[1] as string[], args[2] as object); break;
            case 'generate': result = await md.generate(args[0] as string, args[1] as object); break;
            case 'forward': result = await md.forward(args[0] as never); break;
            case 'encode': result = md.requireTokenizer('encode').encode(args[0] as string, args[1] as object); break;
            case 'decode': result = md.requireTokenizer('decode').decode(args[0] as number[]); break;
          }
          aborts.delete(m.id);
          port.postMessage({ id: m.id, result });
          return;
        }
        case 'task': {
          const md = need();
          const handler = Object.hasOwn(tasks, m.task) ? tasks[m.task] : undefined;
          if (!handler) throw new PromptkilnError('ARGUMENT', `this model worker serves no task "${m.task}" (it serves: ${Object.keys(tasks).join(', ') || 'none'})`);
          const ac = new AbortController();
          aborts.set(m.id, ac);
          const result = await handler(md, m.args, m.opts, {
            signal: ac.signal,
            send: (chunk, transfer) => port.postMessage({ id: m.id, chunk }, transfer),
          });
          aborts.delete(m.id);
          port.postMessage({ id: m.id, result });
          return;
        }
        case 'stream': {
          const md = need();
          const ac = new AbortController();
          aborts.set(m.id, ac);
          const it = md.stream(m.prompt, { ...m.opts, signal: ac.signal });
          for (;;) {
            const r = await it.next();
            if (r.done) {
              aborts.delete(m.id);
              port.postMessage({ id: m.id, result: r.value });
              return;
            }
            port.postMessage({ id: m.id, chunk: r.value });
          }
        }
        case 'abort':
          aborts.get(m.id)?.abort(new Error('aborted by the page'));
          return;
        case 'dispose':
          model?.dispose();
          model = null;
          port.postMessage({ id: m.id, result: true });
          return;
      }
    } catch (e) {
      aborts.delete(m.id);
      fail(m.id, e);
    }
  });
}
