// Attention kernels against an f64 reference and finite differences, with masks and prefixes.
import { describe, expect, it } from 'vitest';
import type { Kernels } from '../../src/kernels/index.js';
import { BUILDS, expectClose, kernels, zeros } from './harness.js';
import * as ref from './reference.js';

type Case = ref.AttnShape & { masked: boolean; name: string };
const CASES: Case[] = [
  { name: 'single query', B: 1, Tq: 1, Tk: 1, P: 0, H: 1, Hkv: 1, hd: 1, masked: false },
  { name: 'MHA odd sizes', B: 2, Tq: 5, Tk: 5, P: 0, H: 3, Hkv: 3, hd: 7, masked: false },
  { name: 'GQA 4/2 with prefix', B: 1, Tq: 7, Tk: 7, P: 3, H: 4, Hkv: 2, hd: 13, masked: false },
  { name: 'GQA 8/4 (stories260K) prefix + padding mask', B: 2, Tq: 6, Tk: 6, P: 2, H: 8, Hkv: 4, hd: 8, masked: true },
  { name: 'KV cache: Tk > Tq', B: 2, Tq: 3, Tk: 10, P: 0, H: 2, Hkv: 1, hd: 17, masked: false },
  { name: 'KV cache with prefix and mask', B: 1, Tq: 4, Tk: 9, P: 5, H: 6, Hkv: 2, hd: 33, masked: true },
  { name: 'GPT-2 head size', B: 1, Tq: 17, Tk: 17, P: 0, H: 2, Hkv: 2, hd: 64, masked: false },
  { name: 'long rows', B: 1, Tq: 33, Tk: 100, P: 4, H: 1, Hkv: 1, hd: 5, masked: true },
];

function inputs(rng: ref.Rng, c: Case): ref.AttnInputs {
  const { B, Tq, Tk, P, H, Hkv, hd } = c;
  let mask: Float32Array | null = null;
  if (c.masked) {
    mask = new Float32Array(B * Tk).fill(1);
    // left padding on batch row 0, a hole in the middle of the last row
    mask[0] = 0;
    if (Tk > 2) mask[(B - 1) * Tk + (Tk >> 1)] = 0;
  }
  return {
    B, Tq, Tk, P, H, Hkv, hd,
    q: rng.f32(B * Tq * H * hd), k: rng.f32(B * Tk * Hkv * hd), v: rng.f32(B * Tk * Hkv * hd),
    pk: P ? rng.f32(P * Hkv * hd) : null, pv: P ? rng.f32(P * Hkv * hd) : null, mask,
  };
}

function forward(k: Kernels, a: ref.AttnInputs) {
  const { B, Tq, Tk, P, H, Hkv, hd } = a;
  const t = {
    q: k.from(a.q), k: k.from(a.k), v: k.from(a.v),
    pk: a.pk ? k.from(a.pk) : null, pv: a.pv ? k.from(a.pv) : null, mask: a.mask ? k.from(a.mask) : null,
    out: k.from(new Float32Array(B * Tq * H * hd).fill(NaN)), att: k.from(new Float32Array(B * H * Tq * (P + Tk)).fill(NaN)),
  };
  k.attention(t.out, t.att, t.q, t.k, t.v, t.pk, t.pv, t.mask, B, Tq, Tk, P, H, Hkv, hd);
  return t;
}

