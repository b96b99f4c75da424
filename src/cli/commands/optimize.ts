// `promptkiln optimize`: hard-prompt search over a task file, with run log, resume, report and --then-tune.
import { PromptkilnError } from '../../errors.js';
import { DiskCache } from '../../eval/cache.js';
import { loadTask } from '../../eval/task.js';
import { localModel } from '../../llm/local.js';
import type { LanguageModel } from '../../llm/types.js';
import { loadModel, type Model } from '../../model/index.js';
import { nodeFs, writeFileAtomic } from '../../util/files.js';
import { savePeft, tune, type Example } from '../../soft/index.js';
import { Progress } from '../progress.js';
import { optimize, type OptimizeResult, type ProgressEvent } from '../../search/optimize.js';
import { FileRunLog } from '../../search/run-log.js';
import { parseObjectives, parseSelection } from '../../search/objectives.js';
import { STRATEGY_NAMES, rl, strategyByName } from '../../search/strategies/index.js';
import type { Strategy } from '../../search/types.js';
import { numberOpt, parse, type CliIO } from '../command.js';
import { keysUsage, lmOptions, lmUsage, loadPrices, roleModel, targetModel, usd } from '../lm-roles.js';
import { backendOpt } from '../model-options.js';
import { register } from '../registry.js';
import { optimizeReport } from '../report-optimize.js';

const usage = `promptkiln optimize --task T (--model M | ${lmUsage})
                    --strategy ${STRATEGY_NAMES.join('|')}|rl --out DIR
                    [--budget N] [--max-cost USD] [--seed S] [--iterations N] [--candidates N]
                    [--racing halving|ucb|exhaustive] [--resume] [--json] [--then-tune [--virtual-tokens N] [--tune-steps N]]
                    [--objectives score,cost,latency,length [--select 'cost<=0.001,score=1']]

Searches for a better instruction / demonstrations for the task (JSON task file, plain or typed,
see DESIGN.md). The target model answers; the proposer (default: the target) writes the LLM
strategies' proposals; the judge (default: the target) grades answers for judge metrics. Each
role's unset --ROLE-* flags default to the target's.
--strategy rl trains a small policy on the local model's hidden states (needs --model).
--budget counts model calls; --max-cost caps the spend in USD by the price table (built in,
overridden per model by --prices FILE: {"model": {"input", "output", "cachedInput", "reasoning"}},
USD per million tokens). DIR gets program.json (the winner, for loadProgram / promptkiln run),
run.jsonl (every candidate), cache.jsonl (every model result, so --resume repeats nothing),
result.json and report.html. --json prints {"best", "score", "initial_score", "calls", "cost", ...}.
--strategy gepa reflects on each example's feedback (judge reasons, parse errors, expected vs
produced) and keeps a per-example Pareto pool; mipro searches instruction × demo set jointly (TPE).
--objectives keeps the Pareto front over those objectives (cost: the target's USD per example by
the price table; latency: ms per example, stored with each cached result; length: characters of
the prompt before the input); --select picks the winner: NAME<=X / NAME>=X constraints and
NAME=W weights (default score=1). DIR/events.jsonl streams every proposal, evaluation, model
call and selection (OpenTelemetry-shaped spans); promptkiln report DIR rebuilds report.html.
${keysUsage}
--then-tune (local --model only) hands the winner to prompt tuning: N soft tokens initialized
from the winning prompt's text (PEFT's TEXT init; default N = its token count, at most 64),
trained on the task's train pairs (output → target), saved as PEFT files in DIR/tuned/.`;

