// The LLM-driven strategies end to end through `promptkiln serve` + the HTTP adapter on the real
// stories260K model: it writes poor prompts, but every request, score and candidate is real.
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
let srv: RunningServer;
let task: Task;
let requests = 0;

beforeAll(async () => {
  const model = await loadModel(path.join(MODELS_DIR, 'stories260K'));
  srv = await serve(model, { port: 0, name: 'stories260K', log: () => requests++ });
  task = await loadTask(path.join(FIXTURES, 'tom-stories.json'));
});
afterAll(async () => {
  await srv?.close();
});

describe('LLM strategies through serve + the HTTP client (stories260K)', () => {
  for (const strategy of ['ape', 'paraphrase', 'protegi', 'opro'] as const) {
    it(`${strategy}: proposals from the endpoint, loglik scores over HTTP, a logged result`, async () => {
      const lm = new OpenAIModel({ baseURL: srv.url, model: 'stories260K' });
      const before = requests;
      const log = new MemoryRunLog();
      const r = await optimize(task, lm, { strategy, seed: 0, maxIterations: 1, candidatesPerIteration: 4, runLog: log, init: strategy === 'ape' ? ['manual', 'induction'] : ['manual', 'description'] });
      expect(r.modelId).toBe(`openai:${new URL(srv.url).host}/v1/stories260K`);
      expect(r.initialScore).not.toBeNull();
      expect(r.score!).toBeGreaterThanOrEqual(r.initialScore!);
      expect(Number.isFinite(r.testScore!)).toBe(true);
      // LLM-written candidates came back from the server and were scored
      const written = r.candidates.filter((c) => c.cand.operator !== 'manual');
      expect(written.length).toBeGreaterThan(0);
      expect(written.every((c) => c.cand.instruction.length >= 3)).toBe(true);
      expect(requests - before).toBeGreaterThanOrEqual(r.freshCalls);
      expect(log.entries.at(-1)).toMatchObject({ type: 'result' });
      // and the strategy's own expansion step produced scored candidates
      expect(r.candidates.filter((c) => c.cand.operator === strategy && c.score !== null).length).toBeGreaterThan(0);
    });
  }
});
