// Hard-prompt tasks: the JSON task format of DESIGN.md ("File formats users write"), plain
// (one string in, one string out, a template) or typed (named input and output fields), its
// validation (errors name file, line and field), seeded splits, and the render functions.
import { PromptkilnError } from '../errors.js';
import { typedParts, partsName, type TypedPart } from './field-metrics.js';
import { checkValue, fieldDefs, formatValue, type FieldDef, type FieldsSpec, type FieldValues, type Signature, type Values } from './fields.js';
import { parseJsonWithLines } from './json-pos.js';
import { candidatePrefix, promptPrefix, render, renderTyped } from './prompt.js';
import { formatOutputs } from './render.js';
import { nodeFs } from '../util/files.js';
import { rng } from './rng.js';

export interface Example {
  // on a typed task: text renderings of the fields (what strategies show an LLM), the values in
  // inputs / outputs
  input: string;
  output: string;
  id: string; // stable within a task: "i<index>" of the combined example list
  inputs?: Values;
  outputs?: Values;
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
  // typed tasks: the fields, how answers are written and parsed, how many times an unusable
  // answer is retried with the error shown, and the chat-or-text choice; null on a plain task
  signature: Signature | null;
  retries: number;
  rendering: Rendering;
  // the metric as weighted parts (typed tasks, and judge metrics on plain ones); else null
  metricParts: TypedPart[] | null;
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
  metric?: string | Record<string, unknown>;
  labels?: string[] | null;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
  format?: 'json' | 'markers';
  retries?: number;
  rendering?: Rendering;
}

// 'auto': chat messages for a model that has chat(), else the text rendering
export type Rendering = 'auto' | 'chat' | 'text';
const RENDERINGS: Rendering[] = ['auto', 'chat', 'text'];

const KNOWN_KEYS = new Set(['name', 'description', 'instruction', 'template', 'demo_template', 'demos', 'examples', 'data', 'split', 'metric', 'labels', 'inputs', 'outputs', 'format', 'retries', 'rendering']);
const PLAIN_ONLY = ['template', 'demo_template', 'labels'];
const TYPED_ONLY = ['format', 'retries', 'rendering'];


export { candidatePrefix, promptPrefix, render, renderTyped };

export function initialCandidate(task: Task): PromptCandidate {
  return { instruction: task.instruction, demos: task.demos };
}

type Where = (path: string) => string; // "file:line: field path" prefix for messages

function bad(where: Where, path: string, expected: string, found: unknown): never {
  const f = found === undefined ? 'nothing' : JSON.stringify(found)?.slice(0, 80);
  throw new PromptkilnError('DATA', `${where(path)}: expected ${expected}, found ${f}`, { field: path });
}

function exampleList(v: unknown, key: string, where: Where, ids: { next: number }, sig: Signature | null): Example[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) bad(where, key, sig ? 'an array of objects with the task\'s fields' : 'an array of {"input", "output"} objects', v);
  return v.map((e, j) => checkExample(e, `${key}[${j}]`, where, ids, sig));
}

// A typed example: one flat object holding every input and output field, nothing else.
function checkTypedExample(e: unknown, path: string, where: Where, ids: { next: number }, sig: Signature): Example {
  const fields = [...sig.inputs, ...sig.outputs];
  if (typeof e !== 'object' || e === null || Array.isArray(e)) bad(where, path, `an object with the fields ${fields.map((f) => f.name).join(', ')}`, e);
  const o = e as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!fields.some((f) => f.name === k)) {
      bad(where, `${path}.${k}`, `a field of the task (inputs: ${sig.inputs.map((f) => f.name).join(', ')}; outputs: ${sig.outputs.map((f) => f.name).join(', ')})`, k);
    }
  }
  const take = (defs: FieldDef[]) => {
    const vals: Values = {};
    for (const d of defs) {
      const err = checkValue(d, o[d.name]);
      if (err) bad(where, `${path}.${d.name}`, err, o[d.name]);
      vals[d.name] = o[d.name];
    }
    return vals;
  };
  const inputs = take(sig.inputs);
  const outputs = take(sig.outputs);
  const input = sig.inputs.map((d) => `${d.name}: ${formatValue(d, inputs[d.name])}`).join('\n');
  return { input, output: formatOutputs(sig, outputs), id: `i${ids.next++}`, inputs, outputs };
}

