// Property fuzzing of the three binary parsers and the Hugging Face config readers: whatever the
// input, only PromptkilnError escapes and every call returns promptly. Inputs are mutations of the
// real files (so the parsers get deep before failing) plus arbitrary byte strings / JSON values.
import fc from 'fast-check';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { PromptkilnError } from '../../../src/errors.js';
import { parseGenerationConfig } from '../../../src/model/generation-config.js';
import { hfConfig } from '../../../src/model/hf-config.js';
import { ropeTables } from '../../../src/model/rope.js';
import { parseLlama2c } from '../../../src/model/llama2c.js';
import { parseSafetensors } from '../../../src/model/safetensors.js';
import { parseLlama2cTokenizer } from '../../../src/model/tokenizer-llama2c.js';
import { GPT2_DIR, read, refJson, STORIES_BIN, TOK512 } from './util.js';

const RUNS = 2000;

// Mutations of `base`: overwrite a few int32/bytes, truncate or extend. `hot` is a byte range
// (the header) that gets most of the mutations.
function mutated(base: Uint8Array, hot: number) {
  const edit = fc.record({
    at: fc.oneof(fc.nat(Math.max(0, hot - 1)), fc.nat(base.length - 1)),
    kind: fc.constantFrom('byte', 'int32', 'small'),
    value: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  });
  return fc.record({ edits: fc.array(edit, { maxLength: 4 }), cut: fc.option(fc.nat(base.length), { freq: 3 }), extra: fc.nat(16) }).map(({ edits, cut, extra }) => {
    const b = new Uint8Array((cut ?? base.length) + extra);
    b.set(base.subarray(0, Math.min(base.length, b.length)));
    const dv = new DataView(b.buffer);
    for (const e of edits) {
      if (e.at >= b.length) continue;
      if (e.kind === 'byte') b[e.at] = e.value & 0xff;
      else if (e.at + 4 <= b.length) dv.setInt32(e.at & ~3, e.kind === 'small' ? e.value % 600 : e.value, true);
    }
    return b;
  });
}

export const stats = { calls: 0, typed: 0, ok: 0 };
function onlyTyped(f: () => unknown): void {
  stats.calls++;
  const t0 = performance.now();
  try {
    f();
    stats.ok++;
  } catch (e) {
    if (!(e instanceof PromptkilnError)) throw e;
    stats.typed++;
  }
  expect(performance.now() - t0).toBeLessThan(1000);
}

