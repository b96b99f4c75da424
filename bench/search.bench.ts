// Search strategies at the same call budget on a held-out test split, over seeds, with the spread,
// the calls and the cost each used:
//  1. mechanics check — a scripted target and proposer (a plain function: the script decides what
//     each strategy's meta-prompts can find, so this checks the machinery, not quality);
//  2. stories260K, loglik metric (mean log-likelihood of the expected continuation): real numbers,
//     the model itself as proposer (a 260K-parameter story model writes story text, not advice);
//  3. the Pareto front of one multi-objective run (score, latency, length) on stories260K.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTask, defineTask, type Task } from '../src/eval/task.js';
import { functionModel } from '../src/llm/function.js';
import { localModel } from '../src/llm/local.js';
import type { LanguageModel } from '../src/llm/types.js';
import { loadModel } from '../src/model/index.js';
import { optimize, type OptimizeOptions } from '../src/search/optimize.js';
import { demos, gepa, grips, knn, mipro, opro, protegi } from '../src/search/strategies/index.js';
import type { Strategy } from '../src/search/types.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const MODELS = process.env.PROMPTKILN_TEST_MODELS ?? [path.resolve(here, '../../shared/models'), path.resolve(here, '../../../shared/models')].find((p) => existsSync(p))!;
const REPO = [path.resolve(here, '..'), path.resolve(here, '../..')].find((p) => existsSync(path.join(p, 'tests/search/fixtures/tom-stories.json')))!;
const SEEDS = [0, 1, 2];

const WORDS = ['apple', 'river', 'stone', 'cloud', 'tiger', 'lemon', 'piano', 'orbit', 'maple', 'sugar', 'train', 'zebra', 'candle', 'forest', 'mirror', 'pepper', 'rocket', 'silver', 'tunnel', 'violet'];

