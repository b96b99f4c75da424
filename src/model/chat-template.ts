// Chat templates (chat_template.jinja, or tokenizer_config.json's chat_template) rendered with
// @huggingface/jinja as transformers' apply_chat_template(..., tokenize=False) renders them:
// messages, tools, documents, add_generation_prompt, the tokenizer's special tokens (bos_token,
// eos_token, ...) and any extra keyword (Qwen3's enable_thinking) in scope; raise_exception(msg)
// becomes a typed ARGUMENT error carrying the template's message.

import { parse, Template, tokenize } from '@huggingface/jinja';
import { PromptkilnError } from '../errors.js';

export interface ChatMessage {
  role: string;
  content: unknown; // a string, or content parts as the template expects them
  [key: string]: unknown; // tool_calls, name, ...
}

export interface ChatTemplateOptions {
  addGenerationPrompt?: boolean; // end with the assistant header (default false, as transformers)
  tools?: unknown[] | null;
  documents?: unknown[] | null;
  [extra: string]: unknown; // passed to the template as is (enable_thinking, ...)
}

// tokenizer_config.json's chat_template: a string, or named templates [{ name, template }]
// (transformers picks "default", or "tool_use" when tools are given).
export type ChatTemplateSource = string | { name: string; template: string }[];

class RaisedByTemplate extends Error {}

// The library declares raise_exception itself (throwing a plain Error, like any runtime failure)
// and refuses a second declaration, so the template's calls are renamed to ours at the token level
// (string literals that mention the name are left alone).
const RAISE = '__promptkiln_raise_exception';

const cache = new Map<string, Template>();

function compile(template: string): Template {
  let t = cache.get(template);
  if (!t) {
    try {
      t = new Template(template);
      // the same options Template's constructor tokenizes with
      const tokens = tokenize(template, { lstrip_blocks: true, trim_blocks: true });
      for (const tk of tokens) if (tk.type === 'Identifier' && tk.value === 'raise_exception') (tk as { value: string }).value = RAISE;
      t.parsed = parse(tokens);
    } catch (e) {
      throw new PromptkilnError('TOKENIZER', `chat template does not parse: ${(e as Error).message}`, undefined, { cause: e });
    }
    if (cache.size > 16) cache.clear();
    cache.set(template, t);
  }
  return t;
}

export function pickTemplate(src: ChatTemplateSource, tools: boolean): string {
  if (typeof src === 'string') return src;
  const by = new Map(src.map((t) => [t.name, t.template]));
  const t = (tools && by.get('tool_use')) || by.get('default');
  if (t === undefined) throw new PromptkilnError('TOKENIZER', `chat templates ${[...by.keys()].join(', ')}: none is "default"`);
  return t;
}

// The rendered conversation. `specialTokens`: the tokenizer's special token strings by their
// tokenizer_config names (bos_token, eos_token, unk_token, pad_token).
export function renderChat(template: ChatTemplateSource | null | undefined, messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}, specialTokens: Record<string, string> = {}): string {
  if (!template) throw new PromptkilnError('TOKENIZER', 'this checkpoint has no chat template (neither chat_template.jinja nor tokenizer_config.json chat_template)');
  if (!Array.isArray(messages)) throw new PromptkilnError('ARGUMENT', 'chat: messages must be an array of { role, content }');
  const { addGenerationPrompt, tools, documents, ...extra } = opts;
  const t = compile(pickTemplate(template, !!tools?.length));
  try {
    return t.render({
      ...specialTokens,
      ...extra,
      messages,
      tools: tools ?? null,
      documents: documents ?? null,
      add_generation_prompt: addGenerationPrompt ?? false,
      [RAISE]: (msg: unknown) => {
        throw new RaisedByTemplate(String(msg));
      },
    });
  } catch (e) {
    if (e instanceof RaisedByTemplate) throw new PromptkilnError('ARGUMENT', `chat template refused the messages: ${e.message}`, { raised: e.message });
    throw new PromptkilnError('ARGUMENT', `chat template failed to render: ${(e as Error).message}`, undefined, { cause: e });
  }
}
