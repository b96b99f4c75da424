// The OpenAI-compatible server over the real stories260K model, exercised through the real
// HTTP client (OpenAIModel) and raw fetch on 127.0.0.1.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localModel } from '../../src/llm/local.js';
import { OpenAIModel } from '../../src/llm/openai.js';
import { chatToPrompt, serve, type RunningServer } from '../../src/llm/server.js';
import { loadModel, type Model } from '../../src/model/index.js';
import { MODELS_DIR } from '../helpers/paths.js';

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
    expect(chatToPrompt([{ role: 'user', content: 'Hi' }], null)).toBe('Hi');
    expect(chatToPrompt([{ role: 'system', content: 'S' }, { role: 'user', content: 'U' }], null)).toBe('System: S\n\nUser: U\n\nAssistant:');
    const client = new OpenAIModel({ baseURL: srv.url, model: 'stories260K', api: 'chat' });
    const g = await client.generate('Once upon a time', { maxTokens: 12, temperature: 0 });
    const local = await model.generate('Once upon a time', { maxTokens: 12, temperature: 0 });
    expect(g.texts[0]).toBe(local.text);
  });

  it('chat renders a Jinja chat template when the model has one', () => {
    // the template class is what serve() loads from @huggingface/jinja when chatTemplate is set
    return import('@huggingface/jinja').then(({ Template }) => {
      const tpl = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";
      expect(chatToPrompt([{ role: 'user', content: 'Hi' }], tpl, Template as never)).toBe('<|user|>Hi\n<|assistant|>');
    });
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
