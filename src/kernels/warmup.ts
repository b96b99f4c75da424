// Runs each hot kernel on small shapes at init so V8 tiers it up before real work.
import type { Kernels } from './kernels.js';

// V8 runs a fresh WebAssembly function under its baseline compiler (Liftoff) and recompiles it
// with the optimizing one (TurboFan) in the background once it has run enough; a call already
// running never switches. Measured here: the first (128, 768, 768) matmul took ~28 ms against
// 2.5 ms steady; after ~100 tiny calls (about 3 ms) the first real call was 2.5–3.5 ms.
// So init() runs the hot kernels on tiny shapes before handing the module out. Code tiers up per
// module, so worker instances of the same module profit as well.
//
// Shapes are chosen to reach every micro-kernel and tail path once: M odd (the 1-row path), K =
// 69 = 4·16 + 4 + 1 (the 16-, 4- and 1-wide column blocks, the K tail), N = 18 (the 2x4 block
// and its tail).
const ROUNDS = 100;

export function warmUp(k: Kernels): void {
  const r = k.raw;
  const [M, K, N] = [9, 69, 18];
  k.heap.scope(() => {
    const x = k.alloc(M * K), w = k.alloc(N * K), y = k.alloc(M * N), b = k.alloc(N);
    const att = k.alloc(2 * 8 * 8);
    for (const t of [x, w, y, b, att]) k.zero(t);
    for (let i = 0; i < ROUNDS; i++) {
      r.matmul_fwd(y.ptr, x.ptr, w.ptr, b.ptr, M, K, N);
      r.matmul_bwd_dx(x.ptr, y.ptr, w.ptr, M, K, N);
      r.matmul_bwd_dw(w.ptr, b.ptr, y.ptr, x.ptr, M, K, N);
      // (B=1, T=8, H=2, hd=4) over the same zeroed buffers: one causal attention
      r.attention_fwd(y.ptr, att.ptr, x.ptr, x.ptr, x.ptr, 0, 0, 0, 1, 8, 8, 0, 2, 2, 4, 0, 2);
    }
  });
}
