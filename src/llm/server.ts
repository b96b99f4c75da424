// An OpenAI-compatible HTTP server over a local model (Node only; node:http is imported when
// serving starts). Endpoints:
//   GET  /v1/models
//   POST /v1/completions       prompt, max_tokens, temperature, top_p, n, stop, seed, logprobs, echo, stream
//   POST /v1/chat/completions  messages, (same sampling fields), stream
//   POST /v1/embeddings        input (a string or strings): mean-pooled last hidden states
// Scoring as lm-evaluation-harness and APE do it: echo + logprobs + max_tokens 0 returns the
// logprob of every prompt token (the first real token is conditioned on BOS).
// Chat renders the checkpoint's chat template as transformers' apply_chat_template does (tools and
// chat_template_kwargs from the request in scope) and encodes it without added special tokens (the
// template writes its own BOS); without a template it uses the plain format of chatToPrompt below.
import { PromptkilnError, isPromptkilnError } from '../errors.js';
import { renderChat, type ChatMessage } from '../model/chat-template.js';
import { Limit } from './limit.js';
import { meanPooled, type LocalModelLike } from './local.js';

export interface ServeOptions {
  port?: number; // 0 = any free port (default 8080)
  host?: string; // default 127.0.0.1
  name?: string; // the model name clients send and /v1/models lists (default: the model id)
  maxTokensCap?: number; // largest max_tokens accepted (default: the model context)
  log?: (line: string) => void; // one line per request (never bodies)
}

