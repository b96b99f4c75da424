// `promptkiln tune`: train a soft prompt, prefix, encoder or adapter on JSONL pairs, with checkpoints and report.
import { PromptkilnError } from '../../errors.js';
import type { Model } from '../../model/index.js';
import { nodeFs, writeFileAtomic } from '../../util/files.js';
import { loadCheckpointFile, saveCheckpointFile } from '../../train/index.js';
import { isPlainTemplate, toConditioning } from '../../soft/conditioning.js';
import { readJsonl } from '../../soft/data.js';
import { parseInit } from '../../soft/init.js';
import { parseTemplate } from '../../soft/mixed.js';
import { saveTuned, tunedFiles } from '../../soft/peft.js';
import { loadPromptEncoder } from '../../soft/encoder-files.js';
import { encodeTask } from '../../soft/prompt-encoder.js';
import { linearAdapter, linearConditioning, loadLinearPeft } from '../../soft/linear-adapter.js';
import { LORA_DEFAULTS } from '../../soft/lora.js';
import type { LinearArtifact } from '../../soft/peft-linear.js';
import { TUNE_DEFAULTS as D, TUNE_METHODS, tune, type TuneMethodName, type TuneOptions, type TuneResult } from '../../soft/trainer.js';
import { distillPrompt } from '../../soft/distill-prompt.js';
import { checkSchedule } from '../../train/index.js';
import type { Example, SoftArtifact, TunedArtifact } from '../../soft/types.js';
import { numberOpt, parse } from '../command.js';
import { backendOpt, modelOptions, openModel } from '../model-options.js';
import { Progress } from '../progress.js';
import { esc, htmlReport, lineChart, table } from '../report.js';
import { register } from '../registry.js';

// tune()'s methods, and distillation into a prompt (a prompt trained against a teacher)
const CLI_METHODS: readonly string[] = [...TUNE_METHODS, 'distill'];

const usage = `promptkiln tune --model M --data train.jsonl [--valid valid.jsonl] --out DIR
                [--method ${CLI_METHODS.join('|')}] [--teacher-context FILE | --teacher-adapter DIR] [--virtual-tokens N] [--init random|vocab|text:"…"]
                [--template "[soft:4] Story: {input}"] [--reparameterize HIDDEN] [--encoder-hidden H --encoder-type MLP|LSTM --encoder-layers L]
                [--tasks T --rank R --task-id N] [--rank R --alpha A --target-modules q_proj,v_proj|all-linear]
                [--descriptions FILE --encoder-width E --encoder-layers L --encoder-heads H --task-id N]
                [--from-encoder DIR --description TEXT]
                [--target-modules k_proj,v_proj,down_proj --feedforward-modules down_proj]
                [--epochs E] [--lr LR] [--batch B] [--seed S] [--warmup STEPS] [--schedule cosine|linear|constant]
                [--weight-decay WD] [--clip NORM] [--eval-every STEPS] [--patience EVALS] [--labels a,b,c]
                [--checkpoint-every STEPS] [--resume] [--json]

Learns a soft prompt (prompt tuning, or a mixed template), a prefix (prefix tuning), a P-tuning
prompt encoder (--encoder-hidden H, default the model's width; --encoder-type MLP, the default, or
LSTM, bidirectional with --encoder-layers L, default 2; saved as its output rows) or a
multitask prompt (--tasks T, --rank R default 1; a line's "task_id" picks its task, --task-id N
the task of lines without one, default 0), a prompt distilled from the model reading
--teacher-context FILE (an instruction with demonstrations; --method distill) or from the model with
--teacher-adapter DIR on (a PEFT LoRA / IA3 folder; --method distill), or an adapter as the prompt's analog: LoRA (--rank R
default ${LORA_DEFAULTS.r}, --alpha A default ${LORA_DEFAULTS.alpha}, --target-modules: PEFT's names, default PEFT's for the family) or IA3
(--target-modules, --feedforward-modules: the input-scaled ones), or a transformer prompt encoder
(--method encoder: --descriptions FILE holds one task description per line, line t is task t, a
line's "task_id" picks its task; a new task's prompt is then one forward pass: score/generate
--adapter DIR --description TEXT, or --method prompt --from-encoder DIR --description TEXT to
fine-tune from it) for {"input", "target"} JSONL pairs with the model frozen. Writes DIR/adapter_config.json and
DIR/adapter_model.safetensors (Hugging Face PEFT layout; load with score/generate --adapter DIR;
the encoder: DIR/encoder.json and DIR/encoder.safetensors),
DIR/report.html (curves, settings, before/after samples) and DIR/train_state.safetensors
(checkpoints, each announced on stderr; --resume continues from it exactly, and refuses a state made
with other settings, data or model). --json prints the final metrics.
Defaults: --method ${D.method} --virtual-tokens ${D.virtualTokens} --epochs ${D.epochs} --lr ${D.lr} --batch ${D.batchSize}
--seed ${D.seed} --warmup ${D.warmup} --schedule ${D.schedule} --weight-decay ${D.weightDecay} --clip ${D.clip}; --eval-every:
once per epoch; --checkpoint-every: once per epoch.`;

