// RoPE and embedding kernels: references, the inverse rotation as backward, typed errors.
import { describe, expect, it } from 'vitest';
import { PromptkilnError } from '../../src/errors.js';
import { BUILDS, expectClose, kernels } from './harness.js';
import * as ref from './reference.js';

describe.each(BUILDS)('rope (%s build)', (build) => {
  const cases = [
    { N: 1, nh: 1, hd: 2 }, { N: 3, nh: 5, hd: 6 }, { N: 7, nh: 3, hd: 10 }, { N: 13, nh: 2, hd: 34 }, { N: 5, nh: 4, hd: 64 },
  ];
  for (const mode of ['interleaved', 'half'] as const) {
    it(`${mode}: forward and inverse match the f64 reference; inverse undoes forward`, async () => {
      const k = await kernels(build);
      const rng = new ref.Rng(21);
      for (const { N, nh, hd } of cases) {
        k.heap.scope(() => {
          const maxPos = 40;
          const { cos, sin } = ref.ropeTables(maxPos, hd);
          const x = rng.f32(N * nh * hd), pos = rng.ints(N, 0, maxPos);
          const X = k.from(x), Pos = k.ids(pos), Cos = k.from(cos), Sin = k.from(sin);
          const m = mode === 'interleaved' ? 0 : 1;
          k.rope(X, Pos, Cos, Sin, N, nh, hd, mode);
          expectClose(X.f32(), ref.rope(x, pos, cos, sin, N, nh, hd, m, false), { abs: 1e-6, rel: 1e-6 }, `rope ${mode} N=${N} hd=${hd}`);
          const y = X.f32().slice();
          k.rope(X, Pos, Cos, Sin, N, nh, hd, mode, true);
          expectClose(X.f32(), ref.rope(y, pos, cos, sin, N, nh, hd, m, true), { abs: 1e-6, rel: 1e-6 }, `rope⁻¹ ${mode}`);
          expectClose(X.f32(), x, { abs: 2e-6, rel: 1e-6 }, `rope⁻¹∘rope ${mode}`);
        });
      }
    });
  }

  it('the inverse rotation is the backward: ⟨dy, R x⟩ = ⟨R⁻¹ dy, x⟩', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(22);
    k.heap.scope(() => {
      const N = 5, nh = 3, hd = 10;
      const { cos, sin } = ref.ropeTables(16, hd);
      const x = rng.f32(N * nh * hd), dy = rng.f32(N * nh * hd), pos = rng.ints(N, 0, 16);
      const D = k.from(dy);
      k.rope(D, k.ids(pos), k.from(cos), k.from(sin), N, nh, hd, 'half', true);
      const fd = ref.fdGrad((xx) => ref.dotArr(dy, ref.rope(xx, pos, cos, sin, N, nh, hd, 1, false)), x);
      expectClose(D.f32(), fd, { abs: 3e-5, rel: 1e-3 }, 'rope backward vs FD');
    });
  });

  it('rejects an odd head size (SHAPE) and a position outside the table (CONTEXT)', async () => {
    const k = await kernels(build);
    k.heap.scope(() => {
      const { cos, sin } = ref.ropeTables(4, 4);
      const C = k.from(cos), S = k.from(sin);
      expect(() => k.rope(k.alloc(5), k.ids([0]), C, S, 1, 1, 5, 'half')).toThrow(expect.objectContaining({ code: 'SHAPE' }));
      expect(() => k.rope(k.alloc(4), k.ids([4]), C, S, 1, 1, 4, 'half')).toThrow(expect.objectContaining({ code: 'CONTEXT' }));
      expect(() => k.rope(k.alloc(7), k.ids([0, 1]), C, S, 2, 1, 4, 'half')).toThrow(/x holds 7/);
      // cos sets the table length; a shorter sin would be read past its end
      expect(() => k.rope(k.alloc(4), k.ids([0]), C, k.from(sin.subarray(0, 6)), 1, 1, 4, 'half')).toThrow(/sin holds 6 elements, the shape needs 8/);
    });
  });
});

describe.each(BUILDS)('embedding (%s build)', (build) => {
  it('gathers rows, leaves soft rows (id < 0) alone, adds positions', async () => {
    const k = await kernels(build);
    const rng = new ref.Rng(23);
    for (const [N, C, V] of [[1, 1, 3], [3, 5, 7], [7, 13, 17], [17, 33, 100], [5, 100, 9]]) {
      k.heap.scope(() => {
        const table = rng.f32(V * C), before = rng.f32(N * C), wpe = rng.f32(40 * C);
        const ids = rng.ints(N, -1, V), pos = rng.ints(N, 0, 40);
        const out = k.from(before);
        k.embed(out, k.ids(ids), k.from(table), N, C, V);
        const e = ref.embed(before, ids, table, N, C);
        expect(Array.from(out.f32())).toEqual(Array.from(e)); // a copy is exact
        k.addPositions(out, k.ids(pos), k.from(wpe), N, C);
        expectClose(out.f32(), ref.addPos(e, pos, wpe, N, C), { abs: 0, rel: 1e-7 }, `add_pos N=${N} C=${C}`);
      });
    }
  });

  it('an out-of-vocabulary id is a TOKEN error naming the row; a short table is SHAPE', async () => {
    const k = await kernels(build);
    k.heap.scope(() => {
      const table = k.alloc(10 * 4), out = k.alloc(3 * 4);
      try {
        k.embed(out, k.ids([1, 10, 2]), table, 3, 4, 10);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(PromptkilnError);
        expect((e as PromptkilnError).code).toBe('TOKEN');
        expect((e as Error).message).toMatch(/token id 10 at row 1 is outside the vocabulary of 10/);
      }
      expect(() => k.embed(out, k.ids([0, 1, 2]), table, 3, 4, 11)).toThrow(expect.objectContaining({ code: 'SHAPE' }));
      expect(() => k.addPositions(out, k.ids([0, 1, 10]), table, 3, 4)).toThrow(expect.objectContaining({ code: 'CONTEXT' }));
    });
  });
});
