// Context compression on the real stories260K: a ~200-token story into 8 soft tokens
// (distillation), and the recurrent compressor on stories it was not trained on. The peer of
// every quality row is the no-context baseline (z alone, no BOS) on the same held-out queries.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { compress, RecurrentCompressor } from '../src/compress/index.js';
import { loadModel } from '../src/model/index.js';
import { MODELS, SHARED } from './paths.js';

export default {
  name: 'compress',
  async run(ctx: any) {
    const model = await loadModel(path.join(MODELS, 'stories260K'));
    const build = model.kernels.build;
    const story = JSON.parse(readFileSync(path.join(SHARED, 'refs/stories260K/forward.json'), 'utf8')).bos_greedy_200.tokens as number[];
    const t0 = performance.now();
    const r = await compress(model, story, { tokens: 8, steps: 300, lr: 0.05, seed: 0 });
    const secs = (performance.now() - t0) / 1000;
    const tag = `distill ${story.length} tokens → 8`;
    ctx.row({ name: `${tag}: KL to teacher (5 held-out continuations)`, build, unit: 'nats/row', value: r.after.kl,
      peer: 'no-context baseline', peer_value: r.before.kl, ratio: r.after.kl / r.before.kl, target: '≤ 0.4x (≥ 60% lower)' });
    ctx.row({ name: `${tag}: top-1 agreement with teacher`, build, unit: '%', value: 100 * r.after.top1,
      peer: 'no-context baseline', peer_value: 100 * r.before.top1, ratio: null, gain_points: 100 * (r.after.top1 - r.before.top1), target: '≥ +15 points' });
    ctx.row({ name: `${tag}: NLL of held-out continuations`, build, unit: 'nats/token', value: r.after.nll,
      peer: 'no-context baseline', peer_value: r.before.nll, ratio: r.after.nll / r.before.nll });
    ctx.row({ name: `${tag}: forward time per query`, build, unit: 'ms', value: r.msPerQuery.sigma,
      peer: 'full context', peer_value: r.msPerQuery.context, ratio: r.msPerQuery.context / r.msPerQuery.sigma,
      compression_ratio: r.compressed.ratio, tokens_saved_per_query: r.tokensSavedPerQuery, train_seconds: secs });

    // recurrent: trained on 16 of the model's own stories, measured on 4 it never saw
    const corpus: { context: number[]; queries: number[][] }[] = [];
    for (let s = 0; s < 20; s++) {
      const g = await model.generate([1], { temperature: 1, seed: 500 + s, maxTokens: 96, stopAtEos: false });
      const ctxIds = [1, ...g.tokens.slice(0, 80)];
      const queries: number[][] = [];
      for (let q = 0; q < 4; q++) queries.push((await model.generate(ctxIds, { temperature: 1, seed: 900 + q, maxTokens: 12, stopAtEos: false })).tokens);
      corpus.push({ context: ctxIds, queries });
    }
    const train = corpus.slice(0, 16), held = corpus.slice(16);
    const rc = RecurrentCompressor.init(model, { slots: 4, segments: 2, mode: 'accumulate' }, train[0].context, 3);
    const t1 = performance.now();
    await rc.train(train, { steps: 300, lr: 0.003 });
    const trainSecs = (performance.now() - t1) / 1000;
    const ev = held.map((h) => rc.evaluate(h.context, h.queries));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const rtag = 'recurrent (4 slots × 2 segments, 81-token unseen stories → 8)';
    ctx.row({ name: `${rtag}: KL to teacher`, build, unit: 'nats/row', value: mean(ev.map((e) => e.after.kl)),
      peer: 'no-context baseline', peer_value: mean(ev.map((e) => e.before.kl)), train_seconds: trainSecs });
    ctx.row({ name: `${rtag}: top-1 agreement`, build, unit: '%', value: 100 * mean(ev.map((e) => e.after.top1)),
      peer: 'no-context baseline', peer_value: 100 * mean(ev.map((e) => e.before.top1)), ratio: null });
    ctx.note('Held-out continuations are sampled from the model after the full context (seeds disjoint from the training queries). The recurrent compressor needs no per-context optimization: one pass of 2 segments.');
    rc.dispose();
    model.dispose();
  },
};
