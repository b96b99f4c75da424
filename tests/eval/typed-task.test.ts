// Typed tasks: field definitions and their errors (file, line, field), the chat and text
// renderings, parsing and validating answers, field metrics, and the evaluator's retry of an
// unusable answer against an OpenAI-compatible loopback server standing in for a hosted chat model.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Evaluator } from '../../src/eval/evaluator.js';
import { registerMetric } from '../../src/eval/metrics.js';
import { fieldScore, listF1 } from '../../src/eval/field-metrics.js';
import { parseOutputs } from '../../src/eval/parse.js';
import { checkSchema, validate } from '../../src/eval/schema.js';
import { defineTask, parseTask, renderTyped } from '../../src/eval/task.js';
import { functionModel } from '../../src/llm/function.js';
import { OpenAIModel } from '../../src/llm/openai.js';
import { openaiStandIn, type Msg, type StandIn } from '../llm/stand-ins.js';

const person = {
  name: 'people',
  instruction: 'Extract the person.',
  inputs: { text: 'string' },
  outputs: { name: { type: 'string', description: 'full name' }, age: 'number', mood: { type: 'class', labels: ['happy', 'sad'] } },
  examples: [
    { text: 'Alice Smith, 31, smiles.', name: 'Alice Smith', age: 31, mood: 'happy' },
    { text: 'Bob Jones, aged 40, frowns.', name: 'Bob Jones', age: 40, mood: 'sad' },
  ],
  demos: [{ text: 'Cara Diaz, 22, laughs.', name: 'Cara Diaz', age: 22, mood: 'happy' }],
  split: { train: 0, validation: 1, test: 0 },
};