describe.each(BUILDS)('attention (%s build)', (build) => {
  for (const c of CASES) {
    it(`forward and backward match the f64 reference: ${c.name}`, async () => {
      const k = await kernels(build);
      const rng = new ref.Rng(51);
      k.heap.scope(() => {
        const a = inputs(rng, c);
        const { B, Tq, Tk, P, H, Hkv, hd } = c;
        const t = forward(k, a);
        const want = ref.attentionFwd(a);
        expectClose(t.att.f32(), want.att, { abs: 1e-6, rel: 1e-5 }, `${c.name}: att`);
        expectClose(t.out.f32(), want.out, { abs: 1e-5, rel: 1e-5 }, `${c.name}: out`);

        const dout = rng.f32(B * Tq * H * hd);
        const nk = B * Tk * Hkv * hd, np = P * Hkv * hd;
        // gradients accumulate: start from non-zero contents
        const prior = { dq: rng.f32(B * Tq * H * hd), dk: rng.f32(nk), dv: rng.f32(nk), dpk: rng.f32(np), dpv: rng.f32(np) };
        const g = {
          dq: k.from(prior.dq), dk: k.from(prior.dk), dv: k.from(prior.dv),
          dpk: P ? k.from(prior.dpk) : null, dpv: P ? k.from(prior.dpv) : null,
        };
        k.attentionBackward(g.dq, g.dk, g.dv, g.dpk, g.dpv, k.from(dout), t.att, t.q, t.k, t.v, t.pk, t.pv, B, Tq, Tk, P, H, Hkv, hd);
        const r = ref.attentionBwd(a, dout);
        const tol = { abs: 2e-5, rel: 1e-4 };
        const plus = (x: Float64Array, p: Float32Array) => x.map((v, i) => v + p[i]);
        expectClose(g.dq.f32(), plus(r.dq, prior.dq), tol, `${c.name}: dq`);
        expectClose(g.dk.f32(), plus(r.dk, prior.dk), tol, `${c.name}: dk`);
        expectClose(g.dv.f32(), plus(r.dv, prior.dv), tol, `${c.name}: dv`);
        if (P) {
          expectClose(g.dpk!.f32(), plus(r.dpk, prior.dpk), tol, `${c.name}: dpk`);
          expectClose(g.dpv!.f32(), plus(r.dpv, prior.dpv), tol, `${c.name}: dpv`);
        }
      });
    });
  }

  it('backward agrees with finite differences of the f64 forward (q, k, v, prefix k/v)', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(52);
    const c: Case = { name: 'fd', B: 2, Tq: 3, Tk: 4, P: 2, H: 4, Hkv: 2, hd: 5, masked: true };
    k.heap.scope(() => {
      const a = inputs(rng, c);
      const { B, Tq, Tk, P, H, Hkv, hd } = c;
      const t = forward(k, a);
      const dout = rng.f32(B * Tq * H * hd);
      const g = { dq: zeros(k, a.q.length), dk: zeros(k, a.k.length), dv: zeros(k, a.v.length), dpk: zeros(k, a.pk!.length), dpv: zeros(k, a.pv!.length) };
      k.attentionBackward(g.dq, g.dk, g.dv, g.dpk, g.dpv, k.from(dout), t.att, t.q, t.k, t.v, t.pk, t.pv, B, Tq, Tk, P, H, Hkv, hd);
      const loss = (field: 'q' | 'k' | 'v' | 'pk' | 'pv') => (x: Float64Array) => ref.dotArr(dout, ref.attentionFwd({ ...a, [field]: x }).out);
      const tol = { abs: 3e-5, rel: 1e-3 };
      expectClose(g.dq.f32(), ref.fdGrad(loss('q'), a.q), tol, 'dq vs FD');
      expectClose(g.dk.f32(), ref.fdGrad(loss('k'), a.k), tol, 'dk vs FD');
      expectClose(g.dv.f32(), ref.fdGrad(loss('v'), a.v), tol, 'dv vs FD');
      expectClose(g.dpk.f32(), ref.fdGrad(loss('pk'), a.pk!), tol, 'dpk vs FD');
      expectClose(g.dpv.f32(), ref.fdGrad(loss('pv'), a.pv!), tol, 'dpv vs FD');
    });
  });

  it('null gradient outputs are skipped; splitting (b, h) ranges gives the same result', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(53);
    const c: Case = { name: 'split', B: 2, Tq: 5, Tk: 7, P: 1, H: 3, Hkv: 1, hd: 9, masked: false };
    k.heap.scope(() => {
      const a = inputs(rng, c);
      const { B, Tq, Tk, P, H, Hkv, hd } = c;
      const t = forward(k, a);
      const dout = k.from(rng.f32(B * Tq * H * hd));
      const dpv = zeros(k, P * Hkv * hd);
      k.attentionBackward(null, null, null, null, dpv, dout, t.att, t.q, t.k, t.v, t.pk, t.pv, B, Tq, Tk, P, H, Hkv, hd);
      expectClose(dpv.f32(), ref.attentionBwd(a, dout.f32()).dpv, { abs: 2e-5, rel: 1e-4 }, 'dpv alone');
      // the threaded executor calls the raw kernel on disjoint (b, h) ranges
      const out2 = k.alloc(t.out.n), att2 = k.alloc(t.att.n);
      for (const [lo, hi] of [[0, 2], [2, 3], [3, 6]]) {
        k.raw.attention_fwd(out2.ptr, att2.ptr, t.q.ptr, t.k.ptr, t.v.ptr, t.pk!.ptr, t.pv!.ptr, 0, B, Tq, Tk, P, H, Hkv, hd, lo, hi);
      }
      expect(Array.from(out2.f32())).toEqual(Array.from(t.out.f32()));
      expect(Array.from(att2.f32())).toEqual(Array.from(t.att.f32()));
    });
  });

  it('a query with every key masked outputs zeros, not NaN', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(54);
    k.heap.scope(() => {
      const c: Case = { name: 'all masked', B: 1, Tq: 3, Tk: 3, P: 0, H: 1, Hkv: 1, hd: 6, masked: false };
      const a = { ...inputs(rng, c), mask: Float32Array.from([0, 1, 1]) };
      const t = forward(k, a);
      const want = ref.attentionFwd(a);
      expect(Array.from(t.out.f32().slice(0, 6))).toEqual([0, 0, 0, 0, 0, 0]);
      expectClose(t.out.f32(), want.out, { abs: 1e-5, rel: 1e-5 }, 'out');
      expectClose(t.att.f32(), want.att, { abs: 1e-6, rel: 1e-5 }, 'att');
    });
  });

  it('rejects bad head grouping, Tk < Tq and short tensors (SHAPE)', async () => {
    const k = await kernels(build);
    k.heap.scope(() => {
      const x = k.alloc(1000);
      expect(() => k.attention(x, x, x, x, x, null, null, null, 1, 2, 2, 0, 3, 2, 4)).toThrow(/3 query heads do not group over 2/);
      expect(() => k.attention(x, x, x, x, x, null, null, null, 1, 3, 2, 0, 1, 1, 4)).toThrow(expect.objectContaining({ code: 'SHAPE' }));
      expect(() => k.attention(x, k.alloc(7), x, x, x, null, null, null, 1, 2, 2, 0, 2, 2, 4)).toThrow(/att holds 7 elements, the shape needs 8/);
      expect(() => k.attention(x, x, x, x, x, null, null, null, 1, 2, 2, 1, 2, 2, 4)).toThrow(/pk is required/);
      expect(() => k.attentionBackward(k.alloc(3), null, null, null, null, x, x, x, x, x, null, null, 1, 2, 2, 0, 2, 2, 4)).toThrow(/dq holds 3/);
    });
  });
});
