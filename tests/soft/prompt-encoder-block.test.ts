// The prompt encoder's transformer block on tiny shapes: every trainable tensor's gradient (and the
// input's) against central differences of L = Σ y·w, the forward through the kernels.
import { describe, expect, it } from 'vitest';
import { init } from '../../src/kernels/index.js';
import { rng } from '../../src/model/sampling.js';
import { EncoderBlock } from '../../src/soft/prompt-encoder-block.js';

describe('EncoderBlock', () => {
  it('gradients of every param and of x match central differences', async () => {
    const k = await init({ build: 'simd' });
    const T = 5, C = 8;
    const block = new EncoderBlock(k, 'enc0', { C, H: 2, hidden: 12 }, 3);
    const u = rng(11);
    // norms off (1, 0) and biases nonzero, so their gradients are exercised at a generic point
    for (const p of block.params) if (/bias|ln/.test(p.name) || p.name.endsWith(' b1') || p.name.endsWith(' b2')) p.value.f32().forEach((_, i, a) => { a[i] += (2 * u() - 1) * 0.5; });
    const xv = Float32Array.from({ length: T * C }, () => 2 * u() - 1), w = Float32Array.from({ length: T * C }, () => 2 * u() - 1);
    const x = k.alloc(T * C, 'x', false).set(xv);
    const loss = () => k.heap.scope(() => { const y = block.forward(x, T).y.f32(); let s = 0; for (let i = 0; i < y.length; i++) s += y[i] * w[i]; return s; });
    for (const p of block.params) k.zero(p.grad);
    const dx = k.alloc(T * C, 'dx', false);
    k.zero(dx);
    k.heap.scope(() => block.backward(block.forward(x, T), k.from(w), dx));
    const targets = [...block.params.map((p) => ({ name: p.name, value: p.value, grad: p.grad.f32().slice() })), { name: 'x', value: x, grad: dx.f32().slice() }];
    expect(targets.length).toBe(16);
    const h = 1e-2;
    for (const t of targets) {
      const scale = Math.max(...Array.from(t.grad, Math.abs));
      expect(scale, `${t.name} gradient is not all zero`).toBeGreaterThan(0);
      for (let i = 0; i < t.value.n; i++) {
        const v = t.value.f32(), x0 = v[i];
        v[i] = x0 + h; const up = loss();
        v[i] = x0 - h; const dn = loss();
        v[i] = x0;
        const fd = (up - dn) / (2 * h);
        expect(Math.abs(fd - t.grad[i]), `${t.name}[${i}]: analytic ${t.grad[i]} vs finite difference ${fd}`).toBeLessThanOrEqual(2e-3 * scale + 1e-2 * Math.abs(fd));
      }
    }
    block.free(); x.free(); dx.free();
  });
});
