// Messages between a page (model/remote.ts) and the dedicated worker that owns the model
// (model/worker-host.ts). Everything is structured-cloneable: ids, text, Float32Arrays, bytes.

export type Request =
  | { type: 'load'; id: number; source: string | { files: Record<string, Uint8Array | Blob>; name?: string }; opts: Record<string, unknown> }
  | { type: 'call'; id: number; method: RemoteMethod; args: unknown[] }
  | { type: 'stream'; id: number; prompt: string | number[]; opts: Record<string, unknown> }
  // long work registered by the worker's entry (src/worker-tasks.ts): tune, compress, optimize, …
  | { type: 'task'; id: number; task: string; args: unknown[]; opts: Record<string, unknown> }
  | { type: 'abort'; id: number }
  | { type: 'dispose'; id: number };

export type RemoteMethod = 'score' | 'scoreMany' | 'generate' | 'forward' | 'encode' | 'decode';

// What a running task sends before its result: progress events, checkpoints (the bytes a page
// keeps, e.g. in IndexedDB, and hands back as `resume`), and cache entries (optimize's resume).
export type TaskChunk =
  | { kind: 'progress'; event: unknown }
  | { kind: 'checkpoint'; bytes: Uint8Array }
  | { kind: 'cache'; key: string; value: unknown };

export type Response =
  | { id: number; result: unknown }
  | { id: number; chunk: unknown }
  | { id: number; error: { code: string | null; message: string } };

// Options whose values cannot cross a postMessage boundary (functions, signals) are dropped;
// the abort of a signal travels as its own message.
export function cloneable(o: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o ?? {})) {
    if (typeof v === 'function' || k === 'signal' || k === 'kernels' || k === 'fetch' || k === 'worker') continue;
    out[k] = v;
  }
  return out;
}
