// The Anthropic Messages and Gemini generateContent adapters against loopback servers that STAND
// IN FOR api.anthropic.com and generativelanguage.googleapis.com (unreachable here): the wire
// format each sends, usage and cache/reasoning tokens read back, keys only in headers, retries on
// overload, refusals as typed errors; and the price arithmetic those usages feed.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicModel } from '../../src/llm/anthropic.js';
import { GeminiModel } from '../../src/llm/gemini.js';
import { costOf, parsePriceTable, priceOf } from '../../src/llm/prices.js';
import { roleModel } from '../../src/cli/lm-roles.js';
import { OpenAIModel } from '../../src/llm/openai.js';
import { providerModel } from '../../src/llm/providers.js';
import type { LanguageModel } from '../../src/llm/types.js';
import { anthropicStandIn, geminiStandIn, type StandIn } from './stand-ins.js';

let claude: StandIn, gem: StandIn;
beforeAll(async () => {
  claude = await anthropicStandIn((msgs) => `echo ${msgs.length}: ${msgs.at(-1)!.content}`);
  gem = await geminiStandIn((msgs) => `echo ${msgs.length}: ${msgs.at(-1)!.content}`);
});
afterAll(() => Promise.all([claude.close(), gem.close()]));

describe('Anthropic Messages adapter (stand-in for api.anthropic.com)', () => {
  it('system turns go to "system", the rest alternate; key in x-api-key only; usage read back', async () => {
    const m = new AnthropicModel({ baseURL: claude.url, model: 'claude-stand-in', apiKey: 'sk-ant-SECRET' });
    const g = await m.chat([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }, { role: 'user', content: 'bye' }], { maxTokens: 20, temperature: 1.5, stop: ['\n', 'END'] });
    expect(g.texts).toEqual(['echo 4: bye']);
    const s = claude.seen.at(-1)!;
    expect(s.path).toBe('/v1/messages');
    expect(s.body).toEqual({ model: 'claude-stand-in', max_tokens: 20, temperature: 1, system: 'Be brief.', messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }, { role: 'user', content: 'bye' }], stop_sequences: ['END'] });
    expect(s.headers['x-api-key']).toBe('sk-ant-SECRET');
    expect(s.headers.authorization).toBeUndefined();
    expect(g.usage).toEqual({ promptTokens: s.tokens!.input, completionTokens: s.tokens!.output });
    expect(m.id).toBe(`anthropic:${new URL(claude.url).host}/claude-stand-in`);
    expect(m.id).not.toContain('SECRET');
    // n completions are n requests (the API has no n)
    const before = claude.seen.length;
    expect((await m.generate('x', { n: 3 })).texts.length).toBe(3);
    expect(claude.seen.length - before).toBe(3);
    expect((m as LanguageModel).score).toBeUndefined();
  });

  it('retries 529 overload with Retry-After, then succeeds; a 401 names the key variable', async () => {
    let calls = 0;
    const srv = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        calls++;
        if (req.headers['x-api-key'] === 'bad') {
          res.writeHead(401, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } }));
        } else if (calls === 1) {
          res.writeHead(529, { 'retry-after': '0' });
          res.end('{"type":"error","error":{"type":"overloaded_error"}}');
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ content: [{ type: 'text', text: 'ok' }], usage: { input_tokens: 5, cache_read_input_tokens: 7, output_tokens: 2 } }));
        }
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    try {
      const g = await new AnthropicModel({ baseURL: url, model: 'c', apiKey: 'good', backoffMs: 1 }).generate('hi');
      expect(g).toEqual({ texts: ['ok'], usage: { promptTokens: 12, completionTokens: 2, cachedPromptTokens: 7 } });
      expect(calls).toBe(2);
      await expect(new AnthropicModel({ baseURL: url, model: 'c', apiKey: 'bad' }).generate('hi')).rejects.toMatchObject({ code: 'NETWORK', message: expect.stringMatching(/HTTP 401: invalid x-api-key \(check the API key: option apiKey or ANTHROPIC_API_KEY\)/) });
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });
});

