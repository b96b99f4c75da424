// `promptkiln compress`: distill a context into soft tokens (or train a recurrent compressor), with its report.
import { PromptkilnError } from '../../errors.js';
import {
  compress, loadCompressor, RecurrentCompressor, saveCompressed, saveCompressor, type CompressReport,
} from '../../compress/index.js';
import { DISTILL_DEFAULTS as DD, encodeContext, RECURRENT_DEFAULTS as RD, sampleContinuations } from '../../compress/index.js';
import { loadCheckpointFile, saveCheckpointFile } from '../../train/index.js';
import type { Model } from '../../model/index.js';
import { nodeFs, writeFileAtomic } from '../../util/files.js';
import { numberOpt, parse, type CliIO } from '../command.js';
import { modelOptions, openModel, backendOpt } from '../model-options.js';
import { Progress } from '../progress.js';
import { register } from '../registry.js';
import { esc, htmlReport, lineChart, table } from '../report.js';

const STATE_FILE = 'compress_state.safetensors';
const TRAIN_STATE_FILE = 'compressor_state.safetensors'; // recurrent compressor training
const CHECKPOINT_EVERY = 25;

const usage = `promptkiln compress --model M --context FILE --tokens K [--method distill|recurrent] --out DIR [--resume] [--json]
    distill:    [--steps N --lr LR --queries FILE --queries-n N --query-tokens L --objective kl|argmax --init chunks|random --seed S]
    recurrent:  --compressor FILE            use a trained compressor
                [--train-corpus FILE --slots M --segments S --steps N]   train one first and save it to --compressor

Compresses the context in FILE into K soft tokens σ (σ replaces the whole context, BOS included:
the model then reads σ and the query). Writes DIR/sigma.safetensors, DIR/compressed.json and
DIR/report.html (the KL curve). Distillation checkpoints to DIR/compress_state.safetensors every
${CHECKPOINT_EVERY} steps (each announced on stderr); --resume continues from it exactly (same settings and
data; anything else is refused); training a recurrent compressor does the same with
DIR/${TRAIN_STATE_FILE}. Without --queries the model's own sampled continuations of the
context are the distillation queries; 5 more are held out for the measures.
Defaults: distill --steps ${DD.steps} --lr ${DD.lr} --objective ${DD.objective} --init ${DD.init}; recurrent training
--steps ${RD.steps} --lr ${RD.lr} --slots ${RD.slots} --segments ${RD.segments}.
--json prints {"kl_before", "kl_after", "top1", "top1_before", "ratio", "tokens", "nll_before", "nll_after"}.
Use the result with: promptkiln score|generate --model M --compressed DIR …
Corpus JSONL (recurrent training): {"context": "…", "queries": ["…", …]} per line (queries optional).`;

