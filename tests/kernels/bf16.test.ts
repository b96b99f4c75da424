// 16-bit weights: the f32/f16/bf16 conversion kernels against an independent JS reference (every
// f16 bit pattern, rounding ties, overflow, NaN, subnormals) and against PyTorch itself; the bf16
// GEMMs (Y = X·Wᵀ, dX = dY·W) against the f64 reference and bit for bit against the f32 GEMM on
// the widened weights, on shapes that are not multiples of the SIMD width or the unrolls, on every
// build and on 2 threads; the wrappers' dtype and size checks.
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { disposeThreads, init, type Kernels, type Tensor } from '../../src/kernels/index.js';
import { requirePython, PY } from '../helpers/system.js';
import { BUILDS, kernels, zeros } from './harness.js';
import { Rng } from './reference.js';

// ── independent references (no bit tricks shared with the kernels) ─────────────────────────────

const f32bits = (x: number) => new Uint32Array(Float32Array.of(x).buffer)[0]!;
const bitsf32 = (u: number) => new Float32Array(Uint32Array.of(u).buffer)[0]!;
const bf16value = (h: number) => bitsf32(h << 16);

// f32 → bf16: of the two bf16 neighbours of x (truncated, and one ulp further from zero) the nearer
// in exact arithmetic, on a tie the one with an even last bit; NaN → 0x7FC0.
function refBf16(u: number): number {
  const x = bitsf32(u);
  if (Number.isNaN(x)) return 0x7fc0;
  const lo = u >>> 16;
  if ((u & 0xffff) === 0) return lo;
  const hi = lo + 1; // the next magnitude up (0x7F7F + 1 is Inf: overflow rounds there)
  const dLo = Math.abs(x - bf16value(lo)), dHi = Math.abs(bf16value(hi) - x);
  if (!Number.isFinite(bf16value(hi))) {
    // past the largest bf16: IEEE rounds to Inf when x is at least halfway to 2^128
    const half = 2 ** 127 * (2 - 2 ** -8);
    return Math.abs(x) >= half ? hi : lo;
  }
  if (dLo < dHi) return lo;
  if (dHi < dLo) return hi;
  return lo & 1 ? hi : lo;
}

// f16 bits → the f32 bits of its exact value (NaN: sign, all-ones exponent, payload shifted up,
// quiet bit set: what x86's vcvtph2ps, and so PyTorch's .float(), gives)
function refF16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0x1f) return m ? ((h & 0x8000) << 16) | 0x7fc00000 | (m << 13) : f32bits(s * Infinity);
  if (e === 0 && m === 0) return (h & 0x8000) << 16; // ±0
  const v = e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15);
  return f32bits(v);
}

const special = (): number[] => [
  0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00001, 0x7f800001, // ±0, ±Inf, NaNs
  0x7f7fffff, 0xff7fffff, 0x7f7f7fff, 0x7f7f8000, 0x7f7f8001, // largest finite: to Inf or not
  0x3f808000, 0x3f818000, 0x3f807fff, 0x3f808001, 0xbf818000, // ties to even, just below/above
  0x00000001, 0x00008000, 0x00018000, 0x007fffff, 0x80008001, // f32 subnormals
];

// u16 arrays through the kernel: src (n) of one dtype into dst of another
function convert(k: Kernels, fn: 'f32ToBf16' | 'bf16ToF32' | 'f16ToF32' | 'f16ToBf16', input: Uint32Array | Uint16Array): Uint32Array | Uint16Array {
  return k.heap.scope(() => {
    const n = input.length;
    const src = fn === 'f32ToBf16' ? k.alloc(n) : k.alloc(n, 'src', true, fn.startsWith('f16') ? 'f16' : 'bf16');
    if (fn === 'f32ToBf16') src.i32().set(new Int32Array(input.buffer, input.byteOffset, n));
    else src.setU16(input);
    const dst = fn.endsWith('Bf16') ? k.alloc(n, 'dst', true, 'bf16') : k.alloc(n);
    k[fn](dst, src);
    return fn.endsWith('Bf16') ? dst.u16().slice() : new Uint32Array(dst.i32().slice().buffer);
  });
}

