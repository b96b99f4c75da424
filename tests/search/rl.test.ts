// RLPrompt-style policy on the frozen stories260K: only the MLP adaptor trains (REINFORCE with a
// moving baseline), rewards come from the evaluator (loglik of the Tom continuations).
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTask } from '../../src/eval/task.js';
import { localModel } from '../../src/llm/local.js';
import { loadModel } from '../../src/model/index.js';
import { optimize } from '../../src/search/optimize.js';
import { rl } from '../../src/search/strategies/rl.js';
import { MODELS_DIR } from '../helpers/paths.js';

const FIXTURES = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures');

describe('rl strategy (stories260K)', () => {
  it('the policy learns: later batches earn more reward than the first, the model stays frozen, the winner beats the initial prompt', async () => {
    const model = await loadModel(path.join(MODELS_DIR, 'stories260K'));
    const task = await loadTask(path.join(FIXTURES, 'tom-stories.json'));
    const probe = await model.score('A story. Once upon a time', ' Tom was happy.');
    const strat = rl({ model, promptTokens: 4, stepsPerIteration: 12, batch: 8, rewardExamples: 4, lr: 1e-2 });
    const res = await optimize(task, localModel(model), { strategy: strat, seed: 0, maxIterations: 2, patience: 3 });
    const r = strat.steps.map((s) => s.meanReward);
    console.log(JSON.stringify({ rewards: r.map((x) => +x.toFixed(3)), best: res.best.instruction, score: res.score, initial: res.initialScore, test: res.testScore, initialTest: res.initialTestScore, calls: res.calls }));
    const head = r.slice(0, 6).reduce((a, b) => a + b, 0) / 6;
    const tail = r.slice(-6).reduce((a, b) => a + b, 0) / 6;
    expect(tail).toBeGreaterThan(head);
    expect(res.score!).toBeGreaterThan(res.initialScore!);
    expect(res.best.operator).toBe('rl');
    const after = await model.score('A story. Once upon a time', ' Tom was happy.');
    expect(after.logprobs).toEqual(probe.logprobs);
  });
});
