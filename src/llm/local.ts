// The local in-process Model (src/model) as a LanguageModel. Only the shape below is needed, so
// this file does not import the runtime; anything with these methods (the real Model) fits.
import { PromptkilnError, throwIfAborted } from '../errors.js';
import { Limit } from './limit.js';
import type { Embeddings, GenerateOptions, Generation, LanguageModel, Score, ScoreOptions } from './types.js';

// A soft prompt / prefix / compressed context applied at inference (src/model's Conditioning);
// its id goes into the model id, so cache keys differ per adapter.
export interface ConditioningLike {
  readonly id: string;
}

export interface LocalScore {
  total: number;
  tokens: number[];
  logprobs: number[];
}

export interface LocalGenerateOptions {
  maxTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  stop?: string[];
  signal?: AbortSignal;
  conditioning?: unknown;
}

// The subset of src/model's Model that the adapter and the server use.
export interface LocalModelLike {
  readonly id: string;
  readonly config: { maxSeqLen: number; vocabSize: number };
  readonly tokenizer: {
    encode(text: string, opts?: { bos?: boolean; eos?: boolean }): number[];
    decode(ids: readonly number[]): string;
    decodeToken(id: number, prev: number | null): string;
  } | null;
  readonly chatTemplate?: string | null;
  score(prompt: string | number[], target: string | number[], opts?: { conditioning?: unknown; signal?: AbortSignal }): Promise<LocalScore>;
  scoreMany?(prompt: string | number[], targets: (string | number[])[], opts?: { conditioning?: unknown; signal?: AbortSignal }): Promise<LocalScore[]>;
  generate(prompt: string | number[], opts?: LocalGenerateOptions): Promise<{ text: string | null; tokens: number[]; finishReason: string }>;
  stream?(prompt: string | number[], opts?: LocalGenerateOptions): AsyncIterable<{ token: number; text: string }>;
  // src/model's forward with hidden states (B, T, C) after the final norm: embeddings
  forward?(batch: { sequences: number[][]; hidden: boolean; logits: boolean }): Promise<{ T: number; hidden: Float32Array | null }>;
}

// A text's embedding from the local model: its last hidden states (after the final norm),
// mean-pooled over its tokens (BOS included, as the model reads it).
export async function meanPooled(model: LocalModelLike, text: string): Promise<{ vector: number[]; tokens: number }> {
  if (!model.tokenizer) throw new PromptkilnError('TOKENIZER', `local:${model.id}: embeddings of text need a tokenizer`);
  if (!model.forward) throw new PromptkilnError('ARGUMENT', `local:${model.id}: this model object has no forward(); embeddings need it`);
  const ids = model.tokenizer.encode(text).slice(0, model.config.maxSeqLen);
  const r = await model.forward({ sequences: [ids], hidden: true, logits: false });
  const C = r.hidden!.length / r.T;
  const v = new Array<number>(C).fill(0);
  for (let t = 0; t < ids.length; t++) for (let c = 0; c < C; c++) v[c] += r.hidden![t * C + c] / ids.length;
  return { vector: v, tokens: ids.length };
}

export interface LocalAdapterOptions {
  // a soft prompt / prefix applied to every call; its id goes into the model id (cache keys)
  conditioning?: ConditioningLike;
  // default generation length when a caller gives none
  maxTokens?: number;
}