const ALL_F16 = Uint16Array.from({ length: 65536 }, (_, i) => i);

function randomF32Bits(r: Rng, n: number): Uint32Array {
  // uniform bit patterns (every exponent, NaNs included) and plain normal values
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = i % 2 ? Math.floor(r.next() * 2 ** 32) : f32bits(r.normal() * 10 ** r.int(-6, 6));
  return a;
}

describe.each(BUILDS)('16-bit conversions, %s build', (build) => {
  it('f32 → bf16 rounds to nearest even (ties, overflow to Inf, NaN → 0x7FC0, subnormals), at every length', async () => {
    const k = await kernels(build);
    const r = new Rng(21);
    // lengths around the 8-wide vector loop, the specials at every position within a vector
    for (const n of [1, 7, 8, 9, 15, 16, 17, 33, 1001]) {
      const input = Uint32Array.from({ length: n }, (_, i) => (i < 40 ? special()[i % special().length]! : 0));
      input.set(randomF32Bits(r, Math.max(0, n - 40)), Math.min(n, 40));
      const got = convert(k, 'f32ToBf16', input);
      for (let i = 0; i < n; i++) {
        if (got[i] !== refBf16(input[i]!)) throw new Error(`n=${n} [${i}]: f32 0x${input[i]!.toString(16)} → 0x${got[i]!.toString(16)}, expected 0x${refBf16(input[i]!).toString(16)}`);
      }
    }
  });

  it('bf16 → f32 is exact on every bf16 bit pattern', async () => {
    const k = await kernels(build);
    const got = convert(k, 'bf16ToF32', ALL_F16);
    for (let h = 0; h < 65536; h++) if (got[h] !== h << 16 >>> 0) throw new Error(`bf16 0x${h.toString(16)} → 0x${got[h]!.toString(16)}`);
  });

  it('f16 → f32 is exact and f16 → bf16 rounds once, on every f16 bit pattern', async () => {
    const k = await kernels(build);
    const f32 = convert(k, 'f16ToF32', ALL_F16), bf = convert(k, 'f16ToBf16', ALL_F16);
    for (let h = 0; h < 65536; h++) {
      const want = refF16ToF32(h) >>> 0;
      if (f32[h] !== want) throw new Error(`f16 0x${h.toString(16)} → f32 0x${f32[h]!.toString(16)}, expected 0x${want.toString(16)}`);
      if (bf[h] !== refBf16(want)) throw new Error(`f16 0x${h.toString(16)} → bf16 0x${bf[h]!.toString(16)}, expected 0x${refBf16(want).toString(16)}`);
    }
  });
});

