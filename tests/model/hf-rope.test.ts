// RoPE inverse frequencies and tables (src/model/rope.ts). The llama3 type is also checked end to
// end against transformers (hf-llama3.test.ts); linear, yarn and longrope have no PyTorch case in
// the refs, so they are checked against their published formulas, recomputed here in float64.
import { describe, expect, it } from 'vitest';
import { defaultRope, invFreq, longropeAttentionFactor, ropeTables, yarnAttentionFactor } from '../../src/model/rope.js';
import type { RopeParams } from '../../src/model/types.js';
import { ropeTables as modelRopeTables } from '../../src/model/weights.js';
import { hfConfig } from '../../src/model/hf-config.js';
import * as ref from '../kernels/reference.js';

const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.abs(b[i]));
  return m;
};
const base = (theta: number, d: number) => Array.from({ length: d / 2 }, (_, j) => 1 / Math.pow(theta, (2 * j) / d));
const params = (p: Partial<RopeParams>): RopeParams => ({ ...defaultRope(10000, 128), ...p });

describe('RoPE inverse frequencies', () => {
  it('default: 1/θ^(2j/d), tables rounded as llama2.c run.c (f32 powf, f32 angle), near the float64 ones', () => {
    expect(relErr(invFreq(defaultRope(500000, 64)), base(500000, 64))).toBeLessThan(2e-7);
    const f = Math.fround, hd = 8;
    const mine = ropeTables(defaultRope(10000, hd), 16);
    for (let p = 0; p < 16; p++) {
      for (let j = 0; j < hd / 2; j++) {
        const a = f(p * f(1 / f(Math.pow(10000, f((2 * j) / hd)))));
        expect(mine.cos[p * 4 + j]).toBe(f(Math.cos(a)));
        expect(mine.sin[p * 4 + j]).toBe(f(Math.sin(a)));
      }
    }
    const r = ref.ropeTables(16, hd);
    expect(Math.max(...Array.from(mine.sin, (x, i) => Math.abs(x - r.sin[i])))).toBeLessThan(1e-5);
  });

  it('linear (published formula: θ-frequencies ÷ factor)', () => {
    const inv = invFreq(params({ type: 'linear', factor: 8 }));
    expect(relErr(inv, base(10000, 128).map((x) => x / 8))).toBeLessThan(2e-7);
  });

  it('llama3 (published formula, Meta llama-models apply_scaling) at Llama 3.1 8B settings', () => {
    const [theta, d, factor, lo, hi, orig] = [500000, 128, 8, 1, 4, 8192];
    const want = base(theta, d).map((freq) => {
      const wavelen = (2 * Math.PI) / freq;
      if (wavelen < orig / hi) return freq;
      if (wavelen > orig / lo) return freq / factor;
      const smooth = (orig / wavelen - lo) / (hi - lo);
      return ((1 - smooth) * freq) / factor + smooth * freq;
    });
    const got = invFreq(params({ type: 'llama3', theta, factor, lowFreqFactor: lo, highFreqFactor: hi, originalMaxPos: orig }));
    expect(relErr(got, want)).toBeLessThan(1e-6);
    // all three regimes occur: kept, smoothed, divided
    const ratio = Array.from(got, (g, j) => g / base(theta, d)[j]);
    expect(ratio.some((r) => Math.abs(r - 1) < 1e-6) && ratio.some((r) => Math.abs(r - 1 / 8) < 1e-6) && ratio.some((r) => r > 0.13 && r < 0.99)).toBe(true);
  });

  // YaRN (Peng et al. 2023; transformers _compute_yarn_parameters): ramp over the dims whose
  // rotations in the original context fall between beta_slow and beta_fast
  const yarnRef = (theta: number, d: number, factor: number, orig: number, bf: number, bs: number, truncate: boolean) => {
    const corr = (rot: number) => (d * Math.log(orig / (rot * 2 * Math.PI))) / (2 * Math.log(theta));
    let low = corr(bf), high = corr(bs);
    if (truncate) { low = Math.floor(low); high = Math.ceil(high); }
    low = Math.max(low, 0); high = Math.min(high, d - 1);
    if (low === high) high += 0.001;
    return base(theta, d).map((freq, j) => {
      const ramp = Math.min(1, Math.max(0, (j - low) / (high - low)));
      return (freq / factor) * ramp + freq * (1 - ramp);
    });
  };
  it('yarn (published formula) at Qwen2.5 settings, truncated and not, with beta overrides', () => {
    const q = params({ type: 'yarn', theta: 1e6, factor: 4, originalMaxPos: 32768 });
    expect(relErr(invFreq(q), yarnRef(1e6, 128, 4, 32768, 32, 1, true))).toBeLessThan(1e-6);
    expect(relErr(invFreq({ ...q, truncate: false }), yarnRef(1e6, 128, 4, 32768, 32, 1, false))).toBeLessThan(1e-6);
    expect(relErr(invFreq({ ...q, betaFast: 16, betaSlow: 2 }), yarnRef(1e6, 128, 4, 32768, 16, 2, true))).toBeLessThan(1e-6);
    // the truncated and untruncated ramps differ, so the flag is not a no-op
    expect(relErr(invFreq({ ...q, truncate: false }), invFreq(q))).toBeGreaterThan(1e-3);
  });

  it('yarn attention factor (published formula): 0.1·ln(s) + 1, or the mscale ratio', () => {
    expect(yarnAttentionFactor(4, null, null)).toBeCloseTo(0.1 * Math.log(4) + 1, 14);
    expect(yarnAttentionFactor(40, 1, 0.707)).toBeCloseTo((0.1 * Math.log(40) + 1) / (0.1 * 0.707 * Math.log(40) + 1), 14);
    expect(yarnAttentionFactor(1, null, null)).toBe(1);
    const c = hfConfig({ architectures: ['Qwen2ForCausalLM'], hidden_size: 64, num_attention_heads: 4, num_hidden_layers: 1, intermediate_size: 8, vocab_size: 10, max_position_embeddings: 4096, rope_theta: 1e6, rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 1024 } });
    expect(c.rope).toMatchObject({ type: 'yarn', factor: 4, originalMaxPos: 1024, truncate: true });
    expect(c.rope!.attentionFactor).toBeCloseTo(0.1 * Math.log(4) + 1, 14);
  });

  it('longrope (published formula, Phi-3.5): 1/(short_j · θ^(2j/d)), long factors past the original context; √(1 + ln 32 / ln 4096)', () => {
    const short = Array.from({ length: 48 }, (_, j) => 1 + j / 50);
    const long = Array.from({ length: 48 }, (_, j) => 1 + j);
    const p = params({ type: 'longrope', rotaryDim: 96, shortFactor: short, longFactor: long, originalMaxPos: 4096, attentionFactor: longropeAttentionFactor(32, 4096) });
    expect(relErr(invFreq(p), base(10000, 96).map((x, j) => x / short[j]))).toBeLessThan(5e-7);
    expect(relErr(invFreq(p, true), base(10000, 96).map((x, j) => x / long[j]))).toBeLessThan(5e-7);
    expect(p.attentionFactor).toBeCloseTo(Math.sqrt(1 + Math.log(32) / Math.log(4096)), 14);
    expect(longropeAttentionFactor(1, 4096)).toBe(1);
  });
});

