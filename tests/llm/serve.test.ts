// The OpenAI-compatible server over the real stories260K model, exercised through the real
// HTTP client (OpenAIModel) and raw fetch on 127.0.0.1.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localModel } from '../../src/llm/local.js';
import { OpenAIModel } from '../../src/llm/openai.js';
import { chatToPrompt, serve, type RunningServer } from '../../src/llm/server.js';
import { loadModel, type Model } from '../../src/model/index.js';
import { MODELS_DIR, REFS_DIR } from '../helpers/paths.js';
import { loadCheckpoint } from '../../src/model/source.js';
import { Model as ModelClass } from '../../src/model/index.js';
import { readFileSync } from 'node:fs';

let model: Model;
let srv: RunningServer;

beforeAll(async () => {
  model = await loadModel(path.join(MODELS_DIR, 'stories260K'));
  srv = await serve(model, { port: 0, name: 'stories260K' });
});
afterAll(async () => {
  await srv?.close();
});

const post = async (p: string, body: unknown) => {
  const r = await fetch(srv.url + p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: (await r.json()) as any };
};

describe('promptkiln serve (stories260K)', () => {
  it('lists the model', async () => {
    const j = (await (await fetch(srv.url + '/models')).json()) as any;
    expect(j.data[0].id).toBe('stories260K');
  });

  it('completions: greedy text equals the local model, and n returns n choices', async () => {
    const client = new OpenAIModel({ baseURL: srv.url, model: 'stories260K' });
    const local = await model.generate('Once upon a time', { maxTokens: 20, temperature: 0 });
    const g = await client.generate('Once upon a time', { maxTokens: 20, temperature: 0, n: 2 });
    expect(g.texts).toEqual([local.text, local.text]);
    expect(g.usage.completionTokens).toBe(2 * local.tokens.length);
  });

  it('scoring over HTTP (echo + logprobs + max_tokens 0) equals the local score', async () => {
    const client = new OpenAIModel({ baseURL: srv.url, model: 'stories260K' });
    const prompt = 'Once upon a time, there was a little girl.';
    const target = ' Then Tom came.';
    const http = await client.score!(prompt, target);
    const local = await localModel(model).score!(prompt, target);
    expect(http.logprobs.length).toBe(local.logprobs.length);
    expect(http.total).toBeCloseTo(local.total, 3);
  });

  it('completions with logprobs on generated tokens, and echo', async () => {
    const { status, json } = await post('/completions', { prompt: 'Once upon a time', max_tokens: 5, temperature: 0, logprobs: 1, echo: true });
    expect(status).toBe(200);
    const c = json.choices[0];
    expect(c.text.startsWith('Once upon a time')).toBe(true);
    expect(c.logprobs.tokens.join('')).toBe(c.text);
    expect(c.logprobs.token_logprobs.every((x: number) => Number.isFinite(x) && x <= 0)).toBe(true);
  });

  it('chat: the plain format passes a lone user message through (no template in this checkpoint)', async () => {
    expect(chatToPrompt([{ role: 'user', content: 'Hi' }])).toBe('Hi');
    expect(chatToPrompt([{ role: 'system', content: 'S' }, { role: 'user', content: 'U' }])).toBe('System: S\n\nUser: U\n\nAssistant:');
    const client = new OpenAIModel({ baseURL: srv.url, model: 'stories260K', api: 'chat' });
    const g = await client.generate('Once upon a time', { maxTokens: 12, temperature: 0 });
    const local = await model.generate('Once upon a time', { maxTokens: 12, temperature: 0 });
    expect(g.texts[0]).toBe(local.text);
  });

  it('streams server-sent events', async () => {
    const r = await fetch(srv.url + '/completions', { method: 'POST', body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 6, temperature: 0, stream: true }) });
    const text = await r.text();
    const chunks = text.split('\n\n').filter((l) => l.startsWith('data: ') && !l.includes('[DONE]')).map((l) => JSON.parse(l.slice(6)));
    const local = await model.generate('Once upon a time', { maxTokens: 6, temperature: 0 });
    expect(chunks.map((c) => c.choices[0].text).join('')).toBe(local.text);
    expect(text.trim().endsWith('data: [DONE]')).toBe(true);
  });

  it('bad requests get 400/404 with an OpenAI-style error, and the client reports them as NETWORK', async () => {
    expect((await post('/completions', { prompt: 5 })).status).toBe(400);
    expect((await post('/completions', { prompt: 'x', max_tokens: -1 })).json.error.message).toMatch(/max_tokens/);
    expect((await post('/completions', { prompt: 'x', model: 'gpt-9' })).status).toBe(404);
    expect((await post('/nope', {})).status).toBe(404);
    const raw = await fetch(srv.url + '/completions', { method: 'POST', body: '{not json' });
    expect(raw.status).toBe(400);
    const client = new OpenAIModel({ baseURL: srv.url, model: 'other-model', maxRetries: 0 });
    await expect(client.generate('x')).rejects.toMatchObject({ code: 'NETWORK', message: expect.stringMatching(/404.*not served/) });
  });
});

