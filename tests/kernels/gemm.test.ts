// GEMM kernels against a plain f64 reference, on every build, on sizes that are not multiples of
// the SIMD width (4), of the micro-kernel blocks (2x4, 2x16) or of the cache blocks (W panels of
// 192 KiB, 256 columns); plus the accumulate / bias / range semantics and the threaded path.
import { afterAll, describe, expect, it } from 'vitest';
import { disposeThreads, init, type Kernels, type Tensor } from '../../src/kernels/index.js';
import { BUILDS, kernels } from './harness.js';
import { Rng } from './reference.js';

const ODD = [1, 3, 5, 7, 13, 17, 33];

const rng = (seed: number) => new Rng(seed);
// seeded inputs, uniform in [-1, 1)
const uniform = (r: Rng, n: number) => r.f32Uniform(n, -1, 1);

// Reference results with, for each element, Σ|terms|: an f32 sum of K products is off by at most
// ~K·ε·Σ|terms| (and in practice √K·ε·Σ|terms|), so the tolerance scales with that, not with a constant.
interface Ref { val: Float64Array; mag: Float64Array }

// out (M, N) = inp (M, K) · w (N, K)ᵀ + bias (N)
function refFwd(inp: Float32Array, w: Float32Array, bias: Float32Array | null, M: number, K: number, N: number): Ref {
  const val = new Float64Array(M * N), mag = new Float64Array(M * N);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
    let s = bias ? bias[n] : 0, a = bias ? Math.abs(bias[n]) : 0;
    for (let k = 0; k < K; k++) { const t = inp[m * K + k] * w[n * K + k]; s += t; a += Math.abs(t); }
    val[m * N + n] = s; mag[m * N + n] = a;
  }
  return { val, mag };
}
// dinp (M, K) = dinp0 + dout (M, N) · w (N, K)
function refDx(dinp0: Float32Array, dout: Float32Array, w: Float32Array, M: number, K: number, N: number): Ref {
  const val = Float64Array.from(dinp0), mag = Float64Array.from(dinp0, Math.abs);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
    const g = dout[m * N + n];
    for (let k = 0; k < K; k++) { const t = g * w[n * K + k]; val[m * K + k] += t; mag[m * K + k] += Math.abs(t); }
  }
  return { val, mag };
}
// dw (N, K) = dw0 + dout (M, N)ᵀ · inp (M, K)
function refDw(dw0: Float32Array, dout: Float32Array, inp: Float32Array, M: number, K: number, N: number): Ref {
  const val = Float64Array.from(dw0), mag = Float64Array.from(dw0, Math.abs);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
    const g = dout[m * N + n];
    for (let k = 0; k < K; k++) { const t = g * inp[m * K + k]; val[n * K + k] += t; mag[n * K + k] += Math.abs(t); }
  }
  return { val, mag };
}

function expectNear(actual: Float32Array, ref: Ref, terms: number, what: string): void {
  expect(actual.length, `${what}: length`).toBe(ref.val.length);
  const eps = 2 ** -23;
  for (let i = 0; i < actual.length; i++) {
    const tol = 4 * eps * Math.sqrt(terms + 1) * ref.mag[i] + 1e-30;
    const err = Math.abs(actual[i] - ref.val[i]);
    if (!(err <= tol)) {
      throw new Error(`${what}: element ${i} is ${actual[i]}, expected ${ref.val[i]} (|diff| ${err.toExponential(2)} > ${tol.toExponential(2)})`);
    }
  }
}

// shapes (M, K, N): every odd size in each position, a few plain ones, and one that crosses every
// cache block (W panel rows, 256-column blocks, 192-row blocks)
function shapes(seed: number): [number, number, number][] {
  const r = rng(seed);
  const pick = () => ODD[r.int(0, ODD.length)];
  // (24, 1024, 40): rows of W 4 KiB apart, where dX packs W blocks into panels (the L1-aliasing case)
  // (5, 2601, 7): K > 2048, so the forward runs in K blocks of 512 (five, then a 41-wide tail)
  const out: [number, number, number][] = [[1, 1, 1], [4, 16, 8], [64, 64, 64], [2, 768, 9], [201, 300, 203], [24, 1024, 40], [5, 2601, 7]];
  for (const s of ODD) out.push([s, pick(), pick()], [pick(), s, pick()], [pick(), pick(), s]);
  for (let i = 0; i < 6; i++) out.push([r.int(1, 41), r.int(1, 91), r.int(1, 71)]);
  return out;
}

