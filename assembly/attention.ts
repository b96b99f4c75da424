// Causal multi-head attention kernels with GQA and shared prefix K/V, forward and backward.
import { madd, hsum, hsum4, vexp } from './simd';
import { axpy, dot, rowmax, scaleRow } from './util';

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

// [q·k0, q·k1, q·k2, q·k3] over n elements: four keys share each load of q, and four independent
// accumulators hide the add latency that a single 64-long dot chain is bound by.
// @ts-ignore: decorator
@inline function dot4(q: usize, k0: usize, k1: usize, k2: usize, k3: usize, n: i32): v128 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const qv = v128.load(q + o);
    a0 = madd(qv, v128.load(k0 + o), a0);
    a1 = madd(qv, v128.load(k1 + o), a1);
    a2 = madd(qv, v128.load(k2 + o), a2);
    a3 = madd(qv, v128.load(k3 + o), a3);
  }
  let r = hsum4(a0, a1, a2, a3);
  if (i < n) {
    let t0: f32 = 0, t1: f32 = 0, t2: f32 = 0, t3: f32 = 0;
    for (; i < n; i++) {
      const o = <usize>i << 2;
      const qs = load<f32>(q + o);
      t0 += qs * load<f32>(k0 + o); t1 += qs * load<f32>(k1 + o);
      t2 += qs * load<f32>(k2 + o); t3 += qs * load<f32>(k3 + o);
    }
    let t = f32x4.splat(t0);
    t = f32x4.replace_lane(t, 1, t1); t = f32x4.replace_lane(t, 2, t2); t = f32x4.replace_lane(t, 3, t3);
    r = f32x4.add(r, t);
  }
  return r;
}

// y (n) += w0·x0 + w1·x1 + w2·x2 + w3·x3: one load/store of y per four rows
// @ts-ignore: decorator
@inline function axpy4(y: usize, w: v128, x0: usize, x1: usize, x2: usize, x3: usize, n: i32): void {
  const w0 = f32x4.splat(f32x4.extract_lane(w, 0)), w1 = f32x4.splat(f32x4.extract_lane(w, 1));
  const w2 = f32x4.splat(f32x4.extract_lane(w, 2)), w3 = f32x4.splat(f32x4.extract_lane(w, 3));
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    let acc = madd(w0, v128.load(x0 + o), v128.load(y + o));
    acc = madd(w1, v128.load(x1 + o), acc);
    acc = madd(w2, v128.load(x2 + o), acc);
    v128.store(y + o, madd(w3, v128.load(x3 + o), acc));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + f32x4.extract_lane(w, 0) * load<f32>(x0 + o) +
      f32x4.extract_lane(w, 1) * load<f32>(x1 + o) + f32x4.extract_lane(w, 2) * load<f32>(x2 + o) +
      f32x4.extract_lane(w, 3) * load<f32>(x3 + o));
  }
}

// dst (count) = scale · (q · key_j), key_j = base + j·stride (bytes)
// @ts-ignore: decorator
@inline function scores(dst: usize, q: usize, base: usize, stride: usize, count: i32, hd: i32, scale: f32): void {
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    const vs = f32x4.splat(scale);
    for (; j + 4 <= count; j += 4) {
      const k0 = base + <usize>j * stride;
      v128.store(dst + (<usize>j << 2),
        f32x4.mul(dot4(q, k0, k0 + stride, k0 + 2 * stride, k0 + 3 * stride, hd), vs));
    }
  }
  for (; j < count; j++) store<f32>(dst + (<usize>j << 2), dot(q, base + <usize>j * stride, hd) * scale);
}

