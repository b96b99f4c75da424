// Hugging Face `tokenizer.json` (+ `tokenizer_config.json`) through @huggingface/tokenizers,
// wrapped as our Tokenizer.
//
// Special tokens: encode(text) adds them exactly as transformers' tokenizer(text) does (the
// tokenizer.json post-processor: Llama/Mistral's TemplateProcessing puts <s> first, byte-level
// GPT-2/Qwen adds nothing), except that text starting with the BOS string (a rendered chat
// template) gets one BOS, not two. With an explicit { bos, eos } the library adds none and we add BOS /
// EOS as asked (bos defaults to what the post-processor does). Decoding drops BOS/EOS ids and
// keeps other special tokens.
// Streaming (decodeToken) decodes a growing window of ids and emits only the new, complete text:
// a token whose bytes end in the middle of a UTF-8 character (byte-fallback or byte-level BPE)
// produces "" until the character completes (the text ends in U+FFFD until then).

import { Tokenizer as HfLib } from '@huggingface/tokenizers';
import { PromptkilnError } from '../errors.js';
import { pickTemplate } from './chat-template.js';
import { parseJsonObject } from './json-object.js';
import type { Tokenizer } from './types.js';
import type { TokenStreamDecoder } from './tokenizer-llama2c.js';

const parseJson = (text: string, file: string) => parseJsonObject(text, file, 'TOKENIZER');

// "<s>" or {"content": "<s>", ...} in tokenizer_config.json
function tokenContent(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return null;
}

export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly chatTemplate: string | null;
  // special token strings by their tokenizer_config.json names (bos_token, eos_token, ...): what
  // chat templates see
  readonly specialTokens: Record<string, string>;
  private readonly defaultBos: boolean;
  private stream: TokenStreamDecoder | null = null;
  private streamLast: number | null = null;

  constructor(
    private readonly lib: HfLib,
    config: Record<string, unknown>,
    fallback: { bosId?: number | null; eosId?: number | null } = {},
  ) {
    let max = -1;
    for (const id of lib.get_vocab(true).values()) if (id > max) max = id;
    this.vocabSize = max + 1;
    const idOf = (key: string) => {
      const c = tokenContent(config[key]);
      return c === null ? undefined : lib.token_to_id(c);
    };
    this.bosId = idOf('bos_token') ?? fallback.bosId ?? null;
    this.eosId = idOf('eos_token') ?? fallback.eosId ?? null;
    // does the post-processor put BOS first? (compare with and without special tokens)
    const withSpecial = lib.encode('a', { add_special_tokens: true }).ids;
    const without = lib.encode('a', { add_special_tokens: false }).ids;
    this.defaultBos = this.bosId !== null && withSpecial[0] === this.bosId && without[0] !== this.bosId;
    const tpl = config.chat_template;
    // a list of named templates: the "default" one (tool_use variants are not picked)
    this.chatTemplate = typeof tpl === 'string' ? tpl : Array.isArray(tpl) ? pickTemplate(tpl as { name: string; template: string }[], false) : null;
    this.specialTokens = {};
    for (const [k, v] of Object.entries(config)) {
      const c = k.endsWith('_token') ? tokenContent(v) : null;
      if (c !== null) this.specialTokens[k] = c;
    }
  }

  encode(text: string, opts: { bos?: boolean; eos?: boolean } = {}): number[] {
    if (opts.bos === undefined && opts.eos === undefined) {
      const ids = this.lib.encode(text, { add_special_tokens: true }).ids.slice();
      // a rendered chat template already starts with the BOS text: keep one BOS, not two (the one
      // place we differ from tokenizer(text), which would double it)
      if (this.defaultBos && ids.length > 1 && ids[0] === this.bosId && ids[1] === this.bosId && text.startsWith(this.specialTokens.bos_token ?? '\0')) ids.shift();
      return ids;
    }
    const ids = this.lib.encode(text, { add_special_tokens: false }).ids.slice();
    if (opts.bos ?? this.defaultBos) {
      if (this.bosId === null) throw new PromptkilnError('TOKENIZER', 'this tokenizer has no BOS token; encode with { bos: false }');
      ids.unshift(this.bosId);
    }
    if (opts.eos) {
      if (this.eosId === null) throw new PromptkilnError('TOKENIZER', 'this tokenizer has no EOS token; encode with { eos: false }');
      ids.push(this.eosId);
    }
    return ids;
  }

  private check(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new PromptkilnError('TOKEN', `token id ${id} is outside the vocabulary [0, ${this.vocabSize})`, { id });
    }
  }

  decode(ids: readonly number[]): string {
    for (const id of ids) this.check(id);
    const kept = ids.filter((id) => id !== this.bosId && id !== this.eosId);
    if (kept.length === 0) return ''; // the library refuses an empty list
    return this.lib.decode(kept, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  }

  // One stream: keeps the ids since the last emitted boundary and emits the text they add.
  // `prev` is the token before the first pushed one (its context matters for decoders that
  // strip a leading space from the first token).
  createStreamDecoder(prev: number | null = null): TokenStreamDecoder {
    let ids: number[] = prev === null || prev === this.bosId || prev === this.eosId ? [] : [prev];
    let emitted = ids.length > 0 ? this.decode(ids).length : 0;
    return {
      push: (id: number) => {
        this.check(id);
        ids.push(id);
        const text = this.decode(ids);
        if (text.endsWith('\uFFFD')) return ''; // an incomplete character: wait for its next bytes
        const out = text.slice(emitted);
        // keep one token of context so the next token's leading space is decoded in place
        ids = [id];
        emitted = this.decode(ids).length;
        return out;
      },
      flush: () => {
        const text = this.decode(ids);
        const out = text.slice(emitted);
        ids = [];
        emitted = 0;
        return out;
      },
    };
  }

  // Streaming: the text `id` adds after `prev`; one internal stream that continues while `prev`
  // is the previous call's id (see Llama2cTokenizer.decodeToken).
  decodeToken(id: number, prev: number | null): string {
    if (this.stream === null || prev === null || prev !== this.streamLast) this.stream = this.createStreamDecoder(prev);
    const out = this.stream.push(id);
    this.streamLast = id;
    return out;
  }
}

// tokenizer.json text (+ tokenizer_config.json text, optional) → HfTokenizer.
export function loadHfTokenizer(
  tokenizerJson: string,
  tokenizerConfigJson: string | null,
  opts: { file?: string; bosId?: number | null; eosId?: number | null } = {},
): HfTokenizer {
  const file = opts.file ?? 'tokenizer.json';
  const tj = parseJson(tokenizerJson, file);
  const tc = tokenizerConfigJson === null ? {} : parseJson(tokenizerConfigJson, 'tokenizer_config.json');
  let lib: HfLib;
  try {
    lib = new HfLib(tj, tc);
  } catch (e) {
    throw new PromptkilnError('TOKENIZER', `${file}: @huggingface/tokenizers could not build it: ${(e as Error).message}`, { file }, { cause: e });
  }
  return new HfTokenizer(lib, tc, opts);
}