describe.each(BUILDS)('GEMM, %s build', (build) => {
  it('matmul (Y = X·Wᵀ + bias) matches the f64 reference, with and without bias', async () => {
    const k = await kernels(build);
    const r = rng(1);
    for (const [M, K, N] of shapes(11)) {
      k.heap.scope(() => {
        const x = uniform(r, M * K), w = uniform(r, N * K), b = uniform(r, N);
        const X = k.from(x), W = k.from(w), B = k.from(b), Y = k.alloc(M * N);
        k.matmul(Y, X, W, B, M, K, N);
        expectNear(Y.f32(), refFwd(x, w, b, M, K, N), K, `matmul+bias (${M},${K},${N})`);
        k.matmul(Y, X, W, null, M, K, N);
        expectNear(Y.f32(), refFwd(x, w, null, M, K, N), K, `matmul (${M},${K},${N})`);
      });
    }
  });

  it('matmulBackwardInput (dX += dY·W) accumulates onto dX and matches the reference', async () => {
    const k = await kernels(build);
    const r = rng(2);
    for (const [M, K, N] of shapes(12)) {
      k.heap.scope(() => {
        const dy = uniform(r, M * N), w = uniform(r, N * K), dx0 = uniform(r, M * K);
        const DX = k.from(dx0);
        k.matmulBackwardInput(DX, k.from(dy), k.from(w), M, K, N);
        expectNear(DX.f32(), refDx(dx0, dy, w, M, K, N), N, `dx (${M},${K},${N})`);
      });
    }
  });

  it('matmulBackwardWeight (dW += dYᵀ·X, db += Σ dY) accumulates and matches the reference', async () => {
    const k = await kernels(build);
    const r = rng(3);
    for (const [M, K, N] of shapes(13)) {
      k.heap.scope(() => {
        const dy = uniform(r, M * N), x = uniform(r, M * K), dw0 = uniform(r, N * K), db0 = uniform(r, N);
        const DW = k.from(dw0), DB = k.from(db0);
        k.matmulBackwardWeight(DW, DB, k.from(dy), k.from(x), M, K, N);
        expectNear(DW.f32(), refDw(dw0, dy, x, M, K, N), M, `dw (${M},${K},${N})`);
        const db = Float64Array.from(db0), dbMag = Float64Array.from(db0, Math.abs);
        for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) { db[n] += dy[m * N + n]; dbMag[n] += Math.abs(dy[m * N + n]); }
        expectNear(DB.f32(), { val: db, mag: dbMag }, M, `db (${M},${K},${N})`);
        // without db: dW still accumulates (a second time), nothing else is touched
        const before = DW.f32().slice();
        k.matmulBackwardWeight(DW, null, k.from(dy), k.from(x), M, K, N);
        expectNear(DW.f32(), refDw(before, dy, x, M, K, N), M, `dw again (${M},${K},${N})`);
      });
    }
  });

  it('range exports write only their columns', async () => {
    const k = await kernels(build);
    const r = rng(4);
    const [M, K, N] = [5, 37, 29];
    k.heap.scope(() => {
      const x = uniform(r, M * K), w = uniform(r, N * K), b = uniform(r, N);
      const X = k.from(x), W = k.from(w), B = k.from(b);
      const Y = k.from(new Float32Array(M * N).fill(7));
      k.raw.matmul_fwd_range(Y.ptr, X.ptr, W.ptr, B.ptr, M, K, N, 8, 21);
      const full = refFwd(x, w, b, M, K, N);
      const y = Y.f32();
      for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
        const v = y[m * N + n];
        if (n < 8 || n >= 21) expect(v, `fwd (${m},${n}) outside the range`).toBe(7);
        else expect(Math.abs(v - full.val[m * N + n])).toBeLessThanOrEqual(1e-5 * full.mag[m * N + n]);
      }
      const DX = k.from(new Float32Array(M * K).fill(3));
      const dy = uniform(r, M * N);
      k.raw.matmul_bwd_dx_range(DX.ptr, k.from(dy).ptr, W.ptr, M, K, N, 16, 33);
      const dref = refDx(new Float32Array(M * K).fill(3), dy, w, M, K, N);
      const dx = DX.f32();
      for (let m = 0; m < M; m++) for (let c = 0; c < K; c++) {
        const v = dx[m * K + c];
        if (c < 16 || c >= 33) expect(v, `dx (${m},${c}) outside the range`).toBe(3);
        else expect(Math.abs(v - dref.val[m * K + c])).toBeLessThanOrEqual(1e-5 * dref.mag[m * K + c]);
      }
    });
  });

  it('wrong shapes are SHAPE errors, not out-of-bounds writes', async () => {
    const k = await kernels(build);
    k.heap.scope(() => {
      const X = k.alloc(6), W = k.alloc(6), Y = k.alloc(3);
      expect(() => k.matmul(Y, X, W, null, 2, 3, 2)).toThrow(/out holds 3 elements, the shape needs 4/);
      expect(() => k.matmulBackwardInput(X, Y, W, 2, 3, 3)).toThrow(/dout holds 3 elements/);
      expect(() => k.matmul(Y, X, W, null, 1.5, 3, 2)).toThrow(expect.objectContaining({ code: 'SHAPE' }));
    });
  });
});

