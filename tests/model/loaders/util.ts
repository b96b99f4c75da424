// Shared by the loader tests: real file paths and an expectation helper for typed errors.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { PromptkilnError, type ErrorCode } from '../../../src/errors.js';
import { MODELS_DIR, REFS_DIR } from '../../helpers/paths.js';

export const STORIES_DIR = path.join(MODELS_DIR, 'stories260K');
export const STORIES_BIN = path.join(STORIES_DIR, 'stories260K.bin');
export const TOK512 = path.join(STORIES_DIR, 'tok512.bin');
export const GPT2_DIR = path.join(MODELS_DIR, 'gpt2-tiny-random');
export const read = (p: string) => new Uint8Array(readFileSync(p));
export const refJson = (rel: string) => JSON.parse(readFileSync(path.join(REFS_DIR, rel), 'utf8'));

export async function expectCode(f: () => unknown, code: ErrorCode, message?: RegExp): Promise<PromptkilnError> {
  let err: unknown;
  try {
    await f();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a PromptkilnError').toBeInstanceOf(PromptkilnError);
  expect((err as PromptkilnError).code, (err as Error).message).toBe(code);
  if (message) expect((err as Error).message).toMatch(message);
  return err as PromptkilnError;
}
