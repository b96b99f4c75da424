// Finite differences of a tuning method's loss against its analytic gradients (shared by the
// soft-prompt gradient tests).
import { expect } from 'vitest';
import { rng } from '../../src/model/sampling.js';
import { batchTargets, type TuningMethod } from '../../src/soft/method.js';
import type { LaidExample } from '../../src/soft/mixed.js';

// mean NLL of the batch's targets, and its gradient in every param
export function lossAndGrad(m: TuningMethod<unknown>, batch: LaidExample[]): number {
  for (const p of m.params) p.grad.f32().fill(0);
  const st = m.forward(batch, true);
  const { rows, targets } = batchTargets(batch);
  const { sum } = st.nll(rows, targets, 1 / rows.length, true);
  m.backward(st, batch);
  return sum / rows.length;
}
export function loss(m: TuningMethod<unknown>, batch: LaidExample[]): number {
  const st = m.forward(batch, false);
  const { rows, targets } = batchTargets(batch);
  return st.nll(rows, targets, 1, false).sum / rows.length;
}

// Central differences in f32: the step h = 1e-2 keeps the rounding noise of a loss of a few
// nats (≈ 5e-7 / h = 5e-5) and the O(h²) truncation both below 1e-3 of the gradient scale.
// step: h per param name (smaller for params before a ReLU, where a wide step crosses kinks).
export function checkParams(m: TuningMethod<unknown>, batch: LaidExample[], perParam = 6, step: (name: string) => number = () => 1e-2): void {
  lossAndGrad(m, batch);
  const grads = m.params.map((p) => p.grad.f32().slice());
  const r = rng(7);
  m.params.forEach((p, pi) => {
    const h = step(p.name);
    const scale = Math.max(...Array.from(grads[pi], Math.abs));
    expect(scale, `${p.name} gradient is not all zero`).toBeGreaterThan(0);
    // the largest element plus random ones
    const idx = [grads[pi].indexOf(grads[pi].reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a), 0))];
    for (let i = 0; i < perParam; i++) idx.push(Math.floor(r() * p.value.n));
    for (const i of idx) {
      const x = p.value.f32()[i];
      p.value.f32()[i] = x + h;
      const up = loss(m, batch);
      p.value.f32()[i] = x - h;
      const down = loss(m, batch);
      p.value.f32()[i] = x;
      const fd = (up - down) / (2 * h);
      expect(Math.abs(fd - grads[pi][i]), `${p.name}[${i}]: analytic ${grads[pi][i]} vs finite difference ${fd}`)
        .toBeLessThanOrEqual(2e-3 * scale + 1e-2 * Math.abs(fd));
    }
  });
}
