// A hosted model by provider name: what the CLI's --provider / --proposer-provider /
// --judge-provider pick between. Keys come from each provider's usual environment variable.
import { PromptkilnError } from '../errors.js';
import { AnthropicModel } from './anthropic.js';
import { GeminiModel } from './gemini.js';
import { OpenAIModel } from './openai.js';
import type { LanguageModel } from './types.js';

export type ProviderName = 'openai' | 'anthropic' | 'gemini';
export const PROVIDERS: ProviderName[] = ['openai', 'anthropic', 'gemini'];

export interface ProviderModelOptions {
  provider?: ProviderName; // default 'openai'
  endpoint?: string; // base URL; required for openai (any compatible server), optional for the others
  model: string;
  api?: 'chat' | 'completions'; // openai only
  concurrency?: number;
}

export function providerModel(o: ProviderModelOptions, what = 'model'): LanguageModel {
  const provider = o.provider ?? 'openai';
  if (!PROVIDERS.includes(provider)) throw new PromptkilnError('ARGUMENT', `${what}: provider must be one of ${PROVIDERS.join(', ')}, got "${provider}"`);
  if (o.api && provider !== 'openai') throw new PromptkilnError('ARGUMENT', `${what}: api "${o.api}" applies to the openai provider only (${provider} is always chat)`);
  switch (provider) {
    case 'openai':
      if (!o.endpoint) throw new PromptkilnError('ARGUMENT', `${what}: the openai provider needs an endpoint URL (…/v1)`);
      return new OpenAIModel({ baseURL: o.endpoint, model: o.model, api: o.api ?? 'completions', concurrency: o.concurrency });
    case 'anthropic':
      return new AnthropicModel({ baseURL: o.endpoint, model: o.model, concurrency: o.concurrency });
    case 'gemini':
      return new GeminiModel({ baseURL: o.endpoint, model: o.model, concurrency: o.concurrency });
  }
}
