// RLPrompt-style search (Deng et al. 2022): a small MLP policy reads the frozen local model's
// last hidden state and picks the next prompt token from an action set; K picks make a prompt.
// Reward: the evaluator's score of that prompt on a training minibatch (cached, budgeted).
// REINFORCE with a moving-average baseline; only the policy's weights train (the shared MLP pair,
// stepped by train/'s loop); the language model is never updated.
import { PromptkilnError } from '../../errors.js';
import type { Kernels } from '../../kernels/index.js';
import { Mlp, Trainer, type MlpActs, type StepResult } from '../../train/index.js';
import type { Proposal, SearchContext, ScoredCandidate, Strategy } from '../types.js';

// What the policy needs from the local model (src/model's Model has it).
export interface RlModel {
  readonly kernels: Kernels;
  readonly config: { dim: number; bosId: number | null; maxSeqLen: number };
  readonly tokenizer: { encode(text: string, opts?: { bos?: boolean }): number[]; decode(ids: readonly number[]): string } | null;
  forward(batch: { sequences: (readonly number[])[]; hidden?: boolean; logits?: boolean }): Promise<{ hidden: Float32Array | null; T: number }>;
}

export interface RlOptions {
  model: RlModel;
  promptTokens?: number; // K (default 4)
  actions?: number[]; // token ids the policy may emit (default: tokens of the task's own text)
  hidden?: number; // MLP width (default 32)
  stepsPerIteration?: number; // policy-gradient steps per expand() (default 8)
  batch?: number; // prompts sampled per step (default 8)
  rewardExamples?: number; // training examples per reward (default 4)
  lr?: number; // default 3e-3
  baselineDecay?: number; // moving-average baseline (default 0.8)
}

export interface RlStepRecord {
  step: number;
  meanReward: number;
  baseline: number;
  best: string;
}

// Default action set: every token of the training outputs, the description and the instruction.
function defaultActions(ctx: SearchContext, tok: NonNullable<RlModel['tokenizer']>, bos: number | null): number[] {
  const ids = new Set<number>();
  for (const t of [...ctx.task.train.map((e) => e.output), ctx.task.description, ctx.task.instruction]) {
    for (const id of tok.encode(t, { bos: false })) if (id !== bos) ids.add(id);
  }
  return [...ids].sort((a, b) => a - b).slice(0, 512);
}

