// Evaluator throughput on stories260K, loglik metric: 50 examples (≤ 20 tokens each) under one
// instruction plus demonstrations of ≥ 80 tokens, with prompt-KV reuse (scoreShared: the prefix
// is computed once per candidate) against plain per-example scoring, measured in the same run.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Evaluator } from '../src/eval/evaluator.js';
import { defineTask } from '../src/eval/task.js';
import { localModel } from '../src/llm/local.js';
import { loadModel } from '../src/model/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// this file runs bundled from bench/.cache/, so look one level further up as well
const MODELS = process.env.PROMPTKILN_TEST_MODELS ?? [path.resolve(here, '../../shared/models'), path.resolve(here, '../../../shared/models')].find((p) => existsSync(p))!;

const subjects = ['Lily', 'Tom', 'Mom', 'Ben', 'Sue', 'Sam', 'Max', 'Amy', 'Dad', 'Tim'];
const verbs = ['went to the park', 'found a red ball', 'saw a big tree', 'ate a cake', 'played in the sun'];
const acts = ['ran home', 'sat down', 'ate a cake', 'hid', 'sang'];

export default {
  name: 'evaluator',
  async run(ctx: any) {
    const model = await loadModel(path.join(MODELS, 'stories260K'));
    const lm = localModel(model);
    // 50 distinct examples (identical ones would be served by the cache)
    const examples = Array.from({ length: 50 }, (_, i) => ({ input: `${subjects[i % 10]} ${acts[Math.floor(i / 10)]}.`, output: ' Then Tom came.' }));
    const task = await defineTask({ template: '{instruction} {demos}{input}', demo_template: '{input}{output} ', examples, split: { train: 0, validation: 1, test: 0 }, metric: 'loglik' });
    const demos = Array.from({ length: 6 }, (_, i) => ({ input: `Once upon a time, there was a little girl named Lily who liked to ${verbs[i % 5]}.`, output: ' Tom was her best friend and they played all day.', id: `d${i}` }));
    const cand = { instruction: 'A happy story about Tom and his friends.', demos };
    const prefixTokens = model.tokenizer!.encode(`${cand.instruction} ${demos.map((d) => d.input + d.output + ' ').join('')}`).length;
    const maxExample = Math.max(...task.validation.map((e) => model.tokenizer!.encode(e.input + e.output, { bos: false }).length));
    ctx.log(`prefix ${prefixTokens} tokens, examples ≤ ${maxExample} tokens`);
    // a fresh evaluator per call: nothing is served from the cache
    const once = (prefixReuse: boolean) => () => new Evaluator(task, lm, { prefixReuse }).evaluate(cand, task.validation);
    const r = await ctx.measureMany({ reuse: once(true), plain: once(false) }, { time: 3000 });
    const n = task.validation.length;
    const value = n / (r.reuse.median / 1000);
    const peer = n / (r.plain.median / 1000);
    ctx.row({ name: `evaluator loglik, 50 examples ≤ ${maxExample} tok under a ${prefixTokens}-token prefix`, build: model.kernels.build, threads: 1, unit: 'examples/s', value, peer: 'same evaluator without prompt-KV reuse', peer_value: peer, target: '≥ 3x' });
    ctx.note(`evaluator: prompt-KV reuse ${(value / peer).toFixed(2)}x the per-example path (target ≥ 3x) — ${value / peer >= 3 ? 'met' : 'missed'}.`);
    model.dispose();
  },
};
