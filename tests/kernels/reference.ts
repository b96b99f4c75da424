// Plain scalar references for every non-GEMM kernel in assembly/, in f64. They take the same
// f32 inputs the kernels get (widened exactly) and return Float64Array, so a test's tolerance
// measures only the kernel's f32 rounding. Written for reading, not speed: one loop per formula.
// Shapes follow the kernels' comments (row-major, llm.c style).

export type Arr = ArrayLike<number>;

// ---------------------------------------------------------------- seeded RNG

// mulberry32: small, fast, and the same sequence on every engine
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  // uniform in [0, 1)
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  int(lo: number, hiExclusive: number): number {
    return lo + Math.floor(this.next() * (hiExclusive - lo));
  }
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  // n f32-representable values (so the f64 reference sees exactly what the kernel sees)
  f32(n: number, scale = 1, mean = 0): Float32Array {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = mean + scale * this.normal();
    return a;
  }
  f32Uniform(n: number, lo: number, hi: number): Float32Array {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = this.uniform(lo, hi);
    return a;
  }
  ints(n: number, lo: number, hiExclusive: number): Int32Array {
    const a = new Int32Array(n);
    for (let i = 0; i < n; i++) a[i] = this.int(lo, hiExclusive);
    return a;
  }
}

// Central finite differences of a scalar function of x, in f64.
export function fdGrad(f: (x: Float64Array) => number, x0: Arr, h = 1e-5): Float64Array {
  const x = Float64Array.from(x0);
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const xi = x[i];
    x[i] = xi + h;
    const fp = f(x);
    x[i] = xi - h;
    const fm = f(x);
    x[i] = xi;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

export function dotArr(a: Arr, b: Arr): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

// ---------------------------------------------------------------- elementwise (util.ts)

export const add = (a: Arr, b: Arr) => Float64Array.from(a, (v, i) => v + b[i]);
export const scale = (x: Arr, s: number) => Float64Array.from(x, (v) => v * s);
export const axpy = (y: Arr, x: Arr, a: number) => Float64Array.from(y, (v, i) => v + a * x[i]);
export const sumsq = (x: Arr) => dotArr(x, x);
export function nonfinite(x: Arr): number {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) return 1;
  return 0;
}

// ---------------------------------------------------------------- norms (norm.ts)

// out (N, C), rstd (N)
export function rmsnormFwd(x: Arr, w: Arr, N: number, C: number, eps: number) {
  const out = new Float64Array(N * C);
  const rstd = new Float64Array(N);
  for (let r = 0; r < N; r++) {
    let ss = 0;
    for (let i = 0; i < C; i++) ss += x[r * C + i] ** 2;
    const s = 1 / Math.sqrt(ss / C + eps);
    rstd[r] = s;
    for (let i = 0; i < C; i++) out[r * C + i] = w[i] * s * x[r * C + i];
  }
  return { out, rstd };
}

// dinp (N, C) of Σ dout·rmsnorm(x)
export function rmsnormBwd(dout: Arr, x: Arr, w: Arr, N: number, C: number, eps: number): Float64Array {
  const { rstd } = rmsnormFwd(x, w, N, C, eps);
  const dx = new Float64Array(N * C);
  for (let r = 0; r < N; r++) {
    const s = rstd[r];
    let dot = 0;
    for (let i = 0; i < C; i++) dot += dout[r * C + i] * w[i] * x[r * C + i];
    for (let i = 0; i < C; i++) {
      dx[r * C + i] = s * w[i] * dout[r * C + i] - (s ** 3 * dot / C) * x[r * C + i];
    }
  }
  return dx;
}

// out (N, C), mean (N), rstd (N); biased variance (GPT-2)
export function layernormFwd(x: Arr, w: Arr, b: Arr, N: number, C: number, eps: number) {
  const out = new Float64Array(N * C);
  const mean = new Float64Array(N);
  const rstd = new Float64Array(N);
  for (let r = 0; r < N; r++) {
    let m = 0;
    for (let i = 0; i < C; i++) m += x[r * C + i];
    m /= C;
    let v = 0;
    for (let i = 0; i < C; i++) v += (x[r * C + i] - m) ** 2;
    v /= C;
    const s = 1 / Math.sqrt(v + eps);
    mean[r] = m;
    rstd[r] = s;
    for (let i = 0; i < C; i++) out[r * C + i] = (x[r * C + i] - m) * s * w[i] + b[i];
  }
  return { out, mean, rstd };
}

