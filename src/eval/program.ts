// program.json: the self-contained artifact an app applies — fields, instruction, demonstrations
// as full examples, rendering, output parsing, model settings, scores, cost, provenance — and
// loadProgram(json).render(input) / .run(lm, input). No Node APIs: it runs in browsers and edge workers.
import { PromptkilnError } from '../errors.js';
import type { ChatMessage, LanguageModel } from '../llm/types.js';
import { answer, requestOf, send, usesChat, type GenerationParams } from './answer.js';
import { checkValue, fieldDefs, fieldSpecOf, type FieldsSpec, type FieldValues, type Signature, type Values } from './fields.js';
import { parseJsonWithLines } from './json-pos.js';
import { render, renderTyped } from './prompt.js';
import type { Example, PromptCandidate, Rendering, Task } from './task.js';
import { checkRetrieval, queryText, retrieve, type RetrievalJson } from './retrieval.js';
import { PROMPTKILN_VERSION } from './version.js';

export const PROGRAM_FORMAT = 1;

export interface ProgramJson<I extends FieldsSpec = FieldsSpec, O extends FieldsSpec = FieldsSpec> {
  promptkiln_program: number; // format version
  name: string;
  kind: 'typed' | 'plain';
  fields: { inputs: I; outputs: O };
  instruction: string;
  demos: { inputs: Values; outputs: Values }[];
  // per-input demonstrations (KNN): each input gets the k pool examples nearest to it by the
  // embedder's vectors (demos is then empty)
  retrieval?: RetrievalJson;
  // typed: 'auto' | 'chat' | 'text'; plain: the task's template and demo template
  rendering: { mode: Rendering; template?: string; demo_template?: string };
  parsing: { format: 'json' | 'markers' | 'text'; retries: number };
  model: { id: string; name?: string; generation: GenerationParams };
  metric: string;
  scores: { validation: number | null; test: number | null; initial_validation: number | null; initial_test: number | null };
  cost: { calls: number; tokens: number; usd: number | null; by_role: Record<string, { calls: number; tokens: number; usd: number | null }> };
  provenance: { strategy: string; seed: number; data_hash: string; promptkiln_version: string; task: string };
}

const PLAIN_FIELDS = { inputs: { input: 'string' }, outputs: { output: 'string' } } as const;

export interface ProgramInfo {
  generation: GenerationParams;
  modelId: string;
  modelName?: string;
  metric: string;
  scores: ProgramJson['scores'];
  cost: ProgramJson['cost'];
  strategy: string;
  seed: number;
  dataHash: string;
}

// The program of a task's candidate (optimize's winner).
export function programOf(task: Task, cand: PromptCandidate & { knn?: { k: number; embedder: string; pool: { example: Example; vector: number[] }[] } }, info: ProgramInfo): ProgramJson {
  const sig = task.signature;
  const spec = (defs: Signature['inputs']) => Object.fromEntries(defs.map((d) => [d.name, fieldSpecOf(d)]));
  const demo = (d: Example) => (sig ? { inputs: d.inputs!, outputs: d.outputs! } : { inputs: { input: d.input }, outputs: { output: d.output } });
  return {
    promptkiln_program: PROGRAM_FORMAT,
    name: task.name,
    kind: sig ? 'typed' : 'plain',
    fields: sig ? { inputs: spec(sig.inputs), outputs: spec(sig.outputs) } : structuredClone(PLAIN_FIELDS) as unknown as ProgramJson['fields'],
    instruction: cand.instruction,
    demos: cand.demos.map(demo),
    ...(cand.knn ? { retrieval: { k: cand.knn.k, embedder: cand.knn.embedder, pool: cand.knn.pool.map((p) => ({ ...demo(p.example), embedding: p.vector })) } } : {}),
    rendering: sig ? { mode: task.rendering } : { mode: 'text', template: task.template, demo_template: task.demoTemplate },
    parsing: { format: sig ? sig.format : 'text', retries: sig ? task.retries : 0 },
    model: { id: info.modelId, ...(info.modelName ? { name: info.modelName } : {}), generation: info.generation },
    metric: info.metric,
    scores: info.scores,
    cost: info.cost,
    provenance: { strategy: info.strategy, seed: info.seed, data_hash: info.dataHash, promptkiln_version: PROMPTKILN_VERSION, task: task.name },
  };
}

