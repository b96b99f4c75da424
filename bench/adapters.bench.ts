// Adapters compared on the real stories260K: a task family of our design (story openings whose
// continuation brings in a named character; four characters = four tasks, every 4th opening held
// out), each method trained for the same step budget on the "Tom" task and measured on its held-out
// openings: trainable parameters, validation NLL (nats / target token) before → after, step time,
// PEFT file size. Multitask trains on all four tasks (task ids) and is measured on Tom's; the
// distilled prompt learns from a teacher reading an instruction with three demonstrations.
// LoRA / IA3 rows belong to their own suite section (their engineer adds them here).
import path from 'node:path';
import { loadModel, type Model } from '../src/model/index.js';
import { artifactForward } from '../src/soft/conditioning.js';
import { distillPrompt } from '../src/soft/distill-prompt.js';
import { evaluateLaid } from '../src/soft/evaluate.js';
import { encodePeft } from '../src/soft/peft.js';
import { tune, type TuneOptions, type TuneResult } from '../src/soft/trainer.js';
import type { Example, SoftArtifact, TemplatePart } from '../src/soft/types.js';
import { MODELS } from './paths.js';
import { linearRows } from './linear-adapters.js';

const WHO = ['a little girl named Lily', 'a boy named Ben', 'a small cat', 'a happy dog', 'a girl named Sue', 'an old man', 'a little bird', 'a big bear'];
const DID = ['She liked to play in the park.', 'It was a sunny day.', 'One day, it went to the store.', 'The sun was hot and bright.', 'It had a red ball.', 'It wanted to find a friend.'];
const THEN = [' Then {X} came and said hello.', ' One day, {X} came to play.', ' {X} was a good friend.', ' Then {X} came to help.'];
const NAMES = ['Tom', 'Max', 'Anna', 'Sam'];

// task t: every opening continued with NAMES[t]; every 4th opening is held out
function task(t: number): { train: Example[]; valid: Example[] } {
  const all: Example[] = [];
  let k = t;
  for (const w of WHO) for (const d of DID) all.push({ input: `Once upon a time, there was ${w}. ${d}`, target: THEN[k++ % THEN.length].replace('{X}', NAMES[t]), taskId: t });
  return { train: all.filter((_, i) => i % 4 !== 0), valid: all.filter((_, i) => i % 4 === 0) };
}

const STEPS = 60, BATCH = 8, N = 8;

function validNll(m: Model, a: SoftArtifact | null, valid: Example[], taskId?: number, template: TemplatePart[] = [{ input: true }]): number {
  const f = artifactForward(m, a, taskId);
  try {
    return evaluateLaid({ model: m, template: a?.template ?? template, posOffset: f.posOffset, forward: f.forward }, valid.map(({ input, target }) => ({ input, target }))).loss;
  } finally {
    f.free();
  }
}

export default {
  name: 'adapters',
  async run(ctx: any) {
    const m = await loadModel(path.join(MODELS, 'stories260K'));
    const tom = task(0);
    const base = validNll(m, null, tom.valid);
    const context = `Stories where Tom always comes next.\n${tom.train.slice(0, 3).map((e) => `${e.input}${e.target}`).join('\n')}\n`;
    // the trainable parameter count: the sizes of the tensors the loop checkpoints
    let trainable = 0;
    const common: TuneOptions = {
      virtualTokens: N, maxSteps: STEPS, batchSize: BATCH, seed: 0, init: { type: 'text', text: 'Once upon a time, Tom' },
      checkpointEvery: STEPS, onCheckpoint: (c) => { trainable = c.params.reduce((a, p) => a + p.length, 0); },
    };
    const runs: [string, () => Promise<TuneResult>, number | undefined][] = [
      ['prompt tuning', () => tune(m, tom.train, { ...common, method: 'prompt', lr: 0.03 }), undefined],
      ['prefix tuning', () => tune(m, tom.train, { ...common, method: 'prefix', lr: 0.03 }), undefined],
      ['prefix tuning + MLP reparameterization (hidden 64)', () => tune(m, tom.train, { ...common, method: 'prefix', reparameterize: { hidden: 64 }, lr: 0.003 }), undefined],
      ['P-tuning (MLP encoder, hidden 64)', () => tune(m, tom.train, { ...common, method: 'p-tuning', encoder: { hidden: 64 }, lr: 0.003 }), undefined],
      ['multitask (4 tasks, rank 2), Tom = task 0', () => tune(m, [0, 1, 2, 3].flatMap((t) => task(t).train), { ...common, method: 'multitask', multitask: { tasks: 4, rank: 2 }, lr: 0.03 }), 0],
      ['distilled prompt (teacher: instruction + 3 demonstrations)', () => distillPrompt(m, tom.train, { ...common, lr: 0.03, teacher: { context } }), undefined],
    ];
    // the distillation teacher itself, reading the context in text (what the distilled prompt imitates)
    const teacher = validNll(m, null, tom.valid, undefined, [{ text: context }, { input: true }]);
    ctx.row({ name: 'stories260K distillation teacher (instruction + 3 demonstrations in context, no training)', build: m.kernels.build, unit: 'nats/token', value: teacher,
      peer: 'no prompt', peer_value: base, ratio: teacher / base, context_tokens: m.encodePrompt(context).length });
    for (const [name, run, taskId] of runs) {
      ctx.log(`adapters: ${name}`);
      const r = await run();
      const after = validNll(m, r.prompt as SoftArtifact, tom.valid, taskId);
      const bytes = encodePeft(r.prompt as SoftArtifact).weights.length;
      ctx.row({
        name: `stories260K ${name}: Tom-task validation NLL after ${STEPS} steps`, build: m.kernels.build, unit: 'nats/token', value: after,
        peer: 'no prompt', peer_value: base, ratio: after / base, trainable, ms_per_step: (1000 * r.metrics.seconds) / r.metrics.steps,
        file_bytes: bytes,
      });
    }
    await linearRows(ctx, m, tom, common, base, STEPS); // LoRA (r = 4) and IA3, then their speed on a Qwen-shaped model
    ctx.row({ name: 'stories260K transformer prompt encoder (unseen tasks)', build: 'n/a', unit: 'nats/token', value: NaN, peer: 'not implemented yet', peer_value: NaN, ratio: '—' });
    ctx.note('adapters: one task family of our design on the real stories260K (story openings continued with a named character; every 4th opening held out); same step budget (60 steps × batch 8) and init text for every method; lower NLL is better, ratio = after / no prompt. ms/step measured on the shared 2-core machine under load from other work: compare quality, not speed. LoRA (r = 4, all seven projections) and IA3 (k, v, down input-scaled) train through the same loop with their own lr (bench/linear-adapters.ts). The transformer prompt encoder is not implemented yet.');
    m.dispose();
  },
};
