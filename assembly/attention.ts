import { madd, hsum } from './simd';

// Causal multi-head attention with grouped-query heads and an optional block of P shared
// "prefix" keys/values that every query sees (prefix tuning, or a prompt's cached K/V reused
// by many continuations in scoreMany).
//   q    (B, Tq, H, hd)       queries, RoPE already applied
//   k, v (B, Tk, Hkv, hd)     keys/values of the sequence (Tk ≥ Tq: a KV cache holds Tk − Tq earlier rows)
//   pk, pv (P, Hkv, hd)       shared prefix keys/values, or 0 when P == 0
//   mask (B, Tk) f32          1 = attend, 0 = padding; 0 (null) = no padding
//   att  (B, H, Tq, P + Tk)   softmax probabilities, saved for the backward
//   out  (B, Tq, H, hd)
// Query i attends prefix slots 0..P−1 and sequence keys j ≤ i + (Tk − Tq).
// Query head h reads kv head h / (H / Hkv). Scale 1/√hd. Work is split over (b, h) pairs
// [bh0, bh1) so threads can share one call's rows.

// @ts-ignore: decorator
@inline function dot(a: usize, b: usize, n: i32): f32 {
  let s: f32 = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let acc = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) acc = madd(v128.load(a + (<usize>i << 2)), v128.load(b + (<usize>i << 2)), acc);
    s = hsum(acc);
  }
  for (; i < n; i++) s += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  return s;
}

// y (n) += a · x (n)
// @ts-ignore: decorator
@inline function axpy(y: usize, x: usize, a: f32, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const va = f32x4.splat(a);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(y + o, madd(va, v128.load(x + o), v128.load(y + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + a * load<f32>(x + o));
  }
}

export function attention_fwd(out: usize, att: usize, q: usize, k: usize, v: usize, pk: usize, pv: usize,
  mask: usize, B: i32, Tq: i32, Tk: i32, P: i32, H: i32, Hkv: i32, hd: i32, bh0: i32, bh1: i32): void {
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>hd);
  const grp = H / Hkv;
  const L = P + Tk;
  const off = Tk - Tq;
  const hdB = <usize>hd << 2;
  for (let bh = bh0; bh < bh1; bh++) {
    const b = bh / H;
    const h = bh - b * H;
    const kh = h / grp;
    for (let i = 0; i < Tq; i++) {
      const qi = q + (((<usize>b * <usize>Tq + <usize>i) * <usize>H + <usize>h) * hdB);
      const arow = att + (((<usize>b * <usize>H + <usize>h) * <usize>Tq + <usize>i) * <usize>L << 2);
      let mx: f32 = -Infinity;
      for (let j = 0; j < P; j++) {
        const s = dot(qi, pk + ((<usize>j * <usize>Hkv + <usize>kh) * hdB), hd) * scale;
        store<f32>(arow + (<usize>j << 2), s);
        if (s > mx) mx = s;
      }
      const last = min(i + off, Tk - 1);
      for (let j = 0; j < Tk; j++) {
        let s: f32 = -Infinity;
        if (j <= last && (mask == 0 || load<f32>(mask + ((<usize>b * <usize>Tk + <usize>j) << 2)) != 0)) {
          s = dot(qi, k + (((<usize>b * <usize>Tk + <usize>j) * <usize>Hkv + <usize>kh) * hdB), hd) * scale;
          if (s > mx) mx = s;
        }
        store<f32>(arow + (<usize>(P + j) << 2), s);
      }
      let sum: f32 = 0;
      for (let j = 0; j < L; j++) {
        const s = load<f32>(arow + (<usize>j << 2));
        const e: f32 = s == -Infinity ? 0 : Mathf.exp(s - mx);
        store<f32>(arow + (<usize>j << 2), e);
        sum += e;
      }
      const inv: f32 = sum > 0 ? 1.0 / sum : 0;
      const oi = out + (((<usize>b * <usize>Tq + <usize>i) * <usize>H + <usize>h) * hdB);
      memory.fill(oi, 0, hdB);
      for (let j = 0; j < L; j++) {
        const p = load<f32>(arow + (<usize>j << 2)) * inv;
        store<f32>(arow + (<usize>j << 2), p);
        if (p == 0) continue;
        const vj = j < P
          ? pv + ((<usize>j * <usize>Hkv + <usize>kh) * hdB)
          : v + (((<usize>b * <usize>Tk + <usize>(j - P)) * <usize>Hkv + <usize>kh) * hdB);
        axpy(oi, vj, p, hd);
      }
    }
  }
}

// Accumulates dq (B, Tq, H, hd), dk, dv (B, Tk, Hkv, hd) and, when non-null, dpk, dpv (P, Hkv, hd)
// (summed over the batch) from dout (B, Tq, H, hd) and the saved att. dq/dk/dv may be 0 to skip.
export function attention_bwd(dq: usize, dk: usize, dv: usize, dpk: usize, dpv: usize, dout: usize,
  att: usize, q: usize, k: usize, v: usize, pk: usize, pv: usize,
  B: i32, Tq: i32, Tk: i32, P: i32, H: i32, Hkv: i32, hd: i32): void {
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>hd);
  const grp = H / Hkv;
  const L = P + Tk;
  const hdB = <usize>hd << 2;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kh = h / grp;
      for (let i = 0; i < Tq; i++) {
        const rowOff = ((<usize>b * <usize>Tq + <usize>i) * <usize>H + <usize>h) * hdB;
        const qi = q + rowOff;
        const doi = dout + rowOff;
        const arow = att + (((<usize>b * <usize>H + <usize>h) * <usize>Tq + <usize>i) * <usize>L << 2);
        // s = Σ_j p_j (dout·v_j): the softmax backward's row term
        let s: f32 = 0;
        for (let j = 0; j < L; j++) {
          const p = load<f32>(arow + (<usize>j << 2));
          if (p == 0) continue;
          const vj = j < P
            ? pv + ((<usize>j * <usize>Hkv + <usize>kh) * hdB)
            : v + (((<usize>b * <usize>Tk + <usize>(j - P)) * <usize>Hkv + <usize>kh) * hdB);
          s += p * dot(doi, vj, hd);
        }
        for (let j = 0; j < L; j++) {
          const p = load<f32>(arow + (<usize>j << 2));
          if (p == 0) continue;
          const isPre = j < P;
          const kvOff = isPre
            ? (<usize>j * <usize>Hkv + <usize>kh) * hdB
            : ((<usize>b * <usize>Tk + <usize>(j - P)) * <usize>Hkv + <usize>kh) * hdB;
          const vj = (isPre ? pv : v) + kvOff;
          const kj = (isPre ? pk : k) + kvOff;
          const datt = dot(doi, vj, hd);
          const ds = p * (datt - s) * scale;
          if (dq) axpy(dq + rowOff, kj, ds, hd);
          if (isPre) {
            if (dpk) axpy(dpk + kvOff, qi, ds, hd);
            if (dpv) axpy(dpv + kvOff, doi, p, hd);
          } else {
            if (dk) axpy(dk + kvOff, qi, ds, hd);
            if (dv) axpy(dv + kvOff, doi, p, hd);
          }
        }
      }
    }
  }
}
