// The kernels of the newer architectures against plain f64 references, on every build and on
// sizes that are not multiples of the SIMD width: partial RoPE (Phi-3), sliding-window attention
// (Mistral, Gemma 3) forward — and attention_bwd on its probabilities, which must need no window
// of its own — and GeGLU (Gemma) forward/backward.
import { describe, expect, it } from 'vitest';
import { attentionWindow, geglu, gegluBackward, ropePartial } from '../../src/kernels/layers.js';
import type { Kernels } from '../../src/kernels/index.js';
import { BUILDS, ODD_SIZES, expectClose, kernels } from './harness.js';
import * as ref from './reference.js';

// runs fn, then frees every scoped tensor it allocated
function scoped(k: Kernels, fn: () => void): void {
  const mark = k.heap.mark();
  try {
    fn();
  } finally {
    k.heap.reset(mark);
  }
}

// ref.rope on the first rd dims of each head; the rest unchanged
function ropePartialRef(x: Float32Array, pos: Int32Array, cos: Float32Array, sin: Float32Array, N: number, nh: number, hd: number,
  rd: number, mode: 0 | 1, inverse: boolean): Float64Array {
  const head = new Float32Array(N * nh * rd);
  for (let r = 0; r < N * nh; r++) head.set(x.subarray(r * hd, r * hd + rd), r * rd);
  const rot = ref.rope(head, pos, cos, sin, N, nh, rd, mode, inverse);
  const y = Float64Array.from(x);
  for (let r = 0; r < N * nh; r++) y.set(rot.subarray(r * rd, (r + 1) * rd), r * hd);
  return y;
}

// Windowed attention in f64: query i (key index P + i + Tk − Tq) sees key j iff causal, not masked
// and (its index) − j < window. Returns out, att and the gradients of Σ dout·out.
function windowRef(a: ref.AttnInputs, window: number, dout: ArrayLike<number>) {
  const { B, Tq, Tk, P, H, Hkv, hd } = a;
  const L = P + Tk, grp = H / Hkv, sc = 1 / Math.sqrt(hd), off = Tk - Tq;
  const row = (b: number, j: number, kh: number, which: 'k' | 'v') => {
    const src = j < P ? (which === 'k' ? a.pk! : a.pv!) : which === 'k' ? a.k : a.v;
    const o = j < P ? (j * Hkv + kh) * hd : ((b * Tk + j - P) * Hkv + kh) * hd;
    return { src, o };
  };
  const out = new Float64Array(B * Tq * H * hd), att = new Float64Array(B * H * Tq * L);
  const dq = new Float64Array(B * Tq * H * hd), dk = new Float64Array(B * Tk * Hkv * hd), dv = new Float64Array(dk.length);
  const dpk = new Float64Array(P * Hkv * hd), dpv = new Float64Array(dpk.length);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < Tq; i++) {
    const kh = Math.floor(h / grp), qo = ((b * Tq + i) * H + h) * hd, ao = ((b * H + h) * Tq + i) * L;
    const qIdx = P + i + off;
    const s = new Float64Array(L).fill(-Infinity);
    for (let j = 0; j < L; j++) {
      if (j > qIdx) continue;
      if (j >= P && a.mask && a.mask[b * Tk + j - P] === 0) continue;
      if (window > 0 && qIdx - j >= window) continue;
      const { src, o } = row(b, j, kh, 'k');
      let d = 0;
      for (let e = 0; e < hd; e++) d += a.q[qo + e] * src[o + e];
      s[j] = d * sc;
    }
    const mx = Math.max(...s);
    let z = 0;
    for (let j = 0; j < L; j++) z += s[j] === -Infinity ? 0 : Math.exp(s[j] - mx);
    for (let j = 0; j < L; j++) att[ao + j] = s[j] === -Infinity ? 0 : Math.exp(s[j] - mx) / z;
    const datt = new Float64Array(L);
    let sum = 0;
    for (let j = 0; j < L; j++) {
      const { src, o } = row(b, j, kh, 'v');
      for (let e = 0; e < hd; e++) {
        out[qo + e] += att[ao + j] * src[o + e];
        datt[j] += dout[qo + e] * src[o + e];
      }
      sum += att[ao + j] * datt[j];
    }
    for (let j = 0; j < L; j++) {
      const p = att[ao + j], ds = p * (datt[j] - sum) * sc;
      const { src: ks, o } = row(b, j, kh, 'k');
      const [gk, gv] = j < P ? [dpk, dpv] : [dk, dv];
      for (let e = 0; e < hd; e++) {
        dq[qo + e] += ds * ks[o + e];
        gk[o + e] += ds * a.q[qo + e];
        gv[o + e] += p * dout[qo + e];
      }
    }
  }
  return { out, att, dq, dk, dv, dpk, dpv };
}

