// tokenizer.json of both families (byte-level BPE; SentencePiece-style with byte fallback) and
// chat templates, against what transformers 5.17 / tokenizers 0.23 produced (../shared/refs/hf):
// token ids exact, special tokens as tokenizer(text) adds them, chat strings exact.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderChat } from '../../src/model/chat-template.js';
import { Model } from '../../src/model/index.js';
import { loadCheckpoint } from '../../src/model/source.js';
import { loadHfTokenizer } from '../../src/model/tokenizer-hf.js';
import { REFS_DIR } from '../helpers/paths.js';
import { expectCode } from './loaders/util.js';

const HF = path.join(REFS_DIR, 'hf');
const cases = JSON.parse(readFileSync(path.join(HF, 'cases.json'), 'utf8'));
const text = (dir: string, f: string) => readFileSync(path.join(HF, dir, f), 'utf8');
const tokenizerOf = (dir: string) => loadHfTokenizer(text(dir, 'tokenizer.json'), text(dir, 'tokenizer_config.json'), { file: `${dir}/tokenizer.json` });

for (const [name, t] of Object.entries<any>(cases.tokenizers)) {
  describe(`tokenizer ${name}`, () => {
    const tok = tokenizerOf(t.folder);

    it(`vocabulary ${t.vocab_size}`, () => expect(tok.vocabSize).toBe(t.vocab_size));

    for (const c of t.cases) {
      it(`${JSON.stringify(c.text)}: ids with and without special tokens, decode`, () => {
        expect(tok.encode(c.text)).toEqual(c.ids);
        expect(tok.encode(c.text, { bos: false })).toEqual(c.ids_no_special);
        if (c.ids_no_special.length) expect(tok.decode(c.ids_no_special)).toBe(c.decoded);
      });
    }

    it('chat_template.jinja renders the conversation exactly, and its encoding (no added specials) matches', () => {
      const rendered = renderChat(text(t.folder, 'chat_template.jinja'), t.chat.messages, { addGenerationPrompt: true }, tok.specialTokens);
      expect(rendered).toBe(t.chat.rendered);
      expect(tok.encode(rendered, { bos: false })).toEqual(t.chat.ids);
    });

    it('two user turns in a row: the template raises (a typed error with its message) or accepts them', async () => {
      const msgs = [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }];
      const tpl = text(t.folder, 'chat_template.jinja');
      if (t.chat.bad_roles_raises === false) expect(renderChat(tpl, msgs, {}, tok.specialTokens)).toContain('b');
      else {
        const e = await expectCode(() => renderChat(tpl, msgs, {}, tok.specialTokens), 'ARGUMENT', /chat template refused the messages/);
        expect(e.details!.raised).toBe(t.chat.bad_roles_raises);
      }
    });
  });
}

describe('model folders: tokenizer(prompt + target) and the prompt cut', () => {
  for (const [name, m] of Object.entries<any>(cases.models)) {
    it(name, () => {
      const tok = tokenizerOf(m.folder ?? name);
      for (const c of m.text_cases) {
        expect(tok.encode(c.prompt + c.target)).toEqual(c.full_ids);
        const p = tok.encode(c.prompt);
        let cut = 0;
        while (cut < p.length && p[cut] === c.full_ids[cut]) cut++;
        expect(cut).toBe(c.cut);
      }
    });
  }
});

