// Activation kernels against f64 references, forward and backward.
import { describe, expect, it } from 'vitest';
import { BUILDS, ODD_SIZES, expectClose, kernels, zeros } from './harness.js';
import * as ref from './reference.js';

const SIZES = [...ODD_SIZES, 768, 3072 + 3];

// Inputs over the range a transformer MLP sees, plus the tails where exp over/underflows.
function inputs(rng: ref.Rng, n: number): Float32Array {
  const x = rng.f32(n, 3);
  const edges = [0, -0, 1e-8, -1e-8, 20, -20, 50, -50, 100, -100, 89, -89];
  for (let i = 0; i < Math.min(n, edges.length); i++) x[(i * 7) % n] = edges[i];
  return x;
}

describe.each(BUILDS)('activations (%s build)', (build) => {
  it('gelu / silu / tanh forward match the f64 reference', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(11);
    for (const n of SIZES) {
      k.heap.scope(() => {
        const x = inputs(rng, n), X = k.from(x), out = k.alloc(n);
        k.gelu(out, X);
        expectClose(out.f32(), ref.map(x, ref.gelu), { abs: 2e-7, rel: 2e-6 }, `gelu n=${n}`);
        k.silu(out, X);
        expectClose(out.f32(), ref.map(x, ref.silu), { abs: 2e-7, rel: 2e-6 }, `silu n=${n}`);
        k.tanh(out, X);
        expectClose(out.f32(), ref.map(x, Math.tanh), { abs: 2e-7, rel: 2e-6 }, `tanh n=${n}`);
        expect(out.f32().every(Number.isFinite)).toBe(true);
      });
    }
  });

  it('swiglu forward matches silu(a)·b', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(12);
    for (const n of SIZES) {
      k.heap.scope(() => {
        const a = inputs(rng, n), b = rng.f32(n), out = k.alloc(n);
        k.swiglu(out, k.from(a), k.from(b));
        expectClose(out.f32(), Float64Array.from(a, (v, i) => ref.silu(v) * b[i]), { abs: 2e-7, rel: 2e-6 }, `swiglu n=${n}`);
      });
    }
  });

  it('backward kernels match the f64 derivatives and accumulate', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(13);
    for (const n of SIZES) {
      k.heap.scope(() => {
        const x = inputs(rng, n), dy = rng.f32(n), prior = rng.f32(n);
        const X = k.from(x), Dy = k.from(dy);
        const tol = { abs: 1e-6, rel: 1e-5 };
        let d = k.from(prior);
        k.geluBackward(d, X, Dy);
        expectClose(d.f32(), Float64Array.from(x, (v, i) => prior[i] + ref.geluGrad(v) * dy[i]), tol, `gelu' n=${n}`);
        d = k.from(prior);
        k.siluBackward(d, X, Dy);
        expectClose(d.f32(), Float64Array.from(x, (v, i) => prior[i] + ref.siluGrad(v) * dy[i]), tol, `silu' n=${n}`);
        // tanh's backward reads the saved output
        const Y = k.alloc(n);
        k.tanh(Y, X);
        const y = Y.f32().slice();
        d = k.from(prior);
        k.tanhBackward(d, Y, Dy);
        expectClose(d.f32(), Float64Array.from(y, (v, i) => prior[i] + ref.tanhGrad(v) * dy[i]), tol, `tanh' n=${n}`);

        const b = rng.f32(n), pb = rng.f32(n);
        const da = k.from(prior), db = k.from(pb);
        k.swigluBackward(da, db, Dy, X, k.from(b));
        expectClose(da.f32(), Float64Array.from(x, (v, i) => prior[i] + dy[i] * b[i] * ref.siluGrad(v)), tol, `swiglu da n=${n}`);
        expectClose(db.f32(), Float64Array.from(x, (v, i) => pb[i] + dy[i] * ref.silu(v)), tol, `swiglu db n=${n}`);
      });
    }
  });

  it('backward kernels agree with finite differences of the f64 forward', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(14);
    const n = 17;
    k.heap.scope(() => {
      const x = rng.f32(n, 2), b = rng.f32(n), dy = rng.f32(n);
      const X = k.from(x), Dy = k.from(dy);
      const tol = { abs: 3e-5, rel: 1e-3 };
      const fd = (f: (v: number, i: number) => number, at: Float32Array) =>
        ref.fdGrad((xx) => ref.dotArr(dy, Array.from(xx, f)), at);
      let d = zeros(k, n);
      k.geluBackward(d, X, Dy);
      expectClose(d.f32(), fd(ref.gelu, x), tol, 'gelu FD');
      d = zeros(k, n);
      k.siluBackward(d, X, Dy);
      expectClose(d.f32(), fd(ref.silu, x), tol, 'silu FD');
      const Y = k.alloc(n);
      k.tanh(Y, X);
      d = zeros(k, n);
      k.tanhBackward(d, Y, Dy);
      expectClose(d.f32(), fd(Math.tanh, x), tol, 'tanh FD');
      const da = zeros(k, n), db = zeros(k, n);
      k.swigluBackward(da, db, Dy, X, k.from(b));
      expectClose(da.f32(), fd((v, i) => ref.silu(v) * b[i], x), tol, 'swiglu da FD');
      expectClose(db.f32(), fd((v, i) => ref.silu(x[i]) * v, b), tol, 'swiglu db FD');
    });
  });

  it('a too-small tensor is a SHAPE error', async () => {
    const k = await kernels(build);
    k.heap.scope(() => {
      expect(() => k.gelu(k.alloc(4), k.alloc(5))).toThrow(/gelu: out holds 4 elements, the shape needs 5/);
      expect(() => k.swigluBackward(k.alloc(5), k.alloc(4), k.alloc(5), k.alloc(5), k.alloc(5))).toThrow(/db holds 4/);
    });
  });
});