describe('16-bit conversions against PyTorch', () => {
  it("match torch's .to(torch.bfloat16) and .float() bit for bit (every f16 pattern, random and special f32)", async () => {
    requirePython('torch', 'python3-torch');
    const r = new Rng(5);
    const f32 = new Uint32Array([...special(), ...randomF32Bits(r, 20000)]);
    const script = [
      'import sys, numpy as np, torch',
      'raw = sys.stdin.buffer.read()',
      'x = torch.from_numpy(np.frombuffer(raw, dtype=np.float32).copy())',
      'h = torch.arange(65536, dtype=torch.int32).to(torch.int16).view(torch.float16)',
      'out = [x.to(torch.bfloat16).view(torch.int16), h.float().view(torch.int32), h.to(torch.bfloat16).view(torch.int16)]',
      'sys.stdout.buffer.write(b"".join(t.numpy().tobytes() for t in out))',
    ].join('\n');
    const p = spawnSync(PY, ['-c', script], { input: Buffer.from(f32.buffer), maxBuffer: 1 << 24, timeout: 120_000 });
    expect(p.status, String(p.stderr)).toBe(0);
    const buf = new Uint8Array(p.stdout).slice();
    const torchBf = new Uint16Array(buf.buffer, 0, f32.length);
    const torchF16F32 = new Uint32Array(buf.buffer.slice(f32.length * 2, f32.length * 2 + 65536 * 4));
    const torchF16Bf = new Uint16Array(buf.buffer.slice(f32.length * 2 + 65536 * 4));
    // PyTorch turns NaN into 0x7FC0 in its scalar path and 0xFFFF in its vectorized one: any NaN matches
    const same = (ours: number, theirs: number) => ours === theirs || ((theirs & 0x7fff) > 0x7f80 && ours === 0x7fc0);
    for (const build of BUILDS) {
      const k = await kernels(build);
      const bf = convert(k, 'f32ToBf16', f32), hf = convert(k, 'f16ToF32', ALL_F16), hb = convert(k, 'f16ToBf16', ALL_F16);
      for (let i = 0; i < f32.length; i++) {
        if (!same(bf[i]!, torchBf[i]!)) throw new Error(`${build}: f32 0x${f32[i]!.toString(16)} → 0x${bf[i]!.toString(16)}, torch 0x${torchBf[i]!.toString(16)}`);
      }
      for (let h = 0; h < 65536; h++) {
        if (hf[h] !== torchF16F32[h]) throw new Error(`${build}: f16 0x${h.toString(16)} → f32 0x${hf[h]!.toString(16)}, torch 0x${torchF16F32[h]!.toString(16)}`);
        if (!same(hb[h]!, torchF16Bf[h]!)) throw new Error(`${build}: f16 0x${h.toString(16)} → bf16 0x${hb[h]!.toString(16)}, torch 0x${torchF16Bf[h]!.toString(16)}`);
      }
    }
  }, 130_000);
});

// ── bf16 GEMMs ──────────────────────────────────────────────────────────────────────────────────

const ODD = [1, 3, 5, 7, 13, 17, 33];
// (M, K, N): odd sizes in every position; (9, 40, 37): M ≥ 8, where dX packs (widens) W blocks;
// (1, 300, 70): matrix × vector; (5, 2601, 7): the forward's 512-wide K blocks; (24, 1024, 40): dX
// packing at a 4 KiB-aliasing width; (201, 300, 203): crosses the W panels and 256-column blocks
function shapes(seed: number): [number, number, number][] {
  const r = new Rng(seed);
  const pick = () => ODD[r.int(0, ODD.length)]!;
  const out: [number, number, number][] = [[1, 1, 1], [4, 16, 8], [9, 40, 37], [1, 300, 70], [5, 2601, 7], [24, 1024, 40], [201, 300, 203]];
  for (const s of ODD) out.push([s, pick(), pick()], [pick(), s, pick()], [pick(), pick(), s]);
  return out;
}

// W as bf16 (from seeded f32 values) and its exact f32 widening
function weights(k: Kernels, r: Rng, n: number): { wb: Tensor; wf: Tensor; w: Float32Array } {
  const src = k.from(r.f32Uniform(n, -1, 1));
  const wb = k.alloc(n, 'w bf16', true, 'bf16');
  k.f32ToBf16(wb, src);
  const wf = k.alloc(n);
  k.bf16ToF32(wf, wb);
  return { wb, wf, w: wf.f32().slice() };
}

// the f64 reference with Σ|terms| per element, and the tolerance of tests/kernels/gemm.test.ts
function expectNear(actual: Float32Array, val: Float64Array, mag: Float64Array, terms: number, what: string): void {
  for (let i = 0; i < actual.length; i++) {
    const tol = 4 * 2 ** -23 * Math.sqrt(terms + 1) * mag[i]! + 1e-30;
    if (!(Math.abs(actual[i]! - val[i]!) <= tol)) throw new Error(`${what}: [${i}] ${actual[i]} vs ${val[i]} (tol ${tol.toExponential(2)})`);
  }
}
const bitsOf = (a: Float32Array) => new Uint32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));