// Target: capitals for a–m words when the instruction says "uppercase", for every word when it also
// says "every word". The proposer answers each strategy's meta-prompt: most lead to "uppercase";
// only feedback showing a late word still wrong (GEPA's traces) or MIPRO's "detailed" tip lead to
// "every word".
function scripted(): LanguageModel {
  return functionModel((p) => {
    if (p.startsWith('I provided an assistant')) {
      const instr = /```\n([\s\S]*?)\n```/.exec(p)?.[1] ?? '';
      if (!/uppercase/.test(instr)) return '```\nWrite the word in uppercase.\n```';
      return /Response: +[n-z][a-z]*\nExpected: [N-Z]/.test(p) ? '```\nWrite every word in uppercase.\n```' : '```\nWrite the word in uppercase.\n```';
    }
    if (p.startsWith('Two instructions')) return '```\nWrite the word in uppercase.\n```';
    if (p.includes('Summarize in two sentences')) return 'Lowercase words and the same words in capitals.';
    if (p.startsWith('Data summary:')) return p.includes('Tip: Make it a detailed description') ? '<START>Write every word in uppercase.<END>' : p.includes('Tip: Make it simple') ? '<START>Write it in uppercase.<END>' : '<START>Say the word.<END>';
    if (p.includes('<INS>')) return '<INS>Answer in uppercase letters.</INS>';
    if (p.includes('Give') && p.includes('reasons')) return 'The prompt never asks for capital letters.';
    if (p.includes('<START>')) return '<START>Write the word in uppercase.<END>';
    if (p.includes('variation')) return 'Output the word in uppercase.';
    if (p.includes('input-output pairs')) return 'Copy the input.';
    const first = p.split('\n')[0];
    const w = /Input: (\S+)\nOutput:$/.exec(p)?.[1] ?? '';
    return ` ${/uppercase/.test(first) && (w[0] <= 'm' || /every word/.test(first)) ? w.toUpperCase() : w}`;
  }, { id: 'bench-upper' });
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
const f = (x: number, d = 3) => x.toFixed(d);

async function compare(ctx: any, label: string, build: string, task: Task, model: () => LanguageModel, strategies: Record<string, () => Strategy>, o: OptimizeOptions) {
  const lines: string[] = [];
  let initial: number[] = [];
  for (const [name, make] of Object.entries(strategies)) {
    const test: number[] = [], valid: number[] = [], calls: number[] = [], cost: number[] = [];
    let init: number[] = [];
    for (const seed of SEEDS) {
      const r = await optimize(task, model(), { ...o, strategy: make(), seed });
      test.push(r.testScore!);
      valid.push(r.score!);
      calls.push(r.calls);
      cost.push(r.cost);
      init.push(r.initialTestScore!);
    }
    initial = init;
    ctx.log(`${label} ${name}: test ${f(mean(test))} ± ${f(sd(test))}, calls ${mean(calls)}`);
    const r4 = (x: number) => Number(x.toPrecision(4));
    ctx.row({ name: `${label}: ${name}`, build, unit: `test ${task.metric} (mean of ${SEEDS.length} seeds)`, value: mean(test), peer: 'initial prompt', peer_value: mean(init), ratio: '—', sd: r4(sd(test)), validation: r4(mean(valid)), calls: r4(mean(calls)), usd: r4(mean(cost)), budget: o.budget as number });
    lines.push(`| ${name} | ${f(mean(test))} ± ${f(sd(test))} | ${f(mean(valid))} | ${mean(calls).toFixed(0)} | $${mean(cost).toFixed(6)} |`);
  }
  ctx.note(`${label} — initial prompt test ${f(mean(initial))}; per strategy (test mean ± sd over seeds ${SEEDS.join(',')} | validation | calls | cost):`);
  for (const l of lines) ctx.note(l);
}

export default {
  name: 'search',
  async run(ctx: any) {
    // 1. mechanics check
    const upper = await defineTask({
      name: 'upper', instruction: 'Repeat the word.', template: '{instruction}\n{demos}Input: {input}\nOutput:', demo_template: 'Input: {input}\nOutput: {output}\n',
      examples: WORDS.map((w) => ({ input: w, output: w.toUpperCase() })), split: { train: 0.5, validation: 0.25, test: 0.25, seed: 1 }, metric: 'exact_match',
    });
    const prices = { 'function:bench-upper': { input: 0.15, output: 0.6 } };
    await compare(ctx, 'mechanics check (scripted)', 'n/a', upper, scripted, {
      grips: () => grips(), protegi: () => protegi(), opro: () => opro(), demos: () => demos(), mipro: () => mipro(), gepa: () => gepa(),
    }, { budget: 150, maxIterations: 6, patience: 6, prices });

    // 2. stories260K, loglik
    const m = await loadModel(path.join(MODELS, 'stories260K'));
    const lm = localModel(m);
    const tom = await loadTask(path.join(REPO, 'tests/search/fixtures/tom-stories.json'));
    // the model's context is 512 tokens: GEPA's reflection prompt is shortened to fit
    const shortReflect = 'Instruction: {instruction}\n{examples}\nA better instruction:';
    await compare(ctx, 'stories260K loglik', m.kernels.build, tom, () => lm, {
      grips: () => grips(), demos: () => demos(), knn: () => knn(), mipro: () => mipro({ instructions: 4 }), gepa: () => gepa({ minibatch: 2, reflectPrompt: shortReflect, mergePrompt: 'A: {a}\nB: {b}\nBoth:' }),
    }, { budget: 150, maxIterations: 6, patience: 6 });

    // 3. one multi-objective run
    const r = await optimize(tom, lm, { strategy: mipro({ instructions: 4 }), seed: 0, budget: 150, maxIterations: 6, patience: 6, objectives: ['score', 'latency', 'length'], select: { weights: { score: 1, length: 0.001 } } });
    const o = r.objectives!;
    ctx.note(`Pareto front of one run (stories260K, mipro, seed 0, objectives score ↑ latency ↓ length ↓, selection score − 0.001·length): ${o.front.length} of ${o.points.length} candidates on the front; winner ${o.winner}:`);
    for (const p of o.points) ctx.note(`| ${p.id}${o.front.includes(p.id) ? ' (front)' : ''}${p.id === o.winner ? ' (winner)' : ''} | score ${f(p.values.score!)} | latency ${f(p.values.latency ?? NaN, 2)} ms | length ${p.values.length} |`);
    ctx.row({ name: 'stories260K loglik: mipro with objectives (winner)', build: m.kernels.build, unit: 'test loglik', value: r.testScore!, peer: 'initial prompt', peer_value: r.initialTestScore!, ratio: '—', front: o.front.length, candidates: o.points.length });
    m.dispose();
  },
};
