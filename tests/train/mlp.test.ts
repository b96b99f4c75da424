// train/'s MLP pair (prefix reparameterization: tanh; RL policy: gelu): forward against a JS
// reference, backward against central differences of a scalar loss L = Σ y·w, in f64 via the f32 kernels.
import { describe, expect, it } from 'vitest';
import { init } from '../../src/kernels/index.js';
import { Mlp } from '../../src/train/index.js';

const dims = { in: 5, hidden: 6, out: 3 }, N = 4;
const vals = (len: number, s: number) => Float32Array.from({ length: len }, (_, i) => Math.sin(i * 1.7 + s) * 0.8);
const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

for (const act of ['tanh', 'gelu'] as const) {
  describe(`Mlp (${act})`, () => {
    it('forward matches the JS reference; backward matches central differences for W1, b1, W2, b2 and x', async () => {
      const k = await init({ build: 'simd' });
      const init0 = { W1: vals(6 * 5, 1), b1: vals(6, 2), W2: vals(3 * 6, 3), b2: vals(3, 4) };
      const net = new Mlp(k, 'test', dims, act, init0);
      const xv = vals(N * 5, 5), w = vals(N * 3, 6); // x (N, in); loss weights (N, out)
      const x = k.from(xv);
      const f = net.forward(x, N);
      // JS forward
      const yRef = (W1: Float32Array, b1: Float32Array, W2: Float32Array, b2: Float32Array, X: Float32Array) => {
        const y = new Float64Array(N * 3);
        for (let r = 0; r < N; r++) {
          const h = Array.from({ length: 6 }, (_, j) => {
            let a = b1[j];
            for (let i = 0; i < 5; i++) a += X[r * 5 + i] * W1[j * 5 + i];
            return act === 'tanh' ? Math.tanh(a) : gelu(a);
          });
          for (let o = 0; o < 3; o++) { let s = b2[o]; for (let j = 0; j < 6; j++) s += h[j] * W2[o * 6 + j]; y[r * 3 + o] = s; }
        }
        return y;
      };
      const y0 = yRef(init0.W1, init0.b1, init0.W2, init0.b2, xv);
      f.y.f32().forEach((v, i) => expect(Math.abs(v - y0[i])).toBeLessThan(1e-5));
      // backward of L = Σ y·w
      const dx = k.alloc(N * 5);
      k.zero(dx);
      for (const p of net.params) k.zero(p.grad);
      net.backward(f, k.from(w), dx);
      const loss = (W1: Float32Array = init0.W1, b1: Float32Array = init0.b1, W2: Float32Array = init0.W2, b2: Float32Array = init0.b2, X: Float32Array = xv) => yRef(W1, b1, W2, b2, X).reduce((a, v, i) => a + v * w[i], 0);
      const fd = (make: (d: Float32Array) => number, base: Float32Array, i: number) => {
        const up = base.slice(), dn = base.slice();
        up[i] += 1e-3; dn[i] -= 1e-3;
        return (make(up) - make(dn)) / 2e-3;
      };
      const checks: [string, Float32Array, (d: Float32Array) => number, Float32Array][] = [
        ['W1', init0.W1, (d) => loss(d), net.W1.grad.f32()],
        ['b1', init0.b1, (d) => loss(undefined, d), net.b1.grad.f32()],
        ['W2', init0.W2, (d) => loss(undefined, undefined, d), net.W2.grad.f32()],
        ['b2', init0.b2, (d) => loss(undefined, undefined, undefined, d), net.b2.grad.f32()],
        ['x', xv, (d) => loss(undefined, undefined, undefined, undefined, d), dx.f32()],
      ];
      for (const [name, base, make, grad] of checks) {
        for (let i = 0; i < base.length; i++) {
          const want = fd(make, base, i);
          expect(Math.abs(grad[i] - want), `${name}[${i}]: ${grad[i]} vs ${want}`).toBeLessThan(2e-4 + 1e-3 * Math.abs(want));
        }
      }
      net.free();
    });
  });
}
