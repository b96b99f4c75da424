// Hard-prompt tasks: the JSON task format of DESIGN.md ("File formats users write"), its
// validation (errors name file, line and field), seeded splits, and the one render function.
import { PromptkilnError } from '../errors.js';
import { parseJsonWithLines } from './json-pos.js';
import { rng } from './rng.js';

export interface Example {
  input: string;
  output: string;
  id: string; // stable within a task: "i<index>" of the combined example list
}

// What search changes: the instruction text and the demonstrations.
export interface PromptCandidate {
  instruction: string;
  demos: Example[];
}

export interface SplitSpec {
  train: number;
  validation: number;
  test: number;
  seed: number;
}

export interface Task {
  name: string;
  description: string;
  instruction: string;
  template: string; // "{instruction} {demos}{input}"
  demoTemplate: string; // "{input}{output} "
  demos: Example[]; // initial demonstrations (key "demos", optional)
  examples: Example[]; // all examples, inline then data file
  split: SplitSpec;
  metric: string;
  labels: string[] | null;
  train: Example[];
  validation: Example[];
  test: Example[];
}

// The object form of a task file (snake_case keys, as users write them).
export interface TaskSpec {
  name?: string;
  description?: string;
  instruction?: string;
  template?: string;
  demo_template?: string;
  demos?: { input: string; output: string }[];
  examples?: { input: string; output: string }[];
  data?: string;
  split?: Partial<SplitSpec>;
  metric?: string;
  labels?: string[] | null;
}

const KNOWN_KEYS = new Set(['name', 'description', 'instruction', 'template', 'demo_template', 'demos', 'examples', 'data', 'split', 'metric', 'labels']);
const PLACEHOLDER = /\{(instruction|demos|input|output)\}/g;

// Replace {instruction}, {demos}, {input} in one pass, so text inside an input that happens to
// contain "{demos}" is never substituted again.
export function render(task: Pick<Task, 'template' | 'demoTemplate'>, cand: PromptCandidate, input: string): string {
  const demos = cand.demos
    .map((d) => task.demoTemplate.replace(PLACEHOLDER, (_, k: string) => (k === 'input' ? d.input : k === 'output' ? d.output : '')))
    .join('');
  return task.template.replace(PLACEHOLDER, (_, k: string) =>
    k === 'instruction' ? cand.instruction : k === 'demos' ? demos : k === 'input' ? input : '',
  );
}

// The text every rendered prompt of this candidate starts with: what comes before {input}.
export function promptPrefix(task: Pick<Task, 'template' | 'demoTemplate'>, cand: PromptCandidate): string {
  const mark = '\u0000';
  return render(task, cand, mark).split(mark)[0];
}

export function initialCandidate(task: Task): PromptCandidate {
  return { instruction: task.instruction, demos: task.demos };
}

type Where = (path: string) => string; // "file:line: field path" prefix for messages

function bad(where: Where, path: string, expected: string, found: unknown): never {
  const f = found === undefined ? 'nothing' : JSON.stringify(found)?.slice(0, 80);
  throw new PromptkilnError('DATA', `${where(path)}: expected ${expected}, found ${f}`, { field: path });
}

function exampleList(v: unknown, key: string, where: Where, ids: { next: number }): Example[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) bad(where, key, 'an array of {"input", "output"} objects', v);
  return v.map((e, j) => checkExample(e, `${key}[${j}]`, where, ids));
}

function checkExample(e: unknown, path: string, where: Where, ids: { next: number }): Example {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) bad(where, path, 'an object {"input": string, "output": string}', e);
  const o = e as Record<string, unknown>;
  if (typeof o.input !== 'string') bad(where, `${path}.input`, 'a string', o.input);
  if (typeof o.output !== 'string') bad(where, `${path}.output`, 'a string', o.output);
  return { input: o.input, output: o.output, id: `i${ids.next++}` };
}

// Seeded split: shuffle once with the split seed, then cut train | validation | test.
export function splitExamples(examples: Example[], s: SplitSpec): Pick<Task, 'train' | 'validation' | 'test'> {
  const xs = rng(s.seed).shuffle(examples);
  const n = xs.length;
  const count = (f: number) => (f > 0 ? Math.max(1, Math.round(n * f)) : 0);
  let nVal = count(s.validation);
  let nTest = count(s.test);
  if (nVal + nTest > n) {
    nTest = Math.min(nTest, Math.floor(n / 2));
    nVal = Math.min(nVal, n - nTest);
  }
  // a positive train fraction takes every example left over, so rounding never drops one
  const nTrain = s.train > 0 ? n - nVal - nTest : 0;
  return { train: xs.slice(0, nTrain), validation: xs.slice(nTrain, nTrain + nVal), test: xs.slice(nTrain + nVal, nTrain + nVal + nTest) };
}

// Parse a JSONL data file; each line an example. Errors name the file and the line.
export function parseExamplesJsonl(src: string, file: string, firstId = 0): Example[] {
  const out: Example[] = [];
  const ids = { next: firstId };
  src.split('\n').forEach((raw, k) => {
    const text = raw.trim();
    if (!text) return;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new PromptkilnError('DATA', `${file}:${k + 1}: invalid JSON: ${(e as Error).message}`, { file, line: k + 1 });
    }
    out.push(checkExample(v, 'line', (p) => `${file}:${k + 1}: field ${p === 'line' ? '(the line)' : p.slice(5)}`, ids));
  });
  return out;
}

