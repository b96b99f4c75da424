// Money: a price table per model (USD per million tokens: input, cached input, output, reasoning),
// the built-in table, a user's table from a JSON file (errors name file, line and key), and the
// cost of one call's usage. No Node APIs (the CLI reads the file; this parses the text).
import { PromptkilnError } from '../errors.js';
import type { LanguageModel, Usage } from './types.js';

export interface Price {
  input: number; // per 1M prompt tokens
  cachedInput?: number; // per 1M prompt tokens served from the provider's cache (default: input)
  output: number; // per 1M completion tokens
  reasoning?: number; // per 1M reasoning tokens (default: output)
}

export type PriceTable = Record<string, Price>;

// List prices in USD as the providers published them (2025); a price file overrides any entry.
// Check your provider's page before trusting a cap to the cent.
export const DEFAULT_PRICES: PriceTable = {
  'gpt-4o': { input: 2.5, cachedInput: 1.25, output: 10 },
  'gpt-4o-mini': { input: 0.15, cachedInput: 0.075, output: 0.6 },
  'gpt-4.1': { input: 2, cachedInput: 0.5, output: 8 },
  'gpt-4.1-mini': { input: 0.4, cachedInput: 0.1, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, cachedInput: 0.025, output: 0.4 },
  'o3-mini': { input: 1.1, cachedInput: 0.55, output: 4.4 },
  'claude-3-5-haiku-latest': { input: 0.8, cachedInput: 0.08, output: 4 },
  'claude-sonnet-4-0': { input: 3, cachedInput: 0.3, output: 15 },
  'gemini-2.0-flash': { input: 0.1, cachedInput: 0.025, output: 0.4 },
  'gemini-2.5-flash': { input: 0.3, cachedInput: 0.075, output: 2.5 },
};

const KEYS = ['input', 'cachedInput', 'output', 'reasoning'] as const;

// A price file: {"model-name": {"input": 0.15, "output": 0.6, "cachedInput": 0.075, "reasoning": 0.6}, …}
export function parsePriceTable(src: string, file: string): PriceTable {
  let value: unknown;
  try {
    value = JSON.parse(src);
  } catch (e) {
    throw new PromptkilnError('DATA', `${file}: invalid JSON: ${(e as Error).message}`, { file });
  }
  // the line of a model's entry (or of a key inside it), for messages
  const lineOf = (model: string, key?: string) => {
    let i = src.indexOf(JSON.stringify(model));
    if (i >= 0 && key) i = src.indexOf(JSON.stringify(key), i);
    return i < 0 ? 0 : src.slice(0, i).split('\n').length;
  };
  const at = (model: string, key?: string) => `${file}${lineOf(model, key) ? `:${lineOf(model, key)}` : ''}: ${key ? `${model}.${key}` : model}`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new PromptkilnError('DATA', `${file}: a price file is an object {"model": {"input", "output", …}}`, { file });
  const out: PriceTable = {};
  for (const [model, p] of Object.entries(value as Record<string, unknown>)) {
    if (typeof p !== 'object' || p === null || Array.isArray(p)) throw new PromptkilnError('DATA', `${at(model)}: expected an object {"input", "output", "cachedInput"?, "reasoning"?}`, { file, field: model });
    const o = p as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!(KEYS as readonly string[]).includes(k)) throw new PromptkilnError('DATA', `${at(model, k)}: unknown price key (expected ${KEYS.join(', ')}, USD per million tokens)`, { file, field: `${model}.${k}` });
      if (typeof o[k] !== 'number' || !((o[k] as number) >= 0)) throw new PromptkilnError('DATA', `${at(model, k)}: expected a price ≥ 0 in USD per million tokens, found ${JSON.stringify(o[k])}`, { file, field: `${model}.${k}` });
    }
    for (const k of ['input', 'output'] as const) if (o[k] === undefined) throw new PromptkilnError('DATA', `${at(model)}: missing "${k}" (USD per million tokens)`, { file, field: `${model}.${k}` });
    out[model] = o as unknown as Price;
  }
  return out;
}

// A model's price: by its provider model name (then its id); in-process local models cost nothing.
export function priceOf(table: PriceTable, lm: Pick<LanguageModel, 'id' | 'modelName'>): Price | null {
  if (lm.id.startsWith('local:')) return { input: 0, output: 0 };
  return (lm.modelName !== undefined ? table[lm.modelName] : undefined) ?? table[lm.id] ?? null;
}

export function costOf(p: Price, u: Usage): number {
  const cached = Math.min(u.cachedPromptTokens ?? 0, u.promptTokens);
  const reasoning = Math.min(u.reasoningTokens ?? 0, u.completionTokens);
  return (
    (u.promptTokens - cached) * p.input +
    cached * (p.cachedInput ?? p.input) +
    (u.completionTokens - reasoning) * p.output +
    reasoning * (p.reasoning ?? p.output)
  ) / 1e6;
}

// Refuse a money cap that cannot be kept: every model that will be called must have a price.
export function requirePrices(table: PriceTable, models: { role: string; lm: LanguageModel }[]): void {
  for (const { role, lm } of models) {
    if (!priceOf(table, lm)) {
      throw new PromptkilnError('BUDGET', `budget.cost needs the price of the ${role} model "${lm.modelName ?? lm.id}", which the price table lacks (known: ${Object.keys(table).join(', ')}); add it with a price file (--prices FILE: {"${lm.modelName ?? lm.id}": {"input": …, "output": …}})`, { model: lm.modelName ?? lm.id });
    }
  }
}
