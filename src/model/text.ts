// Prompt/target → token ids, shared by both scoring backends (the WASM Model and ort/): encode
// prompt + target once and cut where the prompt's own encoding ends (at the longest common
// prefix when the two disagree), as lm-evaluation-harness does: a target tokenized alone gets
// different ids than in context.

import { PromptkilnError } from '../errors.js';
import type { Tokenizer } from './types.js';

export type Text = string | readonly number[];

export function checkIds(ids: readonly number[], vocabSize: number, what: string): void {
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new PromptkilnError('TOKEN', `${what}: token id ${id} is outside the vocabulary of ${vocabSize}`);
    }
  }
}

export function requireTokenizer(tok: Tokenizer | null, what: string, source: string): Tokenizer {
  if (!tok) throw new PromptkilnError('TOKENIZER', `${what} needs a tokenizer, and checkpoint ${source} has none: pass token ids instead`);
  return tok;
}

export function splitPromptTarget(
  tok: Tokenizer | null, vocabSize: number, source: string, prompt: Text, target: Text,
): { full: number[]; cut: number } {
  if (typeof prompt === 'string' && typeof target === 'string') {
    const t = requireTokenizer(tok, 'text scoring', source);
    const p = t.encode(prompt);
    const full = t.encode(prompt + target);
    let cut = 0;
    while (cut < p.length && cut < full.length && p[cut] === full[cut]) cut++;
    return { full, cut };
  }
  const p = typeof prompt === 'string' ? requireTokenizer(tok, 'a text prompt', source).encode(prompt) : [...prompt];
  const t = typeof target === 'string' ? requireTokenizer(tok, 'a text target', source).encode(target, { bos: false }) : [...target];
  checkIds(p, vocabSize, 'prompt');
  checkIds(t, vocabSize, 'target');
  return { full: [...p, ...t], cut: p.length };
}
