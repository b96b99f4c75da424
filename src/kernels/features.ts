// Feature detection by validating tiny hand-assembled modules: cheaper than fetching a full build
// the engine might reject, and it works the same in Node, browsers and workers.

// (module (func (result v128) (v128.const i32x4 0 0 0 0)))
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b,
  0x03, 0x02, 0x01, 0x00,
  0x0a, 0x16, 0x01, 0x14, 0x00, 0xfd, 0x0c, ...new Array(16).fill(0), 0x0b,
]);

// (module (func (result v128) (f32x4.relaxed_madd (v128.const 0) (v128.const 0) (v128.const 0))))
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b,
  0x03, 0x02, 0x01, 0x00,
  0x0a, 0x3d, 0x01, 0x3b, 0x00,
  0xfd, 0x0c, ...new Array(16).fill(0),
  0xfd, 0x0c, ...new Array(16).fill(0),
  0xfd, 0x0c, ...new Array(16).fill(0),
  0xfd, 0x85, 0x02, 0x0b,
]);

export function hasSimd(): boolean {
  return WebAssembly.validate(SIMD_PROBE);
}

let relaxedFlagTried = false;

// Node 20's V8 ships relaxed SIMD behind --experimental-wasm-relaxed-simd; the flag can be set at
// run time, before the module is compiled. Browsers (Chromium ≥ 114) have it on.
export async function hasRelaxedSimd(): Promise<boolean> {
  if (WebAssembly.validate(RELAXED_PROBE)) return true;
  if (!relaxedFlagTried && isNode()) {
    relaxedFlagTried = true;
    try {
      const v8 = await import(/* @vite-ignore */ 'node:v8' as string);
      v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    } catch {
      return false;
    }
    return WebAssembly.validate(RELAXED_PROBE);
  }
  return false;
}

export function hasSharedMemory(): boolean {
  if (typeof SharedArrayBuffer === 'undefined') return false;
  // browsers expose SharedArrayBuffer only to cross-origin-isolated pages
  const g = globalThis as { crossOriginIsolated?: boolean };
  if (!isNode() && g.crossOriginIsolated === false) return false;
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    return true;
  } catch {
    return false;
  }
}

export function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}
