// RMSNorm and LayerNorm kernels against f64 references, forward and backward.
import { describe, expect, it } from 'vitest';
import { PromptkilnError } from '../../src/errors.js';
import { BUILDS, ODD_SIZES, expectClose, kernels } from './harness.js';
import * as ref from './reference.js';

const EPS = 1e-5;
const SHAPES: [number, number][] = [...ODD_SIZES.map((c, i) => [1 + (i % 3), c] as [number, number]), [4, 768], [2, 64]];

describe.each(BUILDS)('norms (%s build)', (build) => {
  it('rmsnorm forward matches the f64 reference', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(1);
    for (const [N, C] of SHAPES) {
      k.heap.scope(() => {
        const x = rng.f32(N * C, 2, 0.3), w = rng.f32(C, 0.5, 1);
        const out = k.alloc(N * C), rstd = k.alloc(N);
        k.rmsnorm(out, rstd, k.from(x), k.from(w), N, C, EPS);
        const r = ref.rmsnormFwd(x, w, N, C, EPS);
        expectClose(out.f32(), r.out, { abs: 1e-5, rel: 1e-5 }, `rmsnorm out N=${N} C=${C}`);
        expectClose(rstd.f32(), r.rstd, { abs: 0, rel: 1e-5 }, `rmsnorm rstd N=${N} C=${C}`);
        // rstd may be omitted (inference)
        const out2 = k.alloc(N * C);
        k.rmsnorm(out2, null, k.from(x), k.from(w), N, C, EPS);
        expect(Array.from(out2.f32())).toEqual(Array.from(out.f32()));
      });
    }
  });

  it('rmsnorm backward matches the f64 reference and accumulates', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(2);
    for (const [N, C] of SHAPES) {
      k.heap.scope(() => {
        const x = rng.f32(N * C, 1.5), w = rng.f32(C, 0.5, 1), dy = rng.f32(N * C);
        const X = k.from(x), W = k.from(w), rstd = k.alloc(N);
        k.rmsnorm(k.alloc(N * C), rstd, X, W, N, C, EPS);
        const prior = rng.f32(N * C);
        const dx = k.from(prior);
        k.rmsnormBackward(dx, k.from(dy), X, W, rstd, N, C);
        const want = ref.rmsnormBwd(dy, x, w, N, C, EPS).map((g, i) => g + prior[i]);
        expectClose(dx.f32(), want, { abs: 2e-5, rel: 1e-4 }, `rmsnorm dx N=${N} C=${C}`);
      });
    }
  });

  it('layernorm forward matches the f64 reference', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(3);
    for (const [N, C] of SHAPES) {
      k.heap.scope(() => {
        // an offset mean: the two-pass variance must not cancel
        const x = rng.f32(N * C, 2, 5), w = rng.f32(C, 0.5, 1), b = rng.f32(C, 0.2);
        const out = k.alloc(N * C), mean = k.alloc(N), rstd = k.alloc(N);
        k.layernorm(out, mean, rstd, k.from(x), k.from(w), k.from(b), N, C, EPS);
        const r = ref.layernormFwd(x, w, b, N, C, EPS);
        expectClose(out.f32(), r.out, { abs: 2e-5, rel: 1e-5 }, `layernorm out N=${N} C=${C}`);
        expectClose(mean.f32(), r.mean, { abs: 1e-6, rel: 1e-6 }, `layernorm mean N=${N} C=${C}`);
        // C = 1: variance 0, rstd = 1/√eps ≈ 316; f32 rounding of x − mean makes it a little noisier
        expectClose(rstd.f32(), r.rstd, { abs: 0, rel: C === 1 ? 1e-4 : 1e-5 }, `layernorm rstd N=${N} C=${C}`);
      });
    }
  });

  it('layernorm backward matches the f64 reference and accumulates', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(4);
    for (const [N, C] of SHAPES) {
      if (C === 1) continue; // the output is the constant b: the gradient is 0 up to rounding of 1/√eps
      k.heap.scope(() => {
        const x = rng.f32(N * C, 1.5, 1), w = rng.f32(C, 0.5, 1), b = rng.f32(C, 0.2), dy = rng.f32(N * C);
        const X = k.from(x), W = k.from(w), mean = k.alloc(N), rstd = k.alloc(N);
        k.layernorm(k.alloc(N * C), mean, rstd, X, W, k.from(b), N, C, EPS);
        const prior = rng.f32(N * C);
        const dx = k.from(prior);
        k.layernormBackward(dx, k.from(dy), X, W, mean, rstd, N, C);
        const want = ref.layernormBwd(dy, x, w, N, C, EPS).map((g, i) => g + prior[i]);
        expectClose(dx.f32(), want, { abs: 2e-5, rel: 1e-4 }, `layernorm dx N=${N} C=${C}`);
      });
    }
  });

  it('backward kernels agree with finite differences of the f64 forward', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(5);
    for (const [N, C] of [[1, 5], [2, 7], [3, 13]] as const) {
      k.heap.scope(() => {
        const x = rng.f32(N * C, 1.5, 0.5), w = rng.f32(C, 0.5, 1), b = rng.f32(C), dy = rng.f32(N * C);
        const X = k.from(x), W = k.from(w), Dy = k.from(dy);
        const rstd = k.alloc(N), mean = k.alloc(N);
        k.rmsnorm(k.alloc(N * C), rstd, X, W, N, C, EPS);
        const dxr = k.alloc(N * C);
        k.zero(dxr); // backward accumulates; alloc does not clear reused memory
        k.rmsnormBackward(dxr, Dy, X, W, rstd, N, C);
        const fdr = ref.fdGrad((xx) => ref.dotArr(dy, ref.rmsnormFwd(xx, w, N, C, EPS).out), x);
        expectClose(dxr.f32(), fdr, { abs: 3e-5, rel: 1e-3 }, `rmsnorm dx vs FD N=${N} C=${C}`);

        k.layernorm(k.alloc(N * C), mean, rstd, X, W, k.from(b), N, C, EPS);
        const dxl = k.alloc(N * C);
        k.zero(dxl);
        k.layernormBackward(dxl, Dy, X, W, mean, rstd, N, C);
        const fdl = ref.fdGrad((xx) => ref.dotArr(dy, ref.layernormFwd(xx, w, b, N, C, EPS).out), x);
        expectClose(dxl.f32(), fdl, { abs: 3e-5, rel: 1e-3 }, `layernorm dx vs FD N=${N} C=${C}`);
      });
    }
  });

  it('a too-small tensor is a SHAPE error, not an out-of-bounds write', async () => {
    const k = await kernels(build);
    k.heap.scope(() => {
      const x = k.alloc(2 * 8), w = k.alloc(8);
      expect(() => k.rmsnorm(k.alloc(15), null, x, w, 2, 8, EPS)).toThrow(PromptkilnError);
      try {
        k.layernorm(k.alloc(16), null, k.alloc(1), x, w, k.alloc(8), 2, 8, EPS);
        expect.unreachable();
      } catch (e) {
        expect((e as PromptkilnError).code).toBe('SHAPE');
        expect((e as Error).message).toMatch(/rstd holds 1 elements, the shape needs 2/);
      }
      expect(() => k.rmsnormBackward(k.alloc(16), k.alloc(16), x, k.alloc(7), k.alloc(2), 2, 8)).toThrow(/w holds 7/);
    });
  });
});
