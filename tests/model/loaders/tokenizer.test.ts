// The llama2.c tokenizer: BOS, specials, streaming decode, out-of-vocabulary ids.
import { describe, expect, test } from 'vitest';
import { loadHfTokenizer } from '../../../src/model/tokenizer-hf.js';
import { parseLlama2cTokenizer } from '../../../src/model/tokenizer-llama2c.js';
import { hfTokenizerJsonFromLlama2c } from './hf-tokenizer-from-llama2c.js';
import { expectCode, read, refJson, TOK512 } from './util.js';

const bytes = read(TOK512);
const cases = refJson('stories260K/tokenizer.json').cases as { text: string; bos: boolean; eos: boolean; ids: number[]; pieces: string[]; decoded: string }[];
const hfFiles = hfTokenizerJsonFromLlama2c(bytes);

describe.each([
  ['llama2.c tok512.bin', () => parseLlama2cTokenizer(bytes, 512, 'tok512.bin')],
  ['HF tokenizer.json (converted from tok512.bin) via @huggingface/tokenizers', () => loadHfTokenizer(hfFiles.tokenizer, hfFiles.config)],
])('%s', (_, make) => {
  const tok = make();

  test.each(cases.map((c) => [JSON.stringify(c.text), c] as const))('encode/decode %s exactly', (_, c) => {
    expect(tok.encode(c.text, { bos: c.bos, eos: c.eos })).toEqual(c.ids);
    expect(tok.decode(c.ids)).toBe(c.decoded);
  });

  test('BOS by default, vocab and special ids', () => {
    expect(tok.encode('Once upon a time')).toEqual([1, 403, 407, 261, 378]);
    expect(tok.encode('Once upon a time', { bos: false })).toEqual([403, 407, 261, 378]);
    expect([tok.vocabSize, tok.bosId, tok.eosId]).toEqual([512, 1, 2]);
  });

  test('streaming decodeToken: split UTF-8 characters come out whole, concatenation = decode', () => {
    for (const c of cases) {
      let out = '';
      const pieces: string[] = [];
      for (let i = 1; i < c.ids.length; i++) {
        const p = tok.decodeToken(c.ids[i], c.ids[i - 1]);
        pieces.push(p);
        out += p;
      }
      expect(out, c.text).toBe(c.decoded);
      expect(pieces.join('')).not.toContain('\uFFFD');
    }
    // ☃ = <0xE2><0x98><0x83>: nothing until the third byte
    const snow = [1, 229, 155, 134];
    expect(snow.slice(1).map((id, i) => tok.decodeToken(id, snow[i]))).toEqual(['', '', '☃']);
  });

  test('ids outside the vocabulary → TOKEN', async () => {
    await expectCode(() => tok.decode([1, 512]), 'TOKEN', /512/);
    await expectCode(() => tok.decodeToken(-1, null), 'TOKEN');
  });
});

describe('llama2.c tokenizer.bin', () => {
  const tok = parseLlama2cTokenizer(bytes, 512);
  test('pieces and scores as in the README (byte b → id b + 3, score of id i = 259 − i)', () => {
    expect(tok.piece(1)).toBe('\n<s>\n');
    expect(tok.piece(3 + 0x41)).toBe('<0x41>');
    expect(tok.score(300)).toBe(-41);
    for (const c of cases) expect(c.ids.map((i) => tok.piece(i))).toEqual(c.pieces);
  });

  test('independent stream decoders do not share pending bytes', () => {
    const a = tok.createStreamDecoder(1);
    const b = tok.createStreamDecoder(1);
    expect(a.push(229)).toBe('');
    expect(b.push(263)).toBe('w'); // " w" after BOS drops its space
    expect(a.push(155)).toBe('');
    expect(a.push(134)).toBe('☃');
    expect(a.push(229)).toBe('');
    expect(a.flush()).toBe('\uFFFD');
  });

  test('long text encodes fast (heap merges) and round-trips', () => {
    const text = 'Once upon a time, there was a little girl named Lily. '.repeat(400);
    const t0 = performance.now();
    const ids = tok.encode(text);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(tok.decode(ids)).toBe(text);
  });

  test('bad files → TOKENIZER', async () => {
    await expectCode(() => parseLlama2cTokenizer(bytes.slice(0, 2)), 'TOKENIZER', /shorter/);
    await expectCode(() => parseLlama2cTokenizer(bytes.slice(0, 5000), 512, 'tok512.bin'), 'TOKENIZER', /tok512\.bin.*(truncated|remain)/);
    await expectCode(() => parseLlama2cTokenizer(bytes, 511), 'TOKENIZER', /trailing bytes/);
    await expectCode(() => parseLlama2cTokenizer(bytes, 100000), 'TOKENIZER', /too short/);
    const neg = bytes.slice();
    new DataView(neg.buffer).setInt32(8, -5, true);
    await expectCode(() => parseLlama2cTokenizer(neg, 512), 'TOKENIZER', /byte length -5/);
  });

  test('HF tokenizer files: bad JSON → TOKENIZER; chat template is kept', async () => {
    await expectCode(() => loadHfTokenizer('{', null), 'TOKENIZER', /tokenizer\.json/);
    await expectCode(() => loadHfTokenizer('{"model": {"type": "Nope"}}', null), 'TOKENIZER');
    expect(loadHfTokenizer(hfFiles.tokenizer, hfFiles.config).chatTemplate).toContain('messages');
  });
});
