// A small JSON parser that remembers the line of every value, so task-file errors can say
// "task.json:7: field split.train …" instead of only "invalid task".
import { PromptkilnError } from '../errors.js';

export interface Located {
  value: unknown;
  // JSON path ("split.train", "examples[3].input") → 1-based line of the value
  lines: Map<string, number>;
}

export function parseJsonWithLines(src: string, file: string): Located {
  const lines = new Map<string, number>();
  let i = 0;
  let line = 1;
  const fail = (msg: string): never => {
    throw new PromptkilnError('DATA', `${file}:${line}: invalid JSON: ${msg}`, { file, line });
  };
  const ws = () => {
    for (;;) {
      const c = src[i];
      if (c === '\n') line++;
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') i++;
      else break;
    }
  };
  const str = (): string => {
    const start = i;
    i++; // opening quote
    for (;;) {
      if (i >= src.length) fail('unterminated string');
      const c = src[i];
      if (c === '\n') fail('newline inside a string');
      if (c === '\\') i += 2;
      else if (c === '"') break;
      else i++;
    }
    i++;
    try {
      return JSON.parse(src.slice(start, i)) as string;
    } catch {
      return fail(`bad escape in string ${src.slice(start, Math.min(i, start + 40))}`);
    }
  };
  const value = (path: string): unknown => {
    ws();
    lines.set(path, line);
    const c = src[i];
    if (c === '{') {
      i++;
      const o: Record<string, unknown> = {};
      ws();
      if (src[i] === '}') {
        i++;
        return o;
      }
      for (;;) {
        ws();
        if (src[i] !== '"') fail(`expected a "key" in ${path || 'the top-level object'}, found ${JSON.stringify(src[i] ?? 'end of file')}`);
        const k = str();
        ws();
        if (src[i] !== ':') fail(`expected ':' after key "${k}"`);
        i++;
        o[k] = value(path ? `${path}.${k}` : k);
        ws();
        if (src[i] === ',') {
          i++;
          continue;
        }
        if (src[i] === '}') {
          i++;
          return o;
        }
        fail(`expected ',' or '}' after "${k}", found ${JSON.stringify(src[i] ?? 'end of file')}`);
      }
    }
    if (c === '[') {
      i++;
      const a: unknown[] = [];
      ws();
      if (src[i] === ']') {
        i++;
        return a;
      }
      for (;;) {
        a.push(value(`${path}[${a.length}]`));
        ws();
        if (src[i] === ',') {
          i++;
          continue;
        }
        if (src[i] === ']') {
          i++;
          return a;
        }
        fail(`expected ',' or ']' in ${path || 'array'}, found ${JSON.stringify(src[i] ?? 'end of file')}`);
      }
    }
    if (c === '"') return str();
    const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(src.slice(i, i + 64));
    if (!m) return fail(`unexpected ${JSON.stringify(c ?? 'end of file')}${path ? ` at ${path}` : ''}`);
    i += m[0].length;
    return JSON.parse(m[0]);
  };
  const v = value('');
  ws();
  if (i < src.length) fail(`unexpected ${JSON.stringify(src[i])} after the end of the JSON value`);
  return { value: v, lines };
}
