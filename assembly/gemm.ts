// f32x4 GEMM micro-kernels for linear layers: Y = X·Wᵀ (+bias), dX = dY·W, dW = dYᵀ·X.
import { madd, hsum4 } from './simd';
import { add } from './util';
import { bf16, bf16_to_f32, wload, wload1, wofs } from './bf16';

// Linear layers. Weights are kept in one internal layout, W (N, K) row-major ("out, in"),
// the PyTorch nn.Linear layout; GPT-2's Conv1D (in, out) is transposed once at load.
// Backward kernels accumulate into their outputs (llm.c convention): callers zero first.
//
// Data layout per kernel: the forward reads both operands along K, which is contiguous in each
// (dot-product form), so it needs no packing. The backward GEMMs (outer-product form) read W /
// inp rows as 16-float segments; dX packs each W block into 16-column panels first when the
// caller gives it scratch (matmul_bwd_dx_packed: rows K·4 bytes apart alias in L1 at the usual
// model widths), dW reads inp in place.
// Register blocks: the main micro-kernels (fwd_2x4, outer_2x16) hold 8 f32x4 accumulators.
// Measured in V8 on x64, 8 is the most that does not spill (10+ collapsed to ~25 GFLOP/s). The
// edge kernels for leftover rows and columns (fwd_1x1, outer_1x16, outer_2x4, outer_2x1) hold fewer.
//
// The *_range variants compute a slice of the output columns; the thread pool (see
// src/kernels/threads.ts) hands each thread one slice, and the plain exports are the full range.
//
// Frozen weights may be stored in bf16 (*_bf16 exports: Y = X·Wᵀ and dX = dY·W; a frozen layer
// never needs dW). The kernels below are generic over W's element type T (f32, or bf16 as u16
// bits) and widen bf16 in registers as they load it (wload in bf16.ts: one 64-bit load and one
// unpack per 4 weights), so the f32 and bf16 GEMMs are one code: the same loops, blocks and
// summation order. A bf16 GEMM therefore gives bit for bit the f32 GEMM's result on the widened
// weights (the tests check exactly that). dX packing widens W blocks into the f32 panels, so past
// the pack its micro-kernel is the f32 one.

// Bytes of W kept hot in L2 while the rows of the other operand pass over it.
const L2_BLOCK: i32 = 192 * 1024;

// ───────────────────────────── forward: out = inp · Wᵀ + bias ─────────────────────────────

// out (M, N) = inp (M, K) · w (N, K)ᵀ + bias (N); bias == 0 means no bias.
export function matmul_fwd(out: usize, inp: usize, w: usize, bias: usize, M: i32, K: i32, N: i32): void {
  matmul_fwd_range(out, inp, w, bias, M, K, N, 0, N);
}

// Columns [n0, n1) of out (M, N) = inp (M, K) · w (N, K)ᵀ + bias (N).
export function matmul_fwd_range(out: usize, inp: usize, w: usize, bias: usize, M: i32, K: i32, N: i32,
  n0: i32, n1: i32): void {
  fwd_range<f32>(out, inp, w, bias, 0, M, K, N, n0, n1);
}

// out (M, N) = inp (M, K) · w (N, K)ᵀ + bias (N) with w in bf16, widened in registers.
export function matmul_fwd_bf16(out: usize, inp: usize, w: usize, bias: usize, M: i32, K: i32, N: i32): void {
  fwd_range<bf16>(out, inp, w, bias, 0, M, K, N, 0, N);
}

// Columns [n0, n1) of matmul_fwd_bf16 (one thread's share), with a scratch buffer
// (dx_scratch_floats() floats, 0 = none) into which each W panel is widened once when M ≥ 4.
export function matmul_fwd_bf16_packed(out: usize, inp: usize, w: usize, bias: usize, scratch: usize, M: i32, K: i32,
  N: i32, n0: i32, n1: i32): void {
  fwd_range<bf16>(out, inp, w, bias, scratch, M, K, N, n0, n1);
}

