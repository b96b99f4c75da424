// The LLM-driven strategies end to end over HTTP, with the target and the proposer as separate
// servers: the target is `serve` over the real stories260K (every score is real), the proposer is a
// stand-in for a hosted LLM that writes prompts (stories260K cannot): a loopback OpenAI-compatible
// endpoint answering each meta-prompt in its strategy's format with one good and one bad proposal.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTask, type Task } from '../../src/eval/task.js';
import { OpenAIModel } from '../../src/llm/openai.js';
import { serve, type RunningServer } from '../../src/llm/server.js';
import { loadModel } from '../../src/model/index.js';
import { optimize } from '../../src/search/optimize.js';
import { MemoryRunLog } from '../../src/search/run-log.js';
import { MODELS_DIR } from '../helpers/paths.js';

const FIXTURES = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures');
// on tom-stories, GOOD raises the mean log-likelihood of the Tom continuations over the initial
// "A story." on validation and test; BAD lowers it
const GOOD = 'Tom came. Tom said hello. Tom was happy.';
const BAD = 'A story about Lily.';

function proposal(prompt: string, choice: number): string {
  const p = choice % 2 === 0 ? GOOD : BAD;
  if (prompt.includes('<INS>')) return `<INS>${p}</INS>`; // OPRO
  if (prompt.includes('<START>')) return `<START>${p}<END>`; // ProTeGi revision
  if (prompt.includes('reasons')) return 'The prompt never mentions Tom.'; // ProTeGi critique
  if (prompt.includes('new prompts')) return `1. ${GOOD}\n2. ${BAD}`; // APE resampling
  if (prompt.includes('variation')) return p; // paraphrase
  return '';
}

let target: RunningServer;
let proposer: http.Server;
let proposerURL: string;
let task: Task;
const targetLog: string[] = []; // one line per request the target server answered
const proposerBodies: any[] = []; // every request the proposer server received

beforeAll(async () => {
  const model = await loadModel(path.join(MODELS_DIR, 'stories260K'));
  target = await serve(model, { port: 0, name: 'stories260K', log: (l) => targetLog.push(l) });
  proposer = http.createServer((req, res) => {
    let b = '';
    req.on('data', (c) => (b += c));
    req.on('end', () => {
      const body = JSON.parse(b);
      proposerBodies.push({ path: req.url, ...body });
      const choices = Array.from({ length: body.n ?? 1 }, (_, index) => ({ index, text: proposal(body.prompt, index), finish_reason: 'stop' }));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ choices, usage: { prompt_tokens: 10, completion_tokens: 10 } }));
    });
  });
  await new Promise<void>((r) => proposer.listen(0, '127.0.0.1', r));
  proposerURL = `http://127.0.0.1:${(proposer.address() as AddressInfo).port}/v1`;
  task = await loadTask(path.join(FIXTURES, 'tom-stories.json'));
});
afterAll(async () => {
  await target?.close();
  proposer?.closeAllConnections();
  await new Promise((r) => proposer?.close(r));
});

describe('LLM strategies over HTTP: stories260K target behind serve, a separate proposer endpoint', () => {
  for (const strategy of ['ape', 'paraphrase', 'protegi', 'opro'] as const) {
    it(`${strategy}: the proposer gets every proposal request and the target none; the proposed winner beats the initial prompt on test`, async () => {
      const targetBodies: any[] = [];
      const lm = new OpenAIModel({
        baseURL: target.url, model: 'stories260K',
        // records what the client sends; the request itself goes to the real server
        fetch: (url, init) => (targetBodies.push(JSON.parse(String(init!.body))), fetch(url, init)),
      });
      targetLog.length = 0;
      proposerBodies.length = 0;
      const log = new MemoryRunLog();
      const r = await optimize(task, lm, {
        strategy, proposer: new OpenAIModel({ baseURL: proposerURL, model: 'writer' }),
        seed: 0, maxIterations: 1, candidatesPerIteration: 4, runLog: log,
      });
      expect(r.modelId).toBe(`openai:${new URL(target.url).host}/v1/stories260K`);

      // the proposed prompt won, on validation and on the test split search never saw
      expect(r.best.instruction).toBe(GOOD);
      expect(r.score!).toBeGreaterThan(r.initialScore!);
      expect(r.testScore!).toBeGreaterThan(r.initialTestScore!);
      // the bad proposal was scored too, and lost (racing may have stopped it early)
      const bad = r.candidates.find((c) => c.cand.instruction === BAD)!;
      expect(bad.score!).toBeLessThan(r.score!);
      // provenance: written by this strategy's expansion of the manual prompt
      expect(r.best).toMatchObject({ operator: strategy, parent: 'c0', iteration: 1 });
      expect(r.lineage.map((c) => c.operator)).toEqual(['manual', strategy]);
      expect(log.entries.at(-1)).toMatchObject({ type: 'result', instruction: GOOD });

      // requests per server: proposals only at the proposer, scoring only at the target
      expect(proposerBodies.length).toBeGreaterThan(0);
      expect(proposerBodies.every((b) => b.path === '/v1/completions' && b.model === 'writer' && !b.echo && b.max_tokens > 0)).toBe(true);
      expect(targetBodies.length).toBeGreaterThan(0);
      expect(targetBodies.every((b) => b.echo === true && b.max_tokens === 0)).toBe(true);
      expect(targetLog.length).toBe(targetBodies.length);
      expect(targetLog.every((l) => l.startsWith('POST /v1/completions 200'))).toBe(true);
    });
  }
});