// A checkpoint with a chat template (transformers wrote it: ChatML in chat_template.jinja, tied
// Llama 3 weights): the chat endpoint renders the template and encodes it without added specials.
describe('promptkiln serve: chat template (llama3-rope-scaled-tied)', () => {
  const HF = path.join(REFS_DIR, 'hf');
  const cases = JSON.parse(readFileSync(path.join(HF, 'cases.json'), 'utf8'));
  const chat = cases.tokenizers.bytelevel.chat;
  const files: Record<string, Uint8Array> = {};
  let m: ModelClass;
  let s: RunningServer;
  const postTo = async (srvUrl: string, body: unknown) => {
    const r = await fetch(srvUrl + '/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, json: (await r.json()) as any };
  };
  beforeAll(async () => {
    for (const f of cases.models['llama3-rope-scaled-tied'].files as string[]) files[f] = new Uint8Array(readFileSync(path.join(HF, 'llama3-rope-scaled-tied', f)));
    m = await ModelClass.fromCheckpoint(await loadCheckpoint({ files, name: 'llama3' }));
    s = await serve(m, { port: 0, name: 'llama3' });
  });
  afterAll(async () => {
    await s?.close();
    m?.dispose();
  });

  it('prompt = the template rendering (transformers ids exact), completion = local greedy on those ids', async () => {
    const { status, json } = await postTo(s.url, { messages: chat.messages, max_tokens: 6, temperature: 0 });
    expect(status).toBe(200);
    expect(json.usage.prompt_tokens).toBe(chat.ids.length);
    const local = await m.generate(chat.ids, { maxTokens: 6, temperature: 0 });
    expect(json.choices[0].message.content).toBe(local.text);
    expect(json.usage.completion_tokens).toBe(local.tokens.length);
  });

  it('chat_template_kwargs reach the template; raise_exception becomes a 400 naming the template message', async () => {
    const tpl = "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('no system role here') }}{% endif %}{{ m.content }}{% endfor %}{% if shout %}!{% endif %}";
    const mm = await ModelClass.fromCheckpoint(await loadCheckpoint({ files: { ...files, 'chat_template.jinja': new TextEncoder().encode(tpl) }, name: 'llama3-tpl' }));
    const s2 = await serve(mm, { port: 0, name: 'llama3-tpl' });
    try {
      const plain = await postTo(s2.url, { messages: [{ role: 'user', content: 'abc' }], max_tokens: 1, temperature: 0 });
      const loud = await postTo(s2.url, { messages: [{ role: 'user', content: 'abc' }], max_tokens: 1, temperature: 0, chat_template_kwargs: { shout: true } });
      expect(plain.json.usage.prompt_tokens).toBe(mm.tokenizer!.encode('abc', { bos: false }).length);
      expect(loud.json.usage.prompt_tokens).toBe(mm.tokenizer!.encode('abc!', { bos: false }).length);
      const bad = await postTo(s2.url, { messages: [{ role: 'system', content: 'x' }], max_tokens: 1 });
      expect(bad.status).toBe(400);
      expect(bad.json.error.message).toMatch(/ARGUMENT.*no system role here/);
    } finally {
      await s2.close();
      mm.dispose();
    }
  });
});

// Mistral's [INST] template writes <s> itself (bos_token in scope) and raises on two user turns.
describe('promptkiln serve: a template that writes BOS and raises (mistral-sp-tokenizer)', () => {
  const HF = path.join(REFS_DIR, 'hf');
  const cases = JSON.parse(readFileSync(path.join(HF, 'cases.json'), 'utf8'));
  const chat = cases.tokenizers.sentencepiece.chat;
  let m: ModelClass;
  let s: RunningServer;
  beforeAll(async () => {
    m = await loadModel(path.join(HF, 'mistral-sp-tokenizer'));
    s = await serve(m, { port: 0, name: 'mistral' });
  });
  afterAll(async () => {
    await s?.close();
    m?.dispose();
  });
  const postTo = async (body: unknown) => {
    const r = await fetch(s.url + '/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, json: (await r.json()) as any };
  };

  it('the prompt is transformers\' chat ids (one BOS), the completion local greedy on them', async () => {
    const { status, json } = await postTo({ messages: chat.messages, max_tokens: 5, temperature: 0 });
    expect(status).toBe(200);
    expect(json.usage.prompt_tokens).toBe(chat.ids.length);
    const local = await m.generate(chat.ids, { maxTokens: 5, temperature: 0 });
    expect(json.choices[0].message.content).toBe(local.text);
  });

  it('two user turns: 400 carrying the template\'s own message', async () => {
    const { status, json } = await postTo({ messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }], max_tokens: 1 });
    expect(status).toBe(400);
    expect(json.error.message).toContain(chat.bad_roles_raises);
  });
});