function fwd_range<T>(out: usize, inp: usize, w: usize, bias: usize, scratch: usize, M: i32, K: i32, N: i32,
  n0: i32, n1: i32): void {
  if (!ASC_FEATURE_SIMD) {
    fwd_scalar<T>(out, inp, w, bias, M, K, N, n0, n1);
    return;
  }
  // Wide inputs (K > 2048) are cut into K blocks of 512: with whole 16 KiB rows (K = 4096) only 12 W
  // rows fit the L2 block, so the input was re-streamed from memory ~N/12 times (measured at
  // (1184, 4096, 4096): 37 GFLOP/s whole, 47 with 1024-blocks, 52 with 512-blocks; K = 2048 is
  // fastest unblocked). Later K blocks add into out. One row (matrix × vector) keeps whole rows:
  // W is then read once, as one stream.
  const KB = M >= 2 && K > 2048 ? 512 : K;
  // bf16 with scratch and at least two row pairs to share it: each W panel is widened once into
  // f32 (NB·KB·4 ≤ L2_BLOCK bytes, as KB ≤ 2048 here) and the f32 micro-kernels run on it. Widening
  // in registers costs one shuffle per 4 weights, which on x64 shares a port with the adds of the
  // simd build's mul+add: 0.83x the f32 GEMM unpacked (measured at (512, 768, 3072)).
  const pack = sizeof<T>() == 2 && scratch != 0 && M >= 4;
  // a panel of NB rows of W (NB, KB) stays in L2 while every row pair of inp streams over it
  const NB = max<i32>(4, (L2_BLOCK / (KB * (pack ? 4 : <i32>sizeof<T>()))) & ~3);
  const rowK = <usize>K << 2;
  const rowW = <usize>K * sizeof<T>();
  const rowN = <usize>N << 2;
  for (let nb = n0; nb < n1; nb += NB) {
    const ne = min<i32>(nb + NB, n1);
    for (let kb = 0; kb < K; kb += KB) {
      const kl = min<i32>(KB, K - kb);
      const acc = kb > 0;
      const bb: usize = acc ? 0 : bias;
      const ko = <usize>kb << 2;
      const wo = <usize>kb * sizeof<T>();
      if (pack) {
        const pRow = <usize>kl << 2;
        for (let j = nb; j < ne; j++) bf16_to_f32(scratch + <usize>(j - nb) * pRow, w + <usize>j * rowW + wo, kl);
        fwd_panel<f32>(out, inp + ko, scratch, pRow, nb, bb, M, kl, rowK, rowN, nb, ne, acc);
      } else {
        fwd_panel<T>(out, inp + ko, w + <usize>nb * rowW + wo, rowW, nb, bb, M, kl, rowK, rowN, nb, ne, acc);
      }
    }
  }
}

// out columns [nb, ne) (+)= inp (M, K) · W rows nb..ne over K elements; W row n at
// wp + (n − wn)·rowW, of element type T.
// @ts-ignore: decorator
@inline function fwd_panel<T>(out: usize, inp: usize, wp: usize, rowW: usize, wn: i32, bias: usize, M: i32, K: i32,
  rowK: usize, rowN: usize, nb: i32, ne: i32, acc: bool): void {
  let m = 0;
  for (; m + 2 <= M; m += 2) {
    const x0 = inp + <usize>m * rowK;
    const y0 = out + <usize>m * rowN;
    let n = nb;
    for (; n + 4 <= ne; n += 4) fwd_2x4<T>(y0, rowN, x0, rowK, wp + <usize>(n - wn) * rowW, rowW, bias, n, K, acc);
    for (; n < ne; n++) {
      fwd_1x1<T>(y0, x0, wp + <usize>(n - wn) * rowW, bias, n, K, acc);
      fwd_1x1<T>(y0 + rowN, x0 + rowK, wp + <usize>(n - wn) * rowW, bias, n, K, acc);
    }
  }
  if (m < M) {
    const x0 = inp + <usize>m * rowK;
    const y0 = out + <usize>m * rowN;
    // one row: W is one stream; bf16 touches it ahead of use (see fwd_1x1), up to the panel's end
    const wEnd = sizeof<T>() == 2 ? wp + <usize>(ne - wn) * rowW - 4 : 0;
    for (let n = nb; n < ne; n++) fwd_1x1<T>(y0, x0, wp + <usize>(n - wn) * rowW, bias, n, K, acc, wEnd);
  }
}

