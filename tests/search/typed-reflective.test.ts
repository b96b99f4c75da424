// GEPA and MIPRO on a typed task: the target, judge and proposer are an OpenAI-compatible loopback
// server STANDING IN FOR A HOSTED CHAT MODEL (a scripted extractor: writing JSON needs a capable
// model). The judge's reason must reach GEPA's reflection as feedback; MIPRO's data summary names
// the typed fields.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineTask, type Task } from '../../src/eval/task.js';
import { OpenAIModel } from '../../src/llm/openai.js';
import { optimize } from '../../src/search/optimize.js';
import { openaiStandIn, type Msg, type StandIn } from '../llm/stand-ins.js';

const PEOPLE: [string, string, number][] = [['Alice', 'Smith', 31], ['Bob', 'Jones', 40], ['Cara', 'Diaz', 22], ['Dan', 'Wu', 50], ['Eve', 'Stone', 28], ['Finn', 'Moss', 63], ['Gia', 'Park', 19], ['Hal', 'Reed', 45]];
const FULL = 'Extract the full name and the age.';
const metaPrompts: string[] = [];

// extractor (first name only unless the system text asks for the full name), judge, proposer
function reply(msgs: Msg[]): string {
  const last = msgs.at(-1)!.content;
  if (msgs[0].role === 'system' && msgs[0].content.includes('Answer with one JSON object')) {
    const [, f, l, a] = /text: (\w+) (\w+) is (\d+)/.exec(last)!;
    return JSON.stringify({ name: /full name/i.test(msgs[0].content.split('\n\n')[0]) ? `${f} ${l}` : f, age: Number(a) });
  }
  if (last.startsWith('Grade the answer')) {
    const full = /Answer to grade:\n\{"name":"\w+ \w+"/.test(last);
    return JSON.stringify({ score: full ? 5 : 1, reason: full ? 'full name given' : 'only the first name is given' });
  }
  metaPrompts.push(last);
  if (last.includes('Summarize in two sentences')) return 'Sentences naming a person and their age.';
  if (last.startsWith('I provided an assistant')) return /only the first name is given/.test(last) ? '```\n' + FULL + '\n```' : '```\nExtract.\n```';
  return last.includes('Tip: Make it a detailed description') ? `<START>${FULL}<END>` : '<START>Extract the person.<END>';
}

let srv: StandIn;
let task: Task;
beforeAll(async () => {
  srv = await openaiStandIn(reply);
  task = await defineTask({
    name: 'people', instruction: 'Extract the person.', inputs: { text: 'string' }, outputs: { name: 'string', age: 'number' },
    metric: { fields: { name: 'exact', age: 'numeric' }, judge: { type: 'rubric', weight: 1 } },
    examples: PEOPLE.map(([f, l, a]) => ({ text: `${f} ${l} is ${a}.`, name: `${f} ${l}`, age: a })),
    split: { train: 0.5, validation: 0.25, test: 0.25, seed: 3 },
  });
});
afterAll(() => srv.close());

describe('reflective strategies on a typed task (stand-in for a hosted chat model)', () => {
  it('gepa: the judge\'s reason reaches the reflection; the rewrite scores 1 and the program is typed', async () => {
    metaPrompts.length = 0;
    const lm = new OpenAIModel({ baseURL: srv.url, model: 'stand-in', api: 'chat' });
    const r = await optimize(task, lm, { strategy: 'gepa', seed: 0, maxIterations: 2, candidatesPerIteration: 2 });
    expect(r.initialScore).toBeCloseTo(1 / 3, 12);
    expect(r.score).toBe(1);
    expect(r.best.instruction).toBe(FULL);
    expect(r.best.operator).toBe('gepa:reflect');
    const reflection = metaPrompts.find((p) => p.startsWith('I provided an assistant'))!;
    expect(reflection).toMatch(/Response: \{"name":"\w+","age":\d+\}\nExpected: \{"name":"\w+ \w+","age":\d+\}\nScore: 0\.33\d*\nFeedback: [^\n]*only the first name is given/);
    expect(r.program).toMatchObject({ kind: 'typed', instruction: FULL, provenance: { strategy: 'gepa' } });
  });

  it('mipro: the summary prompt names the typed fields; the detailed-tip instruction wins', async () => {
    metaPrompts.length = 0;
    const lm = new OpenAIModel({ baseURL: srv.url, model: 'stand-in', api: 'chat' });
    const r = await optimize(task, lm, { strategy: 'mipro', seed: 2, maxIterations: 3, patience: 3, candidatesPerIteration: 6 });
    expect(metaPrompts[0]).toContain('text (string) → name (string), age (number)');
    expect(r.score).toBe(1);
    expect(r.best.instruction).toBe(FULL);
    expect(r.best.operator).toMatch(/^mipro:/);
  });
});
