// ONNX ModelProto builders on top of our protobuf writer. Field numbers are those of onnx.proto
// (onnx/onnx, IR version 8 / opset 17: what Debian's python3-onnx 1.12 checks and what
// onnxruntime-web 1.30 runs). Only the subset the exporter needs is modelled.

import { PromptkilnError } from '../errors.js';
import { ProtoWriter } from './protobuf.js';

export const IR_VERSION = 8;
export const OPSET = 17;

// TensorProto.DataType
export const DT = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9 } as const;
export type DataType = (typeof DT)[keyof typeof DT];

// AttributeProto.AttributeType
const AT = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

export interface TensorDef {
  name: string;
  dataType: DataType;
  dims: readonly number[];
  // little-endian element bytes, row-major (what raw_data holds)
  data: Uint8Array;
}

export type AttrValue =
  | { i: number }
  | { f: number }
  | { s: string }
  | { ints: readonly number[] }
  | { floats: readonly number[] }
  | { t: TensorDef };

export interface NodeDef {
  opType: string;
  inputs: readonly string[]; // '' = an omitted optional input
  outputs: readonly string[];
  name?: string;
  attrs?: Record<string, AttrValue>;
}

// A dimension is a fixed size or a symbolic name ('B', 'T', ...).
export interface ValueInfoDef {
  name: string;
  elemType: DataType;
  shape: readonly (number | string)[];
}

export interface GraphDef {
  name: string;
  nodes: NodeDef[];
  initializers: TensorDef[];
  inputs: ValueInfoDef[];
  outputs: ValueInfoDef[];
}

export interface EncodeOptions {
  // Initializers of at least this many bytes go to a side file (ONNX external data);
  // Infinity (default) keeps everything inside the model.
  externalThreshold?: number;
  // The side file's name as recorded in each tensor's `location` (relative to the model file).
  externalLocation?: string;
  producerName?: string;
  docString?: string;
}

export interface EncodedModel {
  model: Uint8Array;
  // present when at least one initializer went external
  external?: { location: string; data: Uint8Array };
}

// Typed-array views → raw little-endian bytes (all supported hosts are little-endian, which
// onnxruntime-web itself assumes too).
export function floatTensor(name: string, dims: readonly number[], data: Float32Array): TensorDef {
  checkCount(name, dims, data.length);
  return { name, dataType: DT.FLOAT, dims, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

export function int64Tensor(name: string, dims: readonly number[], values: readonly number[]): TensorDef {
  checkCount(name, dims, values.length);
  const a = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) a[i] = BigInt(values[i]!);
  return { name, dataType: DT.INT64, dims, data: new Uint8Array(a.buffer) };
}

function checkCount(name: string, dims: readonly number[], n: number): void {
  const want = dims.reduce((a, b) => a * b, 1);
  if (want !== n) {
    throw new PromptkilnError('SHAPE', `ONNX tensor ${name}: dims [${dims.join(', ')}] need ${want} elements, found ${n}`);
  }
}

// ---- encoders (one per message type) ---------------------------------------------------------

function writeTensor(w: ProtoWriter, t: TensorDef, external: { location: string; offset: number } | null): void {
  w.packedVarints(1, t.dims); // dims
  w.varint(2, t.dataType); // data_type
  w.string(8, t.name); // name
  if (external) {
    // external_data: StringStringEntryProto { key = 1, value = 2 }
    const entry = (k: string, v: string) => w.message(13, (e) => { e.string(1, k); e.string(2, v); });
    entry('location', external.location);
    entry('offset', String(external.offset));
    entry('length', String(t.data.byteLength));
    w.varint(14, 1); // data_location = EXTERNAL
  } else {
    w.bytes(9, t.data); // raw_data
  }
}

function writeAttr(w: ProtoWriter, name: string, v: AttrValue): void {
  w.string(1, name);
  if ('i' in v) { w.varint(20, AT.INT); w.varint(3, BigInt(v.i)); }
  else if ('f' in v) { w.varint(20, AT.FLOAT); w.float(2, v.f); }
  else if ('s' in v) { w.varint(20, AT.STRING); w.string(4, v.s); }
  else if ('ints' in v) { w.varint(20, AT.INTS); w.packedVarints(8, v.ints.map((x) => BigInt(x))); }
  else if ('floats' in v) { w.varint(20, AT.FLOATS); w.packedFloats(7, v.floats); }
  else { w.varint(20, AT.TENSOR); w.message(5, (tw) => writeTensor(tw, v.t, null)); }
}

function writeNode(w: ProtoWriter, n: NodeDef): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const [k, v] of Object.entries(n.attrs ?? {})) w.message(5, (a) => writeAttr(a, k, v));
}

