// The CLI's hosted models by role: the target (--endpoint / --llm-model / --provider / --api),
// the proposer (--proposer-*) and the judge (--judge-*), each role's unset flags defaulting to
// the target's; and the price table (built-in, overridden by --prices FILE).
import { PromptkilnError } from '../errors.js';
import { DEFAULT_PRICES, parsePriceTable, type PriceTable } from '../llm/prices.js';
import { PROVIDERS, providerModel, type ProviderName } from '../llm/providers.js';
import type { LanguageModel } from '../llm/types.js';
import { nodeFs } from '../util/files.js';
import { numberOpt } from './command.js';

export const lmOptions = {
  endpoint: { type: 'string' }, 'llm-model': { type: 'string' }, provider: { type: 'string' }, api: { type: 'string' },
  'proposer-endpoint': { type: 'string' }, 'proposer-model': { type: 'string' }, 'proposer-provider': { type: 'string' },
  'judge-endpoint': { type: 'string' }, 'judge-model': { type: 'string' }, 'judge-provider': { type: 'string' },
  prices: { type: 'string' }, concurrency: { type: 'string' },
} as const;

export type LmValues = Partial<Record<keyof typeof lmOptions, string>>;

export const lmUsage = `--endpoint URL --llm-model NAME [--provider openai|anthropic|gemini] [--api chat|completions]
  [--proposer-endpoint URL] [--proposer-model NAME] [--proposer-provider P]
  [--judge-endpoint URL] [--judge-model NAME] [--judge-provider P] [--prices FILE]`;

export const keysUsage = `API keys come from OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY (or GOOGLE_API_KEY) and are never written to any file.`;

function provider(cmd: string, flag: string, v: string | undefined, dflt: ProviderName): ProviderName {
  if (v === undefined) return dflt;
  if (!PROVIDERS.includes(v as ProviderName)) throw new PromptkilnError('ARGUMENT', `${cmd}: --${flag} must be one of ${PROVIDERS.join(', ')}, got "${v}"`);
  return v as ProviderName;
}

// The target as a hosted model, or null when the command runs a local --model instead.
export function targetModel(cmd: string, v: LmValues): LanguageModel | null {
  if (v.api && v.api !== 'chat' && v.api !== 'completions') throw new PromptkilnError('ARGUMENT', `${cmd}: --api must be chat or completions, got "${v.api}"`);
  const p = provider(cmd, 'provider', v.provider, 'openai');
  if (!v.endpoint && !v['llm-model'] && !v.provider) return null;
  if (!v['llm-model']) throw new PromptkilnError('ARGUMENT', `${cmd}: --endpoint needs --llm-model NAME`);
  if (p === 'openai' && !v.endpoint) throw new PromptkilnError('ARGUMENT', `${cmd}: --llm-model with the openai provider needs --endpoint URL (an OpenAI-compatible …/v1)`);
  return providerModel({ provider: p, endpoint: v.endpoint, model: v['llm-model'], api: v.api as 'chat' | 'completions' | undefined, concurrency: numberOpt(cmd, 'concurrency', v.concurrency, 4) }, cmd);
}

// A proposer or judge: undefined when none of its flags is set (the caller then uses the target).
export function roleModel(cmd: string, role: 'proposer' | 'judge', v: LmValues): LanguageModel | undefined {
  const endpoint = v[`${role}-endpoint`];
  const model = v[`${role}-model`];
  const prov = v[`${role}-provider`];
  if (endpoint === undefined && model === undefined && prov === undefined) return undefined;
  const targetProvider = provider(cmd, 'provider', v.provider, 'openai');
  const p = provider(cmd, `${role}-provider`, prov, targetProvider);
  const local = !v['llm-model'];
  const name = model ?? (local ? undefined : v['llm-model']);
  if (!name) throw new PromptkilnError('ARGUMENT', `${cmd}: --${role}-model NAME is needed (the target is a local --model: there is no hosted model name to default to)`);
  // the target's endpoint is the default only for the same provider
  const url = endpoint ?? (p === targetProvider ? v.endpoint : undefined);
  if (p === 'openai' && !url) throw new PromptkilnError('ARGUMENT', `${cmd}: --${role}-endpoint URL is needed for the openai provider`);
  return providerModel({ provider: p, endpoint: url, model: name, api: p === 'openai' ? (v.api as 'chat' | 'completions' | undefined) : undefined, concurrency: numberOpt(cmd, 'concurrency', v.concurrency, 4) }, `${cmd} (${role})`);
}

export async function loadPrices(file: string | undefined): Promise<PriceTable> {
  if (!file) return DEFAULT_PRICES;
  const { fs } = await nodeFs();
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new PromptkilnError('DATA', `${file}: cannot read the price file: ${(e as Error).message}`, { file });
  }
  return { ...DEFAULT_PRICES, ...parsePriceTable(text, file) };
}

export const usd = (v: number | null) => (v === null ? 'n/a' : `$${v < 0.01 ? v.toFixed(6) : v.toFixed(4)}`);
