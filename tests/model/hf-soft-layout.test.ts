// Soft-prompt layouts on Hugging Face checkpoints: the text after the soft rows gets BOS exactly as
// the checkpoint's tokenizer(text) adds it — Mistral's SentencePiece tokenizer puts <s> first,
// Qwen's byte-level tokenizer has no BOS at all (layouts used to demand one and fail).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/model/index.js';
import { layoutExample } from '../../src/soft/mixed.js';
import { REFS_DIR } from '../helpers/paths.js';

const HF = path.join(REFS_DIR, 'hf');
const cases = JSON.parse(readFileSync(path.join(HF, 'cases.json'), 'utf8'));

for (const name of ['qwen2', 'mistral-sp-tokenizer']) {
  describe(`prompt-tuning layout on ${name}`, () => {
    let model: Model;
    beforeAll(async () => {
      model = await loadModel(path.join(HF, name));
    });
    afterAll(() => model?.dispose());

    it('[soft rows, tokenizer(input + target)], targets split where tokenizer(input) ends', () => {
      const c = cases.models[name].text_cases[0];
      const laid = layoutExample(model, [{ soft: 4 }, { input: true }], { input: c.prompt, target: c.target });
      expect(laid.parts[0]).toEqual({ softOffset: 0, rows: 4 });
      expect(laid.parts[1]).toEqual({ ids: c.full_ids });
      expect(laid.targets).toEqual(c.full_ids.slice(c.cut));
      expect(laid.targetRows[0]).toBe(4 + c.cut - 1);
    });
  });
}