const STATE_FILE = 'train_state.safetensors';

// --descriptions FILE: one task description per line (line t = task t; blank lines refused: they
// would shift every later task's id).
async function readDescriptions(file: string): Promise<string[]> {
  const { fs } = await nodeFs();
  const text = await fs.readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new PromptkilnError('ARGUMENT', `tune: --descriptions ${file}: cannot read (${e.code ?? e.message})`);
  });
  const lines = text.replace(/\r?\n$/, '').split(/\r?\n/);
  const blank = lines.findIndex((l) => !l.trim());
  if (blank >= 0) throw new PromptkilnError('DATA', `${file}:${blank + 1}: empty task description (line t describes task t)`);
  return lines;
}

function intOpt(name: string, v: string | undefined, dflt?: number): number | undefined {
  const n = numberOpt('tune', name, v, dflt);
  if (n !== undefined && (!Number.isInteger(n) || n < 0)) throw new PromptkilnError('ARGUMENT', `tune: --${name} expects a non-negative integer, got "${v}"`);
  return n;
}

// Greedy continuations of a few inputs, without and with the trained prompt.
async function samples(model: Model, examples: Example[], tuned: TunedArtifact, signal: AbortSignal, taskId = 0): Promise<string[][]> {
  if (!model.tokenizer) return [];
  if (tuned.kind !== 'lora' && tuned.kind !== 'ia3' && !isPlainTemplate(tuned.template, tuned.kind === 'encoder' ? 'prompt' : tuned.kind)) return [];
  // an encoder's samples: each example's task encoded into its prompt
  const enc = tuned.kind === 'encoder' ? tuned : null;
  const prompt = enc ? null : tuned as SoftArtifact | LinearArtifact;
  const ad = prompt?.kind === 'lora' || prompt?.kind === 'ia3' ? linearAdapter(model, prompt) : null;
  const rows: string[][] = [];
  try {
    for (const e of examples.filter((x) => typeof x.input === 'string').slice(0, 4)) {
      const cond = ad ? { id: ad.id, linear: ad }
        : enc ? toConditioning(encodeTask(model, enc, enc.tasks[e.taskId ?? taskId]))
          : toConditioning(prompt as SoftArtifact, prompt!.kind === 'multitask' ? { taskId: e.taskId ?? taskId } : {});
      const opts = { maxTokens: 24, temperature: 0, signal };
      const before = await model.generate(e.input as string, opts);
      const after = await model.generate(e.input as string, { ...opts, conditioning: cond });
      rows.push([e.input as string, typeof e.target === 'string' ? e.target : JSON.stringify(e.target), before.text ?? '', after.text ?? '']);
    }
  } finally {
    ad?.free();
  }
  return rows;
}

