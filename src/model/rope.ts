// RoPE inverse frequencies and cos/sin tables for every rope type transformers v5 defines that we
// run (default, linear, llama3, yarn, longrope), rounded step by step in f32 as PyTorch computes them.
//
// PyTorch facts the rounding follows: `base ** t` is powf on f32 operands; `s / t` with a Python
// scalar s is `t.reciprocal() * s`; every intermediate tensor is f32; Python-side scalars (yarn's
// correction range, llama3's wavelength bounds) are doubles. cos/sin are taken of the f32 angle
// inv_freq·pos and multiplied by the attention factor (transformers' `attention_scaling`).

import type { ModelConfig, RopeParams } from './types.js';

const f = Math.fround;

// The plain RoPE of a head (what configs without rope_parameters mean).
export function defaultRope(theta: number, headDim: number): RopeParams {
  return {
    type: 'default', theta, rotaryDim: headDim, factor: 1, originalMaxPos: null, lowFreqFactor: null, highFreqFactor: null,
    betaFast: null, betaSlow: null, truncate: true, shortFactor: null, longFactor: null, attentionFactor: 1,
  };
}

// The RoPE of a config's full-attention layers (or of its sliding layers when `local`).
export function ropeOf(c: ModelConfig, local = false): RopeParams {
  if (local && c.ropeLocal) return c.ropeLocal;
  return c.rope ?? defaultRope(c.ropeTheta, c.headDim);
}

// base^(2j/dim) for j < dim/2, as `base ** (arange(0, dim, 2).float() / dim)` in f32
function basePowers(theta: number, dim: number): Float32Array {
  const out = new Float32Array(dim / 2);
  for (let j = 0; j < dim / 2; j++) out[j] = f(Math.pow(f(theta), f((2 * j) / dim)));
  return out;
}

// Inverse frequencies (rotaryDim/2). `long`: longrope's long factors (sequences past originalMaxPos).
export function invFreq(p: RopeParams, long = false): Float32Array {
  const dim = p.rotaryDim;
  const pw = basePowers(p.theta, dim);
  const inv = pw.map((x) => f(1 / x));
  switch (p.type) {
    case 'default':
      return inv;
    case 'linear':
      return inv.map((x) => f(x / f(p.factor)));
    case 'llama3':
      return llama3(inv, p);
    case 'yarn':
      return yarn(pw, p);
    case 'longrope': {
      const ext = (long ? p.longFactor : p.shortFactor)!;
      return pw.map((x, j) => f(1 / f(f(ext[j]) * x)));
    }
  }
}

// Llama 3.1: wavelengths above orig/low_freq_factor are divided by factor, below
// orig/high_freq_factor kept, and smoothly interpolated in between.
function llama3(inv: Float32Array, p: RopeParams): Float32Array {
  const orig = p.originalMaxPos!, lo = p.lowFreqFactor!, hi = p.highFreqFactor!, factor = f(p.factor);
  const lowWavelen = orig / lo; // Python doubles
  const highWavelen = orig / hi;
  const out = new Float32Array(inv.length);
  for (let j = 0; j < inv.length; j++) {
    const wavelen = f(f(1 / inv[j]) * f(2 * Math.PI));
    const scaled = wavelen > f(lowWavelen) ? f(inv[j] / factor) : inv[j];
    const medium = !(wavelen < f(highWavelen)) && !(wavelen > f(lowWavelen));
    if (!medium) {
      out[j] = scaled;
      continue;
    }
    const smooth = f(f(f(f(1 / wavelen) * f(orig)) - f(lo)) / f(hi - lo));
    out[j] = f(f(f(f(1 - smooth) * scaled) / factor) + f(smooth * scaled));
  }
  return out;
}

// YaRN: interpolated (÷ factor) frequencies below the correction range, extrapolated (as trained)
// above it, a linear ramp across it; the range comes from beta_fast/beta_slow rotations over the
// original context.
function yarn(pw: Float32Array, p: RopeParams): Float32Array {
  const dim = p.rotaryDim, base = p.theta, orig = p.originalMaxPos!;
  const betaFast = p.betaFast || 32, betaSlow = p.betaSlow || 1;
  const corrDim = (rot: number) => (dim * Math.log(orig / (rot * 2 * Math.PI))) / (2 * Math.log(base));
  let low = corrDim(betaFast), high = corrDim(betaSlow);
  if (p.truncate) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.max(low, 0);
  high = Math.min(high, dim - 1);
  if (low === high) high += 0.001; // transformers' guard against a zero-width ramp
  const out = new Float32Array(pw.length);
  for (let j = 0; j < pw.length; j++) {
    const ramp = Math.min(1, Math.max(0, f(f(j - f(low)) / f(high - low))));
    const extra = f(1 - ramp); // weight of the extrapolated (unscaled) frequency
    const invExtra = f(1 / pw[j]);
    const invInter = f(1 / f(f(p.factor) * pw[j]));
    out[j] = f(f(invInter * f(1 - extra)) + f(invExtra * extra));
  }
  return out;
}

// cos/sin tables (maxPos, rotaryDim/2) for positions 0..maxPos-1, scaled by the attention factor.
export function ropeTables(p: RopeParams, maxPos: number, long = false): { cos: Float32Array; sin: Float32Array } {
  const inv = invFreq(p, long);
  const half = inv.length;
  const att = f(p.attentionFactor);
  const cos = new Float32Array(maxPos * half);
  const sin = new Float32Array(maxPos * half);
  for (let pos = 0; pos < maxPos; pos++) {
    for (let j = 0; j < half; j++) {
      const a = f(pos * inv[j]);
      cos[pos * half + j] = att === 1 ? Math.cos(a) : f(Math.cos(a)) * att;
      sin[pos * half + j] = att === 1 ? Math.sin(a) : f(Math.sin(a)) * att;
    }
  }
  return { cos, sin };
}

// transformers' default attention factors (used when the config gives none)
export function yarnAttentionFactor(factor: number, mscale: number | null, mscaleAllDim: number | null): number {
  const m = (scale: number, ms = 1) => (scale <= 1 ? 1 : 0.1 * ms * Math.log(scale) + 1);
  return mscale && mscaleAllDim ? m(factor, mscale) / m(factor, mscaleAllDim) : m(factor);
}

export function longropeAttentionFactor(factor: number, originalMaxPos: number): number {
  return factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(originalMaxPos));
}