describe('chat templates', () => {
  const sp = tokenizerOf('mistral-sp-tokenizer');
  const inst = text('mistral-sp-tokenizer', 'chat_template.jinja');

  it('BOS once: the [INST] template writes <s> (bos_token in scope) and encoding with { bos: false } keeps just that one', () => {
    const r = renderChat(inst, [{ role: 'user', content: 'hi' }], {}, sp.specialTokens);
    expect(r).toBe('<s>[INST] hi [/INST]');
    const ids = sp.encode(r, { bos: false });
    expect(ids.filter((id) => id === sp.bosId)).toEqual([1]);
    expect(ids[0]).toBe(1);
    // encoded with the default rule (what generate(text) does), BOS still appears once
    expect(sp.encode(r)).toEqual(ids);
    expect(sp.encode('hi')[0]).toBe(1);
    // without the tokenizer's special tokens the template has no BOS to write
    expect(renderChat(inst, [{ role: 'user', content: 'hi' }], {})).toBe('[INST] hi [/INST]');
  });

  it('extra keywords, tools and add_generation_prompt reach the template', () => {
    const tpl = "{% if tools %}T{{ tools | length }}|{% endif %}{% for m in messages %}{{ m.role }}:{{ m.content }}|{% endfor %}{% if add_generation_prompt %}A{% if enable_thinking is defined and not enable_thinking %}<think></think>{% endif %}{% endif %}";
    const msgs = [{ role: 'user', content: 'q' }];
    expect(renderChat(tpl, msgs)).toBe('user:q|');
    expect(renderChat(tpl, msgs, { addGenerationPrompt: true })).toBe('user:q|A');
    expect(renderChat(tpl, msgs, { addGenerationPrompt: true, enable_thinking: false })).toBe('user:q|A<think></think>');
    expect(renderChat(tpl, msgs, { tools: [{ type: 'function' }, { type: 'function' }] })).toBe('T2|user:q|');
  });

  it('no template → TOKENIZER error; a template that does not parse → TOKENIZER error', async () => {
    await expectCode(() => renderChat(null, []), 'TOKENIZER', /no chat template/);
    await expectCode(() => renderChat('{% for %}', []), 'TOKENIZER', /does not parse/);
  });

  it('tokenizer_config.json named templates: "default" is used', () => {
    const tc = JSON.parse(text('tokenizer-bytelevel', 'tokenizer_config.json'));
    const t = loadHfTokenizer(text('tokenizer-bytelevel', 'tokenizer.json'), JSON.stringify({ ...tc, chat_template: [{ name: 'tool_use', template: 'TOOLS' }, { name: 'default', template: 'PLAIN' }] }));
    expect(t.chatTemplate).toBe('PLAIN');
  });

  it('a loaded model: chat_template.jinja wins over tokenizer_config.json, and applyChatTemplate renders it', async () => {
    const dir = path.join(HF, 'llama3-rope-scaled-tied');
    const files: Record<string, Uint8Array> = {};
    for (const f of cases.models['llama3-rope-scaled-tied'].files as string[]) files[f] = new Uint8Array(readFileSync(path.join(dir, f)));
    const tc = JSON.parse(new TextDecoder().decode(files['tokenizer_config.json']));
    files['tokenizer_config.json'] = new TextEncoder().encode(JSON.stringify({ ...tc, chat_template: 'OLD' }));
    const m = await Model.fromCheckpoint(await loadCheckpoint({ files }));
    try {
      const chat = cases.tokenizers.bytelevel.chat;
      expect(m.applyChatTemplate(chat.messages, { addGenerationPrompt: true })).toBe(chat.rendered);
      delete files['chat_template.jinja'];
      const old = await loadCheckpoint({ files });
      expect(old.chatTemplate).toBe('OLD');
    } finally {
      m.dispose();
    }
  });
});

describe('bad tokenizer input', () => {
  it('a tokenizer whose ids exceed the model vocabulary → TOKENIZER naming tokenizer.json and vocab_size', async () => {
    const dir = path.join(HF, 'llama-gqa');
    const files: Record<string, Uint8Array> = {};
    for (const f of cases.models['llama-gqa'].files as string[]) files[f] = new Uint8Array(readFileSync(path.join(dir, f)));
    const tj = JSON.parse(new TextDecoder().decode(files['tokenizer.json']));
    tj.added_tokens.push({ id: 300, content: '<|extra|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    files['tokenizer.json'] = new TextEncoder().encode(JSON.stringify(tj));
    await expectCode(() => loadCheckpoint({ files, name: 'gqa' }), 'TOKENIZER', /gqa\/tokenizer\.json: ids reach 300, beyond config\.json vocab_size 300/);
  });
});
