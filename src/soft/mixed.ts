// Mixed prompt templates (soft rows, fixed text, input) parsed and laid out as one row sequence.
import { PromptkilnError } from '../errors.js';
import type { Model } from '../model/index.js';
import type { Example, TemplatePart } from './types.js';

// Mixed prompts: a template of soft(n), text("…") and input parts becomes one row sequence.
// Text between two soft parts is encoded as one string (so word boundaries tokenize as in
// running text); the first text chunk gets the checkpoint's BOS, later chunks none. A template
// that starts with soft rows therefore puts them before BOS — the PEFT prompt-tuning layout.

// One laid-out example: row parts in order, and the rows whose logits predict the target.
export interface LaidExample {
  parts: ({ ids: number[] } | { softOffset: number; rows: number })[];
  length: number; // rows
  targetRows: number[]; // row r predicts targets[j] (r = row of the token before it)
  targets: number[];
  source: string;
}

export function softRows(template: readonly TemplatePart[]): number {
  return template.reduce((a, p) => a + ('soft' in p ? p.soft : 0), 0);
}

export function checkTemplate(template: readonly TemplatePart[], what = 'template'): void {
  let inputs = 0;
  for (const [i, p] of template.entries()) {
    if ('soft' in p) {
      if (!Number.isInteger(p.soft) || p.soft <= 0) throw new PromptkilnError('ARGUMENT', `${what}[${i}]: soft(n) needs a positive integer n, got ${p.soft}`);
    } else if ('text' in p) {
      if (typeof p.text !== 'string') throw new PromptkilnError('ARGUMENT', `${what}[${i}]: text must be a string`);
    } else if ('input' in p) inputs++;
    else throw new PromptkilnError('ARGUMENT', `${what}[${i}]: expected {soft: n}, {text: "…"} or {input: true}, found ${JSON.stringify(p)}`);
  }
  if (inputs !== 1) throw new PromptkilnError('ARGUMENT', `${what}: needs exactly one {input: true} part, found ${inputs}`);
}

// "[soft:8] Story: {input}[soft:2]" → parts. `{input}` marks the input, `[soft:n]` n soft rows.
export function parseTemplate(s: string): TemplatePart[] {
  const out: TemplatePart[] = [];
  const re = /\[soft:(\d+)\]|\{input\}/g;
  let last = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    if (m.index > last) out.push({ text: s.slice(last, m.index) });
    out.push(m[1] !== undefined ? { soft: Number(m[1]) } : { input: true });
    last = m.index + m[0].length;
  }
  if (last < s.length) out.push({ text: s.slice(last) });
  checkTemplate(out, `template "${s}"`);
  return out;
}

type Piece = string | readonly number[];

// Encodes a chunk of text / id pieces; `tail` (the target) is split off where the chunk's own
// encoding ends, as lm-evaluation-harness does.
function encodeChunk(model: Model, pieces: Piece[], tail: Piece | null, bos: boolean, source: string): { ids: number[]; cut: number } {
  const all = tail === null ? pieces : [...pieces, tail];
  const allText = all.every((p) => typeof p === 'string');
  if (allText && all.length) {
    const tok = model.requireTokenizer(`${source}: text`);
    const head = (pieces as string[]).join('');
    // bos: the tokenizer's own rule (a BOS-less tokenizer such as Qwen's adds none)
    const rule = bos ? {} : { bos: false };
    const full = tok.encode(head + (tail ?? ''), rule);
    if (tail === null) return { ids: full, cut: full.length };
    const p = head.length || bos ? tok.encode(head, rule) : [];
    let cut = 0;
    while (cut < p.length && cut < full.length && p[cut] === full[cut]) cut++;
    return { ids: full, cut };
  }
  // ids present: each piece on its own; BOS only ahead of the first text piece
  const ids: number[] = [];
  let first = bos;
  const enc = (p: Piece) => {
    if (typeof p !== 'string') return [...p];
    const r = p.length === 0 ? [] : model.requireTokenizer(`${source}: text`).encode(p, first ? {} : { bos: false });
    first = false;
    return r;
  };
  for (const p of pieces) ids.push(...enc(p));
  const cut = ids.length;
  if (tail !== null) ids.push(...enc(tail));
  return { ids, cut };
}

// Lays out one example under a template. posOffset: rows before the sequence (prefix tuning P).
export function layoutExample(model: Model, template: readonly TemplatePart[], ex: Example, posOffset = 0): LaidExample {
  const source = ex.source ?? 'example';
  const parts: LaidExample['parts'] = [];
  let chunk: Piece[] = [];
  let softOffset = 0;
  let firstChunk = true;
  const flush = () => {
    if (!chunk.length) return;
    const { ids } = encodeChunk(model, chunk, null, firstChunk, source);
    if (ids.length) parts.push({ ids });
    firstChunk = false;
    chunk = [];
  };
  for (const p of template) {
    if ('soft' in p) {
      flush();
      parts.push({ softOffset, rows: p.soft });
      softOffset += p.soft;
    } else chunk.push('text' in p ? p.text : ex.input);
  }
  const { ids, cut } = encodeChunk(model, chunk, ex.target, firstChunk, source);
  if (ids.length) parts.push({ ids });
  model.checkIds(ids, `${source}: input/target`);
  const nTarget = ids.length - cut;
  if (nTarget <= 0) throw new PromptkilnError('DATA', `${source}: field "target" encodes to no tokens`);
  const length = parts.reduce((a, q) => a + ('ids' in q ? q.ids.length : q.rows), 0);
  const ctx = model.config.maxSeqLen;
  if (posOffset + length > ctx) {
    throw new PromptkilnError('DATA',
      `${source}: input + target take ${posOffset + length} positions (${nTarget} target tokens, ${softOffset + posOffset} virtual), more than the model's context of ${ctx}`);
  }
  const start = length - nTarget; // row of the first target token
  const targetRows: number[] = [], targets: number[] = [];
  for (let j = 0; j < nTarget; j++) {
    if (start + j === 0) continue; // nothing precedes it: context, not predicted
    targetRows.push(start + j - 1);
    targets.push(ids[cut + j]);
  }
  if (!targets.length) throw new PromptkilnError('DATA', `${source}: the target is the whole sequence; nothing predicts it`);
  return { parts, length, targetRows, targets, source };
}
