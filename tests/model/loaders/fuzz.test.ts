// Property fuzzing of the three binary parsers: whatever the bytes, only PromptkilnError escapes
// and every call returns promptly. Inputs are mutations of the real files (so the parsers get
// deep before failing) plus arbitrary byte strings.
import fc from 'fast-check';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { PromptkilnError } from '../../../src/errors.js';
import { parseLlama2c } from '../../../src/model/llama2c.js';
import { parseSafetensors } from '../../../src/model/safetensors.js';
import { parseLlama2cTokenizer } from '../../../src/model/tokenizer-llama2c.js';
import { GPT2_DIR, read, STORIES_BIN, TOK512 } from './util.js';

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
});
