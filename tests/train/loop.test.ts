// train/'s loop on a real (tiny) problem in WASM memory: x (n) pulled toward the mean of a batch of
// targets, loss = (1/B) Σ_b ½‖x − t_b‖². Every piece the loop owns — optimizer, schedule, clipping,
// data order, NaN guard, abort, yielding, evaluation and best-so-far, checkpoints, exact resume,
// the run identity — against a plain JS reference.
import { describe, expect, it } from 'vitest';
import { isPromptkilnError } from '../../src/errors.js';
import { init, type Kernels } from '../../src/kernels/index.js';
import {
  decodeCheckpoint, encodeCheckpoint, epochOrder, learningRate, paramOf, train, type LoopOptions, type TrainCheckpoint,
  type TrainMethod,
} from '../../src/train/index.js';

const n = 7; // not a multiple of the SIMD width
const targets = Array.from({ length: 10 }, (_, i) => Float64Array.from({ length: n }, (_, j) => Math.sin(i * 3 + j) * (1 + j)));
const model = { id: 'toy', arch: 'llama', dim: n, n_layers: 1, n_heads: 1, n_kv_heads: 1, head_dim: n, vocab_size: 1, key_layout: 'none' as const };
const x0 = Float32Array.from({ length: n }, (_, j) => 0.5 - j * 0.1);

let kp: Promise<Kernels> | null = null;
const kernels = () => (kp ??= init({ build: 'simd' }));

// The method: one step = loss and gradient of a batch (indices into targets).
function toy(k: Kernels, o: { nanAt?: number; valid?: boolean } = {}) {
  const x = paramOf(k, 'x', x0);
  const gt = k.alloc(n, 'toy grad', false);
  const seen: number[][] = [];
  const method: TrainMethod & { x: typeof x; seen: number[][] } = {
    x, seen, params: [x],
    step(batch, step) {
      seen.push([...batch]);
      const xv = x.value.f32();
      const g = new Float32Array(n);
      let loss = 0;
      for (const b of batch) {
        for (let j = 0; j < n; j++) {
          const d = xv[j] - targets[b][j];
          loss += (0.5 * d * d) / batch.length;
          g[j] += d / batch.length;
        }
      }
      k.axpy(x.grad, gt.set(g), 1);
      return { loss: step === o.nanAt ? NaN : loss, tokens: batch.length };
    },
    ...(o.valid ? {
      // held out: distance to target 0 (the data pulls x toward the mean of all targets)
      evaluate: () => ({ loss: x.value.f32().reduce((a, v, j) => a + (v - targets[0][j]) ** 2, 0) }),
    } : {}),
  };
  return method;
}

const base = (o: Partial<LoopOptions> = {}): LoopOptions => ({
  what: 'toy training', steps: 12, data: { size: 10, batchSize: 4, order: 'shuffle' }, lr: 0.1,
  identity: { model, settings: { kind: 'toy' }, data: 'd0' }, ...o,
});

// Plain JS: the data order, AdamW / SGD, clipping and the schedule, in f64.
function reference(o: LoopOptions, orderOf: (step: number) => number[]) {
  const x = Float64Array.from(x0);
  const m = new Float64Array(n), v = new Float64Array(n), buf = new Float64Array(n);
  const opt = o.optimizer ?? {};
  const losses: number[] = [];
  for (let s = 0; s < o.steps; s++) {
    const batch = orderOf(s);
    const g = new Float64Array(n);
    let loss = 0;
    for (const b of batch) for (let j = 0; j < n; j++) { const d = x[j] - targets[b][j]; loss += 0.5 * d * d / batch.length; g[j] += d / batch.length; }
    losses.push(loss);
    const norm = Math.sqrt(g.reduce((a, e) => a + e * e, 0));
    const clip = o.clip ?? 1;
    if (clip > 0 && norm > clip) for (let j = 0; j < n; j++) g[j] *= clip / (norm + 1e-6);
    const lr = learningRate(s, { lr: o.lr, warmup: o.warmup, totalSteps: o.steps, schedule: o.schedule });
    if (opt.type === 'sgd') {
      const mom = opt.momentum ?? 0, wd = opt.weightDecay ?? 0;
      for (let j = 0; j < n; j++) { buf[j] = mom * buf[j] + g[j]; x[j] = x[j] * (1 - lr * wd) - lr * (mom ? buf[j] : g[j]); }
    } else {
      const b1 = opt.beta1 ?? 0.9, b2 = opt.beta2 ?? 0.999, wd = opt.weightDecay ?? 0, t = s + 1;
      for (let j = 0; j < n; j++) {
        m[j] = b1 * m[j] + (1 - b1) * g[j];
        v[j] = b2 * v[j] + (1 - b2) * g[j] * g[j];
        x[j] = x[j] * (1 - lr * wd) - (lr / (1 - b1 ** t)) * m[j] / (Math.sqrt(v[j]) / Math.sqrt(1 - b2 ** t) + 1e-8);
      }
    }
  }
  return { x, losses };
}