register({
  name: 'compress',
  summary: 'compress a long context into a few soft tokens',
  usage,
  async run(argv, io) {
    const { values } = parse('compress', argv, {
      ...modelOptions,
      context: { type: 'string' }, tokens: { type: 'string' }, method: { type: 'string', default: 'distill' },
      out: { type: 'string' }, json: { type: 'boolean', default: false }, steps: { type: 'string' }, lr: { type: 'string' },
      queries: { type: 'string' }, 'queries-n': { type: 'string' }, 'query-tokens': { type: 'string' },
      objective: { type: 'string' }, init: { type: 'string' }, seed: { type: 'string' },
      compressor: { type: 'string' }, 'train-corpus': { type: 'string' }, slots: { type: 'string' }, segments: { type: 'string' },
      resume: { type: 'boolean', default: false },
    });
    backendOpt('compress', values.backend, 'compression runs on the WASM kernels (onnxruntime only scores)');
    if (!values.context) throw new PromptkilnError('ARGUMENT', 'compress: --context FILE is required');
    if (!values.out) throw new PromptkilnError('ARGUMENT', 'compress: --out DIR is required');
    const method = values.method;
    if (method !== 'distill' && method !== 'recurrent') throw new PromptkilnError('ARGUMENT', `compress: --method must be distill or recurrent, got "${method}"`);
    if (values.objective && values.objective !== 'kl' && values.objective !== 'argmax') {
      throw new PromptkilnError('ARGUMENT', `compress: --objective must be kl or argmax, got "${values.objective}"`);
    }
    if (values.init && values.init !== 'chunks' && values.init !== 'random') {
      throw new PromptkilnError('ARGUMENT', `compress: --init must be chunks or random, got "${values.init}"`);
    }
    const { fs, path } = await nodeFs();
    const context = await readText(values.context);
    if (!context.trim()) throw new PromptkilnError('ARGUMENT', `compress: the context file ${values.context} is empty`);
    const queries = values.queries ? await readLines(values.queries) : undefined;
    const tokens = numberOpt('compress', 'tokens', values.tokens);
    const steps = numberOpt('compress', 'steps', values.steps, method === 'distill' ? DD.steps : RD.steps)!;
    const seed = numberOpt('compress', 'seed', values.seed, DD.seed)!;
    const model = await openModel('compress', values.model, io, values.weights);
    let compressor: RecurrentCompressor | undefined;
    try {
      if (method === 'recurrent') {
        if (!values.compressor) throw new PromptkilnError('ARGUMENT', 'compress: --method recurrent needs --compressor FILE');
        if (values['train-corpus']) {
          compressor = await trainCompressor(model, values['train-corpus'], {
            slots: numberOpt('compress', 'slots', values.slots, RD.slots)!, segments: numberOpt('compress', 'segments', values.segments, RD.segments)!,
            steps, lr: numberOpt('compress', 'lr', values.lr, RD.lr)!, seed,
            stateFile: path.join(values.out, TRAIN_STATE_FILE), resume: values.resume,
          }, io);
          await saveCompressor(values.compressor, compressor);
          io.err(`compressor saved to ${values.compressor}`);
        } else {
          compressor = await loadCompressor(values.compressor, model);
        }
      }
      const bar = new Progress(io, 'compress', steps);
      const stateFile = path.join(values.out, STATE_FILE);
      const resume = values.resume ? await loadCheckpointFile(stateFile, 'null') : null;
      if (resume) io.err(`resuming from ${stateFile} at step ${resume.step}`);
      const r = await compress(model, context, {
        resume, resumeFile: stateFile, checkpointEvery: method === 'distill' ? CHECKPOINT_EVERY : 0,
        onCheckpoint: async (c) => {
          await saveCheckpointFile(stateFile, c);
          io.err(`checkpoint: step ${c.step} saved to ${stateFile}`);
        },
        method, tokens, compressor, steps, seed, queries,
        lr: numberOpt('compress', 'lr', values.lr, method === 'distill' ? DD.lr : undefined),
        numQueries: numberOpt('compress', 'queries-n', values['queries-n'], 32),
        queryTokens: numberOpt('compress', 'query-tokens', values['query-tokens'], 16),
        objective: values.objective as 'kl' | 'argmax' | undefined,
        init: values.init as 'chunks' | 'random' | undefined,
        signal: io.signal,
        onProgress: (e) => bar.update(e.step, { loss: e.loss, lr: e.lr }),
      });
      await saveCompressed(values.out, r.compressed);
      await fs.rm(stateFile, { force: true }); // finished: nothing left to resume
      await writeFileAtomic(path.join(values.out, 'report.html'), report(r, values.context, model));
      const summary = {
        kl_before: r.before.kl, kl_after: r.after.kl, top1: r.after.top1, top1_before: r.before.top1, ratio: r.compressed.ratio,
        tokens: r.compressed.tokens, nll_before: r.before.nll, nll_after: r.after.nll,
      };
      if (values.json) io.out(JSON.stringify(summary));
      else {
        io.out(`compressed ${r.compressed.contextTokens} context tokens into ${r.compressed.tokens} soft tokens (ratio ${r.compressed.ratio.toFixed(1)}) → ${values.out}`);
        io.out(`  KL to the full-context teacher: ${r.before.kl.toFixed(4)} (no context) → ${r.after.kl.toFixed(4)} (σ), ${(100 * (1 - r.after.kl / r.before.kl)).toFixed(1)}% lower`);
        io.out(`  top-1 agreement: ${(100 * r.before.top1).toFixed(1)}% → ${(100 * r.after.top1).toFixed(1)}%`);
        io.out(`  per query: ${r.tokensSavedPerQuery} fewer tokens, ${r.msPerQuery.context.toFixed(2)} ms → ${r.msPerQuery.sigma.toFixed(2)} ms`);
      }
      return 0;
    } finally {
      compressor?.dispose();
      model.dispose();
    }
  },
});

