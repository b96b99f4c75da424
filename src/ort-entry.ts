// Entry of `promptkiln/ort` (dist/ort.js): scoring on onnxruntime-web (WebGPU / wasm EP) and the
// backend choice. Its own entry so that `promptkiln` itself never reaches onnxruntime, statically
// or dynamically: a web app that only uses the WASM kernels does not bundle it.
export { createBackend, parseBackendChoice } from './backend.js';
export type { BackendChoice, BackendOptions, ScoringBackend, SelectedBackend } from './backend.js';
export { OrtBackend, exportOnnx, probeWebGpu, importOrtWeb } from './ort/index.js';
export type { OrtBackendOptions, OrtEp, ExportOptions, ExportedModel, OrtModule, RuntimeOptions, WebGpuProbe } from './ort/index.js';