register({
  name: 'optimize',
  summary: 'search for a better hard prompt (APE, GrIPS, ProTeGi, OPRO, demos, GEPA, MIPROv2-style)',
  usage,
  async run(argv, io) {
    const { values } = parse('optimize', argv, {
      ...lmOptions, task: { type: 'string' }, model: { type: 'string' },
      strategy: { type: 'string', default: 'grips' }, budget: { type: 'string' }, 'max-cost': { type: 'string' }, seed: { type: 'string' },
      iterations: { type: 'string' }, candidates: { type: 'string' }, racing: { type: 'string' }, out: { type: 'string' },
      resume: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, backend: { type: 'string', default: 'auto' },
      'then-tune': { type: 'boolean', default: false },
      'virtual-tokens': { type: 'string' }, 'tune-steps': { type: 'string' },
      objectives: { type: 'string' }, select: { type: 'string' },
    });
    const objectives = values.objectives !== undefined ? parseObjectives(values.objectives, 'optimize --objectives') : undefined;
    if (values.select !== undefined && !objectives) throw new PromptkilnError('ARGUMENT', 'optimize: --select needs --objectives (the objectives it weighs or bounds)');
    const select = values.select !== undefined ? parseSelection(values.select, 'optimize --select') : undefined;
    if (values['then-tune'] && !values.model) throw new PromptkilnError('ARGUMENT', 'optimize: --then-tune needs a local --model (soft prompts train through its weights)');
    if (!values.task) throw new PromptkilnError('ARGUMENT', 'optimize: --task is required (a task JSON file)');
    if (!values.out) throw new PromptkilnError('ARGUMENT', 'optimize: --out DIR is required (run log, cache, report)');
    const remote = targetModel('optimize', values);
    if (Boolean(values.model) === Boolean(remote)) throw new PromptkilnError('ARGUMENT', 'optimize: give exactly one of --model M or --endpoint URL (with --llm-model NAME)');
    backendOpt('optimize', values.backend, 'search generates text, which runs on the WASM kernels');
    if (values.racing && !['halving', 'ucb', 'exhaustive'].includes(values.racing)) throw new PromptkilnError('ARGUMENT', `optimize: --racing must be halving, ucb or exhaustive, got "${values.racing}"`);
    if (values.strategy === 'rl' && !values.model) throw new PromptkilnError('ARGUMENT', 'optimize: --strategy rl needs a local --model (the policy reads its hidden states)');
    let strategy: Strategy | null = values.strategy === 'rl' ? null : strategyByName(values.strategy!);
    const budget = numberOpt('optimize', 'budget', values.budget);
    if (budget !== undefined && !(budget >= 1)) throw new PromptkilnError('BUDGET', `optimize: --budget must be at least 1 model call, got ${values.budget}`);
    const maxCost = numberOpt('optimize', 'max-cost', values['max-cost']);
    if (maxCost !== undefined && !(maxCost > 0)) throw new PromptkilnError('BUDGET', `optimize: --max-cost must be more than 0 USD, got ${values['max-cost']}`);
    const prices = await loadPrices(values.prices);
    const seed = numberOpt('optimize', 'seed', values.seed, 0)!;
    const task = await loadTask(values.task);

    let lm: LanguageModel;
    let local: Model | null = null;
    let dispose = () => {};
    if (remote) lm = remote;
    else {
      const m = await loadModel(values.model!, { signal: io.signal });
      local = m;
      lm = localModel(m);
      dispose = () => m.dispose();
      strategy ??= rl({ model: m });
    }
    if (!strategy) throw new PromptkilnError('ARGUMENT', 'optimize: --strategy rl needs --model');
    const proposer = roleModel('optimize', 'proposer', values);
    const judge = roleModel('optimize', 'judge', values);
    const { fs, path } = await nodeFs();
    const out = values.out;
    await fs.mkdir(out, { recursive: true });
    const cacheFile = path.join(out, 'cache.jsonl');
    if (!values.resume) await fs.rm(cacheFile, { force: true });
    const cache = await DiskCache.open(cacheFile);
    const runLog = await FileRunLog.open(path.join(out, 'run.jsonl'), values.resume!);
    if (values.resume && cache.size) io.err(`resuming: ${cache.size} cached results in ${cacheFile}`);
    // a resumed run replays from the cache and so re-emits every event: the file starts over
    const eventsFile = path.join(out, 'events.jsonl');
    await fs.writeFile(eventsFile, '', 'utf8');
    let eventsPending = Promise.resolve();
    const onEvent = (e: object) => {
      const line = JSON.stringify(e) + '\n';
      eventsPending = eventsPending.then(() => fs.appendFile(eventsFile, line, 'utf8'));
    };

    let result: OptimizeResult;
    let tuned: Awaited<ReturnType<typeof thenTune>> | null = null;
    try {
      result = await optimize(task, lm, {
        strategy, seed, budget: budget === undefined && maxCost === undefined ? undefined : { calls: budget, cost: maxCost }, cache, runLog, signal: io.signal,
        proposer, judge, prices, concurrency: numberOpt('optimize', 'concurrency', values.concurrency, 4),
        maxIterations: numberOpt('optimize', 'iterations', values.iterations, 5),
        candidatesPerIteration: numberOpt('optimize', 'candidates', values.candidates, 8),
        racing: values.racing as 'halving' | 'ucb' | 'exhaustive' | undefined,
        onProgress: (e) => progress(io, e, budget, maxCost),
        objectives, select, onEvent,
      });
      if (values['then-tune'] && local) {
        tuned = await thenTune(local, result, task.validation.map((e) => ({ input: e.input, target: e.output })), {
          out: path.join(out, 'tuned'), seed, signal: io.signal, io,
          virtualTokens: numberOpt('optimize', 'virtual-tokens', values['virtual-tokens']),
          steps: numberOpt('optimize', 'tune-steps', values['tune-steps'], 100)!,
        });
      }
    } finally {
      await cache.flush();
      await runLog.flush();
      await eventsPending;
      dispose();
    }
    const summary = {
      best: result.best.instruction,
      score: result.score,
      initial_score: result.initialScore,
      calls: result.calls,
      cost: result.cost,
      spend: result.spend,
      program: path.join(out, 'program.json'),
      test_score: result.testScore,
      initial_test_score: result.initialTestScore,
      demos: result.best.demos.map((d) => d.id),
      stop_reason: result.stopReason,
      ...(result.objectives ? { objectives: { front: result.objectives.front, winner: result.objectives.winner, constraints_met: result.objectives.constraintsMet } } : {}),
      ...(tuned ? { tuned: tuned.summary } : {}),
    };
    await writeFileAtomic(path.join(out, 'program.json'), JSON.stringify(result.program, null, 2) + '\n');
    await writeFileAtomic(path.join(out, 'result.json'), JSON.stringify({ ...summary, result }, null, 2) + '\n');
    await writeFileAtomic(path.join(out, 'report.html'), optimizeReport(result, { task: task.name, strategy: strategy.name, seed }));
    if (values.json) io.out(JSON.stringify(summary));
    else {
      io.out(`best prompt: ${result.best.instruction}`);
      io.out(`validation ${fmt(result.initialScore)} → ${fmt(result.score)}, test ${fmt(result.initialTestScore)} → ${fmt(result.testScore)} (${task.metric}); ${result.calls} model calls, ${usd(result.cost)}; program ${path.join(out, 'program.json')}; report ${path.join(out, 'report.html')}`);
    }
    if (tuned && !values.json) {
      io.out(`then-tune: ${tuned.summary.virtual_tokens} soft tokens from the winner's text; validation loss ${fmt(tuned.summary.valid_loss_before)} → ${fmt(tuned.summary.valid_loss_after)}; PEFT files in ${tuned.summary.dir}`);
    }
    return 0;
  },
});

