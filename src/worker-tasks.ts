// The long work a model worker serves besides score/generate: tune, compress, optimize, and
// generation under an adapter — each with progress, abort and checkpoints (bytes) crossing to the page.
import { compress } from './compress/index.js';
import { PromptkilnError } from './errors.js';
import { defineTask, MemoryCache } from './eval/index.js';
import { localModel } from './llm/index.js';
import type { Model } from './model/model.js';
import type { TaskContext, TaskHandler } from './model/worker-host.js';
import { optimize } from './search/index.js';
import { buildMethod, decodePeft, toConditioning, tune, tunedFiles, CONFIG_FILE, WEIGHTS_FILE, type TrainCheckpoint, type TunedArtifact, type TuneOptions } from './soft/index.js';
import { linearConditioning } from './soft/linear-adapter.js';
import { decodeLinearPeft, isLinearPeftType } from './soft/peft-linear.js';
import { decodeCheckpoint, encodeCheckpoint } from './train/checkpoint.js';

// PEFT files by name, as the page downloads them (and hands them back for generation).
export type PeftFileMap = { [CONFIG_FILE]: string; [WEIGHTS_FILE]: Uint8Array };

// The training loop's checkpoints leave the worker as the bytes of train_state.safetensors.
function checkpointing(opts: Record<string, unknown>, ctx: TaskContext, what: string) {
  const resume = opts.resume;
  if (resume !== undefined && resume !== null && !(resume instanceof Uint8Array)) {
    throw new PromptkilnError('ARGUMENT', `${what} in a worker: resume must be the checkpoint's bytes (a Uint8Array from onCheckpoint), got ${typeof resume}`);
  }
  return {
    resume: resume ? decodeCheckpoint(resume, 'resume') : null,
    resumeFile: 'resume',
    signal: ctx.signal,
    onProgress: (event: unknown) => ctx.send({ kind: 'progress', event }),
    onCheckpoint: (c: TrainCheckpoint) => {
      const bytes = encodeCheckpoint(c);
      ctx.send({ kind: 'checkpoint', bytes }, [bytes.buffer as ArrayBuffer]);
    },
  };
}

// The worker hands back PEFT files; the prompt encoder's are our own: it trains through tune() on
// the calling thread (refused before any work starts).
const NO_ENCODER = 'tune in a worker: method "encoder" is not available here (the worker returns PEFT files); run tune() with method "encoder" directly';
function peftFiles(a: TunedArtifact): PeftFileMap {
  if (a.kind === 'encoder') throw new PromptkilnError('ARGUMENT', NO_ENCODER);
  return tunedFiles(a) as PeftFileMap;
}

const tuneTask: TaskHandler = async (model, [data], opts, ctx) => {
  if (opts.method === 'encoder') throw new PromptkilnError('ARGUMENT', NO_ENCODER);
  const r = await tune(model, data as never, { ...opts, ...checkpointing(opts, ctx, 'tune') } as TuneOptions);
  return { prompt: r.prompt, metrics: r.metrics, history: r.history, files: peftFiles(r.prompt) };
};

// The PEFT files of a checkpoint (a stopped run): its best params when it was evaluated, else its
// current ones — what tune() would have returned had it ended there. opts: the run's tune options.
const tuneFilesTask: TaskHandler = async (model, [bytes], opts) => {
  if (!(bytes instanceof Uint8Array)) throw new PromptkilnError('ARGUMENT', 'checkpoint files in a worker: expected the checkpoint\'s bytes (a Uint8Array from onCheckpoint)');
  const c = decodeCheckpoint(bytes, 'checkpoint');
  const method = buildMethod(model, opts as TuneOptions);
  try {
    const values = c.best?.params ?? c.params;
    const want = method.params.map((p) => p.value.n);
    if (values.length !== want.length || values.some((v, i) => v.length !== want[i])) {
      throw new PromptkilnError('DATA', `checkpoint: its tensors (${values.map((v) => v.length).join(', ')} values) are not those of this ${method.kind} method (${want.join(', ')}); pass the run's tune options`);
    }
    method.restore(values);
    return { step: c.step, files: peftFiles(method.artifact()) };
  } finally {
    method.free();
  }
};

const compressTask: TaskHandler = async (model, [context], opts, ctx) => {
  if (opts.method === 'recurrent') {
    throw new PromptkilnError('ARGUMENT', 'compress in a worker: method "recurrent" needs a RecurrentCompressor object, which cannot cross to the worker; use method "distill"');
  }
  return compress(model, context as string, { ...opts, ...checkpointing(opts, ctx, 'compress') });
};

// optimize resumes through its evaluator cache (a finished call replays for free): every entry
// goes to the page as it is made, and `resume` brings them back as JSONL ({"k","v"} lines, the
// CLI's cache file format).
const optimizeTask: TaskHandler = async (model, [spec], opts, ctx) => {
  const task = await defineTask(spec, { file: 'task' });
  const cache = new MemoryCache();
  if (opts.resume) {
    if (!(opts.resume instanceof Uint8Array)) throw new PromptkilnError('ARGUMENT', 'optimize in a worker: resume must be the bytes given to onCheckpoint (JSONL cache entries)');
    for (const line of new TextDecoder().decode(opts.resume).split('\n')) {
      if (!line) continue;
      const { k, v } = JSON.parse(line) as { k: string; v: unknown };
      cache.set(k, v);
    }
  }
  const set = cache.set.bind(cache);
  cache.set = (key, value) => {
    set(key, value);
    ctx.send({ kind: 'cache', key, value });
  };
  const { resume: _, ...rest } = opts;
  const r = await optimize(task, localModel(model), {
    ...rest, cache, signal: ctx.signal, onProgress: (event) => ctx.send({ kind: 'progress', event }),
  });
  return JSON.parse(JSON.stringify(r)); // plain data: candidates may hold class instances
};

// Generation under a PEFT adapter given as files (what tune returned, or files a user picked).
const generateTask: TaskHandler = async (model: Model, [prompt, files], opts, ctx) => {
  let conditioning = null;
  if (files) {
    const f = files as PeftFileMap;
    const cfgText = f[CONFIG_FILE], weights = f[WEIGHTS_FILE];
    if (typeof cfgText !== 'string' || !(weights instanceof Uint8Array)) {
      throw new PromptkilnError('ADAPTER', `generate in a worker: the adapter needs ${CONFIG_FILE} (text) and ${WEIGHTS_FILE} (bytes)`);
    }
    const cfg = JSON.parse(cfgText) as Record<string, unknown>;
    conditioning = isLinearPeftType(cfg.peft_type)
      ? linearConditioning(model, decodeLinearPeft(cfg, weights, model, CONFIG_FILE, WEIGHTS_FILE))
      : toConditioning(decodePeft(cfgText, weights, model));
  }
  return model.generate(prompt as string, { ...opts, conditioning, signal: ctx.signal });
};

export const WORKER_TASKS: Record<string, TaskHandler> = { tune: tuneTask, 'tune-files': tuneFilesTask, compress: compressTask, optimize: optimizeTask, generate: generateTask };
