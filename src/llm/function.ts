// A plain async function as a LanguageModel: scripted models in tests, or any user backend.
import { PromptkilnError } from '../errors.js';
import type { ChatMessage, ChatOptions, GenerateOptions, Generation, LanguageModel, Score, ScoreOptions } from './types.js';

export type GenerateFn = (prompt: string, opts: GenerateOptions & { index: number }) => Promise<string> | string;
export type ChatFn = (messages: ChatMessage[], opts: ChatOptions & { index: number }) => Promise<string> | string;
export type ScoreFn = (prompt: string, target: string) => Promise<number[] | number> | number[] | number;

export interface FunctionModelOptions {
  id?: string;
  // optional scorer: per-token logprobs of target, or their total
  score?: ScoreFn;
  // optional chat: typed tasks then render as messages for it
  chat?: ChatFn;
}

// Rough usage accounting for backends that report none: ~4 characters a token.
const approxTokens = (s: string) => Math.ceil(s.length / 4);

export function functionModel(fn: GenerateFn, opts: FunctionModelOptions = {}): LanguageModel {
  const id = `function:${opts.id ?? (fn.name || 'anonymous')}`;
  const m: LanguageModel = {
    id,
    async generate(prompt: string, o: GenerateOptions = {}): Promise<Generation> {
      const n = o.n ?? 1;
      const texts: string[] = [];
      for (let i = 0; i < n; i++) {
        if (o.signal?.aborted) throw new PromptkilnError('ABORTED', `${id}: generate was aborted`);
        const t = await fn(prompt, { ...o, seed: o.seed === undefined ? undefined : o.seed + i, index: i });
        if (typeof t !== 'string') {
          throw new PromptkilnError('ARGUMENT', `${id}: the generate function must return a string, got ${typeof t}`);
        }
        texts.push(t);
      }
      return { texts, usage: { promptTokens: approxTokens(prompt) * n, completionTokens: texts.reduce((a, t) => a + approxTokens(t), 0) } };
    },
  };
  if (opts.chat) {
    const cf = opts.chat;
    m.chat = async (messages: ChatMessage[], o: ChatOptions = {}): Promise<Generation> => {
      const texts: string[] = [];
      for (let i = 0; i < (o.n ?? 1); i++) {
        if (o.signal?.aborted) throw new PromptkilnError('ABORTED', `${id}: chat was aborted`);
        const t = await cf(messages, { ...o, index: i });
        if (typeof t !== 'string') throw new PromptkilnError('ARGUMENT', `${id}: the chat function must return a string, got ${typeof t}`);
        texts.push(t);
      }
      const prompt = messages.map((x) => x.content).join('\n');
      return { texts, usage: { promptTokens: approxTokens(prompt) * texts.length, completionTokens: texts.reduce((a, t) => a + approxTokens(t), 0) } };
    };
  }
  if (opts.score) {
    const sf = opts.score;
    m.score = async (prompt: string, target: string, o?: ScoreOptions): Promise<Score> => {
      if (o?.signal?.aborted) throw new PromptkilnError('ABORTED', `${id}: score was aborted`);
      const r = await sf(prompt, target);
      const logprobs = typeof r === 'number' ? [r] : r;
      if (!Array.isArray(logprobs) || logprobs.some((x) => typeof x !== 'number' || Number.isNaN(x))) {
        throw new PromptkilnError('ARGUMENT', `${id}: the score function must return a number or number[] (no NaN)`);
      }
      return { total: logprobs.reduce((a, b) => a + b, 0), logprobs, usage: { promptTokens: approxTokens(prompt + target), completionTokens: 0 } };
    };
  }
  return m;
}
