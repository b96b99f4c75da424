/*
 * promptkiln.h — the C ABI of the promptkiln kernel module (wasm/promptkiln.*.wasm).
 *
 * The module is AssemblyScript compiled to WebAssembly in three single-thread builds with the
 * same exports — promptkiln.simd.wasm, promptkiln.relaxed.wasm (relaxed-SIMD FMA) and
 * promptkiln.portable.wasm (no SIMD: wasm2c, interpreters, old engines) — and a threaded build,
 * promptkiln.threads.wasm, that imports its shared memory as env.memory. The single-thread builds
 * export their memory and import nothing, so any WebAssembly host (wasm2c, wasmtime, wasmer,
 * wazero, wasm-interp) can run them.
 *
 * Conventions
 *   - One exported linear memory, "memory". Pointers are uint32_t byte offsets into it; 0 means
 *     "absent" where a comment says a buffer is optional.
 *   - Tensors are f32, row-major, 4-byte aligned (16-byte alignment is faster, not required).
 *     Shapes are written llm.c style: out (M, N) is M rows of N floats.
 *   - Sizes are int32_t element counts, never bytes. Index buffers (ids, targets, pos) are int32_t.
 *   - Kernels trust their arguments: nothing is bounds-checked here (the TypeScript SDK checks
 *     every call before it reaches the module). Place your buffers at or above heap_base(),
 *     growing the memory first if needed (memory.grow, or your runtime's equivalent).
 *   - Backward kernels accumulate ("+=") into their gradient outputs unless the comment says
 *     "writes": zero them first (zero()).
 *
 * Names: export `x` of the module is declared here as `promptkiln_x`. How a host binds those
 * names to an instance is its own business: wasm/examples/c/ shows wasm2c (its generated
 * Z_promptkilnZ_x(instance, ...) functions are forwarded by a generated glue file that includes
 * this header, so gcc checks every signature below against the module).
 *
 * ABI version: the module exports abi_version() (and the global ABI_VERSION). Check it against
 * PROMPTKILN_ABI_VERSION before the first call. The version is bumped whenever an export's name,
 * argument list or meaning changes; tests/hosts/header.test.ts fails when this header and the
 * module's exports disagree.
 *
 * This header is the one written statement of the ABI: the TypeScript SDK's type of the exports
 * (src/kernels/exports.ts) is generated from it by scripts/gen-exports.mjs, comments included.
 */
#ifndef PROMPTKILN_H
#define PROMPTKILN_H

#include <stdint.h>

#define PROMPTKILN_ABI_VERSION 1

/* build_kind() values */
#define PROMPTKILN_BUILD_PORTABLE 0
#define PROMPTKILN_BUILD_SIMD 1
#define PROMPTKILN_BUILD_RELAXED 2

/* rope() modes */
#define PROMPTKILN_ROPE_INTERLEAVED 0 /* llama2.c / Meta: pairs (2j, 2j+1) */
#define PROMPTKILN_ROPE_HALF 1        /* Hugging Face Llama: rotate-half, pairs (j, j + hd/2) */

