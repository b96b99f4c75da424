// A checkpoint's JSON files (config, generation config, tokenizer, tokenizer config) that are not a JSON object fail with the file's own error code and name.
import { describe, expect, it } from 'vitest';
import { parseGenerationConfig } from '../../src/model/generation-config.js';
import { hfConfig } from '../../src/model/hf-config.js';
import { loadHfTokenizer } from '../../src/model/tokenizer-hf.js';

const BAD = [['{"a": 1', 'not valid JSON'], ['[1, 2]', 'expected a JSON object'], ['null', 'expected a JSON object'], ['3', 'expected a JSON object']];

describe('checkpoint JSON files', () => {
  for (const [text, msg] of BAD) {
    it(`${text} → typed error naming the file (${msg})`, () => {
      expect(() => hfConfig(text, 'm/config.json')).toThrow(expect.objectContaining({ code: 'CONFIG', message: expect.stringContaining(`m/config.json: ${msg}`) }));
      expect(() => parseGenerationConfig(text, 'm/generation_config.json')).toThrow(expect.objectContaining({ code: 'CONFIG', message: expect.stringContaining(`m/generation_config.json: ${msg}`) }));
      expect(() => loadHfTokenizer(text, null, { file: 'm/tokenizer.json' })).toThrow(expect.objectContaining({ code: 'TOKENIZER', message: expect.stringContaining(`m/tokenizer.json: ${msg}`) }));
      expect(() => loadHfTokenizer('{}', text, { file: 'm/tokenizer.json' })).toThrow(expect.objectContaining({ code: 'TOKENIZER', message: expect.stringContaining(`tokenizer_config.json: ${msg}`) }));
    });
  }

  it('a config passed already parsed is checked the same way', () => {
    expect(() => hfConfig([], 'x.json')).toThrow(expect.objectContaining({ code: 'CONFIG' }));
    expect(parseGenerationConfig('{"eos_token_id": [1, 2], "bos_token_id": 0}')).toEqual({ eosIds: [1, 2], bosId: 0 });
  });
});
