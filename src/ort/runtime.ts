// Loading onnxruntime and probing WebGPU. onnxruntime-web is imported dynamically, so code that
// never asks for the ORT backend never loads it (the core bundle stays light).
//
// Where the wasm files come from: onnxruntime-web finds its `ort-wasm-*.wasm` next to its own
// module (import.meta.url of the package's dist/ file), i.e. from the installed package or from
// wherever the app serves that package — never a CDN. `wasmPaths` overrides that location (a URL
// prefix such as '/ort/' when a page serves node_modules/onnxruntime-web/dist/ there).

import type * as OrtTypes from 'onnxruntime-web';
import { PromptkilnError } from '../errors.js';

export type OrtModule = typeof OrtTypes;

export interface RuntimeOptions {
  // URL prefix (or per-file map) for onnxruntime-web's wasm files
  wasmPaths?: string | Record<string, string>;
  // wasm EP threads; 1 avoids worker threads (and the cross-origin isolation they need in pages)
  numThreads?: number;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined';

// Imports the onnxruntime-web flavour for the EP: the WebGPU build for 'webgpu' in browsers, the
// default build otherwise (in Node that is the package's Node build, which runs the wasm EP).
export async function importOrtWeb(ep: 'webgpu' | 'wasm', opts: RuntimeOptions = {}): Promise<OrtModule> {
  let ort: OrtModule;
  try {
    ort = ep === 'webgpu' && !isNode
      ? ((await import('onnxruntime-web/webgpu')) as unknown as OrtModule)
      : ((await import('onnxruntime-web')) as unknown as OrtModule);
  } catch (e) {
    throw new PromptkilnError('BACKEND', `onnxruntime-web could not be loaded (${(e as Error).message}); install it with \`npm i onnxruntime-web\``, undefined, { cause: e });
  }
  // ESM namespace objects from some bundlers put everything under `default`
  if (!('InferenceSession' in ort) && (ort as any).default?.InferenceSession) ort = (ort as any).default;
  if (opts.wasmPaths !== undefined) ort.env.wasm.wasmPaths = opts.wasmPaths as any;
  ort.env.wasm.numThreads = opts.numThreads ?? 1;
  return ort;
}

export interface WebGpuProbe {
  adapter: any | null; // GPUAdapter
  fallback: boolean; // a software adapter (SwiftShader, WARP) — correct but slow
  reason: string; // why there is no usable adapter, or a description of the adapter
}

// Does this environment have WebGPU, and is the adapter a real GPU? `navigator.gpu` can exist
// with no adapter (requestAdapter() resolves null), and Chromium's SwiftShader adapter reports
// isFallbackAdapter (on the adapter in older engines, on adapter.info in newer ones).
export async function probeWebGpu(): Promise<WebGpuProbe> {
  const gpu = (globalThis as any).navigator?.gpu;
  if (!gpu || typeof gpu.requestAdapter !== 'function') return { adapter: null, fallback: false, reason: 'navigator.gpu is not available' };
  let adapter: any = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return { adapter: null, fallback: false, reason: `navigator.gpu.requestAdapter() threw: ${(e as Error).message}` };
  }
  if (!adapter) return { adapter: null, fallback: false, reason: 'navigator.gpu.requestAdapter() returned no adapter' };
  const info = adapter.info ?? {};
  const fallback = adapter.isFallbackAdapter === true || info.isFallbackAdapter === true;
  const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unnamed adapter';
  return { adapter, fallback, reason: `${fallback ? 'fallback (software) ' : ''}WebGPU adapter: ${name}` };
}
