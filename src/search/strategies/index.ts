// Strategies by name (the CLI's --strategy).
import { PromptkilnError } from '../../errors.js';
import type { Strategy } from '../types.js';
import { ape, paraphrase } from './ape.js';
import { demos } from './demos.js';
import { gepa } from './gepa.js';
import { grips } from './grips.js';
import { knn } from './knn.js';
import { mipro } from './mipro.js';
import { opro } from './opro.js';
import { protegi } from './protegi.js';

export type StrategyName = 'ape' | 'paraphrase' | 'grips' | 'protegi' | 'opro' | 'demos' | 'gepa' | 'mipro' | 'knn';
export const STRATEGY_NAMES: StrategyName[] = ['ape', 'paraphrase', 'grips', 'protegi', 'opro', 'demos', 'gepa', 'mipro', 'knn'];
// 'rl' trains a policy on the local model's hidden states, so it is built with rl({ model })

// A fresh instance each time: strategies keep per-run state (GrIPS's deleted phrases, the demo pool).
export function strategyByName(name: string): Strategy {
  switch (name) {
    case 'ape':
      return ape;
    case 'paraphrase':
      return paraphrase;
    case 'grips':
      return grips();
    case 'protegi':
      return protegi();
    case 'opro':
      return opro();
    case 'demos':
      return demos();
    case 'gepa':
      return gepa();
    case 'mipro':
      return mipro();
    case 'knn':
      return knn();
    case 'rl':
      throw new PromptkilnError('ARGUMENT', 'strategy "rl" needs the local model: build it with rl({ model }) (CLI: --strategy rl with --model)');
  }
  throw new PromptkilnError('ARGUMENT', `unknown strategy "${name}": expected one of ${STRATEGY_NAMES.join(', ')}`);
}

export { ape, paraphrase, demos, gepa, grips, knn, mipro, opro, protegi };
export { rl, type RlOptions, type RlModel } from './rl.js';