export interface ParseTaskOptions {
  file?: string; // name used in messages
  // reads the `data` file (relative to the task file); required when the task has `data`
  readData?: (relPath: string) => Promise<string>;
}

// Validate a task object (from parsed JSON or the API) into a Task.
export async function defineTask(spec: unknown, opts: ParseTaskOptions & { lines?: Map<string, number> } = {}): Promise<Task> {
  const file = opts.file ?? 'task';
  const where: Where = (path) => {
    const line = opts.lines?.get(path) ?? opts.lines?.get(path.replace(/\[\d+\]\.\w+$|\.\w+$/, ''));
    return `${file}${line ? `:${line}` : ''}: field ${path}`;
  };
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) bad((p) => `${file}: ${p}`, 'the task', 'a JSON object', spec);
  const o = spec as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    // unknown keys are allowed (the format may grow) but a likely typo of a known key is not
    const near = [...KNOWN_KEYS].find((kk) => kk !== k && (kk.replace('_', '') === k.replace(/[_-]/g, '').toLowerCase()));
    if (near) throw new PromptkilnError('DATA', `${where(k)}: unknown key; did you mean "${near}"?`, { field: k });
  }
  const str = (k: string, dflt?: string): string => {
    const v = o[k];
    if (v === undefined && dflt !== undefined) return dflt;
    if (typeof v !== 'string') bad(where, k, 'a string', v);
    return v;
  };
  const name = str('name', 'task');
  const description = str('description', '');
  const instruction = str('instruction', '');
  const template = str('template', '{instruction} {demos}{input}');
  if (!template.includes('{input}')) bad(where, 'template', 'a template containing {input}', template);
  const demoTemplate = str('demo_template', '{input}{output} ');
  const metric = str('metric', 'exact_match');
  if (metric.startsWith('regex:')) {
    try {
      new RegExp(metric.slice(6));
    } catch (e) {
      bad(where, 'metric', `a valid regular expression after "regex:" (${(e as Error).message})`, metric);
    }
  }
  let labels: string[] | null = null;
  if (o.labels !== undefined && o.labels !== null) {
    if (!Array.isArray(o.labels) || o.labels.length < 2 || o.labels.some((l) => typeof l !== 'string')) {
      bad(where, 'labels', 'an array of at least two strings, or null', o.labels);
    }
    labels = o.labels as string[];
  }
  if (metric === 'label_loglik' && !labels) bad(where, 'labels', 'an array of label strings (metric is label_loglik)', o.labels);

  const ids = { next: 0 };
  const examples = exampleList(o.examples, 'examples', where, ids);
  if (o.data !== undefined) {
    if (typeof o.data !== 'string') bad(where, 'data', 'a path to a JSONL file', o.data);
    if (!opts.readData) throw new PromptkilnError('DATA', `${where('data')}: the task names a data file but no reader was given (use loadTask in Node, or inline "examples")`);
    let text: string;
    try {
      text = await opts.readData(o.data);
    } catch (e) {
      throw new PromptkilnError('DATA', `${where('data')}: cannot read "${o.data}": ${(e as Error).message}`, { field: 'data' }, { cause: e });
    }
    examples.push(...parseExamplesJsonl(text, o.data, ids.next));
  }
  if (examples.length === 0) bad(where, 'examples', 'at least one example (inline "examples" or a "data" file)', o.examples);
  const demos = exampleList(o.demos, 'demos', where, { next: 0 }).map((d, j) => ({ ...d, id: `d${j}` }));

  const sp = (o.split ?? {}) as Record<string, unknown>;
  if (typeof sp !== 'object' || Array.isArray(sp)) bad(where, 'split', 'an object {"train", "validation", "test", "seed"}', o.split);
  const frac = (k: string, d: number) => {
    const v = sp[k] ?? d;
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) bad(where, `split.${k}`, 'a fraction in [0, 1]', v);
    return v;
  };
  const split: SplitSpec = { train: frac('train', 0.6), validation: frac('validation', 0.2), test: frac('test', 0.2), seed: 0 };
  const seed = sp.seed ?? 0;
  if (typeof seed !== 'number' || !Number.isInteger(seed)) bad(where, 'split.seed', 'an integer', seed);
  split.seed = seed;
  const sum = split.train + split.validation + split.test;
  if (sum > 1 + 1e-9 || sum <= 0) bad(where, 'split', 'fractions with a sum in (0, 1]', `${split.train} + ${split.validation} + ${split.test} = ${sum}`);
  return { name, description, instruction, template, demoTemplate, demos, examples, split, metric, labels, ...splitExamples(examples, split) };
}

// Parse task JSON text (positions kept for messages).
export async function parseTask(src: string, opts: ParseTaskOptions = {}): Promise<Task> {
  const file = opts.file ?? 'task.json';
  const { value, lines } = parseJsonWithLines(src, file);
  return defineTask(value, { ...opts, file, lines });
}

// Node: read a task file and its data file beside it. fs is imported lazily so this module
// also loads in browsers and workers (which use parseTask/defineTask with their own reader).
export async function loadTask(path: string): Promise<Task> {
  const fs = await import('node:fs/promises');
  const p = await import('node:path');
  let src: string;
  try {
    src = await fs.readFile(path, 'utf8');
  } catch (e) {
    throw new PromptkilnError('DATA', `${path}: cannot read the task file: ${(e as Error).message}`, { file: path }, { cause: e });
  }
  const dir = p.dirname(path);
  return parseTask(src, { file: path, readData: (rel) => fs.readFile(p.resolve(dir, rel), 'utf8') });
}