// out (hd) += Σ_j p[j] · val_j over count rows, val_j = base + j·stride; rows with p = 0 skipped
// @ts-ignore: decorator
@inline function wsum(out: usize, p: usize, base: usize, stride: usize, count: i32, hd: i32): void {
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    for (; j + 4 <= count; j += 4) {
      const p4 = v128.load(p + (<usize>j << 2));
      if (!v128.any_true(f32x4.ne(p4, f32x4.splat(0)))) continue; // a padded block
      const v0 = base + <usize>j * stride;
      axpy4(out, p4, v0, v0 + stride, v0 + 2 * stride, v0 + 3 * stride, hd);
    }
  }
  for (; j < count; j++) {
    const pj = load<f32>(p + (<usize>j << 2));
    if (pj != 0) axpy(out, base + <usize>j * stride, hd, pj);
  }
}

// Σ_j p[j] · (d · val_j) over count rows: the softmax backward's row term
// @ts-ignore: decorator
@inline function pdot(p: usize, d: usize, base: usize, stride: usize, count: i32, hd: i32): f32 {
  let s: f32 = 0;
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    let acc = f32x4.splat(0);
    for (; j + 4 <= count; j += 4) {
      const p4 = v128.load(p + (<usize>j << 2));
      if (!v128.any_true(f32x4.ne(p4, f32x4.splat(0)))) continue;
      const v0 = base + <usize>j * stride;
      acc = madd(p4, dot4(d, v0, v0 + stride, v0 + 2 * stride, v0 + 3 * stride, hd), acc);
    }
    s = hsum(acc);
  }
  for (; j < count; j++) {
    const pj = load<f32>(p + (<usize>j << 2));
    if (pj != 0) s += pj * dot(d, base + <usize>j * stride, hd);
  }
  return s;
}

// rows g + r·stride (hd) += a[r] · x (hd) for the four lanes r of a: one of dk/dv when only one is wanted
// @ts-ignore: decorator
@inline function axpyRows4(g: usize, stride: usize, x: usize, a: v128, hd: i32): void {
  axpy(g, x, hd, f32x4.extract_lane(a, 0));
  axpy(g + stride, x, hd, f32x4.extract_lane(a, 1));
  axpy(g + 2 * stride, x, hd, f32x4.extract_lane(a, 2));
  axpy(g + 3 * stride, x, hd, f32x4.extract_lane(a, 3));
}

// dk_j (hd) += ds_j · q and dv_j (hd) += p_j · dout for four consecutive keys j (rows `stride` bytes
// apart) in one pass: q and dout are loaded once per chunk instead of once per key and gradient.
// @ts-ignore: decorator
@inline function kvGrad4(dk0: usize, dv0: usize, stride: usize, qi: usize, ds: v128, doi: usize, p: v128, hd: i32): void {
  const s0 = f32x4.splat(f32x4.extract_lane(ds, 0)), s1 = f32x4.splat(f32x4.extract_lane(ds, 1));
  const s2 = f32x4.splat(f32x4.extract_lane(ds, 2)), s3 = f32x4.splat(f32x4.extract_lane(ds, 3));
  const p0 = f32x4.splat(f32x4.extract_lane(p, 0)), p1 = f32x4.splat(f32x4.extract_lane(p, 1));
  const p2 = f32x4.splat(f32x4.extract_lane(p, 2)), p3 = f32x4.splat(f32x4.extract_lane(p, 3));
  const dk1 = dk0 + stride, dk2 = dk0 + 2 * stride, dk3 = dk0 + 3 * stride;
  const dv1 = dv0 + stride, dv2 = dv0 + 2 * stride, dv3 = dv0 + 3 * stride;
  let i = 0;
  for (; i + 4 <= hd; i += 4) {
    const o = <usize>i << 2;
    const qv = v128.load(qi + o), dov = v128.load(doi + o);
    v128.store(dk0 + o, madd(s0, qv, v128.load(dk0 + o)));
    v128.store(dk1 + o, madd(s1, qv, v128.load(dk1 + o)));
    v128.store(dk2 + o, madd(s2, qv, v128.load(dk2 + o)));
    v128.store(dk3 + o, madd(s3, qv, v128.load(dk3 + o)));
    v128.store(dv0 + o, madd(p0, dov, v128.load(dv0 + o)));
    v128.store(dv1 + o, madd(p1, dov, v128.load(dv1 + o)));
    v128.store(dv2 + o, madd(p2, dov, v128.load(dv2 + o)));
    v128.store(dv3 + o, madd(p3, dov, v128.load(dv3 + o)));
  }
  for (; i < hd; i++) {
    const o = <usize>i << 2;
    const qs = load<f32>(qi + o), ds_ = load<f32>(doi + o);
    store<f32>(dk0 + o, load<f32>(dk0 + o) + f32x4.extract_lane(ds, 0) * qs);
    store<f32>(dk1 + o, load<f32>(dk1 + o) + f32x4.extract_lane(ds, 1) * qs);
    store<f32>(dk2 + o, load<f32>(dk2 + o) + f32x4.extract_lane(ds, 2) * qs);
    store<f32>(dk3 + o, load<f32>(dk3 + o) + f32x4.extract_lane(ds, 3) * qs);
    store<f32>(dv0 + o, load<f32>(dv0 + o) + f32x4.extract_lane(p, 0) * ds_);
    store<f32>(dv1 + o, load<f32>(dv1 + o) + f32x4.extract_lane(p, 1) * ds_);
    store<f32>(dv2 + o, load<f32>(dv2 + o) + f32x4.extract_lane(p, 2) * ds_);
    store<f32>(dv3 + o, load<f32>(dv3 + o) + f32x4.extract_lane(p, 3) * ds_);
  }
}