// Σ_{k ≥ K4} x[k]·w[k]: the tail a K that is not a multiple of 4 leaves after the vector loop.
// @ts-ignore: decorator
@inline function dot_tail<T>(x: usize, w: usize, K4: i32, K: i32): f32 {
  let s: f32 = 0;
  for (let k = K4; k < K; k++) s += load<f32>(x + (<usize>k << 2)) * wload1<T>(w + <usize>k * sizeof<T>());
  return s;
}

// out rows m, m+1 (stride rowN), columns n..n+3, from inp rows x0, x0+rowK and W rows w0..w0+3
// (stride rowW). 8 accumulators: c[i][j] = Σ_k inp[i]·W[j] lane-wise, reduced at the end.
// @ts-ignore: decorator
@inline function fwd_2x4<T>(y0: usize, rowN: usize, x0: usize, rowK: usize, w0: usize, rowW: usize, bias: usize, n: i32,
  K: i32, acc: bool): void {
  const x1 = x0 + rowK;
  const w1 = w0 + rowW, w2 = w1 + rowW, w3 = w2 + rowW;
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
  const K4 = K & ~3;
  const end = <usize>K4 << 2;
  for (let o: usize = 0; o < end; o += 16) {
    const ow = wofs<T>(o); // the same elements of a W row
    const a0 = v128.load(x0 + o);
    const a1 = v128.load(x1 + o);
    let b = wload<T>(w0 + ow, 0);
    c00 = madd(a0, b, c00); c10 = madd(a1, b, c10);
    b = wload<T>(w1 + ow, 0);
    c01 = madd(a0, b, c01); c11 = madd(a1, b, c11);
    b = wload<T>(w2 + ow, 0);
    c02 = madd(a0, b, c02); c12 = madd(a1, b, c12);
    b = wload<T>(w3 + ow, 0);
    c03 = madd(a0, b, c03); c13 = madd(a1, b, c13);
  }
  let r0 = hsum4(c00, c01, c02, c03);
  let r1 = hsum4(c10, c11, c12, c13);
  if (K4 < K) {
    r0 = f32x4.add(r0, tail4<T>(x0, w0, rowW, K4, K));
    r1 = f32x4.add(r1, tail4<T>(x1, w0, rowW, K4, K));
  }
  if (bias) {
    const bv = v128.load(bias + (<usize>n << 2));
    r0 = f32x4.add(r0, bv); r1 = f32x4.add(r1, bv);
  }
  if (acc) {
    r0 = f32x4.add(v128.load(y0 + (<usize>n << 2)), r0);
    r1 = f32x4.add(v128.load(y0 + rowN + (<usize>n << 2)), r1);
  }
  v128.store(y0 + (<usize>n << 2), r0);
  v128.store(y0 + rowN + (<usize>n << 2), r1);
}

// the K tails of one inp row against four W rows, as one vector
function tail4<T>(x: usize, w0: usize, rowW: usize, K4: i32, K: i32): v128 {
  let v = f32x4.splat(0);
  v = f32x4.replace_lane(v, 0, dot_tail<T>(x, w0, K4, K));
  v = f32x4.replace_lane(v, 1, dot_tail<T>(x, w0 + rowW, K4, K));
  v = f32x4.replace_lane(v, 2, dot_tail<T>(x, w0 + 2 * rowW, K4, K));
  v = f32x4.replace_lane(v, 3, dot_tail<T>(x, w0 + 3 * rowW, K4, K));
  return v;
}