const shuffled = (o: LoopOptions) => (s: number) => {
  const per = Math.ceil(o.data.size / o.data.batchSize);
  return epochOrder(o.data.size, o.seed ?? 0, Math.floor(s / per)).slice((s % per) * o.data.batchSize, (s % per + 1) * o.data.batchSize);
};

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i]), `element ${i}: ${a[i]} vs ${b[i]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(b[i])));
};

const rejects = async (p: Promise<unknown>, code: string): Promise<Error> => {
  const e = await p.then(() => null, (x) => x);
  expect(isPromptkilnError(e, code as never), String(e)).toBe(true);
  return e as Error;
};

describe('train/ loop', () => {
  it('AdamW with weight decay, warm-up, cosine decay and clipping follows the JS reference step by step', async () => {
    const k = await kernels();
    const o = base({ optimizer: { type: 'adamw', beta1: 0.8, beta2: 0.99, weightDecay: 0.05 }, warmup: 3, schedule: 'cosine', clip: 0.5 });
    const t = toy(k);
    const r = await train(k, t, o);
    const ref = reference(o, shuffled(o));
    close(t.x.value.f32(), ref.x, 2e-5);
    close(r.history.map((h) => h.loss!), ref.losses, 2e-5);
    expect(r.history.map((h) => h.lr)).toEqual(Array.from({ length: 12 }, (_, s) => learningRate(s, { lr: 0.1, warmup: 3, totalSteps: 12, schedule: 'cosine' })));
    // every epoch visits every example once, in a seed-dependent order
    expect(t.seen.slice(0, 3).flat().sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(t.seen.slice(0, 3)).not.toEqual(t.seen.slice(3, 6));
    t.x.value.free();
  });

  it('SGD with momentum and linear decay follows the JS reference; cycle order walks the data in turn', async () => {
    const k = await kernels();
    const o = base({ optimizer: { type: 'sgd', momentum: 0.9, weightDecay: 0.01 }, schedule: 'linear', clip: 0, data: { size: 10, batchSize: 3, order: 'cycle' } });
    const t = toy(k);
    await train(k, t, o);
    const ref = reference(o, (s) => [0, 1, 2].map((i) => (s * 3 + i) % 10));
    close(t.x.value.f32(), ref.x, 2e-5);
    expect(t.seen.slice(0, 4)).toEqual([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 0, 1]]);
  });

  it('resumes bit for bit from every checkpoint, through the file encoding', async () => {
    const k = await kernels();
    const o = base({ steps: 9, warmup: 2, schedule: 'cosine', optimizer: { type: 'adamw', weightDecay: 0.01 }, checkpointEvery: 2, evalEvery: 2 });
    const saved: TrainCheckpoint[] = [];
    const full = toy(k, { valid: true });
    const r = await train(k, full, { ...o, onCheckpoint: (c) => { saved.push(decodeCheckpoint(encodeCheckpoint(c))); } });
    expect(saved.map((c) => c.step)).toEqual([2, 4, 6, 8, 9]);
    const strip = (h: typeof r.history) => h.map(({ tokensPerSec: _t, ...rest }) => rest);
    for (const c of saved.slice(0, -1)) {
      const again = toy(k, { valid: true });
      const r2 = await train(k, again, { ...o, resume: c });
      expect(Array.from(again.x.value.f32())).toEqual(Array.from(full.x.value.f32()));
      expect(strip(r2.history)).toEqual(strip(r.history));
      expect(r2.bestStep).toBe(r.bestStep);
      expect(r2.before).toEqual(r.before); // the start's evaluation survives the resume
      expect(again.seen).toEqual(full.seen.slice(c.step)); // the data order continues, not restarts
    }
    // SGD's momentum buffer is checkpointed too
    const os = { ...o, evalEvery: undefined, optimizer: { type: 'sgd' as const, momentum: 0.9 } }; // toy() without evaluations
    const sgdSaved: TrainCheckpoint[] = [];
    const s1 = toy(k);
    await train(k, s1, { ...os, onCheckpoint: (c) => { sgdSaved.push(decodeCheckpoint(encodeCheckpoint(c))); } });
    const s2 = toy(k);
    await train(k, s2, { ...os, resume: sgdSaved[1] });
    expect(Array.from(s2.x.value.f32())).toEqual(Array.from(s1.x.value.f32()));
  });

  it('a checkpoint of another run is refused with DATA naming what differs: every loop setting, the method settings, the data, the model', async () => {
    const k = await kernels();
    const o = base({ checkpointEvery: 4 });
    let c: TrainCheckpoint | null = null;
    await train(k, toy(k), { ...o, onCheckpoint: (x) => { c ??= x; } });
    const changes: [Partial<LoopOptions>, RegExp][] = [
      [{ lr: 0.2 }, /lr 0\.1 vs 0\.2/],
      [{ steps: 13 }, /steps 12 vs 13/],
      [{ warmup: 1 }, /warmup 0 vs 1/],
      [{ schedule: 'linear' }, /schedule "constant" vs "linear"/],
      [{ clip: 2 }, /clip 1 vs 2/],
      [{ seed: 5 }, /seed 0 vs 5/],
      [{ data: { size: 10, batchSize: 5, order: 'shuffle' } }, /batchSize 4 vs 5/],
      [{ data: { size: 10, batchSize: 4, order: 'cycle' } }, /order "shuffle" vs "cycle"/],
      [{ optimizer: { type: 'adamw', beta2: 0.99 } }, /optimizer/],
      [{ optimizer: { type: 'sgd' } }, /optimizer/],
      // early stopping needs evaluations: this run's method has them, the checkpointed one had none
      [{ earlyStopping: { patience: 2 } }, /evalEvery null vs 3; earlyStopping null vs/],
      [{ identity: { model, settings: { kind: 'other' }, data: 'd0' } }, /kind "toy" vs "other"/],
      [{ identity: { model, settings: { kind: 'toy' }, data: 'd1' } }, /data d0 vs d1/],
      [{ identity: { model: { ...model, dim: 8 }, settings: { kind: 'toy' }, data: 'd0' } }, /model .*"dim":7.* vs .*"dim":8/],
    ];
    for (const [change, msg] of changes) {
      const e = await rejects(train(k, toy(k, { valid: change.earlyStopping !== undefined }), { ...o, ...change, resume: c, resumeFile: 'state.safetensors' }), 'DATA');
      expect(e.message).toMatch(/^state\.safetensors: the checkpoint was made with other settings/);
      expect(e.message).toMatch(msg);
    }
  });

  it('a NaN loss stops before the update, naming the step and the last good checkpoint', async () => {
    const k = await kernels();
    const t = toy(k, { nanAt: 5 });
    const steps: number[] = [];
    const e = await rejects(train(k, t, base({ checkpointEvery: 2, onCheckpoint: (c) => { steps.push(c.step); } })), 'NAN');
    expect(e.message).toMatch(/toy training: training loss is NaN at step 6; .*last good checkpoint \(step 4\)/);
    expect(steps).toEqual([2, 4]);
    // x is what step 5 left: the same as a clean run stopped after 5 steps
    const five = toy(k);
    const ac = new AbortController();
    await rejects(train(k, five, { ...base(), signal: ac.signal, onProgress: (p) => { if (p.step === 5) ac.abort(); } }), 'ABORTED');
    expect(Array.from(t.x.value.f32())).toEqual(Array.from(five.x.value.f32()));
    // a NaN gradient (finite loss) is refused by the optimizer before it touches x
    const g = toy(k);
    const inner = g.step.bind(g);
    g.step = (b, s) => { const r = inner(b, s) as { loss: number }; if (s === 2) g.x.grad.f32()[3] = Infinity; return r; };
    const e2 = await rejects(train(k, g, base()), 'NAN');
    expect(e2.message).toMatch(/gradient of x is NaN or Inf at step 3/);
  });

  it('abort lands between steps; a run that never returns to the caller still yields to timers', async () => {
    const k = await kernels();
    const ac = new AbortController();
    const t = toy(k);
    await rejects(train(k, t, { ...base(), signal: ac.signal, onProgress: (p) => { if (p.step === 3) ac.abort(); } }), 'ABORTED');
    expect(t.seen).toHaveLength(3);
    // an abort from a timer can only land if the loop gives the event loop a turn (every YIELD_MS):
    // without that, these steps would all run and the run would end normally
    const ac2 = new AbortController();
    setTimeout(() => ac2.abort(), 0);
    const long = toy(k);
    await rejects(train(k, long, { ...base(), steps: 200_000, signal: ac2.signal }), 'ABORTED');
    expect(long.seen.length).toBeLessThan(200_000);
  });

  it('evaluation: before/after, early stopping on patience, the best params returned', async () => {
    const k = await kernels();
    // lr high and targets spread: the held-out loss (distance to target 0) rises after a few steps
    const t = toy(k, { valid: true });
    const r = await train(k, t, base({ steps: 40, lr: 0.5, evalEvery: 1, earlyStopping: { patience: 3 } }));
    const evals = r.history.filter((h) => h.validLoss !== undefined);
    expect(r.before!.loss).toBe(evals[0].validLoss);
    expect(r.stoppedEarly).toBe(true);
    expect(r.steps).toBeLessThan(40);
    const best = Math.min(...evals.map((h) => h.validLoss!));
    expect(r.bestStep).toBe(evals.find((h) => h.validLoss === best)!.step);
    expect(r.after!.loss).toBe(best); // the params in place are the best ones, not the last
    expect(r.steps - r.bestStep!).toBe(3);
  });

  it('bad loop settings are ARGUMENT errors', async () => {
    const k = await kernels();
    await rejects(train(k, toy(k), base({ lr: 0 })), 'ARGUMENT');
    await rejects(train(k, toy(k), base({ steps: 2.5 })), 'ARGUMENT');
    await rejects(train(k, toy(k), base({ clip: -1 })), 'ARGUMENT');
    await rejects(train(k, toy(k), base({ warmup: -2 })), 'ARGUMENT');
    await rejects(train(k, toy(k), base({ data: { size: 10, batchSize: 0, order: 'cycle' } })), 'ARGUMENT');
    await rejects(train(k, toy(k), base({ optimizer: { type: 'lion' } as never })), 'ARGUMENT');
    await rejects(train(k, toy(k), base({ data: { size: 10, batchSize: 4, order: 'random' as never } })), 'ARGUMENT');
    // they act on evaluations: a run without a validation set refuses them rather than ignore them
    expect((await rejects(train(k, toy(k), base({ evalEvery: 2 })), 'ARGUMENT')).message).toMatch(/toy training: evalEvery 2 needs a validation set/);
    expect((await rejects(train(k, toy(k), base({ earlyStopping: { patience: 2 } })), 'ARGUMENT')).message).toMatch(/earlyStopping \{"patience":2\} needs a validation set/);
    await train(k, toy(k, { valid: true }), base({ evalEvery: 2, earlyStopping: { patience: 2 } }));
  });
});