export function rl(o: RlOptions): Strategy & { steps: RlStepRecord[] } {
  const m = o.model;
  const k = m.kernels;
  const C = m.config.dim;
  const Hd = o.hidden ?? 32;
  const K = o.promptTokens ?? 4;
  const spi = o.stepsPerIteration ?? 8;
  const steps: RlStepRecord[] = [];
  const decay = o.baselineDecay ?? 0.8;
  // what the current expand() works on, and the last step's samples
  const now: { ctx: SearchContext | null; parent: ScoredCandidate | null; first: number; last: { texts: string[]; rewards: number[]; mean: number } | null } = { ctx: null, parent: null, first: 0, last: null };
  let state: { A: number; actions: number[]; bos: number; policy: Mlp; trainer: Trainer; baseline: number | null } | null = null;

  // checks come before the policy's weights are allocated
  const setup = (ctx: SearchContext) => {
    if (!m.tokenizer) throw new PromptkilnError('TOKENIZER', 'rl: the local model has no tokenizer; prompts are text');
    const bos = m.config.bosId;
    if (bos === null) throw new PromptkilnError('ARGUMENT', 'rl: the model has no BOS token to start the prompt from');
    const actions = o.actions ?? defaultActions(ctx, m.tokenizer, bos);
    if (actions.length < 2) throw new PromptkilnError('ARGUMENT', `rl: the action set needs at least two tokens, got ${actions.length}`);
    const A = actions.length;
    const r = ctx.rng.fork('rl:init');
    const gauss = () => Math.sqrt(-2 * Math.log(1 - r.next())) * Math.cos(2 * Math.PI * r.next());
    const normal = (n: number, std: number) => Float32Array.from({ length: n }, () => std * gauss());
    // W1 (Hd, C), b1 (Hd), W2 (A, Hd), b2 (A); W2 starts small so the first policy is near uniform
    const W1 = normal(Hd * C, 1 / Math.sqrt(C)), b1 = normal(Hd, 0), W2 = normal(A * Hd, 0.01), b2 = normal(A, 0);
    const policy = new Mlp(k, 'rl', { in: C, hidden: Hd, out: A }, 'gelu', { W1, b1, W2, b2 });
    const s = { A, actions, bos, policy, trainer: null as unknown as Trainer, baseline: null as number | null };
    // constant lr, clip 1, AdamW; steps run spi at a time, one expand() after another
    s.trainer = new Trainer(k, { params: policy.params, step: (_b, i) => step(s, i - now.first) }, {
      what: 'rl policy training', steps: Infinity, data: { size: 1, batchSize: 1, order: 'cycle' }, lr: o.lr ?? 3e-3,
      identity: { model: null, settings: { promptTokens: K, hidden: Hd, batch: o.batch ?? 8, actions }, data: '' },
    });
    state = s;
    return s;
  };

  // One REINFORCE step over a batch of sampled prompts: the policy's gradient, and the surrogate
  // loss −(1/B) Σ_b adv_b Σ_t log π(a_bt) it is the gradient of.
  async function step(s: NonNullable<typeof state>, stepNo: number): Promise<StepResult> {
    const ctx = now.ctx!, parent = now.parent!;
    const B = o.batch ?? 8;
    const { A, actions, bos, policy } = s;
    const r = ctx.rng.fork(`rl:${ctx.iteration}:${stepNo}`);
    const seqs: number[][] = Array.from({ length: B }, () => [bos]);
    const mark = k.heap.mark();
    try {
      const acts: MlpActs[] = [], probs: Float32Array[] = [];
      const picks: number[][] = []; // (K, B): action index of each sampled token
      for (let t = 0; t < K; t++) {
        const f = await m.forward({ sequences: seqs, hidden: true, logits: false });
        const T = f.T;
        const last = new Float32Array(B * C); // (B, C): hidden state at each prompt's last token
        for (let b = 0; b < B; b++) last.set(f.hidden!.subarray((b * T + T - 1) * C, (b * T + T) * C), b * C);
        const fw = policy.forward(k.from(last, 'rl h'), B); // logits (B, A)
        const pt = k.alloc(B * A, 'rl probs'); // (B, A)
        k.softmax(pt, fw.y, B, A);
        const p = pt.f32().slice(); // a copy: the views go stale when memory grows
        const rowPicks: number[] = [];
        for (let b = 0; b < B; b++) {
          // inverse-CDF sample from the run's rng
          let u = r.next();
          let pick = A - 1;
          for (let j = 0; j < A; j++) {
            u -= p[b * A + j];
            if (u < 0) {
              pick = j;
              break;
            }
          }
          seqs[b].push(actions[pick]);
          rowPicks.push(pick);
        }
        acts.push(fw), probs.push(p), picks.push(rowPicks);
      }
      // rewards through the evaluator: same cache, same budget as every other candidate
      const batchEx = r.shuffle(ctx.task.train).slice(0, o.rewardExamples ?? 4);
      const texts = seqs.map((sq) => m.tokenizer!.decode(sq.slice(1)).trim());
      const rewards: number[] = [];
      for (const instruction of texts) rewards.push((await ctx.evaluator.evaluate({ instruction, demos: parent.cand.demos }, batchEx)).score ?? -1e3);
      const mean = rewards.reduce((a, b) => a + b, 0) / B;
      const sd = Math.sqrt(rewards.reduce((a, x) => a + (x - mean) ** 2, 0) / B) + 1e-6;
      const baseline = s.baseline ?? mean;
      // ∂(−Σ_b adv_b Σ_t log π(a_bt)) / ∂logits = −adv_b (onehot − p) / B
      let loss = 0;
      for (let t = 0; t < K; t++) {
        const d = new Float32Array(B * A); // (B, A)
        for (let b = 0; b < B; b++) {
          const adv = (rewards[b] - baseline) / sd;
          const chosen = picks[t][b];
          loss -= (adv * Math.log(Math.max(1e-30, probs[t][b * A + chosen]))) / B;
          for (let j = 0; j < A; j++) d[b * A + j] = (-adv * ((j === chosen ? 1 : 0) - probs[t][b * A + j])) / B;
        }
        policy.backward(acts[t], k.from(d, 'rl dlogits'), null);
      }
      s.baseline = decay * baseline + (1 - decay) * mean;
      now.last = { texts, rewards, mean };
      return { loss, tokens: B * K };
    } finally {
      k.heap.reset(mark);
    }
  }

  return {
    name: 'rl',
    racing: 'halving',
    steps,
    async expand(ctx: SearchContext, parents: ScoredCandidate[], count: number): Promise<Proposal[]> {
      const s = state ?? setup(ctx);
      const parent = parents[0];
      Object.assign(now, { ctx, parent, first: s.trainer.step });
      const seen = new Map<string, number>();
      for (let i = 0; i < spi; i++) {
        await s.trainer.run(s.trainer.step + 1);
        const res = now.last!;
        res.texts.forEach((t, b) => seen.set(t, Math.max(seen.get(t) ?? -Infinity, res.rewards[b])));
        const best = res.texts[res.rewards.indexOf(Math.max(...res.rewards))];
        steps.push({ step: steps.length, meanReward: res.mean, baseline: s.baseline!, best });
      }
      // the best prompts the policy sampled go on to the validation race
      return [...seen]
        .filter(([t]) => t.length > 0)
        .sort((a, b) => b[1] - a[1])
        .slice(0, count)
        .map(([instruction]) => ({ instruction, demos: parent.cand.demos, parent: parent.cand.id, operator: 'rl' }));
    },
  };
}