export interface RunningServer {
  url: string; // http://host:port/v1
  port: number;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;
interface Message extends ChatMessage {
  content: string;
}

class BadRequest extends Error {}

// The plain chat format (no template in the checkpoint): a single user message is the prompt
// verbatim (base models continue it); otherwise each message becomes "Role: content" separated
// by blank lines, ending with "Assistant:".
export function chatToPrompt(messages: Message[]): string {
  if (messages.length === 1 && messages[0].role === 'user') return messages[0].content;
  const cap = (r: string) => r.charAt(0).toUpperCase() + r.slice(1);
  return messages.map((m) => `${cap(m.role)}: ${m.content}`).join('\n\n') + '\n\nAssistant:';
}

function num(body: Json, k: string, dflt: number, lo: number, hi: number, int = false): number {
  const v = body[k] ?? dflt;
  if (v === null) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi || (int && !Number.isInteger(v))) {
    throw new BadRequest(`"${k}" must be ${int ? 'an integer' : 'a number'} in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
  }
  return v;
}

// /v1/completions takes a string, or an array of exactly one string (what batching clients send).
function promptOf(body: Json): string {
  const p = Array.isArray(body.prompt) && body.prompt.length === 1 ? body.prompt[0] : body.prompt;
  if (typeof p !== 'string') throw new BadRequest('"prompt" must be a string (or an array of one string)');
  return p;
}

function stops(body: Json): string[] | undefined {
  const s = body.stop;
  if (s === undefined || s === null) return undefined;
  if (typeof s === 'string') return [s];
  if (Array.isArray(s) && s.every((x) => typeof x === 'string')) return s as string[];
  throw new BadRequest('"stop" must be a string or an array of strings');
}

export async function serve(model: LocalModelLike, opts: ServeOptions = {}): Promise<RunningServer> {
  const http = await import('node:http');
  const name = opts.name ?? model.id;
  const created = Math.floor(Date.now() / 1000);
  const one = new Limit(1); // the model runs one request at a time
  const cap = opts.maxTokensCap ?? model.config.maxSeqLen;
  const tok = () => {
    if (!model.tokenizer) throw new BadRequest('this model has no tokenizer; the text API needs one');
    return model.tokenizer;
  };
  let seq = 0;
  const rid = (p: string) => `${p}-${Date.now().toString(36)}${(seq++).toString(36)}`;

  // the texts a token list decodes to, piece by piece, and each piece's offset
  const pieces = (ids: number[], prev: number | null) => {
    const t = tok();
    const out: { text: string; offset: number }[] = [];
    let off = 0;
    for (const id of ids) {
      const text = t.decodeToken(id, prev);
      out.push({ text, offset: off });
      off += text.length;
      prev = id;
    }
    return out;
  };

  async function sample(prompt: string | number[], body: Json, signal: AbortSignal) {
    const maxTokens = num(body, 'max_tokens', 16, 0, cap, true);
    const n = num(body, 'n', 1, 1, 16, true);
    const temperature = num(body, 'temperature', 1, 0, 2);
    const topP = num(body, 'top_p', 1, 0, 1);
    const seed = num(body, 'seed', 0, 0, 2 ** 31, true);
    const stop = stops(body);
    const outs = [];
    for (let i = 0; i < n; i++) {
      const r = await model.generate(prompt, { maxTokens, temperature, topP: topP < 1 ? topP : undefined, seed: seed + i, stop, signal });
      outs.push({ text: r.text ?? '', tokens: r.tokens, finish: r.finishReason === 'length' ? 'length' : 'stop' });
    }
    return outs;
  }

  async function completions(body: Json, signal: AbortSignal): Promise<Json> {
    const prompt = promptOf(body);
    const echo = body.echo === true;
    const lpN = body.logprobs === undefined || body.logprobs === null ? null : num(body, 'logprobs', 0, 0, 5, true);
    const maxTokens = num(body, 'max_tokens', 16, 0, cap, true);
    const t = tok();
    const promptIds = t.encode(prompt);
    let promptPart: { tokens: string[]; lps: (number | null)[]; offs: number[] } | null = null;
    if (echo && lpN !== null) {
      // every prompt token's logprob: score the whole prompt as a target after BOS alone
      const s = await model.score('', prompt, { signal });
      const ps = pieces(s.tokens, promptIds[0] ?? null);
      promptPart = { tokens: ps.map((p) => p.text), lps: s.logprobs, offs: ps.map((p) => p.offset) };
    }
    const usage = { prompt_tokens: promptIds.length, completion_tokens: 0, total_tokens: promptIds.length };
    if (maxTokens === 0) {
      const logprobs = promptPart ? { tokens: promptPart.tokens, token_logprobs: promptPart.lps, text_offset: promptPart.offs, top_logprobs: promptPart.tokens.map((tk, i) => ({ [tk]: promptPart!.lps[i] })) } : null;
      return { id: rid('cmpl'), object: 'text_completion', created, model: name, choices: [{ index: 0, text: echo ? prompt : '', logprobs, finish_reason: 'length' }], usage };
    }
    const outs = await sample(prompt, body, signal);
    const choices = [];
    for (const [index, o] of outs.entries()) {
      usage.completion_tokens += o.tokens.length;
      let logprobs: Json | null = null;
      if (lpN !== null) {
        const gen = o.tokens.length ? (await model.score(prompt, o.tokens, { signal })).logprobs : [];
        const ps = pieces(o.tokens, promptIds[promptIds.length - 1] ?? null);
        const base = echo ? prompt.length : 0;
        const tokens = [...(promptPart?.tokens ?? []), ...ps.map((p) => p.text)];
        const lps = [...(promptPart?.lps ?? []), ...gen];
        logprobs = { tokens, token_logprobs: lps, text_offset: [...(promptPart?.offs ?? []), ...ps.map((p) => p.offset + base)], top_logprobs: tokens.map((tk, i) => ({ [tk]: lps[i] })) };
      }
      choices.push({ index, text: (echo ? prompt : '') + o.text, logprobs, finish_reason: o.finish });
    }
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    return { id: rid('cmpl'), object: 'text_completion', created, model: name, choices, usage };
  }

  // the chat prompt: template-rendered ids, or the plain-format text
  function chatPrompt(body: Json): string | number[] {
    const ms = body.messages;
    if (!Array.isArray(ms) || ms.length === 0) throw new BadRequest('"messages" must be a non-empty array');
    const messages: Message[] = ms.map((m, i) => {
      const o = m as Json;
      if (typeof o?.role !== 'string') throw new BadRequest(`messages[${i}].role must be a string`);
      let content = o.content;
      // content parts: keep the text ones
      if (Array.isArray(content)) content = content.map((p) => ((p as Json)?.type === 'text' ? String((p as Json).text ?? '') : '')).join('');
      if (typeof content !== 'string') throw new BadRequest(`messages[${i}].content must be a string`);
      return { ...o, role: o.role, content };
    });
    if (!model.chatTemplate) return chatToPrompt(messages);
    const kw = body.chat_template_kwargs ?? {};
    if (typeof kw !== 'object' || kw === null || Array.isArray(kw)) throw new BadRequest('"chat_template_kwargs" must be an object');
    if (body.tools !== undefined && body.tools !== null && !Array.isArray(body.tools)) throw new BadRequest('"tools" must be an array');
    const specialTokens = (model.tokenizer as { specialTokens?: Record<string, string> } | null)?.specialTokens;
    const text = renderChat(model.chatTemplate, messages, { ...(kw as Json), tools: (body.tools as unknown[] | undefined) ?? null, addGenerationPrompt: true }, specialTokens);
    return tok().encode(text, { bos: false });
  }

  async function chat(body: Json, signal: AbortSignal): Promise<Json> {
    const prompt = chatPrompt(body);
    const outs = await sample(prompt, body, signal);
    const promptTokens = typeof prompt === 'string' ? tok().encode(prompt).length : prompt.length;
    const completion = outs.reduce((a, o) => a + o.tokens.length, 0);
    return {
      id: rid('chatcmpl'),
      object: 'chat.completion',
      created,
      model: name,
      choices: outs.map((o, index) => ({ index, message: { role: 'assistant', content: o.text }, finish_reason: o.finish })),
      usage: { prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion },
    };
  }

  async function embeddings(body: Json): Promise<Json> {
    const input = typeof body.input === 'string' ? [body.input] : body.input;
    if (!Array.isArray(input) || input.length === 0 || input.some((t) => typeof t !== 'string')) throw new BadRequest('"input" must be a string or a non-empty array of strings');
    const data: Json[] = [];
    let tokens = 0;
    for (const [index, t] of (input as string[]).entries()) {
      const e = await meanPooled(model, t);
      data.push({ object: 'embedding', index, embedding: e.vector });
      tokens += e.tokens;
    }
    return { object: 'list', data, model: name, usage: { prompt_tokens: tokens, total_tokens: tokens } };
  }

  // Server-sent events: one chunk per token, then [DONE].
  async function streamOut(res: import('node:http').ServerResponse, kind: 'chat' | 'text', body: Json, signal: AbortSignal) {
    const prompt = kind === 'chat' ? chatPrompt(body) : promptOf(body);
    const maxTokens = num(body, 'max_tokens', 16, 1, cap, true);
    const temperature = num(body, 'temperature', 1, 0, 2);
    const seed = num(body, 'seed', 0, 0, 2 ** 31, true);
    const stop = stops(body);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const id = rid(kind === 'chat' ? 'chatcmpl' : 'cmpl');
    const send = (delta: string | null, finish: string | null) => {
      const choice = kind === 'chat' ? { index: 0, delta: delta === null ? {} : { content: delta }, finish_reason: finish } : { index: 0, text: delta ?? '', finish_reason: finish };
      res.write(`data: ${JSON.stringify({ id, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', created, model: name, choices: [choice] })}\n\n`);
    };
    // stop strings are applied by generate(); streaming sends the final text in one piece when
    // stops are given, token pieces otherwise
    if (model.stream && !stop) {
      let count = 0;
      for await (const p of model.stream(prompt, { maxTokens, temperature, seed, signal })) {
        send(p.text, null);
        count++;
      }
      send(null, count >= maxTokens ? 'length' : 'stop');
    } else {
      const r = await model.generate(prompt, { maxTokens, temperature, seed, stop, signal });
      send(r.text ?? '', null);
      send(null, r.finishReason === 'length' ? 'length' : 'stop');
    }
    res.write('data: [DONE]\n\n');
    res.end();
  }

  const server = http.createServer((req, res) => {
    const ac = new AbortController();
    res.on('close', () => ac.abort(new Error('client closed the connection')));
    const reply = (status: number, j: Json) => {
      if (res.headersSent) return res.end();
      const s = JSON.stringify(j);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
      res.end(s);
    };
    const fail = (status: number, message: string, type = 'invalid_request_error') => reply(status, { error: { message, type, code: null } });
    const path = (req.url ?? '').split('?')[0].replace(/\/+$/, '');
    const t0 = Date.now();
    res.on('finish', () => opts.log?.(`${req.method} ${path} ${res.statusCode} ${Date.now() - t0}ms`));
    if (req.method === 'GET' && (path === '/v1/models' || path === '/models')) {
      return reply(200, { object: 'list', data: [{ id: name, object: 'model', created, owned_by: 'promptkiln' }] });
    }
    const route = path.replace(/^\/v1/, '');
    if (req.method !== 'POST' || (route !== '/completions' && route !== '/chat/completions' && route !== '/embeddings')) {
      return fail(404, `no route ${req.method} ${path}; this server offers GET /v1/models, POST /v1/completions, POST /v1/chat/completions, POST /v1/embeddings`, 'not_found');
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 8 << 20) {
        fail(413, 'request body over 8 MiB');
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      let body: Json;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('not an object');
      } catch (e) {
        return fail(400, `the request body is not a JSON object: ${(e as Error).message}`);
      }
      if (body.model !== undefined && body.model !== name) {
        return fail(404, `model "${String(body.model)}" is not served here; this server serves "${name}"`, 'not_found');
      }
      one
        .run(async () => {
          if (route === '/embeddings') return reply(200, await embeddings(body));
          if (body.stream === true) return streamOut(res, route === '/completions' ? 'text' : 'chat', body, ac.signal);
          reply(200, route === '/completions' ? await completions(body, ac.signal) : await chat(body, ac.signal));
        })
        .catch((e) => {
          if (e instanceof BadRequest) return fail(400, e.message);
          if (isPromptkilnError(e) && ['CONTEXT', 'TOKEN', 'ARGUMENT', 'TOKENIZER'].includes(e.code)) return fail(400, `[${e.code}] ${e.message}`);
          if (isPromptkilnError(e, 'ABORTED')) return res.destroy();
          fail(500, `internal error: ${(e as Error)?.message ?? e}`, 'server_error');
        });
    });
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new PromptkilnError('NETWORK', `serve: cannot listen on ${host}:${opts.port ?? 8080}: ${e.message}`)));
    server.listen(opts.port ?? 8080, host, () => resolve());
  });
  const port = (server.address() as import('node:net').AddressInfo).port;
  return {
    url: `http://${host}:${port}/v1`,
    port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}
