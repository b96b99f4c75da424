// Loopback HTTP servers that speak the OpenAI chat/completions, Anthropic Messages and Gemini
// generateContent wire formats. They STAND IN FOR THE HOSTED SERVICES (api.openai.com,
// api.anthropic.com, generativelanguage.googleapis.com), which this machine cannot reach: a
// scripted `reply` plays the capable model; every request (path, headers, body) is recorded.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Msg {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface Seen {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
  tokens?: { input: number; output: number }; // the usage the response reported (output incl. reasoning)
}

// the scripted model: the conversation (system first) → the answer text
export type Reply = (messages: Msg[], body: Record<string, unknown>) => string;

export interface StandIn {
  url: string; // base URL to give the adapter
  seen: Seen[];
  close(): Promise<void>;
}

const tokens = (s: string) => Math.ceil(s.length / 4);

type Handle = (path: string, body: Record<string, unknown>) => { json: Record<string, unknown>; input: number; output: number };

async function start(handle: Handle, suffix: string): Promise<StandIn> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (d) => (data += d));
    req.on('end', () => {
      const body = JSON.parse(data || '{}') as Record<string, unknown>;
      const s: Seen = { path: req.url ?? '', headers: req.headers, body };
      seen.push(s);
      try {
        const out = handle(req.url ?? '', body);
        s.tokens = { input: out.input, output: out.output };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(out.json));
      } catch (e) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: (e as Error).message } }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${suffix}`,
    seen,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

// OpenAI-compatible: POST /v1/chat/completions (and /v1/completions with a prompt)
export function openaiStandIn(reply: Reply): Promise<StandIn> {
  return start((path, body) => {
    const chat = path.endsWith('/chat/completions');
    if (!chat && !path.endsWith('/completions')) throw new Error(`no route ${path}`);
    const msgs = chat ? (body.messages as Msg[]) : [{ role: 'user' as const, content: String(body.prompt) }];
    const text = reply(msgs, body);
    const prompt = msgs.map((m) => m.content).join('\n');
    const usage = { prompt_tokens: tokens(prompt), completion_tokens: tokens(text), prompt_tokens_details: { cached_tokens: 0 } };
    const json = chat
      ? { object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }], usage }
      : { object: 'text_completion', choices: [{ index: 0, text, finish_reason: 'stop' }], usage };
    return { json, input: usage.prompt_tokens, output: usage.completion_tokens };
  }, '/v1');
}

// Anthropic: POST /v1/messages {system, messages}; content blocks; input/output token usage
export function anthropicStandIn(reply: Reply): Promise<StandIn> {
  return start((path, body) => {
    if (path !== '/v1/messages') throw new Error(`no route ${path}`);
    const msgs: Msg[] = [...(body.system ? [{ role: 'system' as const, content: String(body.system) }] : []), ...(body.messages as Msg[])];
    const text = reply(msgs, body);
    const usage = { input_tokens: tokens(msgs.map((m) => m.content).join('\n')), output_tokens: tokens(text), cache_read_input_tokens: 0 };
    const json = { id: 'msg_standin', type: 'message', role: 'assistant', model: body.model, content: [{ type: 'text', text }], stop_reason: 'end_turn', usage };
    return { json, input: usage.input_tokens, output: usage.output_tokens };
  }, '');
}

// Gemini: POST /v1beta/models/{model}:generateContent {systemInstruction, contents[{role, parts}]}
export function geminiStandIn(reply: Reply): Promise<StandIn> {
  return start((path, body) => {
    if (!/^\/v1beta\/models\/[^/]+:generateContent$/.test(path)) throw new Error(`no route ${path}`);
    const sys = (body.systemInstruction as { parts: { text: string }[] } | undefined)?.parts.map((p) => p.text).join('') ?? '';
    const contents = body.contents as { role: string; parts: { text: string }[] }[];
    const msgs: Msg[] = [
      ...(sys ? [{ role: 'system' as const, content: sys }] : []),
      ...contents.map((c) => ({ role: (c.role === 'model' ? 'assistant' : 'user') as Msg['role'], content: c.parts.map((p) => p.text).join('') })),
    ];
    const text = reply(msgs, body);
    const usageMetadata = { promptTokenCount: tokens(msgs.map((m) => m.content).join('\n')), candidatesTokenCount: tokens(text), thoughtsTokenCount: 3 };
    const json = { candidates: [{ content: { role: 'model', parts: [{ text }] }, finishReason: 'STOP' }], usageMetadata };
    return { json, input: usageMetadata.promptTokenCount, output: usageMetadata.candidatesTokenCount + usageMetadata.thoughtsTokenCount };
  }, '/v1beta');
}