describe('typed task files', () => {
  it('reads fields, keeps values on examples and text renderings for strategies', async () => {
    const t = await defineTask(person);
    expect(t.signature!.inputs.map((d) => d.name)).toEqual(['text']);
    expect(t.signature!.outputs.map((d) => [d.name, d.type])).toEqual([['name', 'string'], ['age', 'number'], ['mood', 'class']]);
    expect(t.signature!.format).toBe('json');
    expect(t.retries).toBe(1);
    expect(t.metric).toBe('name:exact+age:numeric+mood:accuracy');
    const e = t.examples[0];
    expect(e.inputs).toEqual({ text: 'Alice Smith, 31, smiles.' });
    expect(e.outputs).toEqual({ name: 'Alice Smith', age: 31, mood: 'happy' });
    expect(e.input).toBe('text: Alice Smith, 31, smiles.');
    expect(e.output).toBe('{"name":"Alice Smith","age":31,"mood":"happy"}');
  });

  it('examples that do not match the fields: errors name file, line and field', async () => {
    const src = (ex: string) => `{\n  "inputs": {"text": "string"},\n  "outputs": {"age": "number"},\n  "examples": [\n    {"text": "a", "age": 1},\n    ${ex}\n  ]\n}`;
    await expect(parseTask(src('{"text": "b", "age": "2"}'), { file: 't.json' })).rejects.toMatchObject({ code: 'DATA', message: 't.json:6: field examples[1].age: expected a finite number, found "2"' });
    await expect(parseTask(src('{"text": "b"}'), { file: 't.json' })).rejects.toMatchObject({ message: 't.json:6: field examples[1].age: expected a finite number, found nothing' });
    await expect(parseTask(src('{"text": "b", "age": 2, "agee": 3}'), { file: 't.json' })).rejects.toMatchObject({ message: expect.stringMatching(/^t\.json:6: field examples\[1\]\.agee: expected a field of the task \(inputs: text; outputs: age\)/) });
  });

  it('a schema that is not JSON Schema, a bad type, plain-only keys and plain metrics are refused with the field named', async () => {
    const base = { inputs: { text: 'string' }, examples: [{ text: 'a', data: {} }] };
    await expect(parseTask(JSON.stringify({ ...base, outputs: { data: { type: 'json', schema: { type: 'obj' } } } }, null, 1), { file: 's.json' }))
      .rejects.toMatchObject({ code: 'DATA', message: expect.stringMatching(/^s\.json:\d+: field outputs\.data\.schema: expected a JSON Schema \(\(root\)\.type: expected one of object, array/) });
    await expect(parseTask(JSON.stringify({ ...base, outputs: { data: { type: 'json', schema: { type: 'object', propertys: {} } } } }), { file: 's.json' }))
      .rejects.toMatchObject({ message: expect.stringMatching(/field outputs\.data\.schema: expected a JSON Schema \(\(root\): keyword "propertys" is not supported/) });
    await expect(parseTask(JSON.stringify({ ...base, outputs: { data: 'dict' } }))).rejects.toMatchObject({ message: expect.stringMatching(/field outputs\.data\.type: expected one of string, number/) });
    await expect(parseTask(JSON.stringify({ ...base, outputs: { data: 'json' }, template: '{input}' }))).rejects.toMatchObject({ message: expect.stringMatching(/field template: expected no "template" on a typed task/) });
    await expect(parseTask(JSON.stringify({ ...base, outputs: { data: 'json' }, metric: 'exact_match' }))).rejects.toMatchObject({ message: expect.stringMatching(/field metric: expected a typed-task metric/) });
    await expect(parseTask(JSON.stringify({ ...base, outputs: { data: 'json' }, metric: { fields: { nope: 'exact' } } }))).rejects.toMatchObject({ message: expect.stringMatching(/field metric\.fields\.nope: expected an output field \(data\)/) });
    await expect(parseTask(JSON.stringify({ examples: [{ input: 'a', output: 'b' }], retries: 2 }))).rejects.toMatchObject({ message: expect.stringMatching(/field retries: expected no "retries" on a plain task/) });
  });
});

describe('rendering', () => {
  it('chat: system (instruction + output format), demos as user/assistant turns, input last; a chat-history input as its own turns', async () => {
    const t = await defineTask(person);
    const r = renderTyped(t, { instruction: t.instruction, demos: t.demos }, { text: 'Dan Wu, 50.' });
    expect(r.messages).toEqual([
      { role: 'system', content: 'Extract the person.\n\nInput fields:\n- text (a string)\n\nAnswer with one JSON object with exactly these keys, and nothing else:\n- name (a string): full name\n- age (a number)\n- mood (one of: happy, sad)' },
      { role: 'user', content: 'text: Cara Diaz, 22, laughs.' },
      { role: 'assistant', content: '{"name":"Cara Diaz","age":22,"mood":"happy"}' },
      { role: 'user', content: 'text: Dan Wu, 50.' },
    ]);
    expect(r.text).toBe(`${r.messages[0].content}\n\nInput:\ntext: Cara Diaz, 22, laughs.\nOutput:\n{"name":"Cara Diaz","age":22,"mood":"happy"}\n\nInput:\ntext: Dan Wu, 50.\nOutput:\n`);
    const chat = await defineTask({ inputs: { history: 'chat' }, outputs: { reply: 'string' }, format: 'markers', examples: [{ history: [{ role: 'user', content: 'hi' }], reply: 'hello' }] });
    const c = renderTyped(chat, { instruction: 'Reply.', demos: [] }, { history: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }, { role: 'user', content: 'bye' }] });
    expect(c.messages.slice(1)).toEqual([{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }, { role: 'user', content: 'bye' }]);
    expect(c.messages[0].content).toMatch(/one line per field, written "name: value"[\s\S]*- reply \(a string\)/);
  });
});

