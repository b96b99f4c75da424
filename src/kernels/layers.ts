// Kernels that only the newer architectures call — partial rotary (Phi-3), sliding-window
// attention (Mistral, Gemma 3), GeGLU (Gemma) — with the argument checks kernels.ts applies.
import { PromptkilnError } from '../errors.js';
import type { Kernels, Opt } from './kernels.js';
import type { Tensor } from './memory.js';

function need(t: Opt, count: number, name: string, kernel: string): number {
  if (!t) {
    if (count === 0) return 0;
    throw new PromptkilnError('SHAPE', `${kernel}: ${name} is required (${count} elements)`);
  }
  if (t.n < count) throw new PromptkilnError('SHAPE', `${kernel}: ${name} holds ${t.n} elements, the shape needs ${count}`);
  return t.ptr;
}

function dims(kernel: string, d: Record<string, number>): void {
  for (const [k, v] of Object.entries(d)) {
    if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new PromptkilnError('SHAPE', `${kernel}: ${k} must be a non-negative integer, got ${v}`);
  }
}

// RoPE on the first rd dims of each head of x (N, nh, hd); cos/sin (maxPos, rd/2).
export function ropePartial(k: Kernels, x: Tensor, pos: Tensor, cos: Tensor, sin: Tensor, N: number, nh: number, hd: number,
  rd: number, mode: 'interleaved' | 'half', inverse = false): void {
  const name = 'ropePartial';
  dims(name, { N, nh, hd, rd });
  if (rd % 2 || rd > hd || rd === 0) throw new PromptkilnError('SHAPE', `${name}: rotary dims must be even, in (0, ${hd}], got ${rd}`);
  need(x, N * nh * hd, 'x', name); need(pos, N, 'pos', name);
  const maxPos = Math.floor(cos.n / (rd / 2));
  need(sin, maxPos * (rd / 2), 'sin', name);
  const p = pos.i32();
  for (let i = 0; i < N; i++) {
    if (p[i] < 0 || p[i] >= maxPos) throw new PromptkilnError('CONTEXT', `${name}: position ${p[i]} outside the table of ${maxPos} positions`);
  }
  k.raw.rope_partial(x.ptr, pos.ptr, cos.ptr, sin.ptr, N, nh, hd, rd, mode === 'interleaved' ? 0 : 1, inverse ? 1 : 0);
}

// Kernels.attention with a sliding window: query i sees the keys of [prefix; sequence] whose index
// is within `window` of its own (P + i + Tk − Tq). Its backward is Kernels.attentionBackward.
export function attentionWindow(k: Kernels, out: Tensor, att: Tensor, q: Tensor, kk: Tensor, v: Tensor, pk: Opt, pv: Opt, mask: Opt,
  B: number, Tq: number, Tk: number, P: number, H: number, Hkv: number, hd: number, window: number): void {
  const name = 'attentionWindow';
  dims(name, { B, Tq, Tk, P, H, Hkv, hd, window });
  if (Hkv === 0 || H % Hkv) throw new PromptkilnError('SHAPE', `${name}: ${H} query heads do not group over ${Hkv} kv heads`);
  if (Tk < Tq) throw new PromptkilnError('SHAPE', `${name}: ${Tk} keys for ${Tq} queries (keys include every query)`);
  need(out, B * Tq * H * hd, 'out', name); need(att, B * H * Tq * (P + Tk), 'att', name);
  need(q, B * Tq * H * hd, 'q', name); need(kk, B * Tk * Hkv * hd, 'k', name); need(v, B * Tk * Hkv * hd, 'v', name);
  need(pk, P * Hkv * hd, 'pk', name); need(pv, P * Hkv * hd, 'pv', name); need(mask, mask ? B * Tk : 0, 'mask', name);
  k.raw.attention_window_fwd(out.ptr, att.ptr, q.ptr, kk.ptr, v.ptr, pk?.ptr ?? 0, pv?.ptr ?? 0, mask?.ptr ?? 0,
    B, Tq, Tk, P, H, Hkv, hd, window, 0, B * H);
}

// out (n) = gelu_tanh(a) · b
export function geglu(k: Kernels, out: Tensor, a: Tensor, b: Tensor, n = a.n): void {
  k.raw.geglu_fwd(need(out, n, 'out', 'geglu'), need(a, n, 'a', 'geglu'), need(b, n, 'b', 'geglu'), n);
}
// da (n) += ∂/∂a, db (n) += ∂/∂b of geglu given dout (n)
export function gegluBackward(k: Kernels, da: Tensor, db: Tensor, dout: Tensor, a: Tensor, b: Tensor, n = a.n): void {
  const name = 'gegluBackward';
  k.raw.geglu_bwd(need(da, n, 'da', name), need(db, n, 'db', name), need(dout, n, 'dout', name), need(a, n, 'a', name), need(b, n, 'b', name), n);
}
