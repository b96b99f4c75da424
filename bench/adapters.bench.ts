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
import { encodePromptEncoder } from '../src/soft/encoder-files.js';
import { encodeTask } from '../src/soft/prompt-encoder.js';
import { tune, type TuneOptions, type TuneResult } from '../src/soft/trainer.js';
import type { Example, SoftArtifact, TemplatePart } from '../src/soft/types.js';
import { MODELS } from './paths.js';
import { linearRows } from './linear-adapters.js';

const WHO = ['a little girl named Lily', 'a boy named Ben', 'a small cat', 'a happy dog', 'a girl named Sue', 'an old man', 'a little bird', 'a big bear'];
const DID = ['She liked to play in the park.', 'It was a sunny day.', 'One day, it went to the store.', 'The sun was hot and bright.', 'It had a red ball.', 'It wanted to find a friend.'];
const THEN = [' Then {X} came and said hello.', ' One day, {X} came to play.', ' {X} was a good friend.', ' Then {X} came to help.'];
const NAMES = ['Tom', 'Max', 'Anna', 'Sam'];

// the prompt encoder's training tasks: other names (Tom, Max, Anna and Sam stay unseen)
const ENCODER_NAMES = ['Tim', 'Mia', 'Jack', 'Lucy', 'Bob', 'Amy', 'Joe', 'Kate', 'Zoe', 'Mom', 'Spot', 'Molly', 'Jill', 'Fred', 'Rose', 'Pete'];
const describe = (name: string) => `${name} comes next. ${name}.`;

// task t: every opening continued with `name` (default NAMES[t]); every 4th opening is held out
function task(t: number, name = NAMES[t]): { train: Example[]; valid: Example[] } {
  const all: Example[] = [];
  let k = t;
  for (const w of WHO) for (const d of DID) all.push({ input: `Once upon a time, there was ${w}. ${d}`, target: THEN[k++ % THEN.length].replace('{X}', name), taskId: t });
  return { train: all.filter((_, i) => i % 4 !== 0), valid: all.filter((_, i) => i % 4 === 0) };
}

const STEPS = 60, BATCH = 8, N = 8, ENCODER_STEPS = 1000;

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
    let promptTuned = NaN; // prompt tuning's result: the peer of the encoder's fine-tuned row
    for (const [name, run, taskId] of runs) {
      ctx.log(`adapters: ${name}`);
      const r = await run();
      const after = validNll(m, r.prompt as SoftArtifact, tom.valid, taskId);
      if (name === 'prompt tuning') promptTuned = after;
      const bytes = encodePeft(r.prompt as SoftArtifact).weights.length;
      ctx.row({
        name: `stories260K ${name}: Tom-task validation NLL after ${STEPS} steps`, build: m.kernels.build, unit: 'nats/token', value: after,
        peer: 'no prompt', peer_value: base, ratio: after / base, trainable, ms_per_step: (1000 * r.metrics.seconds) / r.metrics.steps,
        file_bytes: bytes,
      });
    }
    await linearRows(ctx, m, tom, common, base, STEPS); // LoRA (r = 4) and IA3, then their speed on a Qwen-shaped model
    // the transformer prompt encoder: trained across 16 other names' tasks, then asked for the
    // unseen names' prompts from their descriptions alone (one forward pass each)
    ctx.log('adapters: transformer prompt encoder');
    const encData = ENCODER_NAMES.flatMap((n, t) => task(t, n).train);
    const enc = await tune(m, encData, {
      method: 'encoder', virtualTokens: N, promptEncoder: { descriptions: ENCODER_NAMES.map(describe), width: 64, layers: 2, heads: 4 },
      maxSteps: ENCODER_STEPS, batchSize: BATCH, lr: 0.003, seed: 0, checkpointEvery: ENCODER_STEPS, onCheckpoint: common.onCheckpoint,
    });
    const encTrainable = trainable;
    const unseen = NAMES.map((n) => task(0, n).valid);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const own = NAMES.map((n, i) => validNll(m, encodeTask(m, enc.prompt, describe(n)), unseen[i]));
    // the description must matter: the same prompts, each under another unseen name's description
    const swapped = NAMES.map((_, i) => validNll(m, encodeTask(m, enc.prompt, describe(NAMES[(i + 1) % NAMES.length])), unseen[i]));
    const inContext = NAMES.map((n, i) => validNll(m, null, unseen[i], undefined, [{ text: `${describe(n)} ` }, { input: true }]));
    ctx.row({
      name: `stories260K transformer prompt encoder (2 blocks, width 64; trained ${ENCODER_STEPS} steps on 16 other names): Tom-task validation NLL from the description alone`,
      build: m.kernels.build, unit: 'nats/token', value: own[0], peer: 'no prompt', peer_value: base, ratio: own[0] / base, trainable: encTrainable,
      ms_per_step: (1000 * enc.metrics.seconds) / enc.metrics.steps, file_bytes: encodePromptEncoder(enc.prompt).weights.length,
      unseen_mean: +mean(own).toFixed(4), unseen_mean_swapped_description: +mean(swapped).toFixed(4), unseen_mean_description_in_context: +mean(inContext).toFixed(4),
      unseen_mean_no_prompt: +mean(unseen.map((v) => validNll(m, null, v))).toFixed(4),
    });
    const ft = await tune(m, tom.train, { ...common, method: 'prompt', init: undefined, initial: encodeTask(m, enc.prompt, describe('Tom')).data, lr: 0.03 });
    const ftAfter = validNll(m, ft.prompt, tom.valid);
    ctx.row({
      name: `stories260K transformer prompt encoder's Tom prompt + ${STEPS} steps of prompt tuning: Tom-task validation NLL`, build: m.kernels.build, unit: 'nats/token',
      value: ftAfter, peer: `prompt tuning (${STEPS} steps from the init text)`, peer_value: promptTuned, ratio: ftAfter / promptTuned, trainable: N * m.config.dim,
      ms_per_step: (1000 * ft.metrics.seconds) / ft.metrics.steps,
    });
    ctx.note(`adapters: one task family of our design on the real stories260K (story openings continued with a named character; every 4th opening held out); same step budget (60 steps × batch 8) and init text for every method; lower NLL is better, ratio = after / no prompt. ms/step measured on the shared 2-core machine: compare quality, not speed. LoRA (r = 4, all seven projections) and IA3 (k, v, down input-scaled) train through the same loop with their own lr (bench/linear-adapters.ts). The transformer prompt encoder trains on 16 other names (description "X comes next. X.", ${ENCODER_STEPS} steps × batch 8) and never sees Tom, Max, Anna or Sam: its Tom row is one forward pass over Tom's description; unseen_mean is over the four unseen names, unseen_mean_swapped_description gives each name another unseen name's prompt (how much the description itself carries), unseen_mean_description_in_context puts the description in the text instead; file_bytes is encoder.safetensors.`);
    m.dispose();
  },
};