#ifdef __cplusplus
extern "C" {
#endif

/* ---- module ------------------------------------------------------------------------------ */

/* The ABI version this module was built with; must equal PROMPTKILN_ABI_VERSION. */
int32_t promptkiln_abi_version(void);

/* First byte above the module's static data: hosts place their arena from here. */
uint32_t promptkiln_heap_base(void);

/* PROMPTKILN_BUILD_PORTABLE (0), PROMPTKILN_BUILD_SIMD (1) or PROMPTKILN_BUILD_RELAXED (2). */
int32_t promptkiln_build_kind(void);

/* Runs a 3x5·(4x5)ᵀ GEMM and a log-likelihood on known values, written at heap_base().
 * Returns 0 on success, else the number of the failed check (for hosts that cannot pass
 * memory in, e.g. `wasm-interp --run-all-exports`). Overwrites 256 bytes at heap_base(). */
int32_t promptkiln_self_test(void);

/* AssemblyScript's start function, exported (asc --exportStart) so that it never runs implicitly.
 * It is empty in this module; hosts need not call it. */
void promptkiln__start_unused(void);

/* ---- elementwise (util.ts); sizes are element counts ------------------------------------- */

/* x (n) = 0 */
void promptkiln_zero(uint32_t x, int32_t n);

/* dst (n) = src (n); regions may overlap */
void promptkiln_copy(uint32_t dst, uint32_t src, int32_t n);

/* out (n) = a (n) + b (n); out may alias a or b (residual connections) */
void promptkiln_add(uint32_t out, uint32_t a, uint32_t b, int32_t n);

/* x (n) *= s */
void promptkiln_scale(uint32_t x, int32_t n, float s);

/* y (n) += a · x (n) */
void promptkiln_axpy(uint32_t y, uint32_t x, int32_t n, float a);

/* Σ x² over x (n), accumulated in f64 lanes (global-norm clipping over millions of parameters) */
float promptkiln_sumsq(uint32_t x, int32_t n);

/* 1 if any element of x (n) is NaN or ±Inf, else 0 */
int32_t promptkiln_nonfinite(uint32_t x, int32_t n);

/* ---- linear layers (gemm.ts); W is (N, K) row-major, "out, in" (PyTorch nn.Linear) -------- */

/* out (M, N) = inp (M, K) · w (N, K)ᵀ + bias (N); bias == 0 means no bias. */
void promptkiln_matmul_fwd(uint32_t out, uint32_t inp, uint32_t w, uint32_t bias,
                           int32_t M, int32_t K, int32_t N);

/* dinp (M, K) += dout (M, N) · w (N, K). The input gradient of a frozen layer. */
void promptkiln_matmul_bwd_dx(uint32_t dinp, uint32_t dout, uint32_t w,
                              int32_t M, int32_t K, int32_t N);

/* Columns [n0, n1) of out (M, N) = inp (M, K) · w (N, K)ᵀ + bias (N): one thread's share of
 * matmul_fwd, for hosts that split a GEMM across threads on a shared memory. */
void promptkiln_matmul_fwd_range(uint32_t out, uint32_t inp, uint32_t w, uint32_t bias,
                                 int32_t M, int32_t K, int32_t N, int32_t n0, int32_t n1);

/* Columns [k0, k1) of dinp (M, K) += dout (M, N) · w (N, K): one thread's share of matmul_bwd_dx. */
void promptkiln_matmul_bwd_dx_range(uint32_t dinp, uint32_t dout, uint32_t w,
                                    int32_t M, int32_t K, int32_t N, int32_t k0, int32_t k1);

/* Floats of scratch that matmul_bwd_dx_packed, matmul_bwd_dx_bf16_packed and matmul_fwd_bf16_packed
 * want (one W block, as f32). */
int32_t promptkiln_dx_scratch_floats(void);

/* matmul_bwd_dx_range with a caller's scratch (dx_scratch_floats() floats, 0 = none; one per
 * concurrent caller): W blocks are packed into 16-column panels first. Without it, dX runs at half
 * speed when K·4 is a multiple of 4 KiB (K = 1024, 2048, 3072, 4096: W rows alias in L1). */
void promptkiln_matmul_bwd_dx_packed(uint32_t dinp, uint32_t dout, uint32_t w, uint32_t scratch,
                                     int32_t M, int32_t K, int32_t N, int32_t k0, int32_t k1);

/* dw (N, K) += dout (M, N)ᵀ · inp (M, K); db (N) += Σ_m dout (M, N) (db == 0: none).
 * For trainable MLPs only. */
void promptkiln_matmul_bwd_dw(uint32_t dw, uint32_t db, uint32_t dout, uint32_t inp,
                              int32_t M, int32_t K, int32_t N);

/* ---- 16-bit weights (gemm.ts, bf16.ts) -----------------------------------------------------
 * A frozen layer's W may be stored in bf16: uint16_t elements, each the high half of an f32
 * (2-byte aligned; 16-byte alignment is faster). The GEMMs widen it in registers; their loops,
 * blocks and summation order are those of the f32 kernels, so a bf16 GEMM returns bit for bit what
 * the f32 GEMM of the same build returns on the widened weights. f16 buffers are IEEE half. */

/* out (M, N) = inp (M, K) · w (N, K)ᵀ + bias (N), w bf16; bias == 0 means no bias. */
void promptkiln_matmul_fwd_bf16(uint32_t out, uint32_t inp, uint32_t w, uint32_t bias,
                                int32_t M, int32_t K, int32_t N);

/* Columns [n0, n1) of matmul_fwd_bf16 (one thread's share) with a caller's scratch
 * (dx_scratch_floats() floats, 0 = none; one per concurrent caller): when M >= 4 each W panel is
 * widened into it once as f32, and the f32 micro-kernels run there (faster where widening in
 * registers competes with the arithmetic for a port). Same results with or without scratch. */
void promptkiln_matmul_fwd_bf16_packed(uint32_t out, uint32_t inp, uint32_t w, uint32_t bias,
                                       uint32_t scratch, int32_t M, int32_t K, int32_t N, int32_t n0,
                                       int32_t n1);

/* dinp (M, K) += dout (M, N) · w (N, K), w bf16. */
void promptkiln_matmul_bwd_dx_bf16(uint32_t dinp, uint32_t dout, uint32_t w,
                                   int32_t M, int32_t K, int32_t N);

/* Columns [k0, k1) of matmul_bwd_dx_bf16 with a caller's scratch (dx_scratch_floats() floats,
 * 0 = none; one per concurrent caller), into which W blocks are widened as f32 panels, as
 * matmul_bwd_dx_packed packs them. */
void promptkiln_matmul_bwd_dx_bf16_packed(uint32_t dinp, uint32_t dout, uint32_t w, uint32_t scratch,
                                          int32_t M, int32_t K, int32_t N, int32_t k0, int32_t k1);

/* dst (n) bf16 = src (n) f32, rounded to nearest, ties to even (PyTorch's .to(torch.bfloat16));
 * NaN becomes 0x7FC0; finite values past the largest bf16 become ±Inf. */
void promptkiln_f32_to_bf16(uint32_t dst, uint32_t src, int32_t n);

/* dst (n) f32 = src (n) bf16, exact. */
void promptkiln_bf16_to_f32(uint32_t dst, uint32_t src, int32_t n);

/* dst (n) f32 = src (n) f16, exact (subnormals, ±Inf; a NaN keeps its payload and comes out quiet,
 * as x86's vcvtph2ps and PyTorch's .float() make it). */
void promptkiln_f16_to_f32(uint32_t dst, uint32_t src, int32_t n);

/* dst (n) bf16 = src (n) f16 through f32, one rounding to nearest even: 10 mantissa bits become 7,
 * a relative error of at most 2^-8 per weight (f32 keeps f16 exactly at twice the bytes). f16's
 * range lies inside bf16's: nothing overflows or flushes to zero. */
void promptkiln_f16_to_bf16(uint32_t dst, uint32_t src, int32_t n);

/* ---- normalizations over the last axis of (N, C) rows (norm.ts) --------------------------- */

/* out (N, C) = inp (N, C) · rstd · w (C);  rstd (N) = 1 / sqrt(mean(inp²) + eps)  (Llama RMSNorm).
 * rstd == 0: statistics not saved. */
void promptkiln_rmsnorm_fwd(uint32_t out, uint32_t rstd, uint32_t inp, uint32_t w,
                            int32_t N, int32_t C, float eps);

/* dinp (N, C) += ∂/∂inp of rmsnorm given dout (N, C), inp (N, C), w (C), rstd (N) */
void promptkiln_rmsnorm_bwd(uint32_t dinp, uint32_t dout, uint32_t inp, uint32_t w, uint32_t rstd,
                            int32_t N, int32_t C);

/* out (N, C) = (inp − mean) · rstd · w (C) + b (C);  mean, rstd (N)  (GPT-2 LayerNorm, biased
 * variance). mean/rstd == 0: statistics not saved. */
void promptkiln_layernorm_fwd(uint32_t out, uint32_t mean, uint32_t rstd, uint32_t inp, uint32_t w,
                              uint32_t b, int32_t N, int32_t C, float eps);

/* dinp (N, C) += ∂/∂inp of layernorm given dout (N, C), inp (N, C), w (C), mean, rstd (N) */
void promptkiln_layernorm_bwd(uint32_t dinp, uint32_t dout, uint32_t inp, uint32_t w, uint32_t mean,
                              uint32_t rstd, int32_t N, int32_t C);

/* ---- activations over n elements (activation.ts); backward accumulates into dinp ---------- */

/* out (n) = 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³)))  (GPT-2 "gelu_new") */
void promptkiln_gelu_fwd(uint32_t out, uint32_t inp, int32_t n);

/* dinp (n) += gelu'(inp (n)) · dout (n) */
void promptkiln_gelu_bwd(uint32_t dinp, uint32_t inp, uint32_t dout, int32_t n);

/* out (n) = x·σ(x) */
void promptkiln_silu_fwd(uint32_t out, uint32_t inp, int32_t n);

/* dinp (n) += silu'(inp (n)) · dout (n) */
void promptkiln_silu_bwd(uint32_t dinp, uint32_t inp, uint32_t dout, int32_t n);

/* out (n) = silu(a (n)) · b (n)  (Llama SwiGLU: a = w1·x, b = w3·x) */
void promptkiln_swiglu_fwd(uint32_t out, uint32_t a, uint32_t b, int32_t n);

/* da (n) += ∂/∂a, db (n) += ∂/∂b of swiglu given dout (n), a (n), b (n) */
void promptkiln_swiglu_bwd(uint32_t da, uint32_t db, uint32_t dout, uint32_t a, uint32_t b, int32_t n);

/* out (n) = tanh(inp (n))  (prefix reparameterization MLP, RL policy adaptor) */
void promptkiln_tanh_fwd(uint32_t out, uint32_t inp, int32_t n);

/* dinp (n) += (1 − out²) · dout (n), from the saved forward output out (n) */
void promptkiln_tanh_bwd(uint32_t dinp, uint32_t out, uint32_t dout, int32_t n);

/* out (n) = gelu_tanh(a (n)) · b (n)  (Gemma GeGLU: a = gate·x, b = up·x) */
void promptkiln_geglu_fwd(uint32_t out, uint32_t a, uint32_t b, int32_t n);

/* da (n) += ∂/∂a, db (n) += ∂/∂b of geglu given dout (n), a (n), b (n) */
void promptkiln_geglu_bwd(uint32_t da, uint32_t db, uint32_t dout, uint32_t a, uint32_t b, int32_t n);

/* ---- rotary position embedding (rope.ts) -------------------------------------------------- */

/* In place on x (N, nh, hd): row r is rotated by the angles of position pos[r]; pos (N) int32_t.
 * cos, sin (maxPos, hd/2) are tables built by the host, so each checkpoint's angle rounding is
 * reproduced exactly. mode: PROMPTKILN_ROPE_INTERLEAVED (0) or PROMPTKILN_ROPE_HALF (1).
 * inverse != 0 rotates by −angle: the backward of a rotation is its transpose. */
void promptkiln_rope(uint32_t x, uint32_t pos, uint32_t cos, uint32_t sin, int32_t N, int32_t nh,
                     int32_t hd, int32_t mode, int32_t inverse);

/* rope on the first rd (even, ≤ hd) dims of each head of x (N, nh, hd); the rest pass through
 * (partial rotary, Phi-3). cos, sin (maxPos, rd/2); pairs are taken within the rd dims. */
void promptkiln_rope_partial(uint32_t x, uint32_t pos, uint32_t cos, uint32_t sin, int32_t N,
                             int32_t nh, int32_t hd, int32_t rd, int32_t mode, int32_t inverse);

/* ---- embeddings (embed.ts) ---------------------------------------------------------------- */

/* out (N, C) row r = table[ids[r]] for ids[r] ≥ 0; ids (N) int32_t; table (V, C).
 * Rows whose id is negative are left untouched: soft rows the host wrote there. */
void promptkiln_embed_fwd(uint32_t out, uint32_t ids, uint32_t table, int32_t N, int32_t C);

/* out (N, C) row r += table[pos[r]]; pos (N) int32_t; table (maxPos, C). GPT-2's learned
 * positions, added to soft rows too. */
void promptkiln_add_pos(uint32_t out, uint32_t pos, uint32_t table, int32_t N, int32_t C);

/* ---- attention (attention.ts) ------------------------------------------------------------- */

/* Causal multi-head attention with grouped-query heads and an optional block of P shared
 * "prefix" keys/values that every query sees.
 *   q      (B, Tq, H, hd)      queries, RoPE already applied
 *   k, v   (B, Tk, Hkv, hd)    keys/values of the sequence (Tk ≥ Tq: a KV cache holds Tk − Tq
 *                              earlier rows)
 *   pk, pv (P, Hkv, hd)        shared prefix keys/values, or 0 when P == 0
 *   mask   (B, Tk) f32         1 = attend, 0 = padding; 0 (null) = no padding
 *   att    (B, H, Tq, P + Tk)  softmax probabilities, saved for the backward
 *   out    (B, Tq, H, hd)
 * Query i attends prefix slots 0..P−1 and sequence keys j ≤ i + (Tk − Tq). Query head h reads
 * kv head h / (H / Hkv). Scale 1/√hd. Only (batch, head) pairs bh in [bh0, bh1) are computed,
 * bh = b·H + h, so threads can share one call: pass bh0 = 0, bh1 = B·H for all of it. */
void promptkiln_attention_fwd(uint32_t out, uint32_t att, uint32_t q, uint32_t k, uint32_t v,
                              uint32_t pk, uint32_t pv, uint32_t mask, int32_t B, int32_t Tq,
                              int32_t Tk, int32_t P, int32_t H, int32_t Hkv, int32_t hd,
                              int32_t bh0, int32_t bh1);

/* attention_fwd with a sliding window (Mistral, Gemma 3 local layers): query i, at index
 * P + i + (Tk − Tq) of the [prefix; sequence] keys, sees keys j with that index − j < window
 * (itself included); window 0 = unlimited. Masked keys get probability 0, so attention_bwd
 * serves windowed layers unchanged. */
void promptkiln_attention_window_fwd(uint32_t out, uint32_t att, uint32_t q, uint32_t k, uint32_t v,
                                     uint32_t pk, uint32_t pv, uint32_t mask, int32_t B, int32_t Tq,
                                     int32_t Tk, int32_t P, int32_t H, int32_t Hkv, int32_t hd,
                                     int32_t window, int32_t bh0, int32_t bh1);

/* Accumulates dq (B, Tq, H, hd), dk, dv (B, Tk, Hkv, hd) and, when non-null, dpk, dpv (P, Hkv, hd)
 * (summed over the batch) from dout (B, Tq, H, hd) and the saved att (B, H, Tq, P + Tk).
 * dq/dk/dv may be 0 to skip. */
void promptkiln_attention_bwd(uint32_t dq, uint32_t dk, uint32_t dv, uint32_t dpk, uint32_t dpv,
                              uint32_t dout, uint32_t att, uint32_t q, uint32_t k, uint32_t v,
                              uint32_t pk, uint32_t pv, int32_t B, int32_t Tq, int32_t Tk, int32_t P,
                              int32_t H, int32_t Hkv, int32_t hd);

/* attention_bwd for the sequences b0 <= b < b1 only. Different sequences write disjoint rows of
 * dq/dk/dv, so threads may run disjoint ranges at once; dpk/dpv sum over the batch, so a threaded
 * caller passes 0 for them. */
void promptkiln_attention_bwd_range(uint32_t dq, uint32_t dk, uint32_t dv, uint32_t dpk, uint32_t dpv,
                                    uint32_t dout, uint32_t att, uint32_t q, uint32_t k, uint32_t v,
                                    uint32_t pk, uint32_t pv, int32_t B, int32_t Tq, int32_t Tk,
                                    int32_t P, int32_t H, int32_t Hkv, int32_t hd, int32_t b0,
                                    int32_t b1);

/* ---- softmax family and losses over logits (N, V), natural log (loss.ts) ------------------ */

/* log Σ exp over one row x (V) */
float promptkiln_logsumexp(uint32_t x, int32_t V);

/* out (N, V) = softmax(inp (N, V)); out may alias inp */
void promptkiln_softmax(uint32_t out, uint32_t inp, int32_t N, int32_t V);

/* out (N, V) = log_softmax(inp (N, V)); out may alias inp */
void promptkiln_log_softmax(uint32_t out, uint32_t inp, int32_t N, int32_t V);

/* logp (N) = log_softmax(logits (N, V))[r, targets[r]]; targets (N) int32_t, a negative target
 * gives 0. Returns Σ logp: the per-token log-likelihoods of scoring and −(masked NLL sum). */
float promptkiln_target_logprobs(uint32_t logp, uint32_t logits, uint32_t targets, int32_t N, int32_t V);

/* dlogits (N, V) = scale · (softmax(logits (N, V)) − onehot(target)) for rows with target ≥ 0,
 * else 0; targets (N) int32_t. The gradient of scale · Σ_r NLL_r. Writes (does not accumulate);
 * may alias logits. */
void promptkiln_nll_bwd(uint32_t dlogits, uint32_t logits, uint32_t targets, float scale,
                        int32_t N, int32_t V);

/* kl (N) = KL(P ‖ Q) per row, P given as teacher log-probs tlogp (N, V), Q = softmax(slogits
 * (N, V)). Returns the sum over rows. */
float promptkiln_kl_fwd(uint32_t kl, uint32_t tlogp, uint32_t slogits, int32_t N, int32_t V);

/* dslogits (N, V) = scale · (softmax(slogits (N, V)) − exp(tlogp (N, V))): the gradient of
 * scale · Σ_r KL_r. Writes (does not accumulate); may alias slogits. */
void promptkiln_kl_bwd(uint32_t dslogits, uint32_t tlogp, uint32_t slogits, float scale,
                       int32_t N, int32_t V);

/* index of the largest element of x (V); the first one on ties */
int32_t promptkiln_argmax(uint32_t x, int32_t V);

/* ---- optimizer steps on a flat parameter vector p (n) with gradient g (n) (optim.ts) ------ */

/* AdamW with PyTorch's bias correction (step t ≥ 1), m and v (n) updated in place:
 *   p −= lr·wd·p;  m = β1 m + (1−β1) g;  v = β2 v + (1−β2) g²;
 *   p −= (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + eps)
 * wd = 0 is torch.optim.Adam. */
void promptkiln_adamw_step(uint32_t p, uint32_t g, uint32_t m, uint32_t v, int32_t n, float lr,
                           float beta1, float beta2, float eps, float wd, int32_t t);

/* SGD with optional momentum (buf (n), 0 = none) and decoupled weight decay:
 * p (n) updated in place from g (n). */
void promptkiln_sgd_step(uint32_t p, uint32_t g, uint32_t buf, int32_t n, float lr, float momentum,
                         float wd);

#ifdef __cplusplus
}
#endif

#endif /* PROMPTKILN_H */