async function trainCompressor(model: Model, corpusFile: string,
  o: { slots: number; segments: number; steps: number; lr: number; seed: number; stateFile: string; resume: boolean }, io: CliIO): Promise<RecurrentCompressor> {
  const lines = (await readText(corpusFile)).split('\n');
  const corpus: { context: number[]; queries: number[][] }[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].trim()) continue;
    let obj: { context?: unknown; queries?: unknown };
    try {
      obj = JSON.parse(lines[i]);
    } catch (e) {
      throw new PromptkilnError('DATA', `${corpusFile}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      throw new PromptkilnError('DATA', `${corpusFile}:${i + 1}: expected an object {"context", "queries"}, found ${Array.isArray(obj) ? 'an array' : JSON.stringify(obj)}`);
    }
    if (typeof obj.context !== 'string' || !obj.context) throw new PromptkilnError('DATA', `${corpusFile}:${i + 1}: field "context" must be a non-empty string`);
    if (obj.queries !== undefined && (!Array.isArray(obj.queries) || obj.queries.some((q) => typeof q !== 'string'))) {
      throw new PromptkilnError('DATA', `${corpusFile}:${i + 1}: field "queries" must be an array of strings`);
    }
    const qs = (obj.queries as string[] | undefined) ?? [];
    const { ctx, zs } = encodeContext(model, obj.context, qs);
    corpus.push({ context: ctx, queries: zs.length ? zs : await sampleContinuations(model, ctx, 4, 12, o.seed + i, io.signal) });
  }
  if (corpus.length === 0) throw new PromptkilnError('DATA', `${corpusFile}: no contexts`);
  const rc = RecurrentCompressor.init(model, { slots: o.slots, segments: o.segments, mode: 'accumulate' }, corpus[0].context, o.seed);
  const bar = new Progress(io, 'train compressor', o.steps);
  try {
    const resume = o.resume ? await loadCheckpointFile(o.stateFile, 'null') : null;
    if (resume) io.err(`resuming compressor training from ${o.stateFile} at step ${resume.step}`);
    await rc.train(corpus, {
      steps: o.steps, lr: o.lr, seed: o.seed, signal: io.signal, onProgress: (e) => bar.update(e.step, { loss: e.loss }),
      resume, resumeFile: o.stateFile, checkpointEvery: CHECKPOINT_EVERY,
      onCheckpoint: async (c) => {
        await saveCheckpointFile(o.stateFile, c);
        io.err(`checkpoint: compressor step ${c.step} saved to ${o.stateFile}`);
      },
    });
    const { fs } = await nodeFs();
    await fs.rm(o.stateFile, { force: true }); // trained: nothing left to resume
  } catch (e) {
    rc.dispose();
    throw e;
  }
  return rc;
}

async function readText(file: string): Promise<string> {
  const { fs } = await nodeFs();
  try {
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new PromptkilnError('DATA', `cannot read ${file}: ${(e as Error).message}`);
  }
}

// --queries FILE: JSONL of {"query": "…"} / {"input": "…"} objects or strings, or plain lines
async function readLines(file: string): Promise<string[]> {
  const out: string[] = [];
  (await readText(file)).split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    if (line.trimStart().startsWith('{') || line.trimStart().startsWith('"')) {
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch (e) {
        throw new PromptkilnError('DATA', `${file}:${i + 1}: not valid JSON (${(e as Error).message})`);
      }
      const q = typeof v === 'string' ? v : (v as { query?: unknown; input?: unknown }).query ?? (v as { input?: unknown }).input;
      if (typeof q !== 'string') throw new PromptkilnError('DATA', `${file}:${i + 1}: expected a string or an object with "query"`);
      out.push(q);
    } else out.push(line);
  });
  if (out.length === 0) throw new PromptkilnError('DATA', `${file}: no queries`);
  return out;
}

function report(r: CompressReport, contextFile: string, model: Model): string {
  const c = r.compressed;
  return htmlReport('promptkiln compress', [
    { heading: 'Result', html: table(['', 'no context (baseline)', 'with σ'], [
      ['KL to the teacher (nats/row)', r.before.kl.toFixed(4), r.after.kl.toFixed(4)],
      ['top-1 agreement', `${(100 * r.before.top1).toFixed(1)}%`, `${(100 * r.after.top1).toFixed(1)}%`],
      ['NLL of continuations', r.before.nll.toFixed(4), r.after.nll.toFixed(4)],
    ]) + `<p>${c.contextTokens} context tokens → ${c.tokens} soft tokens (ratio ${c.ratio.toFixed(1)}), method ${esc(c.method)}, model ${esc(model.id)}, context file ${esc(contextFile)}. Per query ${r.tokensSavedPerQuery} fewer tokens; forward ${r.msPerQuery.context.toFixed(2)} ms → ${r.msPerQuery.sigma.toFixed(2)} ms.</p>` },
    { heading: 'Training KL', html: r.history.length ? lineChart([{ name: 'loss (KL, nats/row)', points: r.history.map((h) => [h.step, h.loss]) }], { xLabel: 'step', yLabel: 'KL' }) : '<p>recurrent compressor: no per-context training</p>' },
  ]);
}