function report(r: TuneResult<TunedArtifact>, settings: Record<string, unknown>, sampleRows: string[][]): string {
  const h = r.history;
  const trainPts = h.filter((x) => x.loss !== undefined).map((x) => [x.step, x.loss!] as [number, number]);
  const validPts = h.filter((x) => x.validLoss !== undefined).map((x) => [x.step, x.validLoss!] as [number, number]);
  const accSeries = [
    { name: 'exact match (greedy)', points: h.filter((x) => x.exactMatch !== undefined).map((x) => [x.step, x.exactMatch!] as [number, number]) },
    { name: 'label accuracy', points: h.filter((x) => x.labelAccuracy !== undefined).map((x) => [x.step, x.labelAccuracy!] as [number, number]) },
  ].filter((s) => s.points.length);
  const m = r.metrics;
  const metricRows: unknown[][] = [
    ['steps', m.steps], ['train loss (last epoch)', m.trainLoss.toFixed(4)], ['seconds', m.seconds.toFixed(1)],
    ['best step', m.bestStep ?? '—'], ['stopped early', m.stoppedEarly],
  ];
  if (m.before) metricRows.push(['valid loss before → after', `${m.before.loss.toFixed(4)} → ${m.after?.loss.toFixed(4) ?? '—'}`]);
  if (m.before) metricRows.push(['exact match before → after', `${m.before.exactMatch} → ${m.after?.exactMatch ?? '—'}`]);
  if (m.before?.labelAccuracy !== undefined) metricRows.push(['label accuracy before → after', `${m.before.labelAccuracy} → ${m.after?.labelAccuracy ?? '—'}`]);
  return htmlReport('promptkiln tune', [
    { heading: 'Loss', html: lineChart([{ name: 'train', points: trainPts }, ...(validPts.length ? [{ name: 'validation', points: validPts }] : [])], { xLabel: 'step', yLabel: 'mean NLL / token' }) },
    ...(accSeries.length ? [{ heading: 'Accuracy', html: lineChart(accSeries, { xLabel: 'step', yLabel: 'accuracy' }) }] : []),
    { heading: 'Metrics', html: table(['metric', 'value'], metricRows) },
    { heading: 'Settings', html: table(['setting', 'value'], Object.entries(settings).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])) },
    { heading: 'Samples (greedy)', html: sampleRows.length ? table(['input', 'target', 'before', 'after'], sampleRows) : `<p>${esc('no text samples (no tokenizer, or a mixed template)')}</p>` },
  ]);
}