// The per-key part of the backward over count keys (key j at kb + j·stride, value at vb + j·stride):
//   ds_j = p_j · (dout·v_j − s) · scale;  dq += Σ ds_j k_j;  dk_j += ds_j q;  dv_j += p_j dout
// dq, dkb, dvb may be 0 (not wanted). dkb/dvb address the gradient rows like kb/vb.
// @ts-ignore: decorator
@inline function bwdKeys(dq: usize, dkb: usize, dvb: usize, p: usize, qi: usize, doi: usize, kb: usize, vb: usize,
  stride: usize, count: i32, hd: i32, s: f32, scale: f32): void {
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    const vs = f32x4.splat(s), vsc = f32x4.splat(scale);
    for (; j + 4 <= count; j += 4) {
      const p4 = v128.load(p + (<usize>j << 2));
      if (!v128.any_true(f32x4.ne(p4, f32x4.splat(0)))) continue;
      const o0 = <usize>j * stride;
      const v0 = vb + o0;
      const datt = dot4(doi, v0, v0 + stride, v0 + 2 * stride, v0 + 3 * stride, hd);
      const ds = f32x4.mul(f32x4.mul(p4, f32x4.sub(datt, vs)), vsc);
      if (dq) { const k0 = kb + o0; axpy4(dq, ds, k0, k0 + stride, k0 + 2 * stride, k0 + 3 * stride, hd); }
      if (dkb && dvb) {
        kvGrad4(dkb + o0, dvb + o0, stride, qi, ds, doi, p4, hd);
      } else {
        if (dkb) axpyRows4(dkb + o0, stride, qi, ds, hd);
        if (dvb) axpyRows4(dvb + o0, stride, doi, p4, hd);
      }
    }
  }
  for (; j < count; j++) {
    const pj = load<f32>(p + (<usize>j << 2));
    if (pj == 0) continue;
    const o = <usize>j * stride;
    const ds = pj * (dot(doi, vb + o, hd) - s) * scale;
    if (dq) axpy(dq, kb + o, hd, ds);
    if (dkb) axpy(dkb + o, qi, hd, ds);
    if (dvb) axpy(dvb + o, doi, hd, pj);
  }
}