// One output out[n] = x0 · w0 (+ bias[n]), 16 weights per step. The matrix-vector shape (1, K, N)
// lands here: walking W row after row is one sequential stream (34 GB/s measured), where four
// rows at once (four streams) reached only ~15 GB/s.
// wEnd ≠ 0 (bf16 rows of a matrix × vector, wEnd = the last readable word of W): each step also
// reads one word 2 KiB ahead (value unused: a load that may trap is kept), so the stream's cache
// misses start earlier. bf16 does twice the work per byte and fell behind the read stream that f32
// keeps up with: measured +7–9% (1.55x → 1.66–1.69x f32 at (1, 896, 151936)); f32 does not need it.
function fwd_1x1<T>(y0: usize, x0: usize, w0: usize, bias: usize, n: i32, K: i32, acc: bool = false, wEnd: usize = 0): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  const K16 = K & ~15;
  const end = <usize>K16 << 2;
  let o: usize = 0;
  for (; o < end; o += 64) {
    const wp = w0 + wofs<T>(o);
    if (sizeof<T>() == 2 && wEnd) load<u32>(min<usize>(wp + 2048, wEnd));
    c0 = madd(v128.load(x0 + o), wload<T>(wp, 0), c0);
    c1 = madd(v128.load(x0 + o, 16), wload<T>(wp, 1), c1);
    c2 = madd(v128.load(x0 + o, 32), wload<T>(wp, 2), c2);
    c3 = madd(v128.load(x0 + o, 48), wload<T>(wp, 3), c3);
  }
  const K4 = K & ~3;
  for (; o < (<usize>K4 << 2); o += 16) c0 = madd(v128.load(x0 + o), wload<T>(w0 + wofs<T>(o), 0), c0);
  const c = f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3));
  let s = (f32x4.extract_lane(c, 0) + f32x4.extract_lane(c, 2)) + (f32x4.extract_lane(c, 1) + f32x4.extract_lane(c, 3));
  s += dot_tail<T>(x0, w0, K4, K);
  if (bias) s += load<f32>(bias + (<usize>n << 2));
  if (acc) s = load<f32>(y0 + (<usize>n << 2)) + s;
  store<f32>(y0 + (<usize>n << 2), s);
}

function fwd_scalar<T>(out: usize, inp: usize, w: usize, bias: usize, M: i32, K: i32, N: i32, n0: i32, n1: i32): void {
  const rowK = <usize>K << 2;
  const rowW = <usize>K * sizeof<T>();
  const sz = sizeof<T>();
  for (let m = 0; m < M; m++) {
    const x = inp + <usize>m * rowK;
    const y = out + (<usize>m * <usize>N << 2);
    for (let n = n0; n < n1; n++) {
      const wr = w + <usize>n * rowW;
      // four partial sums: the same association as the SIMD lanes, and no serial add chain
      let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
      let k = 0;
      for (; k + 4 <= K; k += 4) {
        const o = <usize>k << 2;
        const ow = <usize>k * sz;
        s0 += load<f32>(x + o) * wload1<T>(wr + ow);
        s1 += load<f32>(x + o, 4) * wload1<T>(wr + ow + sz);
        s2 += load<f32>(x + o, 8) * wload1<T>(wr + ow + 2 * sz);
        s3 += load<f32>(x + o, 12) * wload1<T>(wr + ow + 3 * sz);
      }
      let s = (s0 + s2) + (s1 + s3);
      for (; k < K; k++) s += load<f32>(x + (<usize>k << 2)) * wload1<T>(wr + <usize>k * sz);
      if (bias) s += load<f32>(bias + (<usize>n << 2));
      store<f32>(y + (<usize>n << 2), s);
    }
  }
}

// ─────────────────────────── input gradient: dinp += dout · W ───────────────────────────

// dinp (M, K) += dout (M, N) · w (N, K). The input gradient of a frozen layer.
export function matmul_bwd_dx(dinp: usize, dout: usize, w: usize, M: i32, K: i32, N: i32): void {
  matmul_bwd_dx_range(dinp, dout, w, M, K, N, 0, K);
}