function checkExample(e: unknown, path: string, where: Where, ids: { next: number }, sig: Signature | null = null): Example {
  if (sig) return checkTypedExample(e, path, where, ids, sig);
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
export function parseExamplesJsonl(src: string, file: string, firstId = 0, sig: Signature | null = null): Example[] {
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
    out.push(checkExample(v, 'line', (p) => `${file}:${k + 1}: field ${p === 'line' ? '(the line)' : p.slice(5)}`, ids, sig));
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
    // a missing key has no line of its own: its object's, else its array's
    const line = opts.lines?.get(path) ?? opts.lines?.get(path.replace(/\.\w+$/, '')) ?? opts.lines?.get(path.replace(/\[\d+\]\.\w+$|\.\w+$/, ''));
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
  const typed = o.inputs !== undefined || o.outputs !== undefined;
  const fail = (path: string, expected: string, found: unknown): never => bad(where, path, expected, found);
  for (const k of typed ? PLAIN_ONLY : TYPED_ONLY) {
    if (o[k] !== undefined) bad(where, k, typed ? `no "${k}" on a typed task (it renders from its fields)` : `no "${k}" on a plain task (give "inputs" and "outputs" fields for a typed one)`, o[k]);
  }
  let signature: Signature | null = null;
  let retries = 0;
  let rendering: Rendering = 'auto';
  if (typed) {
    if (o.inputs === undefined) bad(where, 'inputs', 'the input fields (a typed task has both "inputs" and "outputs")', undefined);
    if (o.outputs === undefined) bad(where, 'outputs', 'the output fields (a typed task has both "inputs" and "outputs")', undefined);
    const inputs = fieldDefs(o.inputs, 'inputs', fail);
    const outputs = fieldDefs(o.outputs, 'outputs', fail);
    for (const d of outputs) {
      if (d.type === 'chat') bad(where, `outputs.${d.name}.type`, 'an output type other than chat', 'chat');
      if (inputs.some((x) => x.name === d.name)) bad(where, `outputs.${d.name}`, 'a name not also used by an input field', d.name);
    }
    const format = str('format', 'json');
    if (format !== 'json' && format !== 'markers') bad(where, 'format', '"json" or "markers"', format);
    signature = { inputs, outputs, format };
    retries = (o.retries as number | undefined) ?? 1;
    if (!Number.isInteger(retries) || retries < 0 || retries > 5) bad(where, 'retries', 'an integer from 0 to 5', o.retries);
    rendering = str('rendering', 'auto') as Rendering;
    if (!RENDERINGS.includes(rendering)) bad(where, 'rendering', `one of ${RENDERINGS.join(', ')}`, rendering);
  }
  const template = typed ? '' : str('template', '{instruction} {demos}{input}');
  if (!typed && !template.includes('{input}')) bad(where, 'template', 'a template containing {input}', template);
  const demoTemplate = typed ? '' : str('demo_template', '{input}{output} ');
  let metricParts: TypedPart[] | null = null;
  if (signature) {
    const m = o.metric;
    if (typeof m === 'string' && ['exact_match', 'contains', 'f1', 'loglik', 'label_loglik'].concat(m.startsWith('regex:') ? [m] : []).includes(m)) {
      bad(where, 'metric', 'a typed-task metric: "fields", "judge:rubric", "judge:pairwise", {"fields": …}, or a registered metric (plain-text metrics apply to plain tasks)', m);
    }
    metricParts = typedParts(m, signature, (p, e, f) => bad(where, p, e, f));
  } else if (typeof o.metric === 'string' && o.metric.startsWith('judge:')) {
    const plain: Signature = { inputs: [{ name: 'input', type: 'string', description: '' }], outputs: [{ name: 'output', type: 'string', description: '' }], format: 'json' };
    metricParts = typedParts(o.metric, plain, (p, e, f) => bad(where, p, e, f));
  }
  const metric = metricParts ? (typeof o.metric === 'string' ? o.metric : partsName(metricParts)) : str('metric', 'exact_match');
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
  const examples = exampleList(o.examples, 'examples', where, ids, signature);
  if (o.data !== undefined) {
    if (typeof o.data !== 'string') bad(where, 'data', 'a path to a JSONL file', o.data);
    if (!opts.readData) throw new PromptkilnError('DATA', `${where('data')}: the task names a data file but no reader was given (use loadTask in Node, or inline "examples")`);
    let text: string;
    try {
      text = await opts.readData(o.data);
    } catch (e) {
      throw new PromptkilnError('DATA', `${where('data')}: cannot read "${o.data}": ${(e as Error).message}`, { field: 'data' }, { cause: e });
    }
    examples.push(...parseExamplesJsonl(text, o.data, ids.next, signature));
  }
  if (examples.length === 0) bad(where, 'examples', 'at least one example (inline "examples" or a "data" file)', o.examples);
  const demos = exampleList(o.demos, 'demos', where, { next: 0 }, signature).map((d, j) => ({ ...d, id: `d${j}` }));

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
  return { name, description, instruction, template, demoTemplate, demos, examples, split, metric, labels, signature, retries, rendering, metricParts, ...splitExamples(examples, split) };
}

// A typed task defined in code: its field specs are kept in the type (`fieldTypes` is never set
// at run time), so optimize's program and loadProgram's run() return typed values.
export interface TypedTask<I extends FieldsSpec = FieldsSpec, O extends FieldsSpec = FieldsSpec> extends Task {
  readonly fieldTypes?: { inputs: I; outputs: O };
}

export type TypedTaskSpec<I extends FieldsSpec, O extends FieldsSpec> = Omit<TaskSpec, 'inputs' | 'outputs' | 'examples' | 'demos' | 'template' | 'demo_template' | 'labels'> & {
  inputs: I;
  outputs: O;
  examples?: (FieldValues<I> & FieldValues<O>)[];
  demos?: (FieldValues<I> & FieldValues<O>)[];
};

export function typedTask<const I extends FieldsSpec, const O extends FieldsSpec>(spec: TypedTaskSpec<I, O>, opts: ParseTaskOptions = {}): Promise<TypedTask<I, O>> {
  return defineTask(spec, opts);
}

// Parse task JSON text (positions kept for messages).
export async function parseTask(src: string, opts: ParseTaskOptions = {}): Promise<Task> {
  const file = opts.file ?? 'task.json';
  const { value, lines } = parseJsonWithLines(src, file);
  return defineTask(value, { ...opts, file, lines });
}

// Node: read a task file and its data file beside it. fs is imported lazily (and opaquely to
// bundlers) so this module also loads and bundles for browsers and workers, which use
// parseTask/defineTask with their own reader.
export async function loadTask(path: string): Promise<Task> {
  const { fs, path: p } = await nodeFs();
  let src: string;
  try {
    src = await fs.readFile(path, 'utf8');
  } catch (e) {
    throw new PromptkilnError('DATA', `${path}: cannot read the task file: ${(e as Error).message}`, { file: path }, { cause: e });
  }
  const dir = p.dirname(path);
  return parseTask(src, { file: path, readData: (rel) => fs.readFile(p.resolve(dir, rel), 'utf8') });
}
