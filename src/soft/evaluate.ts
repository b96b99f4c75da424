// Validation metrics of a soft prompt: NLL, exact match by teacher forcing, label accuracy.
import { throwIfAborted } from '../errors.js';
import type { Model, Transformer } from '../model/index.js';
import { argmaxOf } from '../model/sampling.js';
import { batchTargets } from './method.js';
import { layoutExample, type LaidExample } from './mixed.js';
import type { Example, TemplatePart } from './types.js';

export interface EvalMetrics {
  loss: number; // mean NLL per target token (nats)
  tokens: number; // target tokens scored
  // share of examples whose greedy continuation reproduces the target: with teacher forcing,
  // greedy decoding emits the target iff every target row's argmax is that target token
  exactMatch: number;
  // share of examples whose target is the most likely of the label choices (sum log-likelihood)
  labelAccuracy?: number;
}

// How an evaluation runs a batch: a tuning method's forward, or an artifact's / no prompt's.
export type BatchForward = (batch: LaidExample[]) => Transformer;

export interface EvalSetup {
  model: Model;
  template: readonly TemplatePart[];
  posOffset: number;
  forward: BatchForward;
  batchSize?: number;
  labels?: readonly string[] | null;
  signal?: AbortSignal;
  layout?: (e: Example) => LaidExample; // default layoutExample (a multitask method places each task's rows)
}

function argmaxRows(st: Transformer, rows: number[], V: number): Int32Array {
  const out = new Int32Array(rows.length);
  st.eachHeadChunk(rows, (lg, s, n) => {
    const a = lg.f32();
    for (let i = 0; i < n; i++) out[s + i] = argmaxOf(a.subarray(i * V, (i + 1) * V));
    return false;
  });
  return out;
}

// Per-example Σ log p(target) and exact match over laid-out examples.
function scoreLaid(s: EvalSetup, laid: LaidExample[], wantArgmax: boolean): { sums: number[]; exact: boolean[]; tokens: number } {
  const bs = s.batchSize ?? 8;
  const sums: number[] = [], exact: boolean[] = [];
  let tokens = 0;
  for (let i = 0; i < laid.length; i += bs) {
    throwIfAborted(s.signal, 'evaluation');
    const batch = laid.slice(i, i + bs);
    const st = s.forward(batch);
    const { rows, targets } = batchTargets(batch);
    const { logprobs } = st.nll(rows, targets, 1, false);
    const am = wantArgmax ? argmaxRows(st, rows, s.model.config.vocabSize) : null;
    let r = 0;
    for (const ex of batch) {
      let sum = 0, ok = true;
      for (let j = 0; j < ex.targets.length; j++, r++) {
        sum += logprobs[r];
        if (am && am[r] !== targets[r]) ok = false;
      }
      sums.push(sum);
      exact.push(ok);
      tokens += ex.targets.length;
    }
  }
  return { sums, exact, tokens };
}

export function evaluateLaid(s: EvalSetup, examples: Example[], laid?: LaidExample[]): EvalMetrics {
  const lay = s.layout ?? ((e: Example) => layoutExample(s.model, s.template, e, s.posOffset));
  const ls = laid ?? examples.map(lay);
  const { sums, exact, tokens } = scoreLaid(s, ls, true);
  const m: EvalMetrics = {
    loss: -sums.reduce((a, b) => a + b, 0) / Math.max(1, tokens),
    tokens,
    exactMatch: exact.filter(Boolean).length / Math.max(1, exact.length),
  };
  if (s.labels && s.labels.length) {
    const labels = s.labels;
    const choices = examples.flatMap((e) => labels.map((l) => lay({ ...e, target: l })));
    const { sums: cs } = scoreLaid(s, choices, false);
    let right = 0;
    examples.forEach((e, i) => {
      let best = 0;
      for (let j = 1; j < labels.length; j++) if (cs[i * labels.length + j] > cs[i * labels.length + best]) best = j;
      const want = typeof e.target === 'string' ? e.target.trim() : null;
      if (want !== null && labels[best].trim() === want) right++;
    });
    m.labelAccuracy = right / examples.length;
  }
  return m;
}