// Columns [k0, k1) of dinp (M, K) += dout (M, N) · w (N, K).
export function matmul_bwd_dx_range(dinp: usize, dout: usize, w: usize, M: i32, K: i32, N: i32,
  k0: i32, k1: i32): void {
  dx_range<f32>(dinp, dout, w, 0, M, K, N, k0, k1);
}

// Floats of scratch matmul_bwd_dx_packed and matmul_bwd_dx_bf16_packed want: one W block, packed (as f32).
export function dx_scratch_floats(): i32 {
  return L2_BLOCK >> 2;
}

// matmul_bwd_dx_range with a scratch buffer (dx_scratch_floats() floats, 0 = none): each W block is
// first copied into 16-column panels, so the micro-kernel reads it contiguously. Without packing,
// the 2x16 kernel walks W rows K·4 bytes apart; when that is a multiple of 4 KiB (K = 1024, 2048,
// 3072, 4096: most model widths) every row of a block falls in the same L1 set and dX ran at half
// speed (measured 27 vs 56 GFLOP/s at (1184, 3072, 768)).
export function matmul_bwd_dx_packed(dinp: usize, dout: usize, w: usize, scratch: usize, M: i32, K: i32, N: i32,
  k0: i32, k1: i32): void {
  dx_range<f32>(dinp, dout, w, scratch, M, K, N, k0, k1);
}

// dinp (M, K) += dout (M, N) · w (N, K) with w in bf16.
export function matmul_bwd_dx_bf16(dinp: usize, dout: usize, w: usize, M: i32, K: i32, N: i32): void {
  dx_range<bf16>(dinp, dout, w, 0, M, K, N, 0, K);
}

// Columns [k0, k1) of matmul_bwd_dx_bf16, W blocks widened into f32 panels in scratch
// (dx_scratch_floats() floats, 0 = none) as matmul_bwd_dx_packed packs them.
export function matmul_bwd_dx_bf16_packed(dinp: usize, dout: usize, w: usize, scratch: usize, M: i32, K: i32, N: i32,
  k0: i32, k1: i32): void {
  dx_range<bf16>(dinp, dout, w, scratch, M, K, N, k0, k1);
}

function dx_range<T>(dinp: usize, dout: usize, w: usize, scratch: usize, M: i32, K: i32, N: i32, k0: i32, k1: i32): void {
  if (!ASC_FEATURE_SIMD) {
    dx_scalar<T>(dinp, dout, w, M, K, N, k0, k1);
    return;
  }
  if (M == 1) {
    dx_row<T>(dinp, dout, w, K, N, k0, k1);
    return;
  }
  // a block of W (NB rows, KB columns) stays in L2 while every row pair of dout passes over it
  const KB: i32 = 256;
  const NB = max<i32>(16, L2_BLOCK / (KB << 2));
  const rowK = <usize>K << 2;
  const rowW = <usize>K * sizeof<T>();
  const rowN = <usize>N << 2;
  // packing pays for itself once a few row pairs reuse the block
  const pack = scratch != 0 && M >= 8;
  for (let kb = k0; kb < k1; kb += KB) {
    const ke = min<i32>(kb + KB, k1);
    const ke16 = kb + ((ke - kb) & ~15);
    for (let nb = 0; nb < N; nb += NB) {
      const nn = min<i32>(nb + NB, N) - nb;
      const wb = w + <usize>nb * rowW;
      // panels (ke16 − kb)/16 of (nn, 16) f32: panel p holds W[nb.., kb + 16p .. +16) row after row
      const panel = <usize>nn << 6;
      if (pack) {
        for (let j = 0; j < nn; j++) {
          const src = wb + <usize>j * rowW + <usize>kb * sizeof<T>();
          let dst = scratch + (<usize>j << 6);
          for (let k = kb; k < ke16; k += 16) {
            const o = wofs<T>(<usize>(k - kb) << 2);
            v128.store(dst, wload<T>(src + o, 0));
            v128.store(dst, wload<T>(src + o, 1), 16);
            v128.store(dst, wload<T>(src + o, 2), 32);
            v128.store(dst, wload<T>(src + o, 3), 48);
            dst += panel;
          }
        }
      }
      let m = 0;
      for (; m + 2 <= M; m += 2) {
        const g0 = dout + <usize>m * rowN + (<usize>nb << 2);
        const d0 = dinp + <usize>m * rowK;
        let k = kb;
        if (pack) {
          for (; k < ke16; k += 16) outer_2x16<f32>(d0, rowK, g0, rowN, 4, scratch + (<usize>((k - kb) >> 4)) * panel, 64, nn, k);
        } else {
          for (; k < ke16; k += 16) outer_2x16<T>(d0, rowK, g0, rowN, 4, wb + <usize>k * sizeof<T>(), rowW, nn, k);
        }
        for (; k + 4 <= ke; k += 4) outer_2x4<T>(d0, rowK, g0, rowN, 4, wb + <usize>k * sizeof<T>(), rowW, nn, k);
        for (; k < ke; k++) outer_2x1<T>(d0, rowK, g0, rowN, 4, wb + <usize>k * sizeof<T>(), rowW, nn, k);
      }
      if (m < M) {
        const g0 = dout + <usize>m * rowN + (<usize>nb << 2);
        const d0 = dinp + <usize>m * rowK;
        let k = kb;
        for (; k + 16 <= ke; k += 16) outer_1x16<T>(d0, g0, 4, wb + <usize>k * sizeof<T>(), rowW, nn, k);
        for (; k < ke; k++) outer_2x1<T>(d0, 0, g0, 0, 4, wb + <usize>k * sizeof<T>(), rowW, nn, k, false);
      }
    }
  }
}