function refFwd(x: Float32Array, w: Float32Array, b: Float32Array | null, M: number, K: number, N: number) {
  const val = new Float64Array(M * N), mag = new Float64Array(M * N);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
    let s = b ? b[n]! : 0, a = b ? Math.abs(b[n]!) : 0;
    for (let k = 0; k < K; k++) { const t = x[m * K + k]! * w[n * K + k]!; s += t; a += Math.abs(t); }
    val[m * N + n] = s; mag[m * N + n] = a;
  }
  return { val, mag };
}
function refDx(dx0: Float32Array, dy: Float32Array, w: Float32Array, M: number, K: number, N: number) {
  const val = Float64Array.from(dx0), mag = Float64Array.from(dx0, Math.abs);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
    const g = dy[m * N + n]!;
    for (let k = 0; k < K; k++) { const t = g * w[n * K + k]!; val[m * K + k] += t; mag[m * K + k] += Math.abs(t); }
  }
  return { val, mag };
}

describe.each(BUILDS)('bf16-weight GEMMs, %s build', (build) => {
  it('Y = X·Wᵀ (+bias) with W in bf16 matches the reference and the f32 GEMM on the widened W bit for bit', async () => {
    const k = await kernels(build);
    const r = new Rng(31);
    for (const [M, K, N] of shapes(41)) {
      k.heap.scope(() => {
        const x = r.f32Uniform(M * K, -1, 1), b = r.f32Uniform(N, -1, 1);
        const { wb, wf, w } = weights(k, r, N * K);
        const X = k.from(x), B = k.from(b), Y16 = k.alloc(M * N), Y32 = k.alloc(M * N);
        for (const bias of [B, null]) {
          k.matmul(Y16, X, wb, bias, M, K, N); // widens W panels into scratch when M ≥ 4
          k.matmul(Y32, X, wf, bias, M, K, N);
          const ref = refFwd(x, w, bias ? b : null, M, K, N);
          expectNear(Y16.f32(), ref.val, ref.mag, K, `bf16 matmul${bias ? '+bias' : ''} (${M},${K},${N})`);
          expect(bitsOf(Y16.f32()), `bf16 vs f32 matmul (${M},${K},${N})`).toEqual(bitsOf(Y32.f32()));
          // the export without scratch widens in registers (the wrapper packs from M = 4 on)
          k.raw.matmul_fwd_bf16(Y16.ptr, X.ptr, wb.ptr, bias ? bias.ptr : 0, M, K, N);
          expect(bitsOf(Y16.f32()), `unpacked bf16 vs f32 matmul (${M},${K},${N})`).toEqual(bitsOf(Y32.f32()));
        }
      });
    }
  });

  it('dX += dY·W with W in bf16 accumulates, matches the reference and the f32 dX bit for bit (packed and not)', async () => {
    const k = await kernels(build);
    const r = new Rng(32);
    for (const [M, K, N] of shapes(42)) {
      k.heap.scope(() => {
        const dy = r.f32Uniform(M * N, -1, 1), dx0 = r.f32Uniform(M * K, -1, 1);
        const { wb, wf, w } = weights(k, r, N * K);
        const DY = k.from(dy), DX16 = k.from(dx0), DX32 = k.from(dx0);
        k.matmulBackwardInput(DX16, DY, wb, M, K, N); // packs W blocks when M ≥ 8
        k.matmulBackwardInput(DX32, DY, wf, M, K, N);
        const ref = refDx(dx0, dy, w, M, K, N);
        expectNear(DX16.f32(), ref.val, ref.mag, N, `bf16 dx (${M},${K},${N})`);
        expect(bitsOf(DX16.f32()), `bf16 vs f32 dx (${M},${K},${N})`).toEqual(bitsOf(DX32.f32()));
        // the whole-matrix export without scratch (never packs)
        const DXu = k.from(dx0);
        k.raw.matmul_bwd_dx_bf16(DXu.ptr, DY.ptr, wb.ptr, M, K, N);
        expectNear(DXu.f32(), ref.val, ref.mag, N, `bf16 dx unpacked (${M},${K},${N})`);
      });
    }
  });

  it('range exports write only their columns', async () => {
    const k = await kernels(build);
    const r = new Rng(33);
    const [M, K, N] = [10, 37, 29];
    k.heap.scope(() => {
      const x = r.f32Uniform(M * K, -1, 1), b = r.f32Uniform(N, -1, 1), dy = r.f32Uniform(M * N, -1, 1);
      const { wb, w } = weights(k, r, N * K);
      const full = refFwd(x, w, b, M, K, N);
      for (const scratch of [0, k.gemmScratch().ptr]) {
        const Y = k.from(new Float32Array(M * N).fill(7));
        k.raw.matmul_fwd_bf16_packed(Y.ptr, k.from(x).ptr, wb.ptr, k.from(b).ptr, scratch, M, K, N, 8, 21);
        const y = Y.f32();
        for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
          if (n < 8 || n >= 21) expect(y[m * N + n], `fwd (${m},${n}) outside the range`).toBe(7);
          else expect(Math.abs(y[m * N + n]! - full.val[m * N + n]!)).toBeLessThanOrEqual(1e-5 * full.mag[m * N + n]!);
        }
      }
      for (const scratch of [0, k.gemmScratch().ptr]) {
        const DX = k.from(new Float32Array(M * K).fill(3));
        k.raw.matmul_bwd_dx_bf16_packed(DX.ptr, k.from(dy).ptr, wb.ptr, scratch, M, K, N, 16, 33);
        const dref = refDx(new Float32Array(M * K).fill(3), dy, w, M, K, N);
        const dx = DX.f32();
        for (let m = 0; m < M; m++) for (let c = 0; c < K; c++) {
          if (c < 16 || c >= 33) expect(dx[m * K + c], `dx (${m},${c}) outside the range`).toBe(3);
          else expect(Math.abs(dx[m * K + c]! - dref.val[m * K + c]!)).toBeLessThanOrEqual(1e-5 * dref.mag[m * K + c]!);
        }
      }
    });
  });

  it('matrix × vector reads nothing past W when W ends at the end of memory (its reads ahead stop at W)', async () => {
    const k = await kernels(build);
    const r = new Rng(36);
    const [K, N] = [40, 9];
    k.heap.scope(() => {
      const x = r.f32Uniform(K, -1, 1);
      const X = k.from(x), Y = k.alloc(N);
      k.alloc(K * N); // make sure the memory has room above the heap for W
      const { w } = weights(k, r, N * K);
      // W placed by hand so that its last byte is the last byte of the memory
      const end = k.heap.memory.buffer.byteLength;
      const wp = end - N * K * 2;
      expect(wp).toBeGreaterThan(Y.ptr + N * 4);
      const bits = new Uint16Array(k.heap.memory.buffer, wp, N * K);
      for (let i = 0; i < N * K; i++) bits[i] = new Uint32Array(Float32Array.of(w[i]!).buffer)[0]! >>> 16;
      k.raw.matmul_fwd_bf16(Y.ptr, X.ptr, wp, 0, 1, K, N);
      const ref = refFwd(x, w, null, 1, K, N);
      expectNear(Y.f32(), ref.val, ref.mag, K, 'matvec at the end of memory');
    });
  });

  it('a row block of bf16 weights (Tensor.at) is addressed in 2-byte elements', async () => {
    const k = await kernels(build);
    const r = new Rng(34);
    const [M, K, N] = [3, 21, 10];
    k.heap.scope(() => {
      const x = r.f32Uniform(M * K, -1, 1);
      const { wb, w } = weights(k, r, N * K);
      const Y = k.alloc(M * 4);
      // rows 5..8 of W
      k.matmul(Y, k.from(x), wb.at(5 * K, 4 * K), null, M, K, 4);
      const ref = refFwd(x, w.subarray(5 * K, 9 * K), null, M, K, 4);
      expectNear(Y.f32(), ref.val, ref.mag, K, 'matmul on wb.at(5K, 4K)');
    });
  });

  it('wrong dtypes and sizes are SHAPE errors', async () => {
    const k = await kernels(build);
    k.heap.scope(() => {
      const X = k.alloc(6), W16 = k.alloc(6, 'w', true, 'bf16'), H16 = k.alloc(6, 'h', true, 'f16'), Y = k.alloc(9);
      expect(() => k.matmul(Y, X, H16, null, 2, 3, 2)).toThrow(/matmul: w holds f16 elements, this kernel takes f32 or bf16/);
      expect(() => k.matmul(Y, W16, W16, null, 2, 3, 2)).toThrow(/matmul: inp holds bf16 elements, this kernel takes f32/);
      expect(() => k.matmul(Y, X, W16, null, 2, 3, 3)).toThrow(/w holds 6 elements, the shape needs 9/);
      expect(() => k.matmulBackwardInput(X, Y, k.alloc(5, 'w', true, 'bf16'), 2, 3, 2)).toThrow(/w holds 5 elements/);
      expect(() => k.matmulBackwardWeight(W16, null, Y, X, 2, 3, 2)).toThrow(/dw holds bf16 elements/);
      expect(() => k.f32ToBf16(X, X)).toThrow(/f32ToBf16: dst holds f32 elements, this kernel takes bf16/);
      expect(() => k.f16ToBf16(W16, W16)).toThrow(/f16ToBf16: src holds bf16 elements, this kernel takes f16/);
      expect(() => k.bf16ToF32(k.alloc(5), W16)).toThrow(/dst holds 5 elements, the shape needs 6/);
      expect(() => W16.f32()).toThrow(expect.objectContaining({ code: 'SHAPE' }));
      expect(() => X.u16()).toThrow(expect.objectContaining({ code: 'SHAPE' }));
    });
  });
});

