// Backend selection ('wasm' | 'ort' | 'auto') in Node. Node has no WebGPU, so the two cases that
// need a GPU adapter use a stand-in navigator.gpu object — the edge this GPU-less machine cannot
// reach; everything behind it (onnxruntime session creation, the WASM model) is real.
import { afterEach, describe, expect, it } from 'vitest';
import { createBackend, parseBackendChoice } from '../../src/backend.js';
import { Model } from '../../src/model/model.js';
import type { Checkpoint } from '../../src/model/types.js';
import { OrtBackend } from '../../src/ort/backend.js';
import { probeWebGpu } from '../../src/ort/runtime.js';
import { isPromptkilnError } from '../../src/errors.js';
import { loadGpt2Tiny } from './helpers/checkpoints.js';
import { maxAbsDiff } from './helpers/refs.js';

const ck = (): Checkpoint => loadGpt2Tiny();
const prompt = [5, 9, 11, 3], targets = [[7, 8, 2], [1]];

function fakeGpu(adapter: object | null): void {
  Object.defineProperty(globalThis, 'navigator', { value: { gpu: { requestAdapter: async () => adapter } }, configurable: true, writable: true });
}
const realNavigator = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
afterEach(() => {
  if (realNavigator) Object.defineProperty(globalThis, 'navigator', realNavigator);
  else delete (globalThis as any).navigator;
});

describe('backend selection', () => {
  it('parses wasm | ort | auto and rejects anything else with ARGUMENT', () => {
    expect(parseBackendChoice(undefined)).toBe('auto');
    expect(parseBackendChoice('ort')).toBe('ort');
    expect(() => parseBackendChoice('gpu')).toThrowError(/wasm, ort, auto; found "gpu"/);
  });

  it('auto in Node (no navigator.gpu) uses the WASM kernels without a warning', async () => {
    const warnings: string[] = [];
    const s = await createBackend(ck(), { onWarning: (m) => warnings.push(m) });
    expect(s.kind).toBe('wasm');
    expect(s.backend).toBeInstanceOf(Model);
    expect(s.reason).toMatch(/no WebGPU/);
    expect(warnings).toEqual([]);
    await s.backend.dispose();
  });

  it('ort in Node forces onnxruntime-web (wasm EP) and scores like the WASM kernels', async () => {
    const o = await createBackend(ck(), { backend: 'ort' });
    const w = await createBackend(ck(), { backend: 'wasm' });
    expect(o.kind).toBe('ort');
    expect((o.backend as OrtBackend).ep).toBe('wasm');
    const a = await o.backend.scoreMany(prompt, targets), b = await w.backend.scoreMany(prompt, targets);
    a.forEach((r, i) => expect(maxAbsDiff(r.logprobs, b[i]!.logprobs)).toBeLessThan(1e-4));
    await o.backend.dispose();
    await w.backend.dispose();
  });

  it('navigator.gpu with no adapter (stand-in navigator.gpu: no GPU here): auto → WASM, ort with ep webgpu → BACKEND', async () => {
    fakeGpu(null);
    expect((await probeWebGpu()).reason).toMatch(/returned no adapter/);
    const s = await createBackend(ck());
    expect(s.kind).toBe('wasm');
    await s.backend.dispose();
    const err = await OrtBackend.create(ck(), { ep: 'webgpu' }).catch((e) => e);
    expect(isPromptkilnError(err, 'BACKEND')).toBe(true);
  });

  it('a fallback (software) adapter (stand-in navigator.gpu: no GPU here): auto keeps the WASM kernels', async () => {
    fakeGpu({ info: { isFallbackAdapter: true, vendor: 'google', architecture: 'swiftshader' }, limits: {} });
    const s = await createBackend(ck());
    expect(s.kind).toBe('wasm');
    expect(s.reason).toMatch(/software adapter/);
    await s.backend.dispose();
  });

  it('a real-looking adapter whose ORT session fails (stand-in navigator.gpu: no GPU here): auto falls back to WASM and reports once', async () => {
    fakeGpu({ info: { isFallbackAdapter: false, vendor: 'acme' }, limits: { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 2 ** 30 }, features: new Set() });
    const warnings: string[] = [];
    const s = await createBackend(ck(), { onWarning: (m) => warnings.push(m) });
    expect(s.kind).toBe('wasm');
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toMatch(/onnxruntime WebGPU backend unavailable/);
    const r = await s.backend.score(prompt, targets[0]!);
    expect(r.logprobs.length).toBe(3);
    await s.backend.dispose();
    // 'ort' does not fall back: the same failure is a BACKEND error
    const err = await createBackend(ck(), { backend: 'ort', ort: { ep: 'webgpu' } }).catch((e) => e);
    expect(isPromptkilnError(err, 'BACKEND')).toBe(true);
  });

  it('model too large for the adapter (stand-in limits: no GPU here): BACKEND under ort, WASM fallback under auto', async () => {
    const tiny = { info: { isFallbackAdapter: false }, limits: { maxBufferSize: 1024, maxStorageBufferBindingSize: 1024 }, features: new Set() };
    const err = await OrtBackend.create(ck(), { ep: 'webgpu', adapter: tiny }).catch((e) => e);
    expect(isPromptkilnError(err, 'BACKEND')).toBe(true);
    expect(err.message).toMatch(/model too large for this WebGPU device: tensor .* is 0\.0 MiB|model too large for this WebGPU device/);
    fakeGpu(tiny);
    const warnings: string[] = [];
    const s = await createBackend(ck(), { onWarning: (m) => warnings.push(m) });
    expect(s.kind).toBe('wasm');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/too large/);
    await s.backend.dispose();
  });
});
