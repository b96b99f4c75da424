// Task files: the DESIGN.md format, validation errors naming file, line and field, splits, render.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTask, parseTask, render } from '../../src/eval/task.js';

const FIXTURES = path.join(path.dirname(new URL(import.meta.url).pathname), '../search/fixtures');

describe('task files', () => {
  it('loads the DESIGN.md example shape with a JSONL data file beside it, and splits by seed', async () => {
    const t = await loadTask(path.join(FIXTURES, 'tom-stories.json'));
    expect(t.examples.length).toBe(36);
    expect(t.train.length + t.validation.length + t.test.length).toBe(36);
    const ids = new Set([...t.train, ...t.validation, ...t.test].map((e) => e.id));
    expect(ids.size).toBe(36); // disjoint and complete
    expect(t.validation.length).toBe(9);
    const again = await loadTask(path.join(FIXTURES, 'tom-stories.json'));
    expect(again.validation.map((e) => e.id)).toEqual(t.validation.map((e) => e.id));
  });

  it('renders {instruction}, {demos} through demo_template, and {input} in one pass', async () => {
    const t = await parseTask(JSON.stringify({ template: '{instruction} {demos}{input}', demo_template: '{input}{output} ', examples: [{ input: 'a', output: 'b' }], split: { train: 1, validation: 0, test: 0 } }));
    const s = render(t, { instruction: 'Do {input}.', demos: [{ input: 'x', output: ' y', id: 'd0' }] }, 'in {demos}');
    expect(s).toBe('Do {input}. x y in {demos}');
  });

  it('a JSON syntax error names the file and line', async () => {
    const src = '{\n  "name": "t",\n  "examples": [\n    {"input": "a" "output": "b"}\n  ]\n}';
    await expect(parseTask(src, { file: 'bad.json' })).rejects.toMatchObject({ code: 'DATA', message: expect.stringMatching(/^bad\.json:4: invalid JSON: expected ',' or '}'/) });
  });

  it('a wrong field names file, line, field path, expected and found', async () => {
    const src = '{\n  "name": "t",\n  "examples": [\n    {"input": "a", "output": "b"},\n    {"input": "c", "output": 3}\n  ],\n  "split": {"train": 2}\n}';
    await expect(parseTask(src, { file: 't.json' })).rejects.toMatchObject({ code: 'DATA', message: 't.json:5: field examples[1].output: expected a string, found 3' });
    const src2 = '{\n  "examples": [{"input": "a", "output": "b"}],\n  "split": {\n    "train": 2\n  }\n}';
    await expect(parseTask(src2, { file: 't.json' })).rejects.toMatchObject({ message: 't.json:4: field split.train: expected a fraction in [0, 1], found 2' });
    await expect(parseTask('{"examples": [{"input": "a", "output": "b"}], "metric": "label_loglik"}', { file: 'l.json' })).rejects.toMatchObject({ message: expect.stringMatching(/field labels: expected an array of label strings/) });
    await expect(parseTask('{"examples": [{"input": "a", "output": "b"}], "demoTemplate": "x"}', { file: 'k.json' })).rejects.toMatchObject({ message: expect.stringMatching(/did you mean "demo_template"/) });
    await expect(parseTask('{"examples": [{"input": "a", "output": "b"}], "metric": "regex:("}')).rejects.toMatchObject({ message: expect.stringMatching(/field metric: expected a valid regular expression/) });
    await expect(parseTask('{"examples": []}')).rejects.toMatchObject({ message: expect.stringMatching(/field examples: expected at least one example/) });
    await expect(parseTask('{"examples": [{"input": "a", "output": "b"}], "template": "{instruction}"}')).rejects.toMatchObject({ message: expect.stringMatching(/template containing \{input\}/) });
  });

  it('a bad JSONL data line names the data file and its line; a missing data file is a DATA error', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pk-task-'));
    await fs.writeFile(path.join(dir, 'd.jsonl'), '{"input": "a", "output": "b"}\n\n{"input": "c"}\n');
    await fs.writeFile(path.join(dir, 't.json'), '{"data": "d.jsonl"}');
    await expect(loadTask(path.join(dir, 't.json'))).rejects.toMatchObject({ code: 'DATA', message: 'd.jsonl:3: field output: expected a string, found nothing' });
    await fs.writeFile(path.join(dir, 'd.jsonl'), '{"input": "a", "output": "b"}\n{"input": "c", \n');
    await expect(loadTask(path.join(dir, 't.json'))).rejects.toMatchObject({ message: expect.stringMatching(/^d\.jsonl:2: invalid JSON/) });
    await fs.writeFile(path.join(dir, 't.json'), '{"data": "nope.jsonl"}');
    await expect(loadTask(path.join(dir, 't.json'))).rejects.toMatchObject({ code: 'DATA', message: expect.stringMatching(/field data: cannot read "nope\.jsonl"/) });
    await expect(loadTask(path.join(dir, 'missing.json'))).rejects.toMatchObject({ code: 'DATA' });
  });
});