// Hard → soft: the winning prompt's text initializes a prompt-tuning run on the task's pairs.
async function thenTune(model: Model, result: OptimizeResult, valid: Example[],
  o: { out: string; seed: number; signal: AbortSignal; io: CliIO; virtualTokens?: number; steps: number }) {
  const h = result.handoff;
  const text = h.initText.trim() ? h.initText : ' ';
  const textTokens = model.tokenizer ? model.tokenizer.encode(text, { bos: false }).length : 8;
  const n = o.virtualTokens ?? Math.max(1, Math.min(64, textTokens));
  const bar = new Progress(o.io, 'then-tune', o.steps);
  const r = await tune(model, h.data, {
    method: 'prompt', virtualTokens: n, init: { type: 'text', text }, maxSteps: o.steps, seed: o.seed,
    valid: valid.length ? valid : undefined, signal: o.signal,
    onProgress: (e) => bar.update(e.step, { loss: e.loss }),
  });
  await savePeft(o.out, r.prompt);
  return {
    summary: {
      dir: o.out, virtual_tokens: n, init_text: text, steps: r.metrics.steps,
      valid_loss_before: r.metrics.before?.loss ?? null, valid_loss_after: r.metrics.after?.loss ?? null,
    },
  };
}

const fmt = (v: number | null) => (v === null ? 'n/a' : v.toFixed(4));

function progress(io: CliIO, e: ProgressEvent, budget?: number, maxCost?: number) {
  const b = budget ? `/${budget}` : '';
  const c = (cost: number) => `  ${usd(cost)}${maxCost ? `/${usd(maxCost)}` : ''}`;
  if (e.type === 'start') io.err(`optimize: ${e.strategy} on ${e.validation} validation examples; estimated ≤ ${e.estimate.calls} model calls, ~${e.estimate.tokens} tokens${e.estimate.cost !== null ? `, ≤ ${usd(e.estimate.cost)} for the target` : ''} before cache hits and racing`);
  else if (e.type === 'iteration') io.err(`iteration ${e.iteration}  best ${fmt(e.best)} (${e.bestId})  pool ${e.pool}  calls ${e.calls}${b}${c(e.cost)}`);
  else if (e.type === 'done') io.err(`done (${e.stopReason})  best ${fmt(e.best)}  calls ${e.calls}${b}${c(e.cost)}`);
}
