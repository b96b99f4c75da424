export type { LanguageModel, GenerateOptions, Generation, Score, ScoreOptions, Usage } from './types.js';
export { functionModel, type GenerateFn, type ScoreFn } from './function.js';
export { localModel, type LocalModelLike } from './local.js';
export { OpenAIModel, openaiModel, type OpenAIOptions } from './openai.js';
export { serve, chatToPrompt, type ServeOptions, type RunningServer } from './server.js';
