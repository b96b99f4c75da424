// generation_config.json: the token ids that end generation (Llama 3 Instruct lists three).
// transformers' generate() stops on generation_config's eos_token_id when the file has one, else
// on config.json's; the file's sampling defaults are not applied (generate's options are explicit).

import { parseJsonObject } from './json-object.js';
import { tokenIds } from './hf-config.js';
import type { ModelConfig } from './types.js';

export interface GenerationConfig {
  eosIds: number[] | null; // null: the file does not say
  bosId: number | null;
}

export function parseGenerationConfig(text: string, file = 'generation_config.json'): GenerationConfig {
  const o = parseJsonObject(text, file, 'CONFIG');
  const eos = o.eos_token_id === undefined || o.eos_token_id === null ? null : tokenIds(o, 'eos_token_id', file);
  return { eosIds: eos, bosId: tokenIds(o, 'bos_token_id', file)[0] ?? null };
}

// The config with generation_config's stop ids (and BOS, where config.json has none).
export function withGenerationConfig(c: ModelConfig, g: GenerationConfig): ModelConfig {
  const eosIds = g.eosIds ?? c.eosIds ?? (c.eosId === null ? [] : [c.eosId]);
  return { ...c, eosIds, eosId: eosIds[0] ?? null, bosId: c.bosId ?? g.bosId };
}

// Every id that ends generation.
export function stopIds(c: ModelConfig): number[] {
  return c.eosIds ?? (c.eosId === null ? [] : [c.eosId]);
}
