// The HTTP client against a real loopback server that misbehaves on purpose: 429 with
// Retry-After, 500s, a hang, a dropped connection, garbage JSON, an abort.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { OpenAIModel } from '../../src/llm/openai.js';
import { defineTask } from '../../src/eval/task.js';
import { optimize } from '../../src/search/optimize.js';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, n: number, body: any) => void;
const servers: http.Server[] = [];

async function faulty(h: Handler): Promise<{ url: string; hits: () => number; times: number[]; auth: (string | undefined)[] }> {
  let n = 0;
  const times: number[] = [];
  const auth: (string | undefined)[] = [];
  const s = http.createServer((req, res) => {
    let b = '';
    req.on('data', (c) => (b += c));
    req.on('end', () => {
      times.push(Date.now());
      auth.push(req.headers.authorization);
      h(req, res, n++, b ? JSON.parse(b) : null);
    });
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}/v1`, hits: () => n, times, auth };
}
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

const ok = (res: http.ServerResponse, text = 'hello') => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ choices: [{ index: 0, text }], usage: { prompt_tokens: 3, completion_tokens: 1 } }));
};

describe('OpenAI-compatible client under faults', () => {
  it('honours Retry-After on 429 and then succeeds', async () => {
    const s = await faulty((_q, res, n) => {
      if (n === 0) {
        res.writeHead(429, { 'retry-after': '1' });
        return res.end('{"error":{"message":"slow down"}}');
      }
      ok(res);
    });
    const c = new OpenAIModel({ baseURL: s.url, model: 'm', backoffMs: 1 });
    const g = await c.generate('hi');
    expect(g.texts).toEqual(['hello']);
    expect(s.hits()).toBe(2);
    expect(s.times[1] - s.times[0]).toBeGreaterThanOrEqual(950);
  });

  it('retries 500s with backoff, then gives NETWORK naming the URL and status', async () => {
    const s = await faulty((_q, res) => {
      res.writeHead(500);
      res.end('boom');
    });
    const c = new OpenAIModel({ baseURL: s.url, model: 'm', maxRetries: 2, backoffMs: 5 });
    await expect(c.generate('hi')).rejects.toMatchObject({ code: 'NETWORK', message: expect.stringMatching(/completions failed after 3 attempts: HTTP 500/) });
    expect(s.hits()).toBe(3);
  });

  it('a hanging server times out per attempt and ends in NETWORK, not a hang', async () => {
    const s = await faulty(() => {
      /* never answers */
    });
    const c = new OpenAIModel({ baseURL: s.url, model: 'm', timeoutMs: 150, maxRetries: 1, backoffMs: 1 });
    // without the per-attempt timeout the first attempt would wait forever: the second hit is the proof
    await expect(c.generate('hi')).rejects.toMatchObject({ code: 'NETWORK', message: expect.stringMatching(/failed after 2 attempts: no answer within 150 ms/) });
    expect(s.hits()).toBe(2);
  }, 10_000);

  it('a dropped connection is retried', async () => {
    const s = await faulty((_q, res, n) => {
      if (n === 0) return res.socket!.destroy();
      ok(res, 'again');
    });
    const c = new OpenAIModel({ baseURL: s.url, model: 'm', backoffMs: 1 });
    expect((await c.generate('hi')).texts).toEqual(['again']);
  });

  it('garbage JSON and JSON without choices become NETWORK errors', async () => {
    const s = await faulty((_q, res, n) => {
      res.writeHead(200);
      res.end(n < 10 ? '<html>proxy error' : '{}');
    });
    const c = new OpenAIModel({ baseURL: s.url, model: 'm', maxRetries: 1, backoffMs: 1 });
    await expect(c.generate('hi')).rejects.toMatchObject({ code: 'NETWORK', message: expect.stringMatching(/not JSON/) });
    const s2 = await faulty((_q, res) => {
      res.writeHead(200);
      res.end('{"foo": 1}');
    });
    const c2 = new OpenAIModel({ baseURL: s2.url, model: 'm', maxRetries: 0 });
    await expect(c2.generate('hi')).rejects.toMatchObject({ code: 'NETWORK', message: expect.stringMatching(/lacks choices/) });
    await expect(c2.score!('a', 'b')).rejects.toMatchObject({ code: 'NETWORK', message: expect.stringMatching(/no logprobs/) });
  });

  it('AbortSignal stops a request in flight and a backoff wait with ABORTED', async () => {
    // in flight: the server has the request and never answers; the abort fires on its arrival
    const ac = new AbortController();
    const s = await faulty(() => ac.abort());
    const c = new OpenAIModel({ baseURL: s.url, model: 'm' });
    await expect(c.generate('hi', { signal: ac.signal })).rejects.toMatchObject({ code: 'ABORTED' });
    expect(s.hits()).toBe(1);
    // backoff: a 429 asks for a 300 s wait (the test's 10 s limit fails a wait the abort does not
    // cut). The abort fires once the client holds the whole 429 response and has run everything
    // that follows from it without I/O, i.e. once it sleeps.
    const s2 = await faulty((_q, res) => {
      res.writeHead(429, { 'retry-after': '300' });
      res.end();
    });
    const ac2 = new AbortController();
    const afterResponse: typeof fetch = async (url, init) => {
      const r = await fetch(url, init);
      const body = await r.text();
      setImmediate(() => ac2.abort());
      return new Response(body, { status: r.status, headers: r.headers });
    };
    const c2 = new OpenAIModel({ baseURL: s2.url, model: 'm', maxBackoffMs: 600_000, fetch: afterResponse });
    await expect(c2.generate('hi', { signal: ac2.signal })).rejects.toMatchObject({ code: 'ABORTED' });
    expect(s2.hits()).toBe(1);
  }, 10_000);

  it('sends the API key only as a header; ids and errors never contain it', async () => {
    const s = await faulty((_q, res) => {
      res.writeHead(401);
      res.end('{"error":{"message":"bad key"}}');
    });
    const key = 'sk-test-SECRET-123';
    const c = new OpenAIModel({ baseURL: s.url, model: 'm', apiKey: key });
    const err = await c.generate('hi').catch((e) => e);
    expect(err.code).toBe('NETWORK');
    expect(err.message).toMatch(/401.*bad key.*API key/);
    expect(JSON.stringify({ m: err.message, d: err.details, id: c.id })).not.toContain(key);
    expect(s.auth[0]).toBe(`Bearer ${key}`);
    const old = process.env.OPENAI_API_KEY;
    process.env.OPENAI_API_KEY = 'sk-env-KEY';
    try {
      await new OpenAIModel({ baseURL: s.url, model: 'm' }).generate('hi').catch(() => {});
      expect(s.auth[1]).toBe('Bearer sk-env-KEY');
    } finally {
      if (old === undefined) delete process.env.OPENAI_API_KEY;
      else process.env.OPENAI_API_KEY = old;
    }
  });

  it('keeps at most `concurrency` requests in flight', async () => {
    // The server holds every answer until the test releases them; the client's fetch is counted.
    const held: http.ServerResponse[] = [];
    let release = false;
    let twoHeld!: () => void;
    const bothArrived = new Promise<void>((r) => (twoHeld = r));
    const s = await faulty((_q, res) => {
      if (release) return ok(res);
      held.push(res);
      if (held.length === 2) twoHeld();
    });
    let calls = 0, inflight = 0, peak = 0;
    const counting: typeof fetch = async (url, init) => {
      calls++;
      peak = Math.max(peak, ++inflight);
      try {
        return await fetch(url, init);
      } finally {
        inflight--;
      }
    };
    const c = new OpenAIModel({ baseURL: s.url, model: 'm', concurrency: 2, fetch: counting });
    const all = Promise.all(Array.from({ length: 6 }, () => c.generate('x')));
    await bothArrived;
    await new Promise((r) => setImmediate(r)); // anything the client would start without an answer has started
    expect(calls).toBe(2);
    release = true;
    for (const res of held) ok(res);
    expect((await all).map((g) => g.texts[0])).toEqual(Array(6).fill('hello'));
    expect(calls).toBe(6);
    expect(s.hits()).toBe(6);
    expect(peak).toBe(2);
  });

  it('optimize against an endpoint that only answers garbage ends in a typed NETWORK error, not a hang or NaN', async () => {
    const s = await faulty((_q, res) => {
      res.writeHead(200);
      res.end('%%% not json');
    });
    const task = await defineTask({ instruction: 'Repeat.', examples: Array.from({ length: 6 }, (_, i) => ({ input: `${i}`, output: `${i}` })), metric: 'exact_match' });
    const lm = new OpenAIModel({ baseURL: s.url, model: 'm', maxRetries: 1, backoffMs: 1 });
    // every evaluation is a recorded failure, so there is nothing to optimize from
    await expect(optimize(task, lm, { strategy: "ape", maxIterations: 1 })).rejects.toMatchObject({ code: 'NETWORK', message: expect.stringMatching(/no validation example of the initial prompt could be scored.*not JSON/) });
    // a proposer call (instruction induction) that fails surfaces as the client's NETWORK error
    await expect(optimize({ ...task, instruction: '' }, lm, { strategy: 'ape', maxIterations: 1 })).rejects.toMatchObject({ code: 'NETWORK', message: expect.stringMatching(/failed after 2 attempts: the body is not JSON/) });
  });
});