describe('GEMM and attention on 2 and 3 threads', () => {
  const pools: Kernels[] = [];
  afterAll(() => { for (const k of pools) disposeThreads(k); });

  async function threaded(n: number): Promise<Kernels> {
    const k = await init({ threads: n });
    pools.push(k);
    expect(k.parallel?.threads).toBe(n);
    expect(k.heap.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    return k;
  }

  // big enough to cross the wrappers' threshold for going parallel (M·K·N ≥ 2¹⁸)
  const SHAPES: [number, number, number][] = [[64, 64, 64], [33, 129, 131], [1, 768, 517], [130, 260, 67], [7, 999, 75], [40, 1024, 70], [9, 2600, 40]];

  it.each([2, 3])('%i threads give the single-thread results', async (n) => {
    const single = await kernels('simd');
    const k = await threaded(n);
    const r = rng(5 + n);
    for (const [M, K, N] of SHAPES) {
      const x = uniform(r, M * K), w = uniform(r, N * K), b = uniform(r, N), dy = uniform(r, M * N), dx0 = uniform(r, M * K);
      const run = (kk: Kernels) => kk.heap.scope(() => {
        const W = kk.from(w);
        const Y = kk.alloc(M * N);
        kk.matmul(Y, kk.from(x), W, kk.from(b), M, K, N);
        const DX = kk.from(dx0);
        kk.matmulBackwardInput(DX, kk.from(dy), W, M, K, N);
        return { y: Y.f32().slice(), dx: DX.f32().slice() };
      });
      const one = run(single), many = run(k);
      // the same kernel code over the same slices of data: equal to float tolerance (in fact bitwise)
      expectNear(many.y, refFwd(x, w, b, M, K, N), K, `threaded matmul (${M},${K},${N})`);
      expectNear(many.dx, refDx(dx0, dy, w, M, K, N), N, `threaded dx (${M},${K},${N})`);
      for (let i = 0; i < one.y.length; i++) expect(Math.abs(many.y[i] - one.y[i])).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(one.y[i])));
      for (let i = 0; i < one.dx.length; i++) expect(Math.abs(many.dx[i] - one.dx[i])).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(one.dx[i])));
    }
  });

  it('threaded attention (with GQA and a prefix) gives the single-thread results', async () => {
    const single = await kernels('simd');
    const k = await threaded(2);
    const r = rng(9);
    const [B, Tq, Tk, P, H, Hkv, hd] = [2, 24, 24, 3, 4, 2, 16];
    const q = uniform(r, B * Tq * H * hd), kk = uniform(r, B * Tk * Hkv * hd), v = uniform(r, B * Tk * Hkv * hd);
    const pk = uniform(r, P * Hkv * hd), pv = uniform(r, P * Hkv * hd);
    const run = (K: Kernels) => K.heap.scope(() => {
      const out = K.alloc(B * Tq * H * hd), att = K.alloc(B * H * Tq * (P + Tk));
      K.attention(out, att, K.from(q), K.from(kk), K.from(v), K.from(pk), K.from(pv), null, B, Tq, Tk, P, H, Hkv, hd);
      return out.f32().slice();
    });
    const one = run(single), many = run(k);
    expect(many.some((x) => x !== 0)).toBe(true);
    for (let i = 0; i < one.length; i++) expect(Math.abs(many[i] - one[i])).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(one[i])));
  });

  it('threaded attention backward (split over sequences) gives the single-thread gradients', async () => {
    const single = await kernels('simd');
    const k = await threaded(2);
    const r = rng(11);
    const [B, T, P, H, Hkv, hd] = [5, 20, 2, 4, 2, 8];
    const q = uniform(r, B * T * H * hd), kk = uniform(r, B * T * Hkv * hd), v = uniform(r, B * T * Hkv * hd), dout = uniform(r, B * T * H * hd);
    const pk = uniform(r, P * Hkv * hd), pv = uniform(r, P * Hkv * hd);
    const run = (K: Kernels, prefixGrads: boolean) => K.heap.scope(() => {
      const out = K.alloc(B * T * H * hd), att = K.alloc(B * H * T * (P + T));
      const Q = K.from(q), KK = K.from(kk), V = K.from(v), PK = K.from(pk), PV = K.from(pv);
      K.attention(out, att, Q, KK, V, PK, PV, null, B, T, T, P, H, Hkv, hd);
      const dq = K.alloc(q.length), dk = K.alloc(kk.length), dv = K.alloc(v.length), dpk = K.alloc(pk.length), dpv = K.alloc(pv.length);
      for (const t of [dq, dk, dv, dpk, dpv]) K.zero(t);
      // with prefix gradients the batch sum stays on one thread; without, sequences split across threads
      K.attentionBackward(dq, dk, dv, prefixGrads ? dpk : null, prefixGrads ? dpv : null, K.from(dout), att, Q, KK, V, PK, PV, B, T, T, P, H, Hkv, hd);
      return [dq, dk, dv, dpk, dpv].map((t) => t.f32().slice());
    });
    for (const prefixGrads of [false, true]) {
      const one = run(single, prefixGrads), many = run(k, prefixGrads);
      one.forEach((a, j) => {
        if (j < 3 || prefixGrads) expect(a.some((x) => x !== 0)).toBe(true);
        for (let i = 0; i < a.length; i++) expect(Math.abs(many[j][i] - a[i])).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(a[i])));
      });
    }
  });

  it('threads: 1 is a plain single-thread Kernels; bad counts are ARGUMENT errors', async () => {
    const k = await init({ threads: 1 });
    expect(k.parallel).toBeNull();
    await expect(init({ threads: 0 })).rejects.toMatchObject({ code: 'ARGUMENT' });
    await expect(init({ threads: 2.5 })).rejects.toMatchObject({ code: 'ARGUMENT' });
    await expect(init({ threads: 2, build: 'portable' })).rejects.toMatchObject({ code: 'ARGUMENT' });
  });

  it('memory growth after the workers started is seen by every thread', async () => {
    const k = await threaded(2);
    const [M, K, N] = [64, 300, 96];
    const r = rng(10);
    const big: Tensor = k.alloc(8 << 20); // forces the shared memory to grow past its start size
    const x = uniform(r, M * K), w = uniform(r, N * K);
    const Y = k.alloc(M * N);
    k.matmul(Y, k.from(x), k.from(w), null, M, K, N);
    expectNear(Y.f32(), refFwd(x, w, null, M, K, N), K, 'matmul after grow');
    big.free();
  });
});
