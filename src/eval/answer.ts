// One typed answer: the request a model is sent (chat or text, structured-output schema, sampling
// parameters), then parse and validate, retrying an unusable answer with the error shown. The
// evaluator (through its cache and budget) and a loaded program (straight to the model) both
// use this, so a saved program answers exactly as it did when it was scored.
import type { ChatMessage, ChatOptions, Generation, LanguageModel } from '../llm/types.js';
import { outputSchema, type Signature, type Values } from './fields.js';
import { parseOutputs } from './parse.js';
import { withRetryMessages, withRetryText } from './render.js';

export interface GenerationParams {
  maxTokens: number;
  temperature: number;
  stop: string[];
}

export const PLAIN_GENERATION: GenerationParams = { maxTokens: 32, temperature: 0, stop: ['\n'] };
// typed answers are JSON objects or several field lines: longer, and not cut at a newline
export const TYPED_GENERATION: GenerationParams = { maxTokens: 256, temperature: 0, stop: [] };
// a completion model writing a typed answer stops before it invents the next example
const TEXT_STOP = ['\n\nInput:'];

export interface AnswerRequest {
  chat: boolean;
  messages: ChatMessage[]; // when chat
  text: string; // when not
  options: ChatOptions; // n, temperature, maxTokens, stop, seed, responseSchema (no signal)
}

// Plain tasks keep their template (text); typed ones send messages to a chat model unless the
// task asks for text.
export function usesChat(sig: Signature | null, rendering: 'auto' | 'chat' | 'text', lm: LanguageModel): boolean {
  return Boolean(sig && lm.chat && rendering !== 'text');
}

export function requestOf(sig: Signature | null, chat: boolean, messages: ChatMessage[], text: string, gen: GenerationParams): AnswerRequest {
  const responseSchema = chat && sig?.format === 'json' ? { name: 'output', schema: outputSchema(sig) } : undefined;
  const options: ChatOptions = { ...gen, stop: chat || !sig ? gen.stop : [...gen.stop, ...TEXT_STOP], n: 1, seed: 0, ...(responseSchema ? { responseSchema } : {}) };
  return { chat, messages, text, options };
}

export function send(lm: LanguageModel, r: AnswerRequest, signal?: AbortSignal): Promise<Generation> {
  return r.chat ? lm.chat!(r.messages, { ...r.options, signal }) : lm.generate(r.text, { ...r.options, signal });
}

export interface Answer {
  text: string; // the last answer
  parsed: Values | null; // null: unusable after every retry
  error: string; // why the last answer was unusable
  attempts: number;
  cached: boolean; // every call served by the cache
}

// `call` sends one request (the evaluator memoizes it); a plain task's answer is its text.
export async function answer(
  sig: Signature | null,
  retries: number,
  first: AnswerRequest,
  call: (r: AnswerRequest) => Promise<{ value: Generation; cached: boolean }>,
): Promise<Answer> {
  let req = first;
  let cached = true;
  let text = '';
  let error = '';
  for (let attempt = 0; attempt <= (sig ? retries : 0); attempt++) {
    const g = await call(req);
    cached &&= g.cached;
    text = g.value.texts[0] ?? '';
    if (!sig) return { text, parsed: { output: text }, error: '', attempts: attempt + 1, cached };
    const p = parseOutputs(sig, text);
    if (p.ok) return { text, parsed: p.values, error: '', attempts: attempt + 1, cached };
    error = p.error;
    req = req.chat ? { ...req, messages: withRetryMessages(req.messages, text, sig, error) } : { ...req, text: withRetryText(req.text, text, sig, error) };
  }
  return { text, parsed: null, error, attempts: retries + 1, cached };
}
