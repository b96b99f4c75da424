// The arena allocator: byte accounting (used / peak), reuse of freed ranges, scopes, and the
// typed OOM error under a memory cap.
import { describe, expect, it } from 'vitest';
import { Heap } from '../../src/kernels/index.js';

const fresh = (maxBytes?: number) => new Heap(new WebAssembly.Memory({ initial: 1, maximum: 64 }), 1000, maxBytes);

describe('Heap', () => {
  it('tracks used and peak bytes through alloc, free and scopes', () => {
    const h = fresh();
    const a = h.alloc(10, 'a', false); // 40 bytes round up to one 64-byte line
    const b = h.alloc(100, 'b', false); // 400 → 448
    expect(h.usedBytes).toBe(64 + 448);
    h.scope(() => {
      h.alloc(1000); // 4000 → 4032
      expect(h.usedBytes).toBe(64 + 448 + 4032);
    });
    expect(h.usedBytes).toBe(64 + 448);
    expect(h.peak).toBe(64 + 448 + 4032);
    a.free();
    a.free(); // idempotent: counted once
    expect(h.usedBytes).toBe(448);
    b.free();
    expect(h.usedBytes).toBe(0);
    expect(h.peak).toBe(64 + 448 + 4032);
  });

  it('reuses a freed range, aligned to 64 bytes, and coalesces neighbours', () => {
    const h = fresh();
    const a = h.alloc(16, 'a', false), b = h.alloc(16, 'b', false), c = h.alloc(16, 'c', false);
    expect(a.ptr % 64).toBe(0);
    const end = c.ptr + 64;
    a.free(); b.free(); // one 128-byte hole below c
    const d = h.alloc(32, 'd', false);
    expect(d.ptr).toBe(a.ptr);
    expect(h.alloc(1, 'e', false).ptr).toBe(end); // nothing left in the hole
  });

  it('a request over the cap is an OOM error naming what was allocated', () => {
    const h = fresh(2 * 65536);
    expect(() => h.alloc(65536, 'the KV cache')).toThrow(expect.objectContaining({ code: 'OOM' }));
    expect(() => h.alloc(65536, 'the KV cache')).toThrow(/the KV cache/);
    expect(h.usedBytes).toBe(0);
  });
});
