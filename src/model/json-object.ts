// Parsing a checkpoint's JSON file (config, generation config, tokenizer) into an object, or a typed error naming the file.
import { PromptkilnError, type ErrorCode } from '../errors.js';

// `input` is the file's text, or JSON a caller already parsed.
export function parseJsonObject(input: string | unknown, file: string, code: ErrorCode): Record<string, unknown> {
  let j: unknown = input;
  if (typeof input === 'string') {
    try {
      j = JSON.parse(input);
    } catch (e) {
      throw new PromptkilnError(code, `${file}: not valid JSON (${(e as Error).message})`, { file });
    }
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new PromptkilnError(code, `${file}: expected a JSON object`, { file });
  return j as Record<string, unknown>;
}
