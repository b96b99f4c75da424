// Elementwise helper and optimizer kernels against references (AdamW as in PyTorch).
import { describe, expect, it } from 'vitest';
import { BUILDS, ODD_SIZES, expectClose, kernels } from './harness.js';
import * as ref from './reference.js';

const SIZES = [...ODD_SIZES, 4096 + 5, 10007];

describe.each(BUILDS)('elementwise helpers (%s build)', (build) => {
  it('add / scale / axpy / sumsq / copy / zero match the reference', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(31);
    for (const n of SIZES) {
      k.heap.scope(() => {
        const a = rng.f32(n), b = rng.f32(n);
        const A = k.from(a), B = k.from(b), out = k.alloc(n);
        k.add(out, A, B);
        expectClose(out.f32(), ref.add(a, b), { abs: 0, rel: 1e-7 }, `add n=${n}`);
        k.add(A, A, B); // residual: out aliases a
        expectClose(A.f32(), ref.add(a, b), { abs: 0, rel: 1e-7 }, `add in place n=${n}`);
        k.copy(A, k.from(a));
        k.scale(A, -0.37);
        expectClose(A.f32(), ref.scale(a, Math.fround(-0.37)), { abs: 0, rel: 1e-7 }, `scale n=${n}`);
        k.copy(A, k.from(a));
        k.axpy(A, B, 1.7);
        expectClose(A.f32(), ref.axpy(a, b, Math.fround(1.7)), { abs: 1e-7, rel: 1e-6 }, `axpy n=${n}`);
        expectClose([k.sumsq(B)], [ref.sumsq(b)], { abs: 0, rel: 2e-6 }, `sumsq n=${n}`);
        k.zero(A);
        expect(A.f32().every((v) => v === 0)).toBe(true);
      });
    }
  });

  it('nonfinite finds a NaN or ±Inf at any position, including the scalar tail', async () => {
    const k = await kernels(build);
    for (const n of [1, 5, 13, 100]) {
      k.heap.scope(() => {
        const X = k.from(new Float32Array(n).fill(1.5));
        expect(k.nonfinite(X)).toBe(false);
        for (const bad of [NaN, Infinity, -Infinity]) {
          for (const at of [0, n >> 1, n - 1]) {
            X.f32()[at] = bad;
            expect(k.nonfinite(X), `n=${n} ${bad} at ${at}`).toBe(true);
            X.f32()[at] = 1.5;
          }
        }
        expect(k.nonfinite(X)).toBe(false);
        // a huge finite value is finite
        X.f32()[0] = 3.4e38;
        expect(k.nonfinite(X)).toBe(false);
      });
    }
  });
});

describe.each(BUILDS)('optimizers (%s build)', (build) => {
  it('adamw: three steps follow the PyTorch formula (bias correction), with and without decay', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(32);
    for (const n of [1, 7, 33, 1000]) {
      for (const weightDecay of [0, 0.1]) {
        k.heap.scope(() => {
          const o = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay, step: 1 };
          // f32 hyper-parameters: that is what the kernel receives
          const of = { ...o, lr: Math.fround(o.lr), beta1: Math.fround(o.beta1), beta2: Math.fround(o.beta2), eps: Math.fround(o.eps), weightDecay: Math.fround(weightDecay) };
          const p0 = rng.f32(n);
          const Pt = k.from(p0), M = k.from(new Float32Array(n)), V = k.from(new Float32Array(n));
          let want = { p: Float64Array.from(p0), m: new Float64Array(n), v: new Float64Array(n) };
          for (let step = 1; step <= 3; step++) {
            // gradients spanning tiny to large, as real soft-prompt gradients do
            const g = rng.f32(n, 10 ** rng.uniform(-4, 0));
            k.adamw(Pt, k.from(g), M, V, { ...o, step });
            want = ref.adamw(want.p, g, want.m, want.v, { ...of, step });
            expectClose(Pt.f32(), want.p, { abs: 1e-6, rel: 1e-6 }, `adamw p n=${n} wd=${weightDecay} step=${step}`);
            expectClose(M.f32(), want.m, { abs: 1e-9, rel: 1e-5 }, `adamw m step=${step}`);
            expectClose(V.f32(), want.v, { abs: 1e-12, rel: 1e-5 }, `adamw v step=${step}`);
          }
        });
      }
    }
  });

  it('adamw step 1 moves every parameter by ≈ lr·sign(g) (Adam with bias correction)', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(33);
    k.heap.scope(() => {
      const n = 37, g = rng.f32(n, 1e-3), p = rng.f32(n);
      const P = k.from(p);
      k.adamw(P, k.from(g), k.from(new Float32Array(n)), k.from(new Float32Array(n)), { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step: 1 });
      expectClose(P.f32(), Float64Array.from(p, (v, i) => v - 0.01 * Math.sign(g[i])), { abs: 2e-6 }, 'first Adam step');
    });
  });

  it('sgd with and without momentum and decay matches the reference', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(34);
    for (const n of [1, 13, 100]) {
      for (const [momentum, weightDecay] of [[0, 0], [0.9, 0], [0.9, 0.01]]) {
        k.heap.scope(() => {
          const p0 = rng.f32(n);
          const Pt = k.from(p0), Buf = momentum ? k.from(new Float32Array(n)) : null;
          let want = { p: Float64Array.from(p0), buf: momentum ? new Float64Array(n) : null } as { p: Float64Array; buf: Float64Array | null };
          for (let step = 0; step < 3; step++) {
            const g = rng.f32(n);
            k.sgd(Pt, k.from(g), Buf, { lr: 0.1, momentum, weightDecay });
            want = ref.sgd(want.p, g, want.buf, { lr: Math.fround(0.1), momentum: Math.fround(momentum), weightDecay: Math.fround(weightDecay) });
            expectClose(Pt.f32(), want.p, { abs: 1e-6, rel: 1e-6 }, `sgd n=${n} mom=${momentum} wd=${weightDecay}`);
          }
        });
      }
    }
  });

  it('rejects step 0 (ARGUMENT) and short state tensors (SHAPE)', async () => {
    const k = await kernels(build);
    k.heap.scope(() => {
      const o = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step: 0 };
      const t = () => k.alloc(8);
      expect(() => k.adamw(t(), t(), t(), t(), o)).toThrow(expect.objectContaining({ code: 'ARGUMENT' }));
      expect(() => k.adamw(t(), t(), t(), k.alloc(7), { ...o, step: 1 })).toThrow(expect.objectContaining({ code: 'SHAPE' }));
      expect(() => k.sgd(t(), k.alloc(3), null, { lr: 1 })).toThrow(/g holds 3/);
    });
  });
});
