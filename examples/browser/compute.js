// The computation every host runs and compares: a GEMM and a log-likelihood through the public
// Kernels API, on deterministic inputs. Plain ESM with no imports, so the page, the worker and
// the Node test (tests/hosts/browser.test.ts) all run exactly this code.

// Deterministic values in [-1, 1): an LCG, so every engine sees the same f32 inputs.
function values(n, seed) {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s >>> 8) / 8388608 - 1;
  }
  return out;
}

// GEMM shapes (M, K, N): a small odd one (scalar tails everywhere) and one the micro-kernel tiles.
export const GEMM_SHAPES = [
  [13, 37, 11],
  [32, 64, 48],
];
// log-likelihood shapes (N, V)
export const LOGLIK_SHAPES = [
  [7, 53],
  [16, 512],
];

/**
 * @param {import('../../dist/index.js').Kernels} k kernels from init()
 * @returns {{ build: string, gemm: number[][], logp: number[][], sums: number[] }}
 */
export function compute(k) {
  const mark = k.heap.mark();
  try {
    const gemm = GEMM_SHAPES.map(([M, K, N], i) => {
      const x = k.from(values(M * K, 1 + i), 'x'); // (M, K)
      const w = k.from(values(N * K, 101 + i), 'w'); // (N, K)
      const b = k.from(values(N, 201 + i), 'bias'); // (N)
      const y = k.alloc(M * N, 'y'); // (M, N)
      k.matmul(y, x, w, b, M, K, N);
      return Array.from(y.f32());
    });
    const logp = [];
    const sums = [];
    LOGLIK_SHAPES.forEach(([N, V], i) => {
      const logits = k.from(values(N * V, 301 + i).map((v) => 4 * v), 'logits'); // (N, V)
      // every fifth row masked (target −1), the rest spread over the vocabulary
      const targets = k.ids(Array.from({ length: N }, (_, r) => (r % 5 === 4 ? -1 : (r * 7919) % V)), 'targets'); // (N)
      const lp = k.alloc(N, 'logp'); // (N)
      sums.push(k.targetLogprobs(lp, logits, targets, N, V));
      logp.push(Array.from(lp.f32()));
    });
    return { build: k.build, gemm, logp, sums };
  } finally {
    k.heap.reset(mark);
  }
}