// One row: dinp[k0..k1) += Σ_n dout[n] · W[n, k0..k1). Nothing is reused across rows of dout
// here, so W is read once, row after row, in address order (a stream the prefetcher follows),
// while the output row stays in L1.
function dx_row<T>(dinp: usize, dout: usize, w: usize, K: i32, N: i32, k0: i32, k1: i32): void {
  const rowW = <usize>K * sizeof<T>();
  const p = dinp + (<usize>k0 << 2);
  const W = k1 - k0;
  const W16 = W & ~15;
  const W4 = W & ~3;
  for (let n = 0; n < N; n++) {
    const a = v128.load32_splat(dout + (<usize>n << 2));
    const wr = w + <usize>n * rowW + <usize>k0 * sizeof<T>();
    let o: usize = 0;
    for (; o < (<usize>W16 << 2); o += 64) {
      const wp = wr + wofs<T>(o);
      v128.store(p + o, madd(a, wload<T>(wp, 0), v128.load(p + o)));
      v128.store(p + o, madd(a, wload<T>(wp, 1), v128.load(p + o, 16)), 16);
      v128.store(p + o, madd(a, wload<T>(wp, 2), v128.load(p + o, 32)), 32);
      v128.store(p + o, madd(a, wload<T>(wp, 3), v128.load(p + o, 48)), 48);
    }
    for (; o < (<usize>W4 << 2); o += 16) v128.store(p + o, madd(a, wload<T>(wr + wofs<T>(o), 0), v128.load(p + o)));
    const s = f32x4.extract_lane(a, 0);
    for (; o < (<usize>W << 2); o += 4) store<f32>(p + o, load<f32>(p + o) + s * wload1<T>(wr + wofs<T>(o)));
  }
}

