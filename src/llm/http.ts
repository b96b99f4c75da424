// JSON over HTTP for the provider clients (OpenAI-compatible, Anthropic, Gemini): retries with
// backoff on 429 / 5xx / timeouts / dropped connections, honouring Retry-After; a concurrency
// limit; AbortSignal. Keys travel only in the headers the caller gives: never in URLs, ids,
// errors, logs or reports.
import { PromptkilnError, throwIfAborted } from '../errors.js';
import { Limit } from './limit.js';

export type Json = Record<string, unknown>;

export interface HttpOptions {
  concurrency?: number; // requests in flight (default 4)
  maxRetries?: number; // after the first try (default 4)
  timeoutMs?: number; // per attempt (default 60 s)
  backoffMs?: number; // first backoff (default 500 ms), doubled each retry, with jitter
  maxBackoffMs?: number; // cap, also for Retry-After (default 30 s)
  headers?: Record<string, string>;
  fetch?: typeof fetch;
}

// An environment variable where there is an environment (Node); undefined in browsers and workers.
export function envVar(name: string): string | undefined {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return p?.env?.[name] || undefined;
}

class Retryable extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

function parseRetryAfter(h: string | null): number | undefined {
  if (!h) return undefined;
  const s = Number(h);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const t = Date.parse(h);
  return Number.isFinite(t) ? Math.max(0, t - Date.now()) : undefined;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((res, rej) => {
    if (signal?.aborted) return rej(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      res();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      rej(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class HttpClient {
  private readonly limit: Limit;
  private readonly f: typeof fetch;

  // keyHint: where the key comes from, for a 401's message ("option apiKey or OPENAI_API_KEY")
  constructor(
    readonly opts: HttpOptions,
    readonly keyHint: string,
  ) {
    this.limit = new Limit(opts.concurrency ?? 4);
    this.f = opts.fetch ?? globalThis.fetch.bind(globalThis);
  }

  post(url: string, body: Json, headers: Record<string, string>, signal?: AbortSignal): Promise<Json> {
    return this.limit.run(() => this.postWithRetry(url, body, headers, signal));
  }

  private async postWithRetry(url: string, body: Json, headers: Record<string, string>, signal?: AbortSignal): Promise<Json> {
    const maxRetries = this.opts.maxRetries ?? 4;
    const base = this.opts.backoffMs ?? 500;
    const cap = this.opts.maxBackoffMs ?? 30_000;
    const what = `request to ${url}`;
    let last = '';
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(signal, what);
      try {
        return await this.once(url, body, headers, signal);
      } catch (e) {
        throwIfAborted(signal, what);
        if (!(e instanceof Retryable)) throw e;
        last = e.message;
        if (attempt >= maxRetries) break;
        const backoff = e.retryAfterMs ?? base * 2 ** attempt * (0.75 + 0.5 * Math.random());
        try {
          await sleep(Math.min(cap, backoff), signal);
        } catch {
          throw new PromptkilnError('ABORTED', `${what} was aborted`, undefined, { cause: signal?.reason });
        }
      }
    }
    throw new PromptkilnError('NETWORK', `${url} failed after ${maxRetries + 1} attempts: ${last}`, { url });
  }

  private async once(url: string, body: Json, headers: Record<string, string>, signal?: AbortSignal): Promise<Json> {
    const ac = new AbortController();
    const timeoutMs = this.opts.timeoutMs ?? 60_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, timeoutMs);
    const onAbort = () => ac.abort(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      let res: Response;
      let text: string;
      try {
        res = await this.f(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers, ...this.opts.headers },
          body: JSON.stringify(body),
          signal: ac.signal,
        });
        text = await res.text();
      } catch (e) {
        if (signal?.aborted) throw e;
        if (timedOut) throw new Retryable(`no answer within ${timeoutMs} ms`);
        // connection refused / reset / dropped mid-body
        throw new Retryable(`connection failed: ${(e as Error)?.cause ? String(((e as Error).cause as Error).message ?? (e as Error).cause) : (e as Error).message}`);
      }
      // 529: Anthropic's "overloaded"
      if (res.status === 429 || res.status >= 500) {
        throw new Retryable(`HTTP ${res.status}: ${text.slice(0, 200)}`, parseRetryAfter(res.headers.get('retry-after')));
      }
      if (!res.ok) {
        let msg = text.slice(0, 300);
        try {
          const j = JSON.parse(text) as Json;
          const err = j.error as Json | string | undefined;
          msg = typeof err === 'string' ? err : String((err as Json | undefined)?.message ?? msg);
        } catch {
          /* not JSON: keep the text */
        }
        const hint = res.status === 401 || res.status === 403 ? ` (check the API key: ${this.keyHint})` : '';
        throw new PromptkilnError('NETWORK', `${url}: HTTP ${res.status}: ${msg}${hint}`, { url, status: res.status });
      }
      try {
        const j = JSON.parse(text);
        if (typeof j !== 'object' || j === null) throw new Error('not an object');
        return j as Json;
      } catch {
        // a proxy's error page or a cut body: worth another try
        throw new Retryable(`the body is not JSON: ${JSON.stringify(text.slice(0, 120))}`);
      }
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