export function layernormBwd(dout: Arr, x: Arr, w: Arr, N: number, C: number, eps: number): Float64Array {
  const { mean, rstd } = layernormFwd(x, w, new Float64Array(C), N, C, eps);
  const dx = new Float64Array(N * C);
  for (let r = 0; r < N; r++) {
    const m = mean[r], s = rstd[r];
    let dmean = 0, dnx = 0;
    for (let i = 0; i < C; i++) {
      const dn = dout[r * C + i] * w[i];
      dmean += dn;
      dnx += dn * (x[r * C + i] - m) * s;
    }
    dmean /= C;
    dnx /= C;
    for (let i = 0; i < C; i++) {
      const dn = dout[r * C + i] * w[i];
      dx[r * C + i] = s * (dn - dmean - (x[r * C + i] - m) * s * dnx);
    }
  }
  return dx;
}

// ---------------------------------------------------------------- activations (activation.ts)

const GELU_C = Math.sqrt(2 / Math.PI);
export const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(GELU_C * (x + 0.044715 * x ** 3)));
export function geluGrad(x: number): number {
  const t = Math.tanh(GELU_C * (x + 0.044715 * x ** 3));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * x * x);
}
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
export const silu = (x: number) => x * sigmoid(x);
export const siluGrad = (x: number) => sigmoid(x) * (1 + x * (1 - sigmoid(x)));
export const tanhGrad = (y: number) => 1 - y * y; // from the forward output
export const map = (x: Arr, f: (v: number) => number) => Float64Array.from(x, (v) => f(v));

// ---------------------------------------------------------------- RoPE (rope.ts)

// x (N, nh, hd) rotated by the angles of pos (N); cos/sin (maxPos, hd/2). mode 0 interleaved, 1 half.
export function rope(x: Arr, pos: Arr, cos: Arr, sin: Arr, N: number, nh: number, hd: number,
  mode: 0 | 1, inverse: boolean): Float64Array {
  const y = Float64Array.from(x);
  const half = hd / 2;
  for (let r = 0; r < N; r++) {
    for (let h = 0; h < nh; h++) {
      const base = (r * nh + h) * hd;
      for (let j = 0; j < half; j++) {
        const c = cos[pos[r] * half + j];
        const s = (inverse ? -1 : 1) * sin[pos[r] * half + j];
        const i0 = base + (mode === 0 ? 2 * j : j);
        const i1 = base + (mode === 0 ? 2 * j + 1 : j + half);
        const a = x[i0], b = x[i1];
        y[i0] = a * c - b * s;
        y[i1] = a * s + b * c;
      }
    }
  }
  return y;
}

// llama2.c's tables: θ_j = pos / 10000^(2j/hd)
export function ropeTables(maxPos: number, hd: number): { cos: Float32Array; sin: Float32Array } {
  const half = hd / 2;
  const cos = new Float32Array(maxPos * half), sin = new Float32Array(maxPos * half);
  for (let p = 0; p < maxPos; p++) {
    for (let j = 0; j < half; j++) {
      const a = p / Math.pow(10000, (2 * j) / hd);
      cos[p * half + j] = Math.cos(a);
      sin[p * half + j] = Math.sin(a);
    }
  }
  return { cos, sin };
}

// ---------------------------------------------------------------- embedding (embed.ts)

// out (N, C): rows with ids[r] ≥ 0 ← table row; others keep `before`
export function embed(before: Arr, ids: Arr, table: Arr, N: number, C: number): Float64Array {
  const out = Float64Array.from(before);
  for (let r = 0; r < N; r++) {
    if (ids[r] < 0) continue;
    for (let i = 0; i < C; i++) out[r * C + i] = table[ids[r] * C + i];
  }
  return out;
}
export function addPos(before: Arr, pos: Arr, table: Arr, N: number, C: number): Float64Array {
  const out = Float64Array.from(before);
  for (let r = 0; r < N; r++) for (let i = 0; i < C; i++) out[r * C + i] += table[pos[r] * C + i];
  return out;
}

// ---------------------------------------------------------------- attention (attention.ts)

export interface AttnShape { B: number; Tq: number; Tk: number; P: number; H: number; Hkv: number; hd: number }
export interface AttnInputs extends AttnShape {
  q: Arr; // (B, Tq, H, hd)
  k: Arr; v: Arr; // (B, Tk, Hkv, hd)
  pk: Arr | null; pv: Arr | null; // (P, Hkv, hd)
  mask: Arr | null; // (B, Tk)
}

