// Every kernel module build instantiates, passes its self-test and reports its kind.
import { describe, expect, it } from 'vitest';
import { init } from '../../src/kernels/index.js';
import { BUILDS } from './harness.js';

describe('kernel module', () => {
  for (const build of BUILDS) {
    it(`${build} build instantiates and passes its self-test`, async () => {
      const k = await init({ build });
      expect(k.raw.self_test()).toBe(0);
      expect(k.raw.build_kind()).toBe({ portable: 0, simd: 1, relaxed: 2 }[build]);
    });
  }
});