const WINDOW_CASES = [
  { name: 'window 3, no prefix', B: 2, Tq: 7, Tk: 7, P: 0, H: 4, Hkv: 2, hd: 7, window: 3, masked: false },
  { name: 'window 4 cutting through a prefix', B: 1, Tq: 6, Tk: 6, P: 5, H: 2, Hkv: 1, hd: 13, window: 4, masked: false },
  { name: 'KV cache (Tk > Tq) with prefix and mask', B: 1, Tq: 3, Tk: 9, P: 2, H: 3, Hkv: 3, hd: 5, window: 5, masked: true },
  { name: 'window 1: each query sees itself only', B: 1, Tq: 5, Tk: 5, P: 2, H: 2, Hkv: 2, hd: 4, window: 1, masked: false },
  { name: 'window wider than everything', B: 2, Tq: 4, Tk: 4, P: 3, H: 2, Hkv: 1, hd: 9, window: 100, masked: false },
];

describe.each(BUILDS)('newer-architecture kernels (%s build)', (build) => {
  it('rope_partial rotates the first rd dims (pairs within them) and leaves the rest; inverse undoes it', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(17);
    for (const [nh, hd, rd] of [[3, 10, 4], [2, 12, 6], [1, 8, 8], [4, 6, 2]]) {
      for (const [mode, m] of [['interleaved', 0], ['half', 1]] as const) {
        scoped(k, () => {
          const N = 5, maxPos = 11;
          const { cos, sin } = ref.ropeTables(maxPos, rd);
          const x = rng.f32(N * nh * hd), pos = rng.ints(N, 0, maxPos);
          const X = k.from(x), Pos = k.ids(pos), Cos = k.from(cos), Sin = k.from(sin);
          ropePartial(k, X, Pos, Cos, Sin, N, nh, hd, rd, mode);
          expectClose(X.f32(), ropePartialRef(x, pos, cos, sin, N, nh, hd, rd, m, false), { abs: 1e-6, rel: 1e-6 }, `rope_partial ${mode} hd=${hd} rd=${rd}`);
          ropePartial(k, X, Pos, Cos, Sin, N, nh, hd, rd, mode, true);
          expectClose(X.f32(), x, { abs: 2e-6, rel: 1e-6 }, `rope_partial⁻¹∘rope_partial ${mode}`);
        });
      }
    }
  });

  for (const c of WINDOW_CASES) {
    it(`attention_window_fwd and attention_bwd on its probabilities: ${c.name}`, async () => {
      const k = await kernels(build);
      const rng = new ref.Rng(29);
      scoped(k, () => {
        const { B, Tq, Tk, P, H, Hkv, hd, window } = c;
        let mask: Float32Array | null = null;
        if (c.masked) { mask = new Float32Array(B * Tk).fill(1); mask[1] = 0; }
        const a: ref.AttnInputs = {
          B, Tq, Tk, P, H, Hkv, hd, q: rng.f32(B * Tq * H * hd), k: rng.f32(B * Tk * Hkv * hd), v: rng.f32(B * Tk * Hkv * hd),
          pk: P ? rng.f32(P * Hkv * hd) : null, pv: P ? rng.f32(P * Hkv * hd) : null, mask,
        };
        const dout = rng.f32(B * Tq * H * hd);
        const want = windowRef(a, window, dout);
        const t = { q: k.from(a.q), k: k.from(a.k), v: k.from(a.v), pk: a.pk ? k.from(a.pk) : null, pv: a.pv ? k.from(a.pv) : null, mask: mask ? k.from(mask) : null };
        const out = k.from(new Float32Array(B * Tq * H * hd).fill(NaN)), att = k.from(new Float32Array(B * H * Tq * (P + Tk)).fill(NaN));
        attentionWindow(k, out, att, t.q, t.k, t.v, t.pk, t.pv, t.mask, B, Tq, Tk, P, H, Hkv, hd, window);
        expectClose(att.f32(), want.att, { abs: 1e-6, rel: 1e-5 }, `${c.name}: att`);
        expectClose(out.f32(), want.out, { abs: 1e-5, rel: 1e-5 }, `${c.name}: out`);
        const g = { dq: k.from(new Float32Array(want.dq.length)), dk: k.from(new Float32Array(want.dk.length)), dv: k.from(new Float32Array(want.dv.length)),
          dpk: P ? k.from(new Float32Array(want.dpk.length)) : null, dpv: P ? k.from(new Float32Array(want.dpv.length)) : null };
        k.attentionBackward(g.dq, g.dk, g.dv, g.dpk, g.dpv, k.from(dout), att, t.q, t.k, t.v, t.pk, t.pv, B, Tq, Tk, P, H, Hkv, hd);
        const tol = { abs: 2e-5, rel: 1e-4 };
        expectClose(g.dq.f32(), want.dq, tol, `${c.name}: dq`);
        expectClose(g.dk.f32(), want.dk, tol, `${c.name}: dk`);
        expectClose(g.dv.f32(), want.dv, tol, `${c.name}: dv`);
        if (P) {
          expectClose(g.dpk!.f32(), want.dpk, tol, `${c.name}: dpk`);
          expectClose(g.dpv!.f32(), want.dpv, tol, `${c.name}: dpv`);
        }
        if (window >= P + Tk) {
          // a window past every key is no window: bit-identical to attention_fwd
          const out0 = k.alloc(out.n), att0 = k.alloc(att.n);
          k.attention(out0, att0, t.q, t.k, t.v, t.pk, t.pv, t.mask, B, Tq, Tk, P, H, Hkv, hd);
          expect(Array.from(out0.f32())).toEqual(Array.from(out.f32()));
        }
      });
    });
  }

  it('geglu forward = gelu_tanh(a)·b, backward accumulates both gradients', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(5);
    for (const n of ODD_SIZES) {
      scoped(k, () => {
        const a = rng.f32(n, 2), b = rng.f32(n), dy = rng.f32(n), pa = rng.f32(n), pb = rng.f32(n);
        const out = k.alloc(n), A = k.from(a), Bt = k.from(b);
        geglu(k, out, A, Bt);
        expectClose(out.f32(), Float64Array.from(a, (v, i) => ref.gelu(v) * b[i]), { abs: 2e-7, rel: 2e-6 }, `geglu n=${n}`);
        const da = k.from(pa), db = k.from(pb);
        gegluBackward(k, da, db, k.from(dy), A, Bt);
        const tol = { abs: 1e-6, rel: 1e-5 };
        expectClose(da.f32(), Float64Array.from(a, (v, i) => pa[i] + dy[i] * b[i] * ref.geluGrad(v)), tol, `geglu da n=${n}`);
        expectClose(db.f32(), Float64Array.from(a, (v, i) => pb[i] + dy[i] * ref.gelu(v)), tol, `geglu db n=${n}`);
      });
    }
  });

  it('bad shapes are SHAPE errors', async () => {
    const k = await kernels(build);
    scoped(k, () => {
      expect(() => gegluBackward(k, k.alloc(5), k.alloc(4), k.alloc(5), k.alloc(5), k.alloc(5))).toThrow(/db holds 4/);
      expect(() => ropePartial(k, k.alloc(24), k.ids([0]), k.alloc(4), k.alloc(4), 1, 2, 12, 5, 'half')).toThrow(/rotary dims must be even/);
    });
  });
});