function writeValueInfo(w: ProtoWriter, v: ValueInfoDef): void {
  w.string(1, v.name);
  // type: TypeProto { tensor_type = 1: Tensor { elem_type = 1, shape = 2: TensorShapeProto { dim = 1 } } }
  w.message(2, (tp) => tp.message(1, (tt) => {
    tt.varint(1, v.elemType);
    tt.message(2, (sh) => {
      for (const d of v.shape) {
        sh.message(1, (dim) => (typeof d === 'number' ? dim.varint(1, d) : dim.string(2, d)));
      }
    });
  }));
}

// Where a tensor of `bytes` starts in the side file: 4 KiB (page) alignment for big tensors so a
// runtime may map them, 64 bytes otherwise.
function alignFor(bytes: number): number {
  return bytes >= 1 << 20 ? 4096 : 64;
}

export function encodeModel(g: GraphDef, opts: EncodeOptions = {}): EncodedModel {
  const threshold = opts.externalThreshold ?? Infinity;
  const location = opts.externalLocation ?? 'model.onnx.data';
  if (/[\\/]|^\.\.?$/.test(location) || location === '') {
    throw new PromptkilnError('ARGUMENT', `externalLocation must be a plain file name next to the model, found "${location}"`);
  }
  const sideChunks: { offset: number; data: Uint8Array }[] = [];
  let sideLen = 0;

  // GraphProto: node = 1, name = 2, initializer = 5, input = 11, output = 12
  const graph = new ProtoWriter(1 << 16);
  for (const n of g.nodes) graph.message(1, (nw) => writeNode(nw, n));
  graph.string(2, g.name);
  for (const t of g.initializers) {
    if (t.data.byteLength >= threshold) {
      const a = alignFor(t.data.byteLength);
      const offset = Math.ceil(sideLen / a) * a;
      sideChunks.push({ offset, data: t.data });
      sideLen = offset + t.data.byteLength;
      graph.message(5, (tw) => writeTensor(tw, t, { location, offset }));
    } else {
      graph.message(5, (tw) => writeTensor(tw, t, null));
    }
  }
  for (const v of g.inputs) graph.message(11, (vw) => writeValueInfo(vw, v));
  for (const v of g.outputs) graph.message(12, (vw) => writeValueInfo(vw, v));

  // ModelProto: ir_version = 1, producer_name = 2, producer_version = 3, doc_string = 6,
  // graph = 7, opset_import = 8 (OperatorSetIdProto { domain = 1, version = 2 })
  const model = new ProtoWriter(graph.length + 256);
  model.varint(1, IR_VERSION);
  model.string(2, opts.producerName ?? 'promptkiln');
  model.string(3, '0.1.0');
  if (opts.docString) model.string(6, opts.docString);
  model.bytes(7, graph.finish());
  model.message(8, (o) => { o.string(1, ''); o.varint(2, OPSET); });

  const out: EncodedModel = { model: model.finish() };
  if (sideChunks.length > 0) {
    const data = new Uint8Array(sideLen);
    for (const c of sideChunks) data.set(c.data, c.offset);
    out.external = { location, data };
  }
  return out;
}