export function attention_fwd(out: usize, att: usize, q: usize, k: usize, v: usize, pk: usize, pv: usize,
  mask: usize, B: i32, Tq: i32, Tk: i32, P: i32, H: i32, Hkv: i32, hd: i32, bh0: i32, bh1: i32): void {
  attention_window_fwd(out, att, q, k, v, pk, pv, mask, B, Tq, Tk, P, H, Hkv, hd, 0, bh0, bh1);
}

// attention_fwd with a sliding window (Mistral, Gemma 3's local layers): query i, at index
// P + i + (Tk − Tq) of the [prefix; sequence] keys, sees only keys j with (that index) − j < window
// (itself included); window 0 = unlimited. Masked keys get probability 0, so attention_bwd needs
// no window: their scores' gradients vanish with them.
export function attention_window_fwd(out: usize, att: usize, q: usize, k: usize, v: usize, pk: usize, pv: usize,
  mask: usize, B: i32, Tq: i32, Tk: i32, P: i32, H: i32, Hkv: i32, hd: i32, window: i32, bh0: i32, bh1: i32): void {
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>hd);
  const grp = H / Hkv;
  const L = P + Tk;
  const off = Tk - Tq;
  const hdB = <usize>hd << 2;
  const stride = <usize>Hkv * hdB; // bytes between one key row and the next
  for (let bh = bh0; bh < bh1; bh++) {
    const b = bh / H;
    const h = bh - b * H;
    const kh = h / grp;
    const seqOff = (<usize>b * <usize>Tk * <usize>Hkv + <usize>kh) * hdB; // key/value row 0 of (b, kh)
    const preOff = <usize>kh * hdB;
    for (let i = 0; i < Tq; i++) {
      const qi = q + (((<usize>b * <usize>Tq + <usize>i) * <usize>H + <usize>h) * hdB);
      const oi = out + (((<usize>b * <usize>Tq + <usize>i) * <usize>H + <usize>h) * hdB);
      const arow = att + (((<usize>b * <usize>H + <usize>h) * <usize>Tq + <usize>i) * <usize>L << 2);
      // causal: sequence keys 0..last; the rest of the row is probability 0 and never computed
      const nseq = min(i + off, Tk - 1) + 1;
      const nvis = P + nseq;
      const aseq = arow + (<usize>P << 2);
      if (P) scores(arow, qi, pk + preOff, stride, P, hd, scale);
      scores(aseq, qi, k + seqOff, stride, nseq, hd, scale);
      if (mask) {
        const mrow = mask + (<usize>b * <usize>Tk << 2);
        for (let j = 0; j < nseq; j++) {
          if (load<f32>(mrow + (<usize>j << 2)) == 0) store<f32>(aseq + (<usize>j << 2), -Infinity);
        }
      }
      if (window > 0) {
        const first = min(P + i + off - window + 1, nvis); // keys before this one are out of the window
        for (let j = 0; j < first; j++) store<f32>(arow + (<usize>j << 2), -Infinity);
      }
      zeroRow(arow + (<usize>nvis << 2), L - nvis);
      zeroRow(oi, hd);
      const mx = rowmax(arow, nvis);
      if (mx == -Infinity) { // every key masked: attend to nothing, output 0
        zeroRow(arow, nvis);
        continue;
      }
      const inv: f32 = 1.0 / expRow(arow, mx, nvis);
      scaleRow(arow, arow, inv, nvis);
      if (P) wsum(oi, arow, pv + preOff, stride, P, hd);
      wsum(oi, aseq, v + seqOff, stride, nseq, hd);
    }
  }
}

// a (n) = 0. Rows here are short (tens to hundreds of floats): an inline loop avoids memory.fill's
// call into the V8 runtime, twice per query row (measured: ~3% of the stories260K-shape forward).
// @ts-ignore: decorator
@inline function zeroRow(a: usize, n: i32): void {
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    const z = f32x4.splat(0);
    for (; j + 4 <= n; j += 4) v128.store(a + (<usize>j << 2), z);
  }
  for (; j < n; j++) store<f32>(a + (<usize>j << 2), 0);
}

