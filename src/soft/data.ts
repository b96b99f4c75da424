// Parsing and reading JSONL training pairs for soft prompts.
import { PromptkilnError } from '../errors.js';
import { nodeFs } from '../util/files.js';
import type { Example } from './types.js';

// Training data: JSONL, one {"input": "…", "target": "…"} object a line (blank lines skipped);
// an optional "task_id" (a non-negative integer) names the task for multitask prompt tuning.
// Every problem names the file, the line and the field.
export function parseJsonl(text: string, file = 'data.jsonl'): Example[] {
  const out: Example[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    const where = `${file}:${i + 1}`;
    if (!line.trim()) return;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw new PromptkilnError('DATA', `${where}: not valid JSON (${(e as Error).message})`, { file, line: i + 1 });
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      throw new PromptkilnError('DATA', `${where}: expected an object {"input", "target"}, found ${Array.isArray(obj) ? 'an array' : typeof obj}`, { file, line: i + 1 });
    }
    const o = obj as Record<string, unknown>;
    for (const f of ['input', 'target'] as const) {
      const v = o[f];
      const isIds = Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0);
      if (typeof v !== 'string' && !isIds) {
        const found = v === undefined ? 'nothing' : Array.isArray(v) ? 'an array that is not token ids' : `${typeof v} ${JSON.stringify(v)}`;
        throw new PromptkilnError('DATA', `${where}: field "${f}" expected a string (or token ids), found ${found}`, { file, line: i + 1, field: f });
      }
    }
    if ((typeof o.target === 'string' || Array.isArray(o.target)) && o.target.length === 0) {
      throw new PromptkilnError('DATA', `${where}: field "target" is empty`, { file, line: i + 1, field: 'target' });
    }
    if (o.task_id !== undefined && !(Number.isInteger(o.task_id) && (o.task_id as number) >= 0)) {
      throw new PromptkilnError('DATA', `${where}: field "task_id" expected a non-negative integer, found ${JSON.stringify(o.task_id)}`, { file, line: i + 1, field: 'task_id' });
    }
    out.push({ input: o.input as Example['input'], target: o.target as Example['target'], source: where, ...(o.task_id !== undefined ? { taskId: o.task_id as number } : {}) });
  });
  if (!out.length) throw new PromptkilnError('DATA', `${file}: no examples (expected one JSON object a line)`, { file });
  return out;
}

// Node: read a JSONL file.
export async function readJsonl(path: string): Promise<Example[]> {
  const { fs } = await nodeFs();
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (e) {
    throw new PromptkilnError('DATA', `${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file: path });
  }
  return parseJsonl(text, path);
}