describe('parsing answers', () => {
  const sig = { inputs: [], outputs: [{ name: 'name', type: 'string' as const, description: '' }, { name: 'age', type: 'number' as const, description: '' }, { name: 'tags', type: 'list' as const, items: 'string' as const, description: '' }], format: 'json' as const };
  it('JSON, a fenced block, an object inside prose, or field markers; values coerced', () => {
    expect(parseOutputs(sig, '{"name": "A", "age": 3, "tags": ["x"]}')).toEqual({ ok: true, values: { name: 'A', age: 3, tags: ['x'] } });
    expect(parseOutputs(sig, 'Sure:\n```json\n{"name": "A", "age": "3", "tags": "x, y"}\n```')).toEqual({ ok: true, values: { name: 'A', age: 3, tags: ['x', 'y'] } });
    expect(parseOutputs(sig, 'The answer is {"name": "A {b}", "age": 3, "tags": []} as asked.')).toEqual({ ok: true, values: { name: 'A {b}', age: 3, tags: [] } });
    // braces in the prose before a fenced block: the block is read, not the first {…}
    expect(parseOutputs(sig, 'As {asked}:\n```json\n{"name": "A", "age": 3, "tags": []}\n```')).toEqual({ ok: true, values: { name: 'A', age: 3, tags: [] } });
    expect(parseOutputs(sig, 'name: A B\nage: 1,200\ntags: ["p", "q"]')).toEqual({ ok: true, values: { name: 'A B', age: 1200, tags: ['p', 'q'] } });
  });
  it('missing fields, wrong types and schema violations say what is wrong', () => {
    expect(parseOutputs(sig, '{"name": "A"}')).toEqual({ ok: false, error: 'missing output fields "age", "tags"' });
    expect(parseOutputs(sig, '{"name": "A", "age": "old", "tags": []}')).toEqual({ ok: false, error: 'field "age": expected a finite number, found "old"' });
    expect(parseOutputs(sig, 'no idea')).toMatchObject({ ok: false, error: expect.stringMatching(/^no JSON object found/) });
    const js = { inputs: [], outputs: [{ name: 'p', type: 'json' as const, description: '', schema: { type: 'object', properties: { n: { type: 'integer', minimum: 0 } }, required: ['n'] } }], format: 'json' as const };
    expect(parseOutputs(js, '{"p": {"n": -1}}')).toMatchObject({ ok: false, error: expect.stringMatching(/field "p": expected a value matching the field's schema \(\$\.n: expected ≥ 0, found -1\)/) });
    expect(parseOutputs(js, '{"p": {"n": 2}}')).toEqual({ ok: true, values: { p: { n: 2 } } });
  });
  it('JSON Schema subset: checks and validates', () => {
    expect(checkSchema({ type: 'object', properties: { a: { type: 'array', items: { enum: [1, 2] } } }, additionalProperties: false })).toBeNull();
    expect(checkSchema({ $ref: '#/x' })).toMatch(/keyword "\$ref" is not supported/);
    expect(validate({ a: [1, 3] }, { type: 'object', properties: { a: { type: 'array', items: { enum: [1, 2] } } } })).toBe('$.a[1]: expected one of [1,2], found 3');
    expect(validate({ a: 1, b: 2 }, { type: 'object', properties: { a: {} }, additionalProperties: false })).toBe('$: unexpected property "b"');
  });
});

describe('field metrics', () => {
  it('numeric tolerance, list F1, JSON equality, string exact', () => {
    const p = (metric: 'numeric' | 'f1' | 'json' | 'exact', tolerance = 0) => ({ kind: 'field' as const, field: 'x', metric, tolerance, weight: 1 });
    expect(fieldScore(p('numeric', 0.5), 3.4, 3)).toBe(1);
    expect(fieldScore(p('numeric', 0.5), 3.6, 3)).toBe(0);
    expect(listF1(['a', 'B', 'c'], ['b', 'a'])).toBeCloseTo(0.8, 12);
    expect(fieldScore(p('json'), { a: [1, { b: 2 }], c: 1 }, { c: 1, a: [1, { b: 2 }] })).toBe(1);
    expect(fieldScore(p('json'), { a: [2, 1] }, { a: [1, 2] })).toBe(0);
    expect(fieldScore(p('exact'), ' Alice  Smith ', 'Alice Smith')).toBe(1);
    expect(fieldScore(p('f1'), 'Alice', 'Alice Smith')).toBeCloseTo(2 / 3, 12);
  });
});

// The stand-in for a hosted chat model: reads the last "text:" line; writes the first name only
// unless the instruction asks for the full name; for an input with "aged" it first writes the age
// as words, and corrects it when shown the error.
function extractor(msgs: Msg[]): string {
  const sys = msgs[0].role === 'system' ? msgs[0].content : '';
  const input = [...msgs].reverse().find((m) => m.role === 'user' && m.content.startsWith('text:'))!.content;
  const [, first, last, age] = /text: (\w+) (\w+), (?:aged )?(\d+)/.exec(input)!;
  const retried = msgs.at(-1)!.content.includes('could not be used');
  const name = /full name/i.test(sys.split('\n\n')[0]) ? `${first} ${last}` : first;
  const mood = /smiles|laughs/.test(input) ? 'Happy' : 'sad';
  if (input.includes('aged') && !retried) return `{"name": "${name}", "age": "about ${age}", "mood": "${mood}"}`;
  return `\`\`\`json\n{"name": "${name}", "age": ${age}, "mood": "${mood}"}\n\`\`\``;
}

describe('rendering choice', () => {
  it('"auto" sends messages to a model with chat(); "text" sends the text rendering to generate()', async () => {
    const got: string[] = [];
    const lm = functionModel((p) => (got.push(`text:${p.length}`), '{"name": "A", "age": 1, "mood": "happy"}'), {
      id: 'both', chat: (ms) => (got.push(`chat:${ms.length}`), '{"name": "A", "age": 1, "mood": "happy"}'),
    });
    const auto = await defineTask(person);
    await new Evaluator(auto, lm).evaluate({ instruction: 'x', demos: auto.demos }, auto.validation.slice(0, 1));
    expect(got).toEqual(['chat:4']);
    const text = await defineTask({ ...person, rendering: 'text' });
    await new Evaluator(text, lm).evaluate({ instruction: 'x', demos: [] }, text.validation.slice(0, 1));
    expect(got[1]).toMatch(/^text:\d+$/);
    expect(() => new Evaluator(auto, functionModel(() => '')).request({ instruction: 'x', demos: [] }, auto.validation[0])).not.toThrow();
    await expect(defineTask({ ...person, rendering: 'chat' }).then((t) => new Evaluator(t, functionModel(() => '', { id: 'plain' })))).rejects.toMatchObject({ code: 'ARGUMENT', message: expect.stringMatching(/asks for the chat rendering, but model function:plain has no chat endpoint/) });
  });
});

describe('weighted and custom metrics', () => {
  it('field weights, and a registered metric given the parsed values', async () => {
    registerMetric('age-within-5', (_text, ex, parsed) => (Math.abs((parsed!.age as number) - (ex.outputs!.age as number)) <= 5 ? 1 : 0));
    const answer = '{"name": "Alice", "age": 35, "mood": "sad"}'; // name wrong, age off by 4, mood wrong
    const lm = functionModel(() => '', { id: 'fixed', chat: () => answer });
    const ex = { ...person, examples: [person.examples[0]], split: { train: 0, validation: 1, test: 0 } };
    const score = async (metric: unknown) => (await new Evaluator(await defineTask({ ...ex, metric }), lm).evaluate({ instruction: 'x', demos: [] }, (await defineTask(ex)).validation)).score;
    expect(await score({ fields: { name: 'f1', age: { metric: 'numeric', tolerance: 4, weight: 3 } } })).toBeCloseTo((2 / 3 + 3 * 1) / 4, 12); // f1("Alice", "Alice Smith") = 2/3
    expect(await score({ fields: { age: { metric: 'numeric', tolerance: 3 }, mood: { weight: 0 } }, custom: { name: 'age-within-5', weight: 1 } })).toBe(0.5);
    expect(await score('age-within-5')).toBe(1);
  });
});

describe('the up-front estimate', () => {
  it('counts target and judge calls, and prices each at its own model\'s prices', async () => {
    const t = await defineTask({ ...person, metric: { fields: { age: 'numeric' }, judge: { type: 'rubric' } } });
    const target = functionModel(() => '', { id: 'tgt' });
    const judge = functionModel(() => '', { id: 'jdg' });
    const prices = { 'function:tgt': { input: 1, output: 2 }, 'function:jdg': { input: 10, output: 20 } };
    const ev = new Evaluator(t, target, { judge, prices });
    const cand = { instruction: t.instruction, demos: [] };
    const e = ev.estimate(3, t.validation, cand);
    const n = 3 * t.validation.length;
    const prompt = t.validation.reduce((a, x) => a + renderTyped(t, cand, x.inputs!).text.length / 4, 0) / t.validation.length;
    const judgePrompt = 100 + 256 + t.validation.reduce((a, x) => a + (x.input.length + x.output.length) / 4, 0) / t.validation.length;
    expect(e.calls).toBe(2 * n);
    expect(e.tokens).toBe(Math.round(n * (prompt + 256) + n * (judgePrompt + 200)));
    expect(e.cost).toBeCloseTo((n * (prompt * 1 + 256 * 2) + n * (judgePrompt * 10 + 200 * 20)) / 1e6, 15);
    expect(new Evaluator(t, target, { judge }).estimate(3, t.validation, cand).cost).toBeNull(); // no price for either
  });
});

describe('the evaluator on a typed task (OpenAI-compatible stand-in for a hosted chat model)', () => {
  let srv: StandIn;
  beforeAll(async () => {
    srv = await openaiStandIn(extractor);
  });
  afterAll(() => srv.close());

  it('sends the rendered messages with the output schema, parses, retries an unusable answer with the error shown, scores per field', async () => {
    const t = await defineTask(person);
    const lm = new OpenAIModel({ baseURL: srv.url, model: 'stand-in-gpt', api: 'chat' });
    const ev = new Evaluator(t, lm);
    const before = srv.seen.length;
    const r = await ev.evaluate({ instruction: t.instruction, demos: [] }, t.validation);
    const sent = srv.seen.slice(before);
    // one call for Alice; two for Bob (the retry); nothing else
    expect(sent.length).toBe(3);
    expect(ev.stats).toMatchObject({ calls: 3, retries: 1, parseFailures: 0 });
    const body = sent[0].body;
    expect(body.response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'output', strict: false, schema: { type: 'object', properties: { name: { type: 'string', description: 'full name' }, age: { type: 'number' }, mood: { type: 'string', enum: ['happy', 'sad'] } }, required: ['name', 'age', 'mood'], additionalProperties: false } },
    });
    expect(body.max_tokens).toBe(256);
    const retry = sent.find((s) => (s.body.messages as Msg[]).length === 4)!.body.messages as Msg[];
    expect(retry[2]).toEqual({ role: 'assistant', content: '{"name": "Bob", "age": "about 40", "mood": "sad"}' });
    expect(retry[3].content).toMatch(/^That answer could not be used: field "age": expected a finite number, found "about 40"\. Answer again\./);
    // first name only: name wrong, age and mood right → 2/3 on each example
    const byId = Object.fromEntries(r.results.map((x) => [x.id, x]));
    for (const x of r.results) expect(x.score).toBeCloseTo(2 / 3, 12);
    expect(byId[t.validation.find((e) => e.outputs!.name === 'Alice Smith')!.id].parsed).toEqual({ name: 'Alice', age: 31, mood: 'happy' });
    const full = await ev.evaluate({ instruction: 'Extract the full name, age and mood.', demos: t.demos }, t.validation);
    expect(full.score).toBe(1);
  });

  it('an answer still unusable after every retry scores 0 with the reason kept', async () => {
    const t = await defineTask({ ...person, retries: 0 });
    const ev = new Evaluator(t, new OpenAIModel({ baseURL: srv.url, model: 'stand-in-gpt', api: 'chat' }));
    const r = await ev.evaluate({ instruction: 'Extract the full name.', demos: [] }, t.validation);
    const bob = r.results.find((x) => x.error)!;
    expect(bob).toMatchObject({ score: 0, unusable: true, error: '[PARSE] field "age": expected a finite number, found "about 40"' });
    // scored, not a failed evaluation: the endpoint answered
    expect(r.failures).toBe(0);
    expect(r.score).toBe(0.5); // Alice right in full, Bob unusable
    expect(ev.stats).toMatchObject({ calls: 2, retries: 0, parseFailures: 1 });
  });

  it('a completion-only endpoint gets the text rendering, stopped before a next example', async () => {
    const t = await defineTask(person);
    const lm = new OpenAIModel({ baseURL: srv.url, model: 'stand-in-gpt' }); // api: completions
    const before = srv.seen.length;
    await new Evaluator(t, lm).evaluate({ instruction: 'Extract the full name.', demos: [] }, t.validation.slice(0, 1));
    const s = srv.seen[before];
    expect(s.path).toBe('/v1/completions');
    expect(s.body.prompt).toMatch(/^Extract the full name\.\n\nInput fields:[\s\S]*\n\nInput:\ntext: .*\nOutput:\n$/);
    expect(s.body.stop).toEqual(['\n\nInput:']);
  });
});
