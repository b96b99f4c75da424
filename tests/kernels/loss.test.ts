// Softmax-family and target log-prob kernels against f64 references.
import { describe, expect, it } from 'vitest';
import { PromptkilnError } from '../../src/errors.js';
import { BUILDS, ODD_SIZES, expectClose, kernels } from './harness.js';
import * as ref from './reference.js';

// (N, V): odd widths, and one GPT-2-vocabulary row
const SHAPES: [number, number][] = [...ODD_SIZES.map((v, i) => [1 + (i % 3), v] as [number, number]), [2, 50257]];

// Logits with a spread like a real LM head's, shifted so the max subtraction matters.
const logits = (rng: ref.Rng, n: number) => rng.f32(n, 4, 30);

describe.each(BUILDS)('softmax family (%s build)', (build) => {
  it('softmax, log-softmax and logsumexp match the f64 reference (in place too)', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(41);
    for (const [N, V] of SHAPES) {
      k.heap.scope(() => {
        const x = logits(rng, N * V), X = k.from(x), out = k.alloc(N * V);
        k.softmax(out, X, N, V);
        expectClose(out.f32(), ref.softmax(x, N, V), { abs: 1e-8, rel: 2e-5 }, `softmax N=${N} V=${V}`);
        k.logSoftmax(out, X, N, V);
        const ls = ref.logSoftmax(x, N, V);
        expectClose(out.f32(), ls, { abs: 2e-5, rel: 1e-6 }, `log_softmax N=${N} V=${V}`);
        expectClose([k.raw.logsumexp(X.ptr, V)], [ref.logsumexp(x, 0, V)], { abs: 1e-5, rel: 1e-6 }, `logsumexp V=${V}`);
        k.logSoftmax(X, X, N, V); // aliasing: out = inp
        expectClose(X.f32(), ls, { abs: 2e-5, rel: 1e-6 }, `log_softmax in place V=${V}`);
        const y = k.from(x);
        k.softmax(y, y, N, V);
        expectClose(y.f32(), ref.softmax(x, N, V), { abs: 1e-8, rel: 2e-5 }, `softmax in place V=${V}`);
      });
    }
  });

  it('masked logits (−Inf) get probability exactly 0', async () => {
    const k = await kernels(build);
    for (const V of [5, 17]) {
      k.heap.scope(() => {
        const x = new Float32Array(V).map((_, i) => (i % 3 === 1 ? -Infinity : i * 0.1));
        const out = k.alloc(V);
        k.softmax(out, k.from(x), 1, V);
        expectClose(out.f32(), ref.softmax(x, 1, V), { abs: 1e-7, rel: 1e-5 }, `masked softmax V=${V}`);
        expect(out.f32().filter((_, i) => i % 3 === 1).every((p) => p === 0)).toBe(true);
      });
    }
  });

  it('target log-probs: per-row values, sum, negative targets give 0', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(42);
    for (const [N, V] of SHAPES) {
      k.heap.scope(() => {
        const x = logits(rng, N * V), t = rng.ints(N, 0, V);
        if (N > 1) t[1] = -1;
        const lp = k.alloc(N);
        const total = k.targetLogprobs(lp, k.from(x), k.ids(t), N, V);
        const want = ref.targetLogprobs(x, t, N, V);
        expectClose(lp.f32(), want, { abs: 2e-5, rel: 1e-6 }, `logp N=${N} V=${V}`);
        expectClose([total], [want.reduce((a, b) => a + b, 0)], { abs: 5e-5, rel: 1e-6 }, `Σ logp V=${V}`);
        expect(k.targetLogprobs(null, k.from(x), k.ids(t), N, V)).toBe(total);
      });
    }
  });

  it('nll backward matches scale·(softmax − onehot), in place too, and finite differences', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(43);
    for (const [N, V] of SHAPES) {
      k.heap.scope(() => {
        const x = logits(rng, N * V), t = rng.ints(N, 0, V);
        if (N > 1) t[N - 1] = -1;
        const sc = 1 / N;
        const d = k.from(rng.f32(N * V)); // writes, does not accumulate
        k.nllBackward(d, k.from(x), k.ids(t), sc, N, V);
        const want = ref.nllBwd(x, t, Math.fround(sc), N, V);
        expectClose(d.f32(), want, { abs: 1e-8, rel: 2e-5 }, `nll_bwd N=${N} V=${V}`);
        const X = k.from(x);
        k.nllBackward(X, X, k.ids(t), sc, N, V);
        expectClose(X.f32(), want, { abs: 1e-8, rel: 2e-5 }, `nll_bwd in place V=${V}`);
      });
    }
    k.heap.scope(() => {
      const N = 3, V = 7, x = rng.f32(N * V, 2), t = Int32Array.from([2, -1, 6]);
      const d = k.alloc(N * V);
      k.nllBackward(d, k.from(x), k.ids(t), 0.5, N, V);
      const fd = ref.fdGrad((xx) => -0.5 * ref.targetLogprobs(xx, t, N, V).reduce((a, b) => a + b, 0), x);
      expectClose(d.f32(), fd, { abs: 3e-5, rel: 1e-3 }, 'nll_bwd vs FD');
    });
  });

  it('KL(P‖Q) forward and backward match the reference and finite differences', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(44);
    for (const [N, V] of SHAPES) {
      k.heap.scope(() => {
        const tl = Float32Array.from(ref.logSoftmax(rng.f32(N * V, 3), N, V));
        if (V > 3) tl[2] = -Infinity; // a teacher token with p = 0 adds nothing
        const s = logits(rng, N * V);
        const kl = k.alloc(N);
        const total = k.kl(kl, k.from(tl), k.from(s), N, V);
        const want = ref.klFwd(tl, s, N, V);
        expectClose(kl.f32(), want, { abs: 5e-5, rel: 1e-5 }, `kl N=${N} V=${V}`);
        expectClose([total], [want.reduce((a, b) => a + b, 0)], { abs: 1e-4, rel: 1e-5 }, `Σ kl V=${V}`);
        const d = k.alloc(N * V);
        k.klBackward(d, k.from(tl), k.from(s), 0.25, N, V);
        const wd = ref.klBwd(tl, s, 0.25, N, V);
        expectClose(d.f32(), wd, { abs: 1e-8, rel: 2e-5 }, `kl_bwd N=${N} V=${V}`);
        const S = k.from(s);
        k.klBackward(S, k.from(tl), S, 0.25, N, V);
        expectClose(S.f32(), wd, { abs: 1e-8, rel: 2e-5 }, `kl_bwd in place V=${V}`);
      });
    }
    k.heap.scope(() => {
      const N = 2, V = 13;
      const tl = Float32Array.from(ref.logSoftmax(rng.f32(N * V, 2), N, V)), s = rng.f32(N * V, 2);
      expect(k.kl(null, k.from(tl), k.from(s), N, V)).toBeGreaterThan(0);
      expectClose([k.kl(null, k.from(tl), k.from(tl), N, V)], [0], { abs: 1e-6 }, 'KL(P‖P) = 0');
      const d = k.alloc(N * V);
      k.klBackward(d, k.from(tl), k.from(s), 1.5, N, V);
      const fd = ref.fdGrad((ss) => 1.5 * ref.klFwd(tl, ss, N, V).reduce((a, b) => a + b, 0), s);
      expectClose(d.f32(), fd, { abs: 3e-5, rel: 1e-3 }, 'kl_bwd vs FD');
    });
  });

  it('argmax returns the first largest element', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(45);
    for (const V of [...ODD_SIZES, 50257]) {
      k.heap.scope(() => {
        const x = rng.f32(V);
        expect(k.argmax(k.from(x), V)).toBe(ref.argmax(x));
        const m = rng.int(0, V);
        x[m] = 100;
        x[V - 1] = 100; // a tie: the first wins
        expect(k.argmax(k.from(x), V)).toBe(ref.argmax(x));
      });
    }
  });

  it('an out-of-vocabulary target is a TOKEN error; a short tensor is SHAPE', async () => {
    const k = await kernels(build);
    k.heap.scope(() => {
      const x = k.alloc(2 * 5);
      try {
        k.targetLogprobs(null, x, k.ids([0, 5]), 2, 5);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(PromptkilnError);
        expect((e as PromptkilnError).code).toBe('TOKEN');
        expect((e as Error).message).toMatch(/target id 5 at row 1 is outside the vocabulary of 5/);
      }
      expect(() => k.nllBackward(x, x, k.ids([7, 0]), 1, 2, 5)).toThrow(expect.objectContaining({ code: 'TOKEN' }));
      expect(() => k.softmax(k.alloc(9), x, 2, 5)).toThrow(expect.objectContaining({ code: 'SHAPE' }));
      expect(() => k.kl(k.alloc(1), x, x, 2, 5)).toThrow(/kl holds 1 elements, the shape needs 2/);
      expect(() => k.argmax(k.alloc(3), 4)).toThrow(expect.objectContaining({ code: 'SHAPE' }));
      expect(() => k.argmax(k.alloc(3), 0)).toThrow(/argmax: V must be at least 1/);
    });
  });
});