describe('Gemini generateContent adapter (stand-in for generativelanguage.googleapis.com)', () => {
  it('systemInstruction, user/model turns, JSON mode with the schema; key in x-goog-api-key, never the URL; thoughts are reasoning tokens', async () => {
    const m = new GeminiModel({ baseURL: gem.url, model: 'models/gemini-stand-in', apiKey: 'gm-SECRET' });
    const schema = { type: 'object', properties: { a: { type: 'number' } }, required: ['a'] };
    const g = await m.chat([{ role: 'system', content: 'Sys.' }, { role: 'user', content: 'q1' }, { role: 'assistant', content: 'a1' }, { role: 'user', content: 'q2' }], { maxTokens: 30, seed: 7, responseSchema: { name: 'output', schema } });
    expect(g.texts).toEqual(['echo 4: q2']);
    const s = gem.seen.at(-1)!;
    expect(s.path).toBe('/v1beta/models/gemini-stand-in:generateContent');
    expect(s.path).not.toContain('SECRET');
    expect(s.headers['x-goog-api-key']).toBe('gm-SECRET');
    expect(s.body).toEqual({
      contents: [{ role: 'user', parts: [{ text: 'q1' }] }, { role: 'model', parts: [{ text: 'a1' }] }, { role: 'user', parts: [{ text: 'q2' }] }],
      systemInstruction: { parts: [{ text: 'Sys.' }] },
      generationConfig: { temperature: 0, maxOutputTokens: 30, candidateCount: 1, seed: 7, responseMimeType: 'application/json', responseJsonSchema: schema },
    });
    expect(g.usage).toEqual({ promptTokens: s.tokens!.input, completionTokens: s.tokens!.output, reasoningTokens: 3 });
    expect(m.modelName).toBe('gemini-stand-in');
  });

  it('providerModel picks the adapter by name; the openai provider needs an endpoint; unknown providers are refused', () => {
    expect(providerModel({ provider: 'gemini', endpoint: gem.url, model: 'g' })).toBeInstanceOf(GeminiModel);
    expect(providerModel({ provider: 'anthropic', endpoint: claude.url, model: 'c' })).toBeInstanceOf(AnthropicModel);
    expect(() => providerModel({ model: 'x' })).toThrow(/openai provider needs an endpoint/);
    expect(() => providerModel({ provider: 'cohere' as never, model: 'x' })).toThrow(/provider must be one of openai, anthropic, gemini, got "cohere"/);
    expect(() => providerModel({ provider: 'anthropic', model: 'x', api: 'completions' })).toThrow(/api "completions" applies to the openai provider only/);
  });
});

describe('CLI roles: each role\'s unset flags default to the target\'s', () => {
  it('same provider: the target\'s endpoint and model; another provider: its own hosted default, never the target\'s URL', () => {
    const v = { endpoint: 'http://127.0.0.1:9/v1', 'llm-model': 'gpt-x', api: 'chat' };
    expect(roleModel('t', 'judge', v)).toBeUndefined();
    const j = roleModel('t', 'judge', { ...v, 'judge-model': 'gpt-judge' })!;
    expect(j).toBeInstanceOf(OpenAIModel);
    expect(j.id).toBe('openai:127.0.0.1:9/v1/gpt-judge');
    expect(j.chat).toBeDefined(); // --api chat carries over
    const p = roleModel('t', 'proposer', { ...v, 'proposer-provider': 'anthropic' })!;
    expect(p.id).toBe('anthropic:api.anthropic.com/gpt-x');
    expect(() => roleModel('t', 'judge', { 'judge-provider': 'gemini' })).toThrow(/--judge-model NAME is needed/);
    expect(() => roleModel('t', 'judge', { 'judge-provider': 'mistral' })).toThrow(/--judge-provider must be one of openai, anthropic, gemini, got "mistral"/);
  });
});

describe('prices', () => {
  it('cost splits cached input and reasoning tokens at their own prices; local models are free; unknown models have no price', () => {
    const p = { input: 2, cachedInput: 0.5, output: 8, reasoning: 10 };
    // 1000 prompt (400 cached), 300 completion (100 reasoning)
    expect(costOf(p, { promptTokens: 1000, cachedPromptTokens: 400, completionTokens: 300, reasoningTokens: 100 })).toBeCloseTo((600 * 2 + 400 * 0.5 + 200 * 8 + 100 * 10) / 1e6, 15);
    expect(costOf({ input: 1, output: 4 }, { promptTokens: 10, cachedPromptTokens: 5, completionTokens: 3, reasoningTokens: 1 })).toBeCloseTo((10 * 1 + 3 * 4) / 1e6, 15);
    expect(priceOf({}, { id: 'local:stories260K' })).toEqual({ input: 0, output: 0 });
    expect(priceOf({ m: p }, { id: 'openai:h/v1/m', modelName: 'm' })).toBe(p);
    expect(priceOf({ m: p }, { id: 'openai:h/v1/n', modelName: 'n' })).toBeNull();
  });
  it('a price file: errors name the file, line and key', () => {
    expect(parsePriceTable('{"gpt-4.1": {"input": 2, "output": 8}}', 'p.json')).toEqual({ 'gpt-4.1': { input: 2, output: 8 } });
    expect(() => parsePriceTable('{\n "a": {"input": 1, "output": 2},\n "b": {"input": -1, "output": 2}\n}', 'p.json')).toThrow('p.json:3: b.input: expected a price ≥ 0 in USD per million tokens, found -1');
    expect(() => parsePriceTable('{\n "a": {"input": 1}\n}', 'p.json')).toThrow('p.json:2: a: missing "output" (USD per million tokens)');
    expect(() => parsePriceTable('[1]', 'p.json')).toThrow(/p\.json: a price file is an object/);
  });
});
