// Every strategy (APE, paraphrase, GrIPS, ProTeGi, OPRO, demos, RL) runs unchanged on a typed
// task: the target is an OpenAI-compatible loopback server STANDING IN FOR A HOSTED CHAT MODEL
// (a scripted extractor, since writing JSON needs a capable model), which also plays the
// proposer and the judge; RL runs on the real local stories260K model (text rendering).
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineTask, type Task } from '../../src/eval/task.js';
import { localModel } from '../../src/llm/local.js';
import { OpenAIModel } from '../../src/llm/openai.js';
import { loadModel } from '../../src/model/index.js';
import { optimize } from '../../src/search/optimize.js';
import { rl } from '../../src/search/strategies/index.js';
import { openaiStandIn, type Msg, type StandIn } from '../llm/stand-ins.js';
import { MODELS_DIR } from '../helpers/paths.js';

const PEOPLE: [string, string, number][] = [['Alice', 'Smith', 31], ['Bob', 'Jones', 40], ['Cara', 'Diaz', 22], ['Dan', 'Wu', 50], ['Eve', 'Stone', 28], ['Finn', 'Moss', 63], ['Gia', 'Park', 19], ['Hal', 'Reed', 45]];
const SPEC = {
  name: 'people',
  description: 'Extract the full name and the age.',
  instruction: 'Extract the person.',
  inputs: { text: 'string' },
  outputs: { name: 'string', age: 'number' },
  metric: { fields: { name: 'exact', age: 'numeric' }, judge: { type: 'rubric', weight: 1 } },
  examples: PEOPLE.map(([f, l, a]) => ({ text: `${f} ${l} is ${a}.`, name: `${f} ${l}`, age: a })),
  split: { train: 0.5, validation: 0.25, test: 0.25, seed: 3 },
};
const FULL = 'Extract the full name and the age.';
const prompts: string[] = []; // every meta-prompt the proposer was sent

// The stand-in: extractor for rendered tasks (first name only unless the instruction asks for the
// full name or a demonstration shows one),
// judge for grading requests, proposer for everything else.
function reply(msgs: Msg[]): string {
  const last = msgs.at(-1)!.content;
  if (msgs[0].role === 'system' && msgs[0].content.includes('Answer with one JSON object')) {
    const [, f, l, a] = /text: (\w+) (\w+) is (\d+)/.exec(last)!;
    // the full name when the instruction asks for it, or when a demonstration shows one
    const shown = msgs.some((m) => m.role === 'assistant' && /"name":"\w+ \w+"/.test(m.content));
    return JSON.stringify({ name: /full name/i.test(msgs[0].content.split('\n\n')[0]) || shown ? `${f} ${l}` : f, age: Number(a) });
  }
  if (last.startsWith('Grade the answer')) {
    const full = /Answer to grade:\n\{"name":"\w+ \w+"/.test(last);
    return JSON.stringify({ score: full ? 5 : 1, reason: full ? 'full name given' : 'only the first name is given' });
  }
  prompts.push(last);
  if (last.includes('Give 2 reasons')) return 'The prompt does not ask for the full name.';
  if (last.includes('<START>')) return `<START>${FULL}<END>`;
  if (last.includes('<INS>')) return `<INS>${FULL}</INS>`;
  if (last.startsWith('Generate a variation')) return /Input: (.*)\n/.exec(last)![1].replace(/person/, 'full name of the person');
  return FULL;
}

let srv: StandIn;
let task: Task;
beforeAll(async () => {
  srv = await openaiStandIn(reply);
  task = await defineTask(SPEC);
});
afterAll(() => srv.close());

describe('strategies on a typed task', () => {
  for (const strategy of ['ape', 'paraphrase', 'grips', 'protegi', 'opro', 'demos'] as const) {
    it(`${strategy}: proposals scored through rendering, parsing, field metrics and the judge; the program is typed`, async () => {
      const lm = new OpenAIModel({ baseURL: srv.url, model: 'stand-in', api: 'chat' });
      prompts.length = 0;
      const r = await optimize(task, lm, { strategy, seed: 0, maxIterations: 1, candidatesPerIteration: 3 });
      // first name only: name 0, age 1, judge 0 → 1/3
      expect(r.initialScore).toBeCloseTo(1 / 3, 12);
      const own = r.candidates.filter((c) => c.cand.operator.startsWith(strategy === 'paraphrase' ? 'paraphrase' : strategy));
      expect(own.length).toBeGreaterThan(0);
      expect(own.every((c) => c.failures === 0)).toBe(true);
      expect(r.program).toMatchObject({ kind: 'typed', fields: { inputs: { text: 'string' }, outputs: { name: 'string', age: 'number' } }, instruction: r.best.instruction, provenance: { strategy } });
      expect(r.spend.judge.calls).toBeGreaterThan(0);
      if (strategy === 'demos') {
        // demonstrations are whole typed examples, in the program too
        expect(r.score).toBe(1);
        expect(r.best.demos.length).toBeGreaterThan(0);
        expect(r.program.demos[0]).toEqual({ inputs: r.best.demos[0].inputs, outputs: r.best.demos[0].outputs });
      } else if (strategy !== 'grips') {
        // the LLM strategies found the full-name instruction
        expect(r.score).toBe(1);
        expect(r.best.instruction).toMatch(/full name/);
      }
      if (strategy === 'protegi') {
        // the judge's reason reached the critique (textual gradient) as feedback
        const critique = prompts.find((p) => p.includes('Give 2 reasons'))!;
        expect(critique).toMatch(/Expected: \{"name":"\w+ \w+","age":\d+\}\nGot: \{"name":"\w+","age":\d+\}\nJudge: only the first name is given/);
      }
    });
  }

  it('judge calls are cached like target calls: scoring a candidate again sends nothing', async () => {
    const lm = new OpenAIModel({ baseURL: srv.url, model: 'stand-in', api: 'chat' });
    const { Evaluator } = await import('../../src/eval/evaluator.js');
    const ev = new Evaluator(task, lm);
    await ev.evaluate({ instruction: 'Extract the person.', demos: [] }, task.validation);
    const sent = srv.seen.length;
    const again = await ev.evaluate({ instruction: 'Extract the person.', demos: [] }, task.validation);
    expect(srv.seen.length).toBe(sent);
    expect(again.results.every((x) => x.cached)).toBe(true);
    expect(ev.stats.byRole.judge.calls).toBe(task.validation.length);
    expect(ev.stats.byRole.target.calls).toBe(task.validation.length);
  });

  it('rl: the policy trains on the local model with the typed task (text rendering); unusable answers are recorded failures with their reason', async () => {
    const model = await loadModel(path.join(MODELS_DIR, 'stories260K'));
    try {
      const t = await defineTask({ ...SPEC, metric: 'fields', retries: 0 });
      const r = await optimize(t, localModel(model), {
        strategy: rl({ model, stepsPerIteration: 2, batch: 2, rewardExamples: 2 }), seed: 0, maxIterations: 1, candidatesPerIteration: 2, generation: { maxTokens: 8 },
      });
      expect(r.candidates.some((c) => c.cand.operator.startsWith('rl'))).toBe(true);
      expect(r.program.kind).toBe('typed');
      // a 260K-parameter story model writes no JSON: every answer is a parse failure, kept with its reason
      expect(r.candidates[0].firstError).toMatch(/^\[PARSE\] no JSON object found in the answer/);
      expect(r.initialScore).toBe(0);
    } finally {
      model.dispose();
    }
  });
});
