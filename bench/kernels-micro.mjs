// Quick timings of the non-GEMM kernels at GPT-2-small shapes (C=768, hidden 3072, V=50257,
// B·T=1024, hd=64), raw exports, one thread. Not part of `npm run bench`: a tool for kernel work.
//   node bench/kernels-micro.mjs [dir-with-wasm=wasm] [build=simd|relaxed|portable] [filter]
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const dir = process.argv[2] ?? 'wasm';
const build = process.argv[3] ?? 'simd';
const filter = process.argv[4] ?? '';
const mod = new WebAssembly.Module(readFileSync(`${dir}/promptkiln.${build}.wasm`));
const ex = new WebAssembly.Instance(mod, { env: { abort() { throw new Error('abort'); } } }).exports;

let top = (ex.heap_base() + 63) & ~63;
function alloc(n, fill = () => Math.random() * 2 - 1) {
  const p = top;
  top += Math.ceil((n * 4) / 64) * 64;
  const need = top - ex.memory.buffer.byteLength;
  if (need > 0) ex.memory.grow(Math.ceil(need / 65536));
  const a = new Float32Array(ex.memory.buffer, p, n);
  for (let i = 0; i < n; i++) a[i] = fill(i);
  return p;
}
function ids(n, f) {
  const p = alloc(n, () => 0);
  const a = new Int32Array(ex.memory.buffer, p, n);
  for (let i = 0; i < n; i++) a[i] = f(i);
  return p;
}

function time(name, fn, bytes) {
  if (filter && !name.includes(filter)) return;
  for (let i = 0; i < 3; i++) fn(); // tier up
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < 300) { fn(); n++; t = performance.now(); }
  const ms = (t - t0) / n;
  console.log(`${build.padEnd(8)} ${name.padEnd(34)} ${ms.toFixed(3).padStart(9)} ms  ${bytes ? ((bytes / ms) / 1e6).toFixed(1).padStart(6) + ' GB/s' : ''}`);
}

const BT = 1024, C = 768, Hd = 3072, V = 50257;
const x = alloc(BT * C), y = alloc(BT * C), dy = alloc(BT * C), dx = alloc(BT * C), w = alloc(C), b = alloc(C);
const mean = alloc(BT), rstd = alloc(BT);
time('layernorm_fwd (1024,768)', () => ex.layernorm_fwd(y, mean, rstd, x, w, b, BT, C, 1e-5), BT * C * 8);
time('layernorm_bwd (1024,768)', () => ex.layernorm_bwd(dx, dy, x, w, mean, rstd, BT, C), BT * C * 16);
time('rmsnorm_fwd (1024,768)', () => ex.rmsnorm_fwd(y, rstd, x, w, BT, C, 1e-5), BT * C * 8);
time('rmsnorm_bwd (1024,768)', () => ex.rmsnorm_bwd(dx, dy, x, w, rstd, BT, C), BT * C * 16);
const h = alloc(BT * Hd), h2 = alloc(BT * Hd), dh = alloc(BT * Hd), hb = alloc(BT * Hd);
time('gelu_fwd (1024·3072)', () => ex.gelu_fwd(h2, h, BT * Hd), BT * Hd * 8);
time('gelu_bwd (1024·3072)', () => ex.gelu_bwd(dh, h, h2, BT * Hd), BT * Hd * 16);
time('silu_fwd (1024·3072)', () => ex.silu_fwd(h2, h, BT * Hd), BT * Hd * 8);
time('silu_bwd (1024·3072)', () => ex.silu_bwd(dh, h, h2, BT * Hd), BT * Hd * 12);
time('swiglu_fwd (1024·3072)', () => ex.swiglu_fwd(h2, h, hb, BT * Hd), BT * Hd * 12);
time('swiglu_bwd (1024·3072)', () => ex.swiglu_bwd(dh, h2, hb, h, hb, BT * Hd), BT * Hd * 28);
time('tanh_fwd (1024·3072)', () => ex.tanh_fwd(h2, h, BT * Hd), BT * Hd * 8);
time('adamw (768·1024)', () => ex.adamw_step(x, dy, y, alloc(0) && dx, BT * C, 1e-3, 0.9, 0.999, 1e-8, 0.01, 3), BT * C * 28);

const NL = 8;
const logits = alloc(NL * V, () => Math.random() * 20 - 10), dl = alloc(NL * V), tl = alloc(NL * V);
ex.log_softmax(tl, logits, NL, V);
const tg = ids(NL, (i) => (i * 7919) % V), lp = alloc(NL);
time('log_softmax (8,50257)', () => ex.log_softmax(dl, logits, NL, V), NL * V * 8);
time('softmax (8,50257)', () => ex.softmax(dl, logits, NL, V), NL * V * 8);
time('target_logprobs (8,50257)', () => ex.target_logprobs(lp, logits, tg, NL, V), NL * V * 4);
time('nll_bwd (8,50257)', () => ex.nll_bwd(dl, logits, tg, 0.125, NL, V), NL * V * 8);
time('kl_fwd (8,50257)', () => ex.kl_fwd(lp, tl, logits, NL, V), NL * V * 8);
time('kl_bwd (8,50257)', () => ex.kl_bwd(dl, tl, logits, 0.125, NL, V), NL * V * 12);

// attention: B=1, T=256 (a quarter of 1024 to keep it short), H=12, hd=64
const T = 256, H = 12, hd = 64;
const q = alloc(T * H * hd), kk = alloc(T * H * hd), vv = alloc(T * H * hd), o = alloc(T * H * hd), att = alloc(H * T * T);
const dq = alloc(T * H * hd), dk = alloc(T * H * hd), dv = alloc(T * H * hd), dout = alloc(T * H * hd);
time('attention_fwd (T=256,H=12,hd=64)', () => ex.attention_fwd(o, att, q, kk, vv, 0, 0, 0, 1, T, T, 0, H, H, hd, 0, H));
time('attention_bwd (T=256,H=12,hd=64)', () => ex.attention_bwd(dq, dk, dv, 0, 0, dout, att, q, kk, vv, 0, 0, 1, T, T, 0, H, H, hd));
const cos = alloc(T * hd / 2), sin = alloc(T * hd / 2), pos = ids(T, (i) => i);
time('rope (T=256,H=12,hd=64) half', () => ex.rope(q, pos, cos, sin, T, H, hd, 1, 0));
time('rope (T=256,H=12,hd=64) interleaved', () => ex.rope(q, pos, cos, sin, T, H, hd, 0, 0));

// 16-bit weight conversions over a GPT-2 MLP weight (3072·768): what loading a bf16 / f16 checkpoint costs
const NW = Hd * C;
const wf = alloc(NW), wh = alloc(NW / 2, () => 0), wb = alloc(NW / 2, () => 0);
time('f32_to_bf16 (3072·768)', () => ex.f32_to_bf16(wb, wf, NW), NW * 6);
time('bf16_to_f32 (3072·768)', () => ex.bf16_to_f32(wf, wb, NW), NW * 6);
time('f16_to_f32 (3072·768)', () => ex.f16_to_f32(wf, wh, NW), NW * 6);
time('f16_to_bf16 (3072·768)', () => ex.f16_to_bf16(wb, wh, NW), NW * 4);