// Which keys query i of batch b may see: every prefix slot, sequence keys j ≤ i + Tk − Tq not masked.
function visible(a: AttnInputs, b: number, i: number, j: number): boolean {
  if (j < a.P) return true;
  const jj = j - a.P;
  if (jj > i + a.Tk - a.Tq) return false;
  return !a.mask || a.mask[b * a.Tk + jj] !== 0;
}
function kvRow(a: AttnInputs, b: number, j: number, kh: number, which: 'k' | 'v'): number[] {
  const src = j < a.P ? (which === 'k' ? a.pk! : a.pv!) : (which === 'k' ? a.k : a.v);
  const off = j < a.P ? (j * a.Hkv + kh) * a.hd : ((b * a.Tk + j - a.P) * a.Hkv + kh) * a.hd;
  return Array.from({ length: a.hd }, (_, d) => src[off + d]);
}

// out (B, Tq, H, hd), att (B, H, Tq, P + Tk)
export function attentionFwd(a: AttnInputs): { out: Float64Array; att: Float64Array } {
  const { B, Tq, Tk, P, H, Hkv, hd } = a;
  const L = P + Tk, grp = H / Hkv, sc = 1 / Math.sqrt(hd);
  const out = new Float64Array(B * Tq * H * hd);
  const att = new Float64Array(B * H * Tq * L);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < Tq; i++) {
    const kh = Math.floor(h / grp);
    const qo = ((b * Tq + i) * H + h) * hd;
    const qi = Array.from({ length: hd }, (_, d) => a.q[qo + d]);
    const s = new Float64Array(L).fill(-Infinity);
    let mx = -Infinity;
    for (let j = 0; j < L; j++) {
      if (!visible(a, b, i, j)) continue;
      s[j] = dotArr(qi, kvRow(a, b, j, kh, 'k')) * sc;
      mx = Math.max(mx, s[j]);
    }
    let sum = 0;
    for (let j = 0; j < L; j++) sum += s[j] === -Infinity ? 0 : Math.exp(s[j] - mx);
    const ao = ((b * H + h) * Tq + i) * L;
    for (let j = 0; j < L; j++) {
      const p = s[j] === -Infinity ? 0 : Math.exp(s[j] - mx) / sum;
      att[ao + j] = p;
      if (p === 0) continue;
      const vj = kvRow(a, b, j, kh, 'v');
      for (let d = 0; d < hd; d++) out[qo + d] += p * vj[d];
    }
  }
  return { out, att };
}

// Gradients of Σ dout·out: dq (B,Tq,H,hd), dk/dv (B,Tk,Hkv,hd), dpk/dpv (P,Hkv,hd) summed over b
export function attentionBwd(a: AttnInputs, dout: Arr) {
  const { B, Tq, Tk, P, H, Hkv, hd } = a;
  const L = P + Tk, grp = H / Hkv, sc = 1 / Math.sqrt(hd);
  const { att } = attentionFwd(a);
  const dq = new Float64Array(B * Tq * H * hd);
  const dk = new Float64Array(B * Tk * Hkv * hd), dv = new Float64Array(B * Tk * Hkv * hd);
  const dpk = new Float64Array(P * Hkv * hd), dpv = new Float64Array(P * Hkv * hd);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < Tq; i++) {
    const kh = Math.floor(h / grp);
    const qo = ((b * Tq + i) * H + h) * hd;
    const ao = ((b * H + h) * Tq + i) * L;
    const doi = Array.from({ length: hd }, (_, d) => dout[qo + d]);
    const datt = new Float64Array(L);
    let s = 0;
    for (let j = 0; j < L; j++) {
      datt[j] = dotArr(doi, kvRow(a, b, j, kh, 'v'));
      s += att[ao + j] * datt[j];
    }
    for (let j = 0; j < L; j++) {
      const p = att[ao + j];
      const ds = p * (datt[j] - s) * sc;
      const kj = kvRow(a, b, j, kh, 'k');
      const off = j < P ? (j * Hkv + kh) * hd : ((b * Tk + j - P) * Hkv + kh) * hd;
      const [gk, gv] = j < P ? [dpk, dpv] : [dk, dv];
      for (let d = 0; d < hd; d++) {
        dq[qo + d] += ds * kj[d];
        gk[off + d] += ds * a.q[qo + d];
        gv[off + d] += p * doi[d];
      }
    }
  }
  return { dq, dk, dv, dpk, dpv };
}

