// `promptkiln demo`: the README's walk-through (generate, score, tune, compress) on a hub model.
import { compress } from '../../compress/index.js';
import { loadModel, type Model } from '../../model/index.js';
import { tune, type Example } from '../../soft/index.js';
import { parse, type CliIO } from '../command.js';
import { register } from '../registry.js';

const usage = `promptkiln demo [--model ID] [--json]

The tour on a real small model (default: the hub's karpathy/tinyllamas/stories260K, downloaded
once into the cache; HF_ENDPOINT selects a mirror): load, generate, score, tune a soft prompt,
compress a story into 8 soft tokens. --json prints every step's numbers as one object.`;

const DEFAULT_MODEL = 'karpathy/tinyllamas/stories260K';

// A task the base model does not do on its own: whatever the story, the next sentence names Tom.
const OPENINGS = [
  'One day, a little boy went to the park.', 'Once upon a time, there was a big red ball.', 'The sun was shining and the birds sang.',
  'A little dog found a stick in the garden.', 'It was a cold day and the snow was white.', 'Mom made a cake for the party.',
  'The cat sat on the mat and looked at the sky.', 'There was a small house near the river.', 'A girl wanted to play with her friend.',
  'The truck was big and blue.', 'One night, the moon was very bright.', 'A bird flew over the tall tree.',
];
const TARGET = ' Tom was happy.';

register({
  name: 'demo',
  summary: 'a tour on the real small model: load, generate, score, tune, compress',
  usage,
  async run(argv, io) {
    const { values } = parse('demo', argv, { model: { type: 'string', default: DEFAULT_MODEL }, json: { type: 'boolean', default: false } });
    const say = (s: string) => { if (!values.json) io.out(s); };
    const out: Record<string, unknown> = {};
    const t0 = performance.now();
    say(`▸ loading ${values.model}${process.env.HF_ENDPOINT ? ` (mirror ${process.env.HF_ENDPOINT})` : ''}`);
    const model = await loadModel(values.model!, { signal: io.signal });
    const c = model.config;
    out.load = { model: model.id, arch: c.arch, family: c.family ?? c.arch, layers: c.nLayers, dim: c.dim, vocab: c.vocabSize, build: model.kernels.build, ms: performance.now() - t0 };
    say(`  ${c.family ?? c.arch}, ${c.nLayers} layers × ${c.dim}, vocab ${c.vocabSize}, kernels: ${model.kernels.build} build (${(performance.now() - t0).toFixed(0)} ms)`);
    try {
      await generateStep(model, say, out);
      await scoreStep(model, say, out);
      await tuneStep(model, say, out, io);
      await compressStep(model, say, out, io);
    } finally {
      model.dispose();
    }
    out.totalMs = performance.now() - t0;
    if (values.json) io.out(JSON.stringify(out));
    else say(`\ndone in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  },
});

async function generateStep(model: Model, say: (s: string) => void, out: Record<string, unknown>): Promise<void> {
  say('\n▸ generate (greedy, 40 tokens)');
  const prompt = 'Once upon a time';
  const t = performance.now();
  const g = await model.generate(prompt, { maxTokens: 40 });
  const ms = performance.now() - t;
  say(`  ${prompt}${g.text}`);
  say(`  ${g.tokens.length} tokens in ${ms.toFixed(0)} ms (${((1000 * g.tokens.length) / ms).toFixed(0)} tokens/s)`);
  out.generate = { prompt, text: g.text, tokens: g.tokens.length, ms };
}

async function scoreStep(model: Model, say: (s: string) => void, out: Record<string, unknown>): Promise<void> {
  say('\n▸ score (log-likelihood of each ending; the prompt is encoded once and its K/V reused)');
  const prompt = 'Once upon a time, there was a little girl named';
  const endings = [' Lily.', ' Tom.', ' Sue.', ' a big rock.'];
  const rs = await model.scoreMany(prompt, endings);
  const rows = endings.map((e, i) => ({ ending: e, total: rs[i].total, tokens: rs[i].tokens.length })).sort((a, b) => b.total - a.total);
  for (const r of rows) say(`  ${r.total.toFixed(3).padStart(8)}  ${JSON.stringify(prompt + r.ending)}`);
  out.score = rows;
}

async function tuneStep(model: Model, say: (s: string) => void, out: Record<string, unknown>, io: CliIO): Promise<void> {
  say(`\n▸ tune: 8 soft tokens so that any opening continues with ${JSON.stringify(TARGET)}`);
  const data: Example[] = OPENINGS.slice(0, 9).map((input) => ({ input, target: TARGET }));
  const valid: Example[] = OPENINGS.slice(9).map((input) => ({ input, target: TARGET }));
  const r = await tune(model, data, { method: 'prompt', virtualTokens: 8, init: { type: 'text', text: 'Tom Tom Tom' }, lr: 0.05, maxSteps: 40, batchSize: 9, valid, seed: 0, signal: io.signal });
  const before = r.metrics.before?.loss ?? NaN, after = r.metrics.after?.loss ?? NaN;
  say(`  validation NLL of the target: ${before.toFixed(3)} → ${after.toFixed(3)} nats/token (${(100 * (1 - after / before)).toFixed(0)}% lower) in ${r.metrics.seconds.toFixed(1)} s`);
  out.tune = { validNllBefore: before, validNllAfter: after, steps: r.metrics.steps, seconds: r.metrics.seconds };
}

async function compressStep(model: Model, say: (s: string) => void, out: Record<string, unknown>, io: CliIO): Promise<void> {
  // the story starts at BOS, or (families without one: Qwen, GPT-2) at an encoded opening
  const start = model.config.bosId !== null && model.config.bosId < model.config.vocabSize ? [model.config.bosId] : model.encodePrompt('Once upon a time');
  // 200 tokens, or fewer where the context is short: the story plus 16-token queries must fit
  const storyTokens = Math.max(8, Math.min(200, model.config.maxSeqLen - start.length - 24));
  const story = await model.generate(start, { maxTokens: storyTokens, stopAtEos: false });
  const ctx = [...start, ...story.tokens];
  say(`\n▸ compress: a ${ctx.length}-token story into 8 soft tokens (distillation to the full-context teacher)`);
  const r = await compress(model, ctx, { tokens: 8, steps: 150, signal: io.signal });
  say(`  KL to the teacher on 5 held-out continuations: ${r.before.kl.toFixed(3)} (no context) → ${r.after.kl.toFixed(3)} (σ), ${(100 * (1 - r.after.kl / r.before.kl)).toFixed(0)}% lower`);
  say(`  top-1 agreement: ${(100 * r.before.top1).toFixed(0)}% → ${(100 * r.after.top1).toFixed(0)}%; each query reads ${r.compressed.tokens} rows instead of ${ctx.length}`);
  out.compress = { contextTokens: ctx.length, tokens: 8, klBefore: r.before.kl, klAfter: r.after.kl, top1Before: r.before.top1, top1After: r.after.top1 };
}