// The outer-product micro-kernel shared by both backward GEMMs:
//   C[i, k..k+15] += Σ_j a_i[j] · B[j, k..k+15]   for two rows i
// where a_i[j] sits at a0 + i·aRow + j·aStep (a broadcast scalar) and B row j at b + j·bRow,
// elements of type T. dX: C = dinp, a = dout rows (aStep 4 bytes), B = W (or its f32 panels).
// dW: C = dw, a = dout columns (aStep a row of dout), B = inp. 2 rows × 16 columns = 8 accumulators.
// @ts-ignore: decorator
@inline function outer_2x16<T>(c0: usize, cRow: usize, a0: usize, aRow: usize, aStep: usize, b: usize, bRow: usize, J: i32, k: i32): void {
  const p0 = c0 + (<usize>k << 2);
  const p1 = p0 + cRow;
  let c00 = v128.load(p0), c01 = v128.load(p0, 16), c02 = v128.load(p0, 32), c03 = v128.load(p0, 48);
  let c10 = v128.load(p1), c11 = v128.load(p1, 16), c12 = v128.load(p1, 32), c13 = v128.load(p1, 48);
  let pa = a0;
  let pb = b;
  for (let j = 0; j < J; j++) {
    const x0 = v128.load32_splat(pa);
    const x1 = v128.load32_splat(pa + aRow);
    let v = wload<T>(pb, 0);
    c00 = madd(x0, v, c00); c10 = madd(x1, v, c10);
    v = wload<T>(pb, 1);
    c01 = madd(x0, v, c01); c11 = madd(x1, v, c11);
    v = wload<T>(pb, 2);
    c02 = madd(x0, v, c02); c12 = madd(x1, v, c12);
    v = wload<T>(pb, 3);
    c03 = madd(x0, v, c03); c13 = madd(x1, v, c13);
    pa += aStep;
    pb += bRow;
  }
  v128.store(p0, c00); v128.store(p0, c01, 16); v128.store(p0, c02, 32); v128.store(p0, c03, 48);
  v128.store(p1, c10); v128.store(p1, c11, 16); v128.store(p1, c12, 32); v128.store(p1, c13, 48);
}

// @ts-ignore: decorator
@inline function outer_1x16<T>(c0: usize, a0: usize, aStep: usize, b: usize, bRow: usize, J: i32, k: i32): void {
  const p0 = c0 + (<usize>k << 2);
  let c00 = v128.load(p0), c01 = v128.load(p0, 16), c02 = v128.load(p0, 32), c03 = v128.load(p0, 48);
  let pa = a0;
  let pb = b;
  for (let j = 0; j < J; j++) {
    const x0 = v128.load32_splat(pa);
    c00 = madd(x0, wload<T>(pb, 0), c00);
    c01 = madd(x0, wload<T>(pb, 1), c01);
    c02 = madd(x0, wload<T>(pb, 2), c02);
    c03 = madd(x0, wload<T>(pb, 3), c03);
    pa += aStep;
    pb += bRow;
  }
  v128.store(p0, c00); v128.store(p0, c01, 16); v128.store(p0, c02, 32); v128.store(p0, c03, 48);
}

// two rows × 4 columns: the column tail left after the 16-wide blocks
function outer_2x4<T>(c0: usize, cRow: usize, a0: usize, aRow: usize, aStep: usize, b: usize, bRow: usize, J: i32, k: i32): void {
  const p0 = c0 + (<usize>k << 2);
  const p1 = p0 + cRow;
  let c00 = v128.load(p0), c10 = v128.load(p1);
  let pa = a0;
  let pb = b;
  for (let j = 0; j < J; j++) {
    const v = wload<T>(pb, 0);
    c00 = madd(v128.load32_splat(pa), v, c00);
    c10 = madd(v128.load32_splat(pa + aRow), v, c10);
    pa += aStep;
    pb += bRow;
  }
  v128.store(p0, c00); v128.store(p1, c10);
}

// one or two rows × 1 column: the last columns of a width that is not a multiple of 4
function outer_2x1<T>(c0: usize, cRow: usize, a0: usize, aRow: usize, aStep: usize, b: usize, bRow: usize, J: i32, k: i32,
  two: bool = true): void {
  const p0 = c0 + (<usize>k << 2);
  let s0 = load<f32>(p0);
  let s1: f32 = two ? load<f32>(p0 + cRow) : 0;
  let pa = a0;
  let pb = b;
  for (let j = 0; j < J; j++) {
    const v = wload1<T>(pb);
    s0 += load<f32>(pa) * v;
    if (two) s1 += load<f32>(pa + aRow) * v;
    pa += aStep;
    pb += bRow;
  }
  store<f32>(p0, s0);
  if (two) store<f32>(p0 + cRow, s1);
}

