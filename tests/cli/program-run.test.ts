// End to end: `promptkiln optimize` on a typed extraction task (a JSON-object output field with a
// JSON Schema, a class field, and an LLM judge in the metric), the target, proposer and judge each
// a different provider, with a money cap; it writes program.json, which `promptkiln run` (the
// built CLI, as from a shell) applies, and which re-scores to the reported test score.
// The three servers are loopback STAND-INS FOR HOSTED SERVICES (OpenAI, Google Gemini, Anthropic)
// with scripted replies: a capable model is needed to write JSON, and none runs on this machine.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { cmd, io } from '../helpers/cli-io.js';
import { Evaluator } from '../../src/eval/evaluator.js';
import { scoreParts } from '../../src/eval/field-metrics.js';
import { loadProgram, type ProgramJson } from '../../src/eval/program.js';
import { defineTask, loadTask, typedTask } from '../../src/eval/task.js';
import { functionModel } from '../../src/llm/function.js';
import { optimize } from '../../src/search/optimize.js';
import { PROMPTKILN_VERSION } from '../../src/eval/version.js';
import { AnthropicModel } from '../../src/llm/anthropic.js';
import { OpenAIModel } from '../../src/llm/openai.js';
import { anthropicStandIn, geminiStandIn, openaiStandIn, type Msg, type StandIn } from '../llm/stand-ins.js';
import { runCli } from './run-cli.js';

const PEOPLE: [string, string, number, string][] = [
  ['Alice', 'Smith', 31, 'smiles'], ['Bob', 'Jones', 40, 'frowns'], ['Cara', 'Diaz', 22, 'laughs'], ['Dan', 'Wu', 50, 'sighs'],
  ['Eve', 'Stone', 28, 'grins'], ['Finn', 'Moss', 63, 'weeps'], ['Gia', 'Park', 19, 'smiles'], ['Hal', 'Reed', 45, 'frowns'],
  ['Ivy', 'Long', 37, 'laughs'], ['Jon', 'Hart', 52, 'sighs'],
];
const HAPPY = /smiles|laughs|grins/;
const textOf = (p: (typeof PEOPLE)[number], i: number) => `${p[0]} ${p[1]}, ${i % 3 === 1 ? 'aged ' : ''}${p[2]}, ${p[3]}.`;

const TASK = {
  name: 'contacts',
  description: 'Extract the person and their mood.',
  instruction: 'Extract the person.',
  inputs: { text: 'string' },
  outputs: {
    person: { type: 'json', description: 'who the text is about', schema: { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer', minimum: 0 } }, required: ['name', 'age'], additionalProperties: false } },
    mood: { type: 'class', labels: ['happy', 'sad'] },
  },
  metric: { fields: { person: 'json', mood: 'accuracy' }, judge: { type: 'rubric', rubric: 'The person is named in full.', weight: 1 } },
  data: 'contacts.jsonl',
  split: { train: 0.4, validation: 0.3, test: 0.3, seed: 1 },
};

// Target stand-in: the first name only unless the instruction asks for the full name; an "aged"
// input first gets its age as text (a schema violation), corrected once the error is shown.
function extractor(msgs: Msg[]): string {
  const sys = msgs[0].role === 'system' ? msgs[0].content : '';
  const input = [...msgs].reverse().find((m) => m.role === 'user' && m.content.startsWith('text:'))!.content;
  const [, first, last, age, verb] = /text: (\w+) (\w+), (?:aged )?(\d+), (\w+)/.exec(input)!;
  const name = /full name/i.test(sys.split('\n\n')[0]) ? `${first} ${last}` : first;
  const mood = HAPPY.test(verb) ? 'happy' : 'sad';
  const retried = msgs.at(-1)!.content.includes('could not be used');
  const ageOut = input.includes('aged') && !retried ? `"${age} years"` : age;
  return `{"person": {"name": "${name}", "age": ${ageOut}}, "mood": "${mood}"}`;
}

// Proposer stand-in: every meta-prompt gets an instruction that asks for the full name.
const proposer = () => 'Extract the full name and age of the person, and their mood.';

// Judge stand-in: 5 when the graded answer names the reference's person, else 2.
function judge(msgs: Msg[]): string {
  const u = msgs.at(-1)!.content;
  const ref = /Reference answer:\n(.*)\n/.exec(u)![1];
  const ans = /Answer to grade:\n([\s\S]*?)\n\nReply as/.exec(u)![1];
  const full = (JSON.parse(ans) as { person: { name: string } }).person.name === (JSON.parse(ref) as { person: { name: string } }).person.name;
  return JSON.stringify({ score: full ? 5 : 2, reason: full ? 'names the person in full' : 'gives only part of the name' });
}


const KEYS = { OPENAI_API_KEY: 'sk-openai-SECRET-1', ANTHROPIC_API_KEY: 'sk-ant-SECRET-2', GEMINI_API_KEY: 'gm-SECRET-3' };
let target: StandIn, gemini: StandIn, claude: StandIn, dir: string, taskFile: string, pricesFile: string;
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  [target, gemini, claude] = await Promise.all([openaiStandIn(extractor), geminiStandIn(proposer), anthropicStandIn(judge)]);
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-program-'));
  taskFile = path.join(dir, 'contacts.json');
  await fs.writeFile(taskFile, JSON.stringify(TASK, null, 2));
  await fs.writeFile(path.join(dir, 'contacts.jsonl'), PEOPLE.map((p, i) => JSON.stringify({ text: textOf(p, i), person: { name: `${p[0]} ${p[1]}`, age: p[2] }, mood: HAPPY.test(p[3]) ? 'happy' : 'sad' })).join('\n') + '\n');
  pricesFile = path.join(dir, 'prices.json');
  await fs.writeFile(pricesFile, JSON.stringify({ 'stand-in-gpt': { input: 2, output: 8 }, 'stand-in-gemini': { input: 0.1, output: 0.4 }, 'stand-in-claude': { input: 3, cachedInput: 0.3, output: 15 } }, null, 2));
  for (const [k, v] of Object.entries(KEYS)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
});
afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  await Promise.all([target?.close(), gemini?.close(), claude?.close()]);
});