register({
  name: 'tune',
  summary: 'learn a soft prompt or prefix (PEFT files) with the model frozen',
  usage,
  async run(argv, io) {
    const { values } = parse('tune', argv, {
      ...modelOptions,
      data: { type: 'string' }, valid: { type: 'string' }, out: { type: 'string' },
      method: { type: 'string', default: D.method }, 'virtual-tokens': { type: 'string' }, init: { type: 'string' },
      template: { type: 'string' }, reparameterize: { type: 'string' }, 'encoder-hidden': { type: 'string' }, 'encoder-type': { type: 'string' },
      tasks: { type: 'string' }, rank: { type: 'string' }, 'task-id': { type: 'string' },
      descriptions: { type: 'string' }, 'encoder-width': { type: 'string' }, 'encoder-layers': { type: 'string' }, 'encoder-heads': { type: 'string' },
      'from-encoder': { type: 'string' }, description: { type: 'string' }, 'teacher-context': { type: 'string' }, 'teacher-adapter': { type: 'string' },
      alpha: { type: 'string' }, 'target-modules': { type: 'string' }, 'feedforward-modules': { type: 'string' },
      epochs: { type: 'string' }, lr: { type: 'string' }, batch: { type: 'string' }, seed: { type: 'string' },
      warmup: { type: 'string' }, schedule: { type: 'string' }, 'weight-decay': { type: 'string' }, clip: { type: 'string' },
      'eval-every': { type: 'string' }, patience: { type: 'string' }, labels: { type: 'string' },
      'checkpoint-every': { type: 'string' }, resume: { type: 'boolean', default: false }, json: { type: 'boolean', default: false },
    });
    if (!values.data) throw new PromptkilnError('ARGUMENT', 'tune: --data train.jsonl is required');
    if (!values.out) throw new PromptkilnError('ARGUMENT', 'tune: --out DIR is required');
    backendOpt('tune', values.backend, 'training runs on the WASM backend (onnxruntime has no backward pass)');
    if (values.adapter || values.compressed) throw new PromptkilnError('ARGUMENT', 'tune: --adapter/--compressed do not apply to training');
    const method = values.method as TuneMethodName | 'distill';
    if (!CLI_METHODS.includes(method)) throw new PromptkilnError('ARGUMENT', `tune: --method must be one of ${CLI_METHODS.join(', ')}, got "${method}"`);
    if (method === 'distill' && !values['teacher-context'] === !values['teacher-adapter']) throw new PromptkilnError('ARGUMENT', 'tune: --method distill needs one teacher: --teacher-context FILE (what the teacher reads before each input) or --teacher-adapter DIR (a LoRA / IA3 folder)');
    if (method === 'distill' && (values.template || values.labels)) throw new PromptkilnError('ARGUMENT', `tune: --${values.template ? 'template' : 'labels'} does not apply to --method distill (N soft rows before the input, validated by KL to the teacher)`);
    // each method's own flags are refused elsewhere, never ignored
    const own: Record<string, (TuneMethodName | 'distill')[]> = {
      'teacher-context': ['distill'], 'teacher-adapter': ['distill'],
      reparameterize: ['prefix'], 'encoder-hidden': ['p-tuning'], 'encoder-type': ['p-tuning'], tasks: ['multitask'], rank: ['multitask', 'lora'], 'task-id': ['multitask', 'encoder'],
      descriptions: ['encoder'], 'encoder-width': ['encoder'], 'encoder-layers': ['encoder', 'p-tuning'], 'encoder-heads': ['encoder'],
      'from-encoder': ['prompt'], description: ['prompt'],
      alpha: ['lora'], 'target-modules': ['lora', 'ia3'], 'feedforward-modules': ['ia3'],
    };
    // an adapter has no virtual tokens, init text or template: refused, not ignored
    const linear = method === 'lora' || method === 'ia3';
    for (const flag of ['virtual-tokens', 'init', 'template'] as const) {
      if (linear && values[flag] !== undefined) throw new PromptkilnError('ARGUMENT', `tune: --${flag} does not apply to --method ${method} (an adapter on the projections, not prompt rows)`);
    }
    for (const [flag, ms] of Object.entries(own)) {
      if (values[flag as keyof typeof values] !== undefined && !ms.includes(method)) throw new PromptkilnError('ARGUMENT', `tune: --${flag} applies to --method ${ms.join(' or ')}, not ${method}`);
    }
    // PEFT's target_modules: a comma list of names, or one string ("all-linear" or a regex)
    const modulesOpt = (v: string | undefined) => (v === undefined ? undefined : v.includes(',') || /^[\w.]+$/.test(v) && v !== 'all-linear' ? v.split(',') : v);
    const targetModules = modulesOpt(values['target-modules']), feedforwardModules = modulesOpt(values['feedforward-modules']);
    if (method === 'encoder' && values.descriptions === undefined) throw new PromptkilnError('ARGUMENT', 'tune: --method encoder needs --descriptions FILE (one task description per line; line t is task t)');
    if (method === 'encoder' && values.init !== undefined) throw new PromptkilnError('ARGUMENT', 'tune: --init does not apply to --method encoder (the encoder writes the rows; it starts from --seed)');
    if (!values['from-encoder'] !== (values.description === undefined)) throw new PromptkilnError('ARGUMENT', 'tune: --from-encoder DIR and --description TEXT go together (fine-tune the prompt the encoder writes for that task)');
    if (values['from-encoder'] && (values.init !== undefined || values.template !== undefined || values['virtual-tokens'] !== undefined)) {
      throw new PromptkilnError('ARGUMENT', 'tune: --from-encoder sets the prompt\'s rows and layout; --init, --template and --virtual-tokens do not apply');
    }
    if (method === 'multitask' && values.tasks === undefined) throw new PromptkilnError('ARGUMENT', 'tune: --method multitask needs --tasks T (the number of tasks)');
    const encoderHidden = intOpt('encoder-hidden', values['encoder-hidden']);
    const encoderType = values['encoder-type'];
    if (encoderType !== undefined && encoderType !== 'MLP' && encoderType !== 'LSTM') throw new PromptkilnError('ARGUMENT', `tune: --encoder-type must be MLP or LSTM, got "${encoderType}"`);
    const ptLayers = method === 'p-tuning' ? intOpt('encoder-layers', values['encoder-layers']) : undefined;
    const tasks = intOpt('tasks', values.tasks), rank = intOpt('rank', values.rank), taskId = intOpt('task-id', values['task-id']);
    const schedule = checkSchedule(values.schedule ?? D.schedule, 'tune: --schedule');
    const hidden = intOpt('reparameterize', values.reparameterize);
    const opts: TuneOptions = {
      method: method === 'distill' ? 'prompt' : method,
      virtualTokens: linear ? undefined : intOpt('virtual-tokens', values['virtual-tokens'], D.virtualTokens),
      init: linear || method === 'encoder' ? undefined : parseInit(values.init),
      template: values.template ? parseTemplate(values.template) : undefined,
      reparameterize: hidden ? { hidden } : null,
      ...(encoderHidden !== undefined || encoderType !== undefined || ptLayers !== undefined ? {
        encoder: { ...(encoderHidden !== undefined ? { hidden: encoderHidden } : {}), ...(encoderType ? { type: encoderType } : {}), ...(ptLayers !== undefined ? { layers: ptLayers } : {}) },
      } : {}),
      ...(tasks !== undefined ? { multitask: { tasks, rank: rank ?? 1 }, taskId } : {}),
      ...(method === 'lora' ? { lora: { r: rank, alpha: numberOpt('tune', 'alpha', values.alpha), targetModules } } : {}),
      ...(method === 'ia3' ? { ia3: { targetModules, feedforwardModules } } : {}),
      ...(method === 'encoder' ? {
        promptEncoder: {
          descriptions: await readDescriptions(values.descriptions!),
          width: intOpt('encoder-width', values['encoder-width']), layers: intOpt('encoder-layers', values['encoder-layers']), heads: intOpt('encoder-heads', values['encoder-heads']),
        },
        taskId,
      } : {}),
      epochs: numberOpt('tune', 'epochs', values.epochs, D.epochs),
      lr: numberOpt('tune', 'lr', values.lr, D.lr),
      batchSize: intOpt('batch', values.batch, D.batchSize),
      seed: intOpt('seed', values.seed, D.seed),
      warmup: intOpt('warmup', values.warmup, D.warmup),
      schedule,
      weightDecay: numberOpt('tune', 'weight-decay', values['weight-decay'], D.weightDecay),
      clip: numberOpt('tune', 'clip', values.clip, D.clip),
      evalEvery: intOpt('eval-every', values['eval-every']),
      earlyStopping: values.patience ? { patience: intOpt('patience', values.patience)! } : null,
      labels: values.labels ? values.labels.split(',') : null,
      signal: io.signal,
    };
    const { path } = await nodeFs();
    const train = await readJsonl(values.data);
    const valid = values.valid ? await readJsonl(values.valid) : undefined;
    const statePath = path.join(values.out, STATE_FILE);
    const resume = values.resume ? await loadCheckpointFile(statePath) : null;
    const model = await openModel('tune', values.model, io, values.weights);
    try {
      if (values['from-encoder']) {
        // the encoder's prompt for this task, then prompt tuning from it
        const start = encodeTask(model, await loadPromptEncoder(values['from-encoder'], model), values.description!);
        Object.assign(opts, { initial: start.data, template: start.template, virtualTokens: start.rows, init: undefined });
      }
      let bar: Progress | null = null;
      const readContext = (f: string) => nodeFs().then(({ fs }) => fs.readFile(f, 'utf8')).catch((e: NodeJS.ErrnoException) => {
        throw new PromptkilnError('ARGUMENT', `tune: --teacher-context ${f}: cannot read (${e.code ?? e.message})`);
      });
      const teacher = method !== 'distill' ? null
        : values['teacher-context'] ? { context: await readContext(values['teacher-context']) }
          : { adapter: linearConditioning(model, await loadLinearPeft(values['teacher-adapter']!, model)) };
      const run = (o: TuneOptions) => (teacher ? distillPrompt(model, train, { ...o, teacher }) : tune(model, train, o));
      const res = await run({
        ...opts, valid, resume, resumeFile: statePath,
        checkpointEvery: intOpt('checkpoint-every', values['checkpoint-every'], Math.ceil(train.length / (opts.batchSize ?? D.batchSize))),
        onCheckpoint: async (c) => {
          await saveCheckpointFile(statePath, c);
          io.err(`checkpoint: step ${c.step} saved to ${statePath}`);
        },
        onProgress: (e) => {
          bar ??= new Progress(io, 'tune', e.totalSteps);
          const info: Record<string, number> = { loss: e.loss, lr: e.lr, 'tok/s': Math.round(e.tokensPerSec) };
          if (e.valid) info['valid loss'] = e.valid.loss;
          bar.update(e.step, info);
        },
      });
      await saveTuned(values.out, res.prompt);
      const settings = {
        model: model.id, data: values.data, valid: values.valid ?? null, method, template: 'template' in res.prompt ? res.prompt.template : null,
        virtual_tokens: opts.virtualTokens, init: values.init ?? 'random', reparameterize: hidden ?? null,
        encoder_hidden: encoderHidden ?? null, tasks: tasks ?? null, rank: rank ?? null, task_id: taskId ?? null, epochs: opts.epochs,
        ...(opts.promptEncoder ? { descriptions: values.descriptions, encoder: res.prompt.kind === 'encoder' ? res.prompt.dims : null } : {}),
        ...(values['from-encoder'] ? { from_encoder: values['from-encoder'], description: values.description } : {}),
        lr: opts.lr, batch: opts.batchSize, seed: opts.seed, warmup: opts.warmup, schedule, weight_decay: opts.weightDecay,
        clip: opts.clip, labels: opts.labels, resumed_from_step: resume?.step ?? null,
      };
      const sampleRows = await samples(model, valid ?? train, res.prompt, io.signal, taskId);
      await writeFileAtomic(path.join(values.out, 'report.html'), report(res, settings, sampleRows));
      const m = res.metrics;
      const summary = {
        out: values.out, method, steps: m.steps, trainLoss: m.trainLoss, seconds: m.seconds, bestStep: m.bestStep, stoppedEarly: m.stoppedEarly,
        validLossBefore: m.before?.loss ?? null, validLoss: m.after?.loss ?? null,
        exactMatchBefore: m.before?.exactMatch ?? null, exactMatch: m.after?.exactMatch ?? null,
        labelAccuracyBefore: m.before?.labelAccuracy ?? null, labelAccuracy: m.after?.labelAccuracy ?? null,
      };
      if (values.json) io.out(JSON.stringify(summary));
      else {
        const p = res.prompt;
        const what = p.kind === 'lora' ? `rank ${p.r}, ${p.modules.length} modules` : p.kind === 'ia3' ? `${p.modules.length} modules`
          : p.kind === 'encoder' ? `${p.dims.layers} layers of width ${p.dims.width} over ${p.tasks.length} tasks, ${p.rows} virtual tokens` : `${opts.virtualTokens} virtual tokens`;
        io.out(`tuned ${method} (${what}) in ${m.steps} steps, ${m.seconds.toFixed(1)} s; train loss ${m.trainLoss.toFixed(4)}`);
        if (m.before && m.after) io.out(`validation loss ${m.before.loss.toFixed(4)} → ${m.after.loss.toFixed(4)}, exact match ${m.before.exactMatch} → ${m.after.exactMatch}`);
        io.out(`wrote ${values.out}/${Object.keys(tunedFiles(res.prompt)).sort().join(', ')}, report.html`);
      }
      return 0;
    } finally {
      model.dispose();
    }
  },
});
