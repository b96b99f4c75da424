// Evidence on the real stories260K model (../shared/models): search improves a held-out score,
// and racing + cache pick the exhaustive winner with far fewer model calls.
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Evaluator } from '../../src/eval/evaluator.js';
import { race } from '../../src/eval/racing.js';
import { loadTask, type Task } from '../../src/eval/task.js';
import { localModel } from '../../src/llm/local.js';
import type { LanguageModel } from '../../src/llm/types.js';
import { loadModel } from '../../src/model/index.js';
import { optimize } from '../../src/search/optimize.js';
import { grips } from '../../src/search/strategies/grips.js';
import { MODELS_DIR } from '../helpers/paths.js';

const FIXTURES = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures');
let lm: LanguageModel;
let task: Task;

beforeAll(async () => {
  lm = localModel(await loadModel(path.join(MODELS_DIR, 'stories260K')));
  task = await loadTask(path.join(FIXTURES, 'tom-stories.json'));
});

describe('search on stories260K', () => {
  it('GrIPS edits with loglik scoring raise the held-out (test split) log-likelihood of the Tom continuations', async () => {
    const res = await optimize(task, lm, { strategy: grips({ useLLM: false }), seed: 0, maxIterations: 4, candidatesPerIteration: 8, patience: 3 });
    console.log(JSON.stringify({ best: res.best.instruction, score: res.score, initial: res.initialScore, test: res.testScore, initialTest: res.initialTestScore, calls: res.calls, stop: res.stopReason }));
    expect(res.initialTestScore).not.toBeNull();
    expect(res.testScore!).toBeGreaterThan(res.initialTestScore!);
    expect(res.score!).toBeGreaterThan(res.initialScore!);
    expect(res.best.operator.startsWith('grips:')).toBe(true);
    // the lineage leads back to the manual prompt
    expect(res.lineage[0].operator).toBe('manual');
  });

  it('successive halving + cache reach the exhaustive winner with >= 40% fewer model calls (seed 0)', async () => {
    const instructions = ['A story.', 'A story about Tom.', 'Tom.', 'The cat and the dog.', 'Lily and her mom went to the shop.', 'Tom, Tom, Tom.', 'Once upon a time.', 'A sad day.'];
    const cands = instructions.map((instruction) => ({ instruction, demos: [] }));
    const examples = [...task.validation, ...task.train].slice(0, 16);
    const ex = new Evaluator(task, lm);
    const exhaustive = await race(ex, cands, examples, { method: 'exhaustive' });
    const rc = new Evaluator(task, lm);
    const raced = await race(rc, cands, examples, { method: 'halving', minExamples: 2 });
    console.log(JSON.stringify({ exhaustive: ex.stats.calls, halving: rc.stats.calls, winner: instructions[exhaustive[0].index] }));
    expect(raced[0].index).toBe(exhaustive[0].index);
    expect(raced[0].n).toBe(examples.length);
    expect(rc.stats.calls).toBeLessThanOrEqual(0.6 * ex.stats.calls);
    const uc = new Evaluator(task, lm);
    const ucb = await race(uc, cands, examples, { method: 'ucb', batch: 2 });
    console.log(JSON.stringify({ ucb: uc.stats.calls, winner: instructions[ucb[0].index] }));
    expect(ucb[0].index).toBe(exhaustive[0].index);
    expect(uc.stats.calls).toBeLessThanOrEqual(0.6 * ex.stats.calls);
  });
});