export function localModel(model: LocalModelLike, opts: LocalAdapterOptions = {}): LanguageModel {
  const conditioning = opts.conditioning;
  const id = `local:${model.id}${conditioning ? `+cond:${conditioning.id}` : ''}`;
  // The runtime's workspace is shared by every call on a Model: one call at a time.
  const one = new Limit(1);
  const promptTokens = (p: string) => model.tokenizer?.encode(p).length ?? 0;
  const toScore = (s: LocalScore, promptTokens: number): Score => ({
    total: s.total,
    logprobs: s.logprobs,
    usage: { promptTokens, completionTokens: s.tokens.length },
  });
  return {
    id,
    async generate(prompt: string, o: GenerateOptions = {}): Promise<Generation> {
      const n = o.n ?? 1;
      const texts: string[] = [];
      let completionTokens = 0;
      for (let i = 0; i < n; i++) {
        throwIfAborted(o.signal, `${id}: generate`);
        // n samples = n seeds; greedy decoding gives n equal texts, as an API would.
        const r = await one.run(() => model.generate(prompt, {
          maxTokens: o.maxTokens ?? opts.maxTokens ?? 64,
          temperature: o.temperature ?? 0,
          topP: o.topP,
          seed: (o.seed ?? 0) + i,
          stop: o.stop,
          signal: o.signal,
          conditioning,
        }));
        if (r.text === null) throw new PromptkilnError('TOKENIZER', `${id}: the checkpoint has no tokenizer; text generation needs one`);
        texts.push(r.text);
        completionTokens += r.tokens.length;
      }
      return { texts, usage: { promptTokens: promptTokens(prompt) * n, completionTokens } };
    },
    async score(prompt: string, target: string, o?: ScoreOptions): Promise<Score> {
      throwIfAborted(o?.signal, `${id}: score`);
      return toScore(await one.run(() => model.score(prompt, target, { conditioning, signal: o?.signal })), promptTokens(prompt));
    },
    // One scoreMany over the shared prefix with targets "context + target"; each result is cut
    // back to the target's tokens by character offset (tokens that end inside the target text).
    // An item whose pieces do not decode back to its text falls back to a plain score().
    async scoreShared(prefix: string, items: { context: string; target: string }[], o?: ScoreOptions): Promise<Score[]> {
      throwIfAborted(o?.signal, `${id}: scoreShared`);
      const tok = model.tokenizer;
      if (!tok) throw new PromptkilnError('TOKENIZER', `${id}: scoring text needs a tokenizer`);
      const whole = await one.run(async () => {
        if (model.scoreMany) return model.scoreMany(prefix, items.map((it) => it.context + it.target), { conditioning, signal: o?.signal });
        // one call at a time: the runtime's workspace is shared
        const rs: LocalScore[] = [];
        for (const it of items) rs.push(await model.score(prefix, it.context + it.target, { conditioning, signal: o?.signal }));
        return rs;
      });
      const prefixIds = tok.encode(prefix);
      const out: Score[] = [];
      for (const [i, r] of whole.entries()) {
        const it = items[i];
        let prev: number | null = prefixIds.length ? prefixIds[prefixIds.length - 1] : null;
        const ends: number[] = [];
        let text = '';
        for (const t of r.tokens) {
          text += tok.decodeToken(t, prev);
          prev = t;
          ends.push(text.length);
        }
        const start = text.length - it.target.length;
        if (!text.endsWith(it.context + it.target) || (it.target.length > 0 && start <= 0)) {
          out.push(toScore(await one.run(() => model.score(prefix + it.context, it.target, { conditioning, signal: o?.signal })), promptTokens(prefix + it.context)));
          continue;
        }
        const logprobs = r.logprobs.filter((_, j) => ends[j] > start);
        out.push({ total: logprobs.reduce((a, b) => a + b, 0), logprobs, usage: { promptTokens: r.tokens.length - logprobs.length, completionTokens: logprobs.length } });
      }
      return out;
    },
    ...(model.forward
      ? {
          async embed(texts: string[], o?: ScoreOptions): Promise<Embeddings> {
            const vectors: number[][] = [];
            let tokens = 0;
            for (const t of texts) {
              throwIfAborted(o?.signal, `${id}: embed`);
              const e = await one.run(() => meanPooled(model, t));
              vectors.push(e.vector);
              tokens += e.tokens;
            }
            return { vectors, usage: { promptTokens: tokens, completionTokens: 0 } };
          },
        }
      : {}),
    async scoreMany(prompt: string, targets: string[], o?: ScoreOptions): Promise<Score[]> {
      throwIfAborted(o?.signal, `${id}: scoreMany`);
      const n = promptTokens(prompt); // encoded once, not once per target
      if (model.scoreMany) return (await one.run(() => model.scoreMany!(prompt, targets, { conditioning, signal: o?.signal }))).map((s) => toScore(s, n));
      const out: Score[] = [];
      for (const t of targets) out.push(toScore(await one.run(() => model.score(prompt, t, { conditioning, signal: o?.signal })), n));
      return out;
    },
  };
}