function dx_scalar<T>(dinp: usize, dout: usize, w: usize, M: i32, K: i32, N: i32, k0: i32, k1: i32): void {
  for (let m = 0; m < M; m++) {
    const dx = dinp + (<usize>m * <usize>K << 2);
    const dy = dout + (<usize>m * <usize>N << 2);
    for (let n = 0; n < N; n++) {
      const a = load<f32>(dy + (<usize>n << 2));
      const wr = w + <usize>n * <usize>K * sizeof<T>();
      for (let k = k0; k < k1; k++) {
        const o = <usize>k << 2;
        store<f32>(dx + o, load<f32>(dx + o) + a * wload1<T>(wr + <usize>k * sizeof<T>()));
      }
    }
  }
}

// ─────────────────────── weight gradient: dW += doutᵀ · inp, db += Σ dout ───────────────────────

// dw (N, K) += dout (M, N)ᵀ · inp (M, K); db (N) += Σ_m dout (M, N). For trainable MLPs only.
export function matmul_bwd_dw(dw: usize, db: usize, dout: usize, inp: usize, M: i32, K: i32, N: i32): void {
  const rowK = <usize>K << 2;
  const rowN = <usize>N << 2;
  if (db) {
    for (let m = 0; m < M; m++) add(db, db, dout + <usize>m * rowN, N);
  }
  if (!ASC_FEATURE_SIMD) {
    for (let m = 0; m < M; m++) {
      const x = inp + <usize>m * rowK;
      const dy = dout + <usize>m * rowN;
      for (let n = 0; n < N; n++) {
        const a = load<f32>(dy + (<usize>n << 2));
        const wr = dw + <usize>n * rowK;
        for (let k = 0; k < K; k++) {
          const o = <usize>k << 2;
          store<f32>(wr + o, load<f32>(wr + o) + a * load<f32>(x + o));
        }
      }
    }
    return;
  }
  // dw rows n, n+1 = Σ_m dout[m, n] · inp[m, :]; the inp block (MB rows, KB columns) stays in L2
  const KB: i32 = 256;
  const MB = max<i32>(16, L2_BLOCK / (KB << 2));
  for (let kb = 0; kb < K; kb += KB) {
    const ke = min<i32>(kb + KB, K);
    for (let mb = 0; mb < M; mb += MB) {
      const mm = min<i32>(mb + MB, M) - mb;
      const xb = inp + <usize>mb * rowK;
      const gb = dout + <usize>mb * rowN;
      let n = 0;
      for (; n + 2 <= N; n += 2) {
        const c0 = dw + <usize>n * rowK;
        const a0 = gb + (<usize>n << 2);
        let k = kb;
        for (; k + 16 <= ke; k += 16) outer_2x16<f32>(c0, rowK, a0, 4, rowN, xb + (<usize>k << 2), rowK, mm, k);
        for (; k + 4 <= ke; k += 4) outer_2x4<f32>(c0, rowK, a0, 4, rowN, xb + (<usize>k << 2), rowK, mm, k);
        for (; k < ke; k++) outer_2x1<f32>(c0, rowK, a0, 4, rowN, xb + (<usize>k << 2), rowK, mm, k);
      }
      if (n < N) {
        const c0 = dw + <usize>n * rowK;
        const a0 = gb + (<usize>n << 2);
        let k = kb;
        for (; k + 16 <= ke; k += 16) outer_1x16<f32>(c0, a0, rowN, xb + (<usize>k << 2), rowK, mm, k);
        for (; k < ke; k++) outer_2x1<f32>(c0, 0, a0, 0, rowN, xb + (<usize>k << 2), rowK, mm, k, false);
      }
    }
  }
}
