// The onnxruntime backend: ONNX export of a model and scoring through onnxruntime-web
// (WebGPU or wasm EP) or any onnxruntime module passed in (e.g. onnxruntime-node).
export { OrtBackend, type OrtBackendOptions, type OrtEp } from './backend.js';
export { exportOnnx, ropeTables, type ExportOptions, type ExportedModel } from './export.js';
export { encodeModel, IR_VERSION, OPSET, type EncodeOptions, type EncodedModel, type GraphDef } from './onnx.js';
export { importOrtWeb, probeWebGpu, type OrtModule, type RuntimeOptions, type WebGpuProbe } from './runtime.js';
