// Public exports of llm/: the LanguageModel interface and its adapters, prices and the local server.
export type { LanguageModel, GenerateOptions, Generation, Score, ScoreOptions, Usage, ChatMessage, ChatOptions, Embeddings } from './types.js';
export { functionModel, type GenerateFn, type ScoreFn } from './function.js';
export { localModel, type LocalModelLike } from './local.js';
export { OpenAIModel, openaiModel, type OpenAIOptions } from './openai.js';
export { AnthropicModel, anthropicModel, type AnthropicOptions } from './anthropic.js';
export { GeminiModel, geminiModel, type GeminiOptions } from './gemini.js';
export { providerModel, PROVIDERS, type ProviderName, type ProviderModelOptions } from './providers.js';
export { DEFAULT_PRICES, parsePriceTable, priceOf, costOf, type Price, type PriceTable } from './prices.js';
export { serve, chatToPrompt, type ServeOptions, type RunningServer } from './server.js';
