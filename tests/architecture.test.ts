// Guards the layout of DESIGN.md: the one direction of imports between src/'s rooms, and a header comment on every file.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { REPO_DIR } from './helpers/paths.js';

// `cli → search/soft/compress → train/eval/llm → model → kernels`, as the parts of src/ that each
// part may import (itself always). A part is a folder under src/ or a top-level file.
//  - `ort/` sits beside `model/` as a second forward backend: it reads the loaded model, never the
//    other way round.
//  - In the middle layer eval scores through llm's LanguageModel; train imports neither, and llm
//    never imports eval (its server only needs model's chat templates).
//  - search, soft and compress never import each other: work spanning them is orchestrated in cli/
//    or a top-level composition point.
//  - Composition points (`backend.ts` chooses wasm/ort, `index.ts` the public API, `ort-entry.ts`,
//    `worker*.ts`) may import what they compose; nothing but other composition points and cli
//    (which only needs `backend.ts`) imports them.
//  - `errors.ts` and `util/` are shared leaves: everyone may import them, they import nothing else.
const SHARED = ['errors.ts', 'util'];
const BELOW_MODEL = ['kernels'];
const MODEL = ['model', ...BELOW_MODEL];
const MIDDLE = ['train', 'eval', 'llm', ...MODEL];
const ROOMS = ['search', 'soft', 'compress', ...MIDDLE];
const ALLOWED: Record<string, string[]> = {
  'errors.ts': [],
  util: ['errors.ts'],
  kernels: [],
  model: BELOW_MODEL,
  ort: MODEL,
  train: MODEL,
  llm: MODEL,
  eval: ['llm', ...MODEL],
  search: MIDDLE,
  soft: MIDDLE,
  compress: MIDDLE,
  cli: [...ROOMS, 'backend.ts'],
  'backend.ts': ['ort', ...MODEL],
  'ort-entry.ts': ['backend.ts', 'ort', ...MODEL],
  'worker-tasks.ts': ROOMS,
  'worker-client.ts': ['worker-tasks.ts', ...ROOMS],
  'worker.ts': ['worker-tasks.ts', ...ROOMS],
  'index.ts': ['worker-client.ts', 'backend.ts', 'ort', ...ROOMS],
};

const SRC = path.join(REPO_DIR, 'src');

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : walk(p);
    return [p];
  });
}

// The part of src/ a file belongs to: its top folder, or its own name at the top level.
function partOf(file: string): string {
  return path.relative(SRC, file).split(path.sep)[0];
}

// Every relative import, re-export and dynamic import() of a file, resolved to a file under src/
// (TypeScript's own scanner, so comments and strings are never mistaken for imports).
function relativeImports(file: string, text: string): string[] {
  const { importedFiles } = ts.preProcessFile(text, true, true);
  return importedFiles
    .map((f) => f.fileName)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => path.resolve(path.dirname(file), spec));
}

// `file imports spec` pairs that break the table, as readable lines.
function violations(files: { file: string; text: string }[]): string[] {
  const out: string[] = [];
  for (const { file, text } of files) {
    const from = partOf(file);
    const allowed = ALLOWED[from];
    if (!allowed) {
      out.push(`${path.relative(REPO_DIR, file)}: part '${from}' is not in the table (decide where it sits)`);
      continue;
    }
    for (const target of relativeImports(file, text)) {
      const rel = path.relative(SRC, target);
      if (rel.startsWith('..')) {
        out.push(`${path.relative(REPO_DIR, file)} imports ${rel} outside src/`);
        continue;
      }
      const to = partOf(target.replace(/\.js$/, '.ts'));
      if (to === from || SHARED.includes(to) || allowed.includes(to)) continue;
      out.push(`${path.relative(REPO_DIR, file)} (${from}) imports ${path.relative(SRC, target)} (${to})`);
    }
  }
  return out;
}

// Data files cannot carry a comment; everything else opens with one (after a shebang or doctype).
const DATA = /\.(json|jsonl|safetensors|bin)$/;
const HEADER: [RegExp, RegExp][] = [
  [/\.(ts|mts|cts|js|mjs|cjs)$/, /^(\/\/|\/\*\*?) ?\S.{8,}/],
  [/\.py$/, /^(#|""") ?\S.{8,}/],
  [/\.html$/, /^<!-- ?\S.{8,}/],
];

function missingHeader(file: string, text: string): boolean {
  const lines = text.split('\n');
  const first = lines.findIndex((l) => !/^(#!|<!doctype)/i.test(l));
  const rule = HEADER.find(([ext]) => ext.test(file));
  return !rule || !rule[1].test(lines[first] ?? '');
}

function read(file: string) {
  return { file, text: readFileSync(file, 'utf8') };
}

describe('architecture', () => {
  it('imports follow cli → search/soft/compress → train/eval/llm → model → kernels', () => {
    const files = walk(SRC).filter((f) => f.endsWith('.ts')).map(read);
    expect(files.length).toBeGreaterThan(100);
    expect(violations(files)).toEqual([]);
  });

  it('the check itself catches an import upward, a sibling room, and an unplaced part', () => {
    const at = (rel: string, text: string) => ({ file: path.join(SRC, rel), text });
    expect(
      violations([
        at('model/x.ts', "import { tune } from '../soft/index.js';"),
        at('search/x.ts', "export { compress } from '../compress/index.js';"),
        at('kernels/x.ts', "const m = await import('../model/model.js');"),
        at('llm/x.ts', "import type { Task } from '../eval/task.js';"),
        at('newroom/x.ts', "import { x } from '../errors.js';"),
        // in a comment or a string: not an import
        at('model/y.ts', "// import { tune } from '../soft/index.js';\nconst s = \"from '../cli/main.js'\";"),
        // allowed: down a layer, the shared leaves, its own room
        at('soft/y.ts', "import { a } from '../train/index.js';\nimport { b } from '../util/files.js';\nimport { c } from './z.js';"),
      ]),
    ).toEqual([
      'src/model/x.ts (model) imports soft/index.js (soft)',
      'src/search/x.ts (search) imports compress/index.js (compress)',
      'src/kernels/x.ts (kernels) imports model/model.js (model)',
      'src/llm/x.ts (llm) imports eval/task.js (eval)',
      "src/newroom/x.ts: part 'newroom' is not in the table (decide where it sits)",
    ]);
  });

  it('every file under src/, assembly/, scripts/ and tests/ starts with a header comment', () => {
    const files = ['src', 'assembly', 'scripts', 'tests']
      .flatMap((d) => walk(path.join(REPO_DIR, d)))
      .filter((f) => !DATA.test(f));
    expect(files.length).toBeGreaterThan(300);
    const missing = files.filter((f) => missingHeader(f, readFileSync(f, 'utf8')));
    expect(missing.map((f) => path.relative(REPO_DIR, f))).toEqual([]);
    expect(missingHeader('a.ts', "import x from 'y';\n// later")).toBe(true);
    expect(missingHeader('a.mjs', '#!/usr/bin/env node\n// Builds the thing.')).toBe(false);
    expect(missingHeader('a.html', '<!doctype html>\n<!-- The page a test loads. -->')).toBe(false);
    expect(missingHeader('a.py', '"""Reads PEFT files."""')).toBe(false);
    expect(missingHeader('a.ts', '//')).toBe(true);
  });
});
