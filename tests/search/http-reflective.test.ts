// GEPA and KNN through the CLI over HTTP: the target is `serve` over the real stories260K (every
// score and embedding is real), the proposer a loopback stand-in for a hosted LLM (stories260K
// cannot reflect), answering GEPA's reflection prompt with an instruction that raises the Tom
// continuations' likelihood. --resume sends nothing to either server.
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cmd, io } from '../helpers/cli-io.js';
import { serve, type RunningServer } from '../../src/llm/server.js';
import { loadModel } from '../../src/model/index.js';
import { MODELS_DIR } from '../helpers/paths.js';

const TASK = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'tom-stories.json');
const GOOD = 'Tom came. Tom said hello. Tom was happy.';

let target: RunningServer;
let proposer: http.Server;
let proposerURL: string;
const targetLog: string[] = [];
const reflections: string[] = [];

beforeAll(async () => {
  const model = await loadModel(path.join(MODELS_DIR, 'stories260K'));
  target = await serve(model, { port: 0, name: 'stories260K', log: (l) => targetLog.push(l) });
  proposer = http.createServer((req, res) => {
    let b = '';
    req.on('data', (c) => (b += c));
    req.on('end', () => {
      const body = JSON.parse(b);
      const p: string = body.prompt;
      if (p.startsWith('I provided an assistant')) reflections.push(p);
      const text = p.startsWith('I provided an assistant') || p.startsWith('Two instructions') ? '```\n' + GOOD + '\n```' : '';
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ choices: [{ index: 0, text, finish_reason: 'stop' }], usage: { prompt_tokens: 100, completion_tokens: 12 } }));
    });
  });
  await new Promise<void>((r) => proposer.listen(0, '127.0.0.1', r));
  proposerURL = `http://127.0.0.1:${(proposer.address() as AddressInfo).port}/v1`;
});
afterAll(async () => {
  await target?.close();
  proposer?.closeAllConnections();
  await new Promise((r) => proposer?.close(r));
});

const optimize = (args: string[]) => {
  const a = io();
  return cmd('optimize').run(args, a.io).then((code) => ({ code, j: JSON.parse(a.out[0]) }));
};

describe('optimize over HTTP (stories260K behind serve; proposer: a stand-in for a hosted LLM)', () => {
  it('gepa: reflection on real loglik feedback beats the initial prompt on test; --resume sends no request', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-gepa-http-'));
    const args = ['--task', TASK, '--endpoint', target.url, '--llm-model', 'stories260K', '--proposer-endpoint', proposerURL, '--proposer-model', 'writer',
      '--strategy', 'gepa', '--budget', '120', '--seed', '0', '--iterations', '2', '--candidates', '2', '--out', dir, '--json'];
    const r = await optimize(args);
    expect(r.code).toBe(0);
    expect(r.j.best).toBe(GOOD);
    expect(r.j.test_score).toBeGreaterThan(r.j.initial_test_score);
    expect(r.j.calls).toBeLessThanOrEqual(120);
    // the reflection saw the target's real per-example scores as feedback
    expect(reflections[0]).toMatch(/Score: -\d+\.\d{3} \(mean log-likelihood of the expected output/);
    const events = (await fs.readFile(path.join(dir, 'events.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(events.some((e) => e.name === 'call' && e.attributes.role === 'proposer')).toBe(true);
    const before = targetLog.length, n = reflections.length;
    const again = await optimize([...args, '--resume']);
    expect(again.j.best).toBe(GOOD);
    expect(again.j.calls).toBe(r.j.calls);
    expect(targetLog.length).toBe(before);
    expect(reflections.length).toBe(n);
    // events.jsonl starts over with the replay: the same proposals, every call served by the cache
    const replay = (await fs.readFile(path.join(dir, 'events.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    const props = (es: any[]) => es.filter((e) => e.name === 'proposal').map((e) => [e.attributes.candidate, e.attributes.instruction]);
    expect(props(replay)).toEqual(props(events));
    expect(replay.filter((e) => e.name === 'call').every((e) => e.attributes.cached)).toBe(true);
  });

  it('knn: embeddings from the endpoint\'s /v1/embeddings, stored with program.json', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-knn-http-'));
    targetLog.length = 0;
    const r = await optimize(['--task', TASK, '--endpoint', target.url, '--llm-model', 'stories260K', '--strategy', 'knn', '--out', dir, '--json']);
    expect(r.code).toBe(0);
    expect(r.j.test_score).toBeGreaterThan(r.j.initial_test_score);
    expect(targetLog.filter((l) => l.startsWith('POST /v1/embeddings 200'))).toHaveLength(1);
    const prog = JSON.parse(await fs.readFile(path.join(dir, 'program.json'), 'utf8'));
    expect(prog.retrieval.embedder).toBe(`openai:${new URL(target.url).host}/v1/stories260K`);
  });
});