// a (n) = exp(a − m) in place (−∞ → 0); returns the sum
// @ts-ignore: decorator
@inline function expRow(a: usize, m: f32, n: i32): f32 {
  let s: f32 = 0;
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    const vm = f32x4.splat(m);
    let acc = f32x4.splat(0);
    for (; j + 4 <= n; j += 4) {
      const o = <usize>j << 2;
      const e = vexp(f32x4.sub(v128.load(a + o), vm));
      v128.store(a + o, e);
      acc = f32x4.add(acc, e);
    }
    s = hsum(acc);
  }
  for (; j < n; j++) {
    const o = <usize>j << 2;
    const e = Mathf.exp(load<f32>(a + o) - m);
    store<f32>(a + o, e);
    s += e;
  }
  return s;
}

// Accumulates dq (B, Tq, H, hd), dk, dv (B, Tk, Hkv, hd) and, when non-null, dpk, dpv (P, Hkv, hd)
// (summed over the batch) from dout (B, Tq, H, hd) and the saved att. dq/dk/dv may be 0 to skip.
export function attention_bwd(dq: usize, dk: usize, dv: usize, dpk: usize, dpv: usize, dout: usize,
  att: usize, q: usize, k: usize, v: usize, pk: usize, pv: usize,
  B: i32, Tq: i32, Tk: i32, P: i32, H: i32, Hkv: i32, hd: i32): void {
  attention_bwd_range(dq, dk, dv, dpk, dpv, dout, att, q, k, v, pk, pv, B, Tq, Tk, P, H, Hkv, hd, 0, B);
}

// attention_bwd restricted to the sequences b0 ≤ b < b1. Different sequences write disjoint rows
// of dq/dk/dv, so threads may run disjoint ranges at once — but dpk/dpv sum over the batch: a
// threaded caller passes 0 for them (or runs the whole batch on one thread).
export function attention_bwd_range(dq: usize, dk: usize, dv: usize, dpk: usize, dpv: usize, dout: usize,
  att: usize, q: usize, k: usize, v: usize, pk: usize, pv: usize,
  B: i32, Tq: i32, Tk: i32, P: i32, H: i32, Hkv: i32, hd: i32, b0: i32, b1: i32): void {
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>hd);
  const grp = H / Hkv;
  const L = P + Tk;
  const off = Tk - Tq;
  const hdB = <usize>hd << 2;
  const stride = <usize>Hkv * hdB;
  for (let b = b0; b < b1; b++) {
    for (let h = 0; h < H; h++) {
      const kh = h / grp;
      const seqOff = (<usize>b * <usize>Tk * <usize>Hkv + <usize>kh) * hdB;
      const preOff = <usize>kh * hdB;
      for (let i = 0; i < Tq; i++) {
        const rowOff = ((<usize>b * <usize>Tq + <usize>i) * <usize>H + <usize>h) * hdB;
        const qi = q + rowOff;
        const doi = dout + rowOff;
        const arow = att + (((<usize>b * <usize>H + <usize>h) * <usize>Tq + <usize>i) * <usize>L << 2);
        const aseq = arow + (<usize>P << 2);
        // keys past the causal limit have p = 0: not visited
        const nseq = min(i + off, Tk - 1) + 1;
        let s: f32 = pdot(aseq, doi, v + seqOff, stride, nseq, hd);
        if (P) s += pdot(arow, doi, pv + preOff, stride, P, hd);
        const dqi = dq ? dq + rowOff : 0;
        if (P) {
          bwdKeys(dqi, dpk ? dpk + preOff : 0, dpv ? dpv + preOff : 0, arow, qi, doi, pk + preOff, pv + preOff,
            stride, P, hd, s, scale);
        }
        bwdKeys(dqi, dk ? dk + seqOff : 0, dv ? dv + seqOff : 0, aseq, qi, doi, k + seqOff, v + seqOff,
          stride, nseq, hd, s, scale);
      }
    }
  }
}