export interface Program<I extends FieldsSpec = FieldsSpec, O extends FieldsSpec = FieldsSpec> {
  readonly json: ProgramJson<I, O>;
  readonly signature: Signature | null; // null: a plain (template) program
  // the exact prompt: messages for a chat model, and the text a completion model gets
  // (a program with retrieval has no fixed prompt: render refuses, answer/run retrieve)
  render(inputs: FieldValues<I>): { messages: ChatMessage[]; text: string };
  // call the model, parse and validate; a typed error when the answer stays unusable
  // `embedder`: the model that embeds inputs for retrieval (default: lm; must be retrieval.embedder)
  run(lm: LanguageModel, inputs: FieldValues<I>, opts?: { signal?: AbortSignal; embedder?: LanguageModel }): Promise<FieldValues<O>>;
  // the same, with the model's answer text (what a judge grades) and the attempts it took
  answer(lm: LanguageModel, inputs: FieldValues<I>, opts?: { signal?: AbortSignal; embedder?: LanguageModel }): Promise<{ outputs: FieldValues<O>; text: string; attempts: number }>;
}

type Fail = (path: string, expected: string, found: unknown) => never;

// Read a program (JSON text or the parsed object); errors name the file, line and field.
export function loadProgram<I extends FieldsSpec = FieldsSpec, O extends FieldsSpec = FieldsSpec>(src: string | ProgramJson<I, O>, opts: { file?: string } = {}): Program<I, O> {
  const file = opts.file ?? 'program.json';
  let value: unknown = src;
  let lines: Map<string, number> | undefined;
  if (typeof src === 'string') ({ value, lines } = parseJsonWithLines(src, file));
  const fail: Fail = (path, expected, found) => {
    const line = lines?.get(path) ?? lines?.get(path.replace(/\.[^.[\]]+$|\[\d+\]$/, ''));
    const f = found === undefined ? 'nothing' : JSON.stringify(found)?.slice(0, 80);
    throw new PromptkilnError('DATA', `${file}${line ? `:${line}` : ''}: field ${path}: expected ${expected}, found ${f}`, { file, field: path, ...(line ? { line } : {}) });
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('(the program)', 'a JSON object', value);
  const j = value as ProgramJson<I, O>;
  const v = j.promptkiln_program;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail('promptkiln_program', `the program format number (this promptkiln reads ${PROGRAM_FORMAT})`, v);
  if (v > PROGRAM_FORMAT) {
    fail('promptkiln_program', `format ${PROGRAM_FORMAT} or older; this program was written by a newer promptkiln (${String(j.provenance?.promptkiln_version ?? 'unknown')}) than this one (${PROMPTKILN_VERSION}): upgrade promptkiln`, v);
  }
  if (j.kind !== 'typed' && j.kind !== 'plain') fail('kind', '"typed" or "plain"', j.kind);
  if (typeof j.instruction !== 'string') fail('instruction', 'a string', j.instruction);
  if (typeof j.fields !== 'object' || j.fields === null) fail('fields', 'an object {"inputs", "outputs"}', j.fields);
  const inputs = fieldDefs(j.fields.inputs, 'fields.inputs', fail);
  const outputs = fieldDefs(j.fields.outputs, 'fields.outputs', fail);
  const format = j.parsing?.format;
  if (!['json', 'markers', 'text'].includes(format)) fail('parsing.format', '"json", "markers" or "text"', format);
  if (!Number.isInteger(j.parsing.retries) || j.parsing.retries < 0) fail('parsing.retries', 'an integer ≥ 0', j.parsing.retries);
  if (!['auto', 'chat', 'text'].includes(j.rendering?.mode)) fail('rendering.mode', '"auto", "chat" or "text"', j.rendering?.mode);
  const g = j.model?.generation;
  if (typeof g?.maxTokens !== 'number' || typeof g.temperature !== 'number' || !Array.isArray(g.stop)) fail('model.generation', '{"maxTokens", "temperature", "stop"}', g);
  const sig: Signature | null = j.kind === 'typed' ? { inputs, outputs, format: format as 'json' | 'markers' } : null;
  if (!sig && (typeof j.rendering.template !== 'string' || typeof j.rendering.demo_template !== 'string')) fail('rendering.template', 'the template and demo_template strings of a plain program', j.rendering.template);
  if (!Array.isArray(j.demos)) fail('demos', 'an array of {"inputs", "outputs"}', j.demos);
  const checkValues = (vals: unknown, defs: Signature['inputs'], path: string, f: Fail = fail): Values => {
    if (typeof vals !== 'object' || vals === null || Array.isArray(vals)) f(path, 'an object of field values', vals);
    for (const d of defs) {
      const e = checkValue(d, (vals as Values)[d.name]);
      if (e) f(`${path}.${d.name}`, e, (vals as Values)[d.name]);
    }
    return vals as Values;
  };
  const badInput: Fail = (path, expected, found) => {
    throw new PromptkilnError('ARGUMENT', `program ${j.name}: ${path}: expected ${expected}, found ${found === undefined ? 'nothing' : JSON.stringify(found)?.slice(0, 80)}`, { field: path });
  };
  const demos: Example[] = j.demos.map((d, i) => {
    const ins = checkValues(d?.inputs, inputs, `demos[${i}].inputs`);
    const outs = checkValues(d?.outputs, outputs, `demos[${i}].outputs`);
    return sig ? { input: '', output: '', id: `d${i}`, inputs: ins, outputs: outs } : { input: ins.input as string, output: outs.output as string, id: `d${i}` };
  });
  const retrieval = j.retrieval === undefined ? null : checkRetrieval(j.retrieval, fail);
  const pool: Example[] = (retrieval?.pool ?? []).map((d, i) => {
    const ins = checkValues(d.inputs, inputs, `retrieval.pool[${i}].inputs`);
    const outs = checkValues(d.outputs, outputs, `retrieval.pool[${i}].outputs`);
    return sig ? { input: '', output: '', id: `r${i}`, inputs: ins, outputs: outs } : { input: ins.input as string, output: outs.output as string, id: `r${i}` };
  });
  const task = { signature: sig, template: j.rendering.template ?? '', demoTemplate: j.rendering.demo_template ?? '' };
  const rendered = (ins: Values, ds: Example[] = demos) => {
    checkValues(ins, inputs, 'input', badInput);
    const cand: PromptCandidate = { instruction: j.instruction, demos: ds };
    if (sig) return renderTyped(task, cand, ins);
    const text = render(task, cand, ins.input as string);
    return { messages: [{ role: 'user' as const, content: text }], text };
  };
  const program: Program<I, O> = {
    json: j,
    signature: sig,
    render: (ins) => {
      if (retrieval) throw new PromptkilnError('ARGUMENT', `program ${j.name} retrieves its ${retrieval.k} demonstrations per input (retrieval): its prompt depends on the input's embedding; use run/answer with the embedder ${retrieval.embedder}`);
      return rendered(ins as Values);
    },
    async answer(lm, ins, o = {}) {
      if (sig && j.rendering.mode === 'chat' && !lm.chat) throw new PromptkilnError('ARGUMENT', `program ${j.name} renders as chat messages, but model ${lm.id} has no chat endpoint (use --api chat, or a chat provider)`);
      checkValues(ins as Values, inputs, 'input', badInput);
      const ds = retrieval ? (await retrieve(retrieval, o.embedder ?? lm, queryText(sig, ins as Values), o.signal)).map((i) => pool[i]) : demos;
      const { messages, text } = rendered(ins as Values, ds);
      const req = requestOf(sig, usesChat(sig, j.rendering.mode, lm), messages, text, g);
      const a = await answer(sig, j.parsing.retries, req, async (r) => ({ value: await send(lm, r, o.signal), cached: false }));
      if (!a.parsed) throw new PromptkilnError('PARSE', `program ${j.name}: the answer of ${lm.id} is unusable after ${a.attempts} attempt(s): ${a.error}`, { answer: a.text });
      return { outputs: a.parsed as FieldValues<O>, text: a.text, attempts: a.attempts };
    },
    run: async (lm, ins, o) => (await program.answer(lm, ins, o)).outputs,
  };
  return program;
}