// ---------------------------------------------------------------- softmax family (loss.ts)

export function logsumexp(x: Arr, off = 0, V = x.length): number {
  let m = -Infinity;
  for (let i = 0; i < V; i++) m = Math.max(m, x[off + i]);
  let s = 0;
  for (let i = 0; i < V; i++) s += Math.exp(x[off + i] - m);
  return m + Math.log(s);
}
export function logSoftmax(x: Arr, N: number, V: number): Float64Array {
  const y = new Float64Array(N * V);
  for (let r = 0; r < N; r++) {
    const lse = logsumexp(x, r * V, V);
    for (let i = 0; i < V; i++) y[r * V + i] = x[r * V + i] - lse;
  }
  return y;
}
export const softmax = (x: Arr, N: number, V: number) => logSoftmax(x, N, V).map(Math.exp);

// logp (N): log_softmax[r, t_r], 0 for t_r < 0
export function targetLogprobs(logits: Arr, targets: Arr, N: number, V: number): Float64Array {
  const lp = new Float64Array(N);
  for (let r = 0; r < N; r++) if (targets[r] >= 0) lp[r] = logits[r * V + targets[r]] - logsumexp(logits, r * V, V);
  return lp;
}
// dlogits of scale · Σ_r NLL_r
export function nllBwd(logits: Arr, targets: Arr, sc: number, N: number, V: number): Float64Array {
  const p = softmax(logits, N, V);
  const d = new Float64Array(N * V);
  for (let r = 0; r < N; r++) {
    if (targets[r] < 0) continue;
    for (let i = 0; i < V; i++) d[r * V + i] = sc * (p[r * V + i] - (i === targets[r] ? 1 : 0));
  }
  return d;
}
// kl (N) = Σ_v p (log p − log q), p = exp(tlogp), q = softmax(slogits); terms with p = 0 are 0
export function klFwd(tlogp: Arr, slogits: Arr, N: number, V: number): Float64Array {
  const lq = logSoftmax(slogits, N, V);
  const kl = new Float64Array(N);
  for (let r = 0; r < N; r++) {
    for (let i = 0; i < V; i++) {
      const lp = tlogp[r * V + i];
      if (lp === -Infinity) continue;
      kl[r] += Math.exp(lp) * (lp - lq[r * V + i]);
    }
  }
  return kl;
}
export function klBwd(tlogp: Arr, slogits: Arr, sc: number, N: number, V: number): Float64Array {
  const q = softmax(slogits, N, V);
  return Float64Array.from(q, (qi, i) => sc * (qi - Math.exp(tlogp[i])));
}
export function argmax(x: Arr): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

// ---------------------------------------------------------------- optimizers (optim.ts)

export interface AdamOpts { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; step: number }

// One AdamW step, the formula of ../shared/refs/README.md (PyTorch, bias correction) plus decoupled decay
export function adamw(p: Arr, g: Arr, m: Arr, v: Arr, o: AdamOpts) {
  const P = Float64Array.from(p), M = Float64Array.from(m), Vv = Float64Array.from(v);
  const bc1 = 1 - o.beta1 ** o.step, bc2 = 1 - o.beta2 ** o.step;
  for (let i = 0; i < P.length; i++) {
    P[i] *= 1 - o.lr * o.weightDecay;
    M[i] = o.beta1 * M[i] + (1 - o.beta1) * g[i];
    Vv[i] = o.beta2 * Vv[i] + (1 - o.beta2) * g[i] * g[i];
    P[i] -= (o.lr / bc1) * M[i] / (Math.sqrt(Vv[i]) / Math.sqrt(bc2) + o.eps);
  }
  return { p: P, m: M, v: Vv };
}

// PyTorch SGD (dampening 0): buf = momentum·buf + g; p = p·(1 − lr·wd) − lr·buf
export function sgd(p: Arr, g: Arr, buf: Arr | null, o: { lr: number; momentum: number; weightDecay: number }) {
  const P = Float64Array.from(p);
  const Bf = buf ? Float64Array.from(buf) : null;
  for (let i = 0; i < P.length; i++) {
    let d = g[i];
    if (Bf) d = Bf[i] = o.momentum * Bf[i] + d;
    P[i] = P[i] * (1 - o.lr * o.weightDecay) - o.lr * d;
  }
  return { p: P, buf: Bf };
}