describe('fuzz', () => {
  afterEach(() => {
    // every generated case reached the parser; some parse (mutations of unused bytes), most fail typed
    expect(stats.calls).toBeGreaterThanOrEqual(RUNS);
    expect(stats.typed).toBeGreaterThan(RUNS / 4);
    expect(stats.ok).toBeGreaterThan(0);
    stats.calls = stats.typed = stats.ok = 0;
  });
  test(`safetensors parser: ${RUNS} cases`, () => {
    const base = read(path.join(GPT2_DIR, 'model.safetensors'));
    // textual header edits reach the JSON validation paths (dtype, shape, offsets)
    const header = new TextDecoder().decode(base.subarray(8, 8 + 2592));
    const jsonEdit = fc.tuple(fc.nat(header.length - 1), fc.constantFrom('0', '9', '-', ']', '"', 'F16', 'I8', '1e9', ',', '{', '}', 'null')).map(([at, s]) => {
      const h = new TextEncoder().encode(header.slice(0, at) + s + header.slice(at + 1));
      const b = new Uint8Array(8 + h.length + base.length - 8 - 2592);
      new DataView(b.buffer).setUint32(0, h.length, true);
      b.set(h, 8);
      b.set(base.subarray(8 + 2592), 8 + h.length);
      return b;
    });
    fc.assert(fc.property(fc.oneof(mutated(base, 16), jsonEdit, fc.uint8Array({ maxLength: 64 })), (b) => onlyTyped(() => parseSafetensors(b))), { numRuns: RUNS });
  });

  test(`llama2.c checkpoint parser: ${RUNS} cases`, () => {
    const base = read(STORIES_BIN);
    const small = base.subarray(0, 4096); // truncations of the header area are the interesting ones
    fc.assert(
      fc.property(fc.oneof(mutated(base, 40), mutated(small, 40), fc.uint8Array({ maxLength: 300 })), (b) =>
        onlyTyped(() => {
          // ak42 magic on a third of the inputs to reach the versioned paths
          if (b.length >= 8 && b[0] % 3 === 0) new DataView(b.buffer).setUint32(0, 0x616b3432, true);
          parseLlama2c(b);
        }),
      ),
      { numRuns: RUNS },
    );
  });

  test(`tokenizer.bin parser (and encoding with what it parsed): ${RUNS} cases`, () => {
    const base = read(TOK512);
    fc.assert(
      fc.property(fc.oneof(mutated(base, 64), fc.uint8Array({ maxLength: 200 })), fc.oneof(fc.constant(undefined), fc.constant(512), fc.integer({ min: -5, max: 2000 })), fc.string({ maxLength: 40 }), (b, vocab, text) =>
        onlyTyped(() => {
          const tok = parseLlama2cTokenizer(b, vocab);
          const ids = tok.encode(text, { eos: true });
          tok.decode(ids);
        }),
      ),
      { numRuns: RUNS },
    );
  });

  // config.json of every refs folder with keys replaced, deleted or added (values drawn from what
  // configs hold, and from nonsense); what parses must also yield finite RoPE tables
  test(`config.json reader (both RoPE forms, every family): ${RUNS} cases`, () => {
    const configs = Object.values<any>(refJson('hf/cases.json').models).map((m) => m.config as Record<string, unknown>);
    const keys = [...new Set(configs.flatMap((c) => Object.keys(c))), 'rope_scaling', 'rope_theta', 'partial_rotary_factor', 'original_max_position_embeddings', 'rope_local_base_freq', 'quantization_config'];
    const ropeDict = fc.record({
      rope_type: fc.constantFrom('default', 'linear', 'llama3', 'yarn', 'longrope', 'dynamic', 'su', undefined),
      type: fc.option(fc.constantFrom('yarn', 'linear'), { nil: undefined }),
      rope_theta: fc.option(fc.oneof(fc.double(), fc.constantFrom(1e4, 5e5, 0, -1)), { nil: undefined }),
      factor: fc.option(fc.oneof(fc.double({ min: -2, max: 64 }), fc.constant(8)), { nil: undefined }),
      low_freq_factor: fc.option(fc.double({ min: -1, max: 8 }), { nil: undefined }),
      high_freq_factor: fc.option(fc.double({ min: -1, max: 8 }), { nil: undefined }),
      original_max_position_embeddings: fc.option(fc.oneof(fc.integer({ min: -4, max: 4096 }), fc.double()), { nil: undefined }),
      beta_fast: fc.option(fc.double({ min: -4, max: 64 }), { nil: undefined }),
      truncate: fc.option(fc.oneof(fc.boolean(), fc.constant('yes')), { nil: undefined }),
      short_factor: fc.option(fc.array(fc.double({ min: -1, max: 4 }), { maxLength: 8 }), { nil: undefined }),
      long_factor: fc.option(fc.array(fc.double({ min: -1, max: 4 }), { maxLength: 8 }), { nil: undefined }),
      partial_rotary_factor: fc.option(fc.double({ min: -0.5, max: 1.5 }), { nil: undefined }),
    }, { requiredKeys: [] });
    const value = fc.oneof(fc.constant(null), fc.boolean(), fc.integer({ min: -3, max: 600 }), fc.double(), fc.string({ maxLength: 12 }),
      fc.array(fc.oneof(fc.integer({ min: -1, max: 400 }), fc.constantFrom('full_attention', 'sliding_attention', 'chunked_attention')), { maxLength: 4 }),
      ropeDict, fc.record({ full_attention: ropeDict, sliding_attention: ropeDict }), fc.jsonValue({ maxDepth: 2 }));
    const edit = fc.record({ key: fc.constantFrom(...keys), value, drop: fc.boolean() });
    fc.assert(
      fc.property(fc.nat(configs.length - 1), fc.array(edit, { maxLength: 4 }), fc.boolean(), (which, edits, asText) =>
        onlyTyped(() => {
          const c: Record<string, unknown> = structuredClone(configs[which]);
          for (const e of edits) {
            if (e.drop) delete c[e.key];
            else c[e.key] = e.value;
          }
          const cfg = hfConfig(asText ? JSON.stringify(c) : c);
          for (const r of [cfg.rope, cfg.ropeLocal]) {
            if (!r) continue;
            const t = ropeTables(r, 4);
            expect(t.cos.every(Number.isFinite) && t.sin.every(Number.isFinite)).toBe(true);
          }
        }),
      ),
      { numRuns: RUNS },
    );
  });

  test(`generation_config.json reader: ${RUNS} cases`, () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 40 }), fc.jsonValue({ maxDepth: 2 }).map((j) => JSON.stringify(j)),
        fc.record({ eos_token_id: fc.jsonValue({ maxDepth: 1 }), bos_token_id: fc.jsonValue({ maxDepth: 1 }) }).map((j) => JSON.stringify(j))), (text) =>
        onlyTyped(() => parseGenerationConfig(text))),
      { numRuns: RUNS },
    );
  });
});