describe('RoPE tables', () => {
  it('(maxPos, rotaryDim/2), cos and sin of pos·inv_freq scaled by the attention factor', () => {
    const p = params({ type: 'yarn', theta: 10000, rotaryDim: 6, factor: 4, originalMaxPos: 16, attentionFactor: 1.25 });
    const inv = invFreq(p);
    const t = ropeTables(p, 40);
    expect(t.cos.length).toBe(40 * 3);
    for (const [pos, j] of [[0, 0], [7, 1], [39, 2]]) {
      expect(t.cos[pos * 3 + j]).toBeCloseTo(1.25 * Math.cos(Math.fround(pos * inv[j])), 6);
      expect(t.sin[pos * 3 + j]).toBeCloseTo(1.25 * Math.sin(Math.fround(pos * inv[j])), 6);
    }
  });

  it("the model's tables come from the config's RoPE (llama3 scaling changes them)", () => {
    const base = { architectures: ['LlamaForCausalLM'], hidden_size: 32, num_attention_heads: 2, num_hidden_layers: 1, intermediate_size: 8, vocab_size: 10, max_position_embeddings: 64 };
    const scaled = hfConfig({ ...base, rope_parameters: { rope_type: 'llama3', rope_theta: 500000, factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 } });
    const plain = hfConfig({ ...base, rope_theta: 500000 });
    const a = modelRopeTables(scaled), b = modelRopeTables(plain);
    expect(Array.from(a.cos)).toEqual(Array.from(ropeTables(scaled.rope!, 64).cos));
    expect(Array.from(a.cos)).not.toEqual(Array.from(b.cos));
  });
});