const roles = () => [
  '--endpoint', target.url, '--llm-model', 'stand-in-gpt', '--api', 'chat',
  '--proposer-provider', 'gemini', '--proposer-endpoint', gemini.url, '--proposer-model', 'stand-in-gemini',
  '--judge-provider', 'anthropic', '--judge-endpoint', claude.url, '--judge-model', 'stand-in-claude',
];

describe('typed task → optimize → program.json → promptkiln run', () => {
  let out: string;
  let summary: { score: number; initial_score: number; test_score: number; cost: number; spend: Record<string, { calls: number; tokens: number; cost: number }> };

  it('optimize: three providers in three roles, a judge in the metric, a money cap; program.json holds the winner', async () => {
    out = path.join(dir, 'out');
    const a = io();
    const code = await cmd('optimize').run(['--task', taskFile, ...roles(), '--strategy', 'ape', '--iterations', '1', '--candidates', '2',
      '--prices', pricesFile, '--max-cost', '1', '--seed', '0', '--out', out, '--json'], a.io);
    expect(code).toBe(0);
    summary = JSON.parse(a.out[0]);
    // first names only: person wrong, mood right, judge 2/5 → (0 + 1 + 0.25) / 3; the proposer's full-name instruction is perfect
    expect(summary.initial_score).toBeCloseTo(1.25 / 3, 12);
    expect(summary.score).toBe(1);
    expect(summary.test_score).toBe(1);
    // every role called its own provider, each with its own key in its own header
    expect(target.seen.length).toBeGreaterThan(0);
    expect(target.seen.every((s) => s.path === '/v1/chat/completions' && s.headers.authorization === `Bearer ${KEYS.OPENAI_API_KEY}`)).toBe(true);
    expect(gemini.seen.length).toBeGreaterThan(0);
    expect(gemini.seen.every((s) => s.path === '/v1beta/models/stand-in-gemini:generateContent' && s.headers['x-goog-api-key'] === KEYS.GEMINI_API_KEY)).toBe(true);
    expect(claude.seen.length).toBeGreaterThan(0);
    expect(claude.seen.every((s) => s.headers['x-api-key'] === KEYS.ANTHROPIC_API_KEY && s.headers['anthropic-version'] === '2023-06-01')).toBe(true);
    // spend by role, priced by the price file; the cap was not reached
    const { spend } = summary;
    expect(spend.proposer.calls).toBe(gemini.seen.length);
    expect(spend.judge.calls).toBeGreaterThan(0);
    for (const r of ['target', 'proposer', 'judge']) expect(spend[r].cost).toBeGreaterThan(0);
    // the money is each provider's reported tokens at the price file's prices (search and test
    // split together: every call here was sent once, none served twice)
    const usdOf = (s: StandIn, p: { input: number; output: number }) => s.seen.reduce((a, x) => a + (x.tokens!.input * p.input + x.tokens!.output * p.output) / 1e6, 0);
    expect(summary.cost).toBeCloseTo(usdOf(target, { input: 2, output: 8 }) + usdOf(gemini, { input: 0.1, output: 0.4 }) + usdOf(claude, { input: 3, output: 15 }), 12);
    expect(spend.proposer.cost).toBeCloseTo(usdOf(gemini, { input: 0.1, output: 0.4 }), 12);
    expect(summary.cost).toBeLessThan(1);
    expect(a.err.join('\n')).toMatch(/iteration 1 .* \$0\.\d+\/\$1\.0000/);
    // no key in any file written or any line printed
    for (const f of await fs.readdir(out)) if (f.endsWith('.json') || f.endsWith('.jsonl') || f.endsWith('.html')) expect(await fs.readFile(path.join(out, f), 'utf8')).not.toMatch(/SECRET/);
    expect(a.err.join('\n') + a.out.join('\n')).not.toMatch(/SECRET/);

    const program = JSON.parse(await fs.readFile(path.join(out, 'program.json'), 'utf8')) as ProgramJson;
    expect(program).toMatchObject({
      promptkiln_program: 1, name: 'contacts', kind: 'typed',
      fields: { inputs: { text: 'string' }, outputs: TASK.outputs },
      instruction: proposer(),
      rendering: { mode: 'auto' },
      parsing: { format: 'json', retries: 1 },
      model: { id: `openai:${new URL(target.url).host}/v1/stand-in-gpt`, name: 'stand-in-gpt', generation: { maxTokens: 256, temperature: 0, stop: [] } },
      scores: { validation: 1, test: 1, initial_validation: summary.initial_score },
      provenance: { strategy: 'ape', seed: 0, promptkiln_version: PROMPTKILN_VERSION, task: 'contacts' },
    });
    expect(program.provenance.data_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(program.cost.usd).toBeCloseTo(summary.cost, 12);
    expect(program.cost.by_role.judge.calls).toBe(spend.judge.calls);
    const log = (await fs.readFile(path.join(out, 'run.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(log.at(-1)).toMatchObject({ type: 'result', cost: summary.cost, spend: { judge: { calls: spend.judge.calls } } });
    expect(log[0]).toMatchObject({ type: 'start', judge: `anthropic:${new URL(claude.url).host}/stand-in-claude`, proposer: `gemini:${new URL(gemini.url).host}/v1beta/stand-in-gemini` });
  });

  it('--resume replays every call (target, proposer, judge) from the cache: nothing sent, the same spend and program', async () => {
    const sent = target.seen.length + gemini.seen.length + claude.seen.length;
    const a = io();
    await cmd('optimize').run(['--task', taskFile, ...roles(), '--strategy', 'ape', '--iterations', '1', '--candidates', '2',
      '--prices', pricesFile, '--max-cost', '1', '--seed', '0', '--out', out, '--json', '--resume'], a.io);
    expect(target.seen.length + gemini.seen.length + claude.seen.length).toBe(sent);
    const again = JSON.parse(a.out[0]);
    expect(again.cost).toBe(summary.cost);
    expect(again.spend).toEqual(summary.spend);
    expect(again.score).toBe(summary.score);
    // the report shows the spend by role
    const html = await fs.readFile(path.join(out, 'report.html'), 'utf8');
    expect(html).toMatch(/spend \(USD\)/);
    expect(html).toMatch(/<td>judge<\/td><td>\d+<\/td><td>\d+<\/td><td>\$0\.\d+<\/td>/);
  });

  it('promptkiln run (the built CLI) applies program.json; --render prints the exact messages', async () => {
    const before = target.seen.length;
    const r = await runCli(['run', '--program', path.join(out, 'program.json'), '--input', JSON.stringify({ text: 'Kim Lee, aged 33, laughs.' }), '--endpoint', target.url, '--llm-model', 'stand-in-gpt', '--api', 'chat'], KEYS);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ person: { name: 'Kim Lee', age: 33 }, mood: 'happy' });
    // "aged": the schema violation and the retry with the error, as during the search
    expect(target.seen.length - before).toBe(2);
    const rendered = await runCli(['run', '--program', path.join(out, 'program.json'), '--input', JSON.stringify({ text: 'Kim Lee, 33, laughs.' }), '--render'], {});
    const m = JSON.parse(rendered.stdout) as { messages: Msg[]; text: string };
    expect(m.messages.at(-1)).toEqual({ role: 'user', content: 'text: Kim Lee, 33, laughs.' });
    expect(m.messages[0].content.startsWith(`${proposer()}\n\nInput fields:\n- text (a string)`)).toBe(true);
    // what the first call of `run` sent is what render says
    expect(target.seen[before].body.messages).toEqual([...m.messages.slice(0, -1), { role: 'user', content: 'text: Kim Lee, aged 33, laughs.' }]);
  });

  it('the saved program re-scored on the test split gives the reported test score', async () => {
    const program = loadProgram(await fs.readFile(path.join(out, 'program.json'), 'utf8'));
    const task = await loadTask(taskFile);
    const lm = new OpenAIModel({ baseURL: target.url, model: 'stand-in-gpt', api: 'chat' });
    const judgeLm = new AnthropicModel({ baseURL: claude.url, model: 'stand-in-claude' });
    const ev = new Evaluator(task, lm, { judge: judgeLm });
    const scores: number[] = [];
    for (const ex of task.test) {
      const a = await program.answer(lm, ex.inputs!);
      scores.push((await scoreParts(task.metricParts!, { parsed: a.outputs, text: a.text, example: ex, judge: (spec) => ev.judge(spec, ex, a.text) })).score);
    }
    expect(scores.reduce((x, y) => x + y, 0) / scores.length).toBe(summary.test_score);
    // and the initial program (the task's own instruction) re-scores to its reported validation score
    const initial = loadProgram({ ...program.json, instruction: TASK.instruction });
    const vs: number[] = [];
    for (const ex of task.validation) {
      const a = await initial.answer(lm, ex.inputs!);
      vs.push((await scoreParts(task.metricParts!, { parsed: a.outputs, text: a.text, example: ex, judge: (spec) => ev.judge(spec, ex, a.text) })).score);
    }
    expect(vs.reduce((x, y) => x + y, 0) / vs.length).toBeCloseTo(summary.initial_score, 12);
  });

  it('bad input: a program from a newer promptkiln, an input without its fields, an unknown price model, a bad price file', async () => {
    const p = JSON.parse(await fs.readFile(path.join(out, 'program.json'), 'utf8'));
    const newer = path.join(dir, 'newer.json');
    await fs.writeFile(newer, JSON.stringify({ ...p, promptkiln_program: 2, provenance: { ...p.provenance, promptkiln_version: '9.0.0' } }, null, 2));
    const a = io();
    await expect(cmd('run').run(['--program', newer, '--input', '{"text": "x"}', '--render'], a.io)).rejects.toMatchObject({
      code: 'DATA', message: `${newer}:2: field promptkiln_program: expected format 1 or older; this program was written by a newer promptkiln (9.0.0) than this one (${PROMPTKILN_VERSION}): upgrade promptkiln, found 2`,
    });
    await expect(cmd('run').run(['--program', path.join(out, 'program.json'), '--input', '{"txt": "x"}', '--render'], a.io)).rejects.toMatchObject({
      code: 'ARGUMENT', message: 'program contacts: input.text: expected a string, found nothing',
    });
    await expect(loadProgram({ ...p, rendering: { mode: 'chat' } }).run(functionModel(() => '', { id: 'text-only' }), { text: 'x' })).rejects.toMatchObject({
      code: 'ARGUMENT', message: 'program contacts renders as chat messages, but model function:text-only has no chat endpoint (use --api chat, or a chat provider)',
    });
    const broken = path.join(dir, 'broken.json');
    await fs.writeFile(broken, JSON.stringify({ ...p, fields: { ...p.fields, outputs: { person: { type: 'json', schema: { type: 'object', properties: { name: { type: 'str' } } } } } } }, null, 2));
    await expect(cmd('run').run(['--program', broken, '--input', '{"text": "x"}', '--render'], a.io)).rejects.toMatchObject({
      code: 'DATA', message: expect.stringMatching(/broken\.json:\d+: field fields\.outputs\.person\.schema: expected a JSON Schema \(\(root\)\.properties\.name\.type: expected one of object/),
    });
    const o2 = path.join(dir, 'out2');
    await expect(cmd('optimize').run(['--task', taskFile, ...roles(), '--strategy', 'ape', '--max-cost', '1', '--out', o2], io().io)).rejects.toMatchObject({
      code: 'BUDGET', message: expect.stringMatching(/budget\.cost needs the price of the target model "stand-in-gpt", which the price table lacks/),
    });
    const badPrices = path.join(dir, 'bad-prices.json');
    await fs.writeFile(badPrices, '{\n  "stand-in-gpt": {"input": 1, "output": 2},\n  "stand-in-claude": {"input": 1, "outptu": 2}\n}\n');
    await expect(cmd('optimize').run(['--task', taskFile, ...roles(), '--prices', badPrices, '--out', o2], io().io)).rejects.toMatchObject({
      code: 'DATA', message: `${badPrices}:3: stand-in-claude.outptu: unknown price key (expected input, cachedInput, output, reasoning, USD per million tokens)`,
    });
  });

  it('a money cap stops the search: spend never starts a call past it', async () => {
    const a = io();
    const o3 = path.join(dir, 'out3');
    await cmd('optimize').run(['--task', taskFile, ...roles(), '--strategy', 'ape', '--iterations', '3', '--candidates', '2', '--prices', pricesFile, '--max-cost', '0.004', '--out', o3, '--json', '--concurrency', '1'], a.io);
    const j = JSON.parse(a.out[0]);
    expect(j.stop_reason).toBe('budget');
    // one call in flight at a time: the search's spend passed the cap by at most the one call
    // that started below it (the test split is scored outside the budget)
    const log = (await fs.readFile(path.join(o3, 'run.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    const search = log.filter((e) => e.type === 'iteration').at(-1).cost;
    expect(search).toBeGreaterThanOrEqual(0.004);
    expect(search).toBeLessThan(0.004 + 0.001);
    expect(a.err.at(-1)).toMatch(/^done \(budget\) .* \$0\.00\d+\/\$0\.004000$/);
  });

  it('a plain task\'s program renders its template and runs to {output}', async () => {
    const plain = await defineTask({ template: 'Q: {input}\nA:', instruction: 'Double it.', examples: [1, 2, 3, 4, 5].map((i) => ({ input: `${i}`, output: ` ${2 * i}` })), split: { train: 0.2, validation: 0.6, test: 0.2 } });
    const lm = functionModel((p) => ` ${2 * Number(/Q: (\d+)/.exec(p)![1])}`, { id: 'doubler' });
    const r = await optimize(plain, lm, { strategy: 'grips', maxIterations: 1, candidatesPerIteration: 2 });
    expect(r.program).toMatchObject({ kind: 'plain', fields: { inputs: { input: 'string' }, outputs: { output: 'string' } }, rendering: { mode: 'text', template: 'Q: {input}\nA:', demo_template: '{input}{output} ' }, parsing: { format: 'text', retries: 0 }, model: { generation: { maxTokens: 32, temperature: 0, stop: ['\n'] } } });
    const prog = loadProgram(JSON.parse(JSON.stringify(r.program)));
    expect(prog.render({ input: '7' })).toEqual({ messages: [{ role: 'user', content: 'Q: 7\nA:' }], text: 'Q: 7\nA:' });
    expect(await prog.run(lm, { input: '7' })).toEqual({ output: ' 14' });
  });

  it('field types flow into TypeScript: typedTask → loadProgram(...).run returns typed outputs', async () => {
    const t = await typedTask({
      inputs: { text: 'string' },
      outputs: { age: 'number', mood: { type: 'class', labels: ['happy', 'sad'] }, tags: { type: 'list', items: 'number' } },
      examples: [{ text: 'a', age: 1, mood: 'happy', tags: [1] }],
    });
    type P = ProgramJson<NonNullable<typeof t.fieldTypes>['inputs'], NonNullable<typeof t.fieldTypes>['outputs']>;
    const load = (j: P) => loadProgram(j); // types only: never called
    expectTypeOf<Awaited<ReturnType<ReturnType<typeof load>['run']>>>().toEqualTypeOf<{ age: number; mood: 'happy' | 'sad'; tags: number[] }>();
    expectTypeOf<Parameters<ReturnType<typeof load>['render']>[0]>().toEqualTypeOf<{ text: string }>();
    expect(t.signature!.outputs.map((d) => d.type)).toEqual(['number', 'class', 'list']);
  });
});