describe('bf16-weight GEMMs on 2 threads', () => {
  const pools: Kernels[] = [];
  afterAll(() => { for (const k of pools) disposeThreads(k); });

  // above the wrappers' threshold for going parallel (M·K·N ≥ 2¹⁸), plus matrix × vector
  const SHAPES: [number, number, number][] = [[33, 129, 131], [1, 768, 517], [40, 1024, 70], [9, 2600, 40]];

  it('give the single-thread bf16 results bit for bit', async () => {
    const k = await init({ threads: 2 });
    pools.push(k);
    expect(k.parallel?.threads).toBe(2);
    const single = await kernels('simd');
    const r = new Rng(35);
    for (const [M, K, N] of SHAPES) {
      const x = r.f32Uniform(M * K, -1, 1), w = r.f32Uniform(N * K, -1, 1), b = r.f32Uniform(N, -1, 1);
      const dy = r.f32Uniform(M * N, -1, 1), dx0 = r.f32Uniform(M * K, -1, 1);
      const run = (kk: Kernels) => kk.heap.scope(() => {
        const W = kk.alloc(N * K, 'w', true, 'bf16');
        kk.f32ToBf16(W, kk.from(w));
        const Y = kk.alloc(M * N);
        kk.matmul(Y, kk.from(x), W, kk.from(b), M, K, N);
        const DX = kk.from(dx0);
        kk.matmulBackwardInput(DX, kk.from(dy), W, M, K, N);
        const wf = zeros(kk, N * K);
        kk.bf16ToF32(wf, W);
        return { y: Y.f32().slice(), dx: DX.f32().slice(), w: wf.f32().slice() };
      });
      const one = run(single), many = run(k);
      const ref = refFwd(x, many.w, b, M, K, N), dref = refDx(dx0, dy, many.w, M, K, N);
      expectNear(many.y, ref.val, ref.mag, K, `threaded bf16 matmul (${M},${K},${N})`);
      expectNear(many.dx, dref.val, dref.mag, N, `threaded bf16 dx (${M},${K},${N})`);
      expect(bitsOf(many.y), `(${M},${K},${N}) y`).toEqual(bitsOf(one.y));
      expect(bitsOf(many.dx), `(${M},${K},${N}) dx`).toEqual(bitsOf(one.dx));
    }
  });
});
