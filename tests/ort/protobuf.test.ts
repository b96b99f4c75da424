// The hand-written protobuf writer: known wire bytes, and a round trip through the official
// onnx Python package (Debian python3-onnx) reading what we wrote.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { PY, requirePython } from '../helpers/system.js';
import { ProtoWriter } from '../../src/ort/protobuf.js';
import { DT, encodeModel, floatTensor, int64Tensor } from '../../src/ort/onnx.js';

const bytes = (f: (w: ProtoWriter) => void) => { const w = new ProtoWriter(1); f(w); return Array.from(w.finish()); };

describe('ProtoWriter wire format', () => {
  it('varints, negative int64, fixed32/64, strings and packed fields encode as protobuf specifies', () => {
    expect(bytes((w) => w.varint(1, 150))).toEqual([0x08, 0x96, 0x01]); // the protobuf docs' example
    expect(bytes((w) => w.varint(2, 300))).toEqual([0x10, 0xac, 0x02]);
    expect(bytes((w) => w.varint(1, -1))).toEqual([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expect(bytes((w) => w.varint(1, 2n ** 40n))).toEqual([0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20]);
    expect(bytes((w) => w.float(2, 1))).toEqual([0x15, 0x00, 0x00, 0x80, 0x3f]);
    expect(bytes((w) => w.fixed64(3, -2n))).toEqual([0x19, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    expect(bytes((w) => w.string(2, 'testing'))).toEqual([0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6e, 0x67]);
    expect(bytes((w) => w.packedVarints(4, [3, 270, 86942]))).toEqual([0x22, 0x06, 0x03, 0x8e, 0x02, 0x9e, 0xa7, 0x05]);
    expect(bytes((w) => w.message(3, (m) => m.varint(1, 150)))).toEqual([0x1a, 0x03, 0x08, 0x96, 0x01]);
  });

  it('grows its buffer across many writes without losing bytes', () => {
    const w = new ProtoWriter(1);
    const big = new Uint8Array(100_000).map((_, i) => i & 0xff);
    for (let i = 0; i < 3; i++) w.bytes(1, big);
    const out = w.finish();
    expect(out.length).toBe(3 * (1 + 3 + big.length));
    expect(Array.from(out.subarray(4, 10))).toEqual([0, 1, 2, 3, 4, 5]);
  });
});


describe('ModelProto read back by onnx', () => {
  beforeAll(() => requirePython('onnx', 'python3-onnx'));
  it('every field we write reads back with its value', () => {
    const m = encodeModel({
      name: 'g',
      nodes: [{ opType: 'Reshape', inputs: ['x', 'shape'], outputs: ['y'], name: 'r', attrs: { allowzero: { i: 0 } } }],
      initializers: [floatTensor('w', [3, 2], new Float32Array([1, -2.5, 3e-8, 4, 5, 6])), int64Tensor('shape', [2], [-1, 4])],
      inputs: [{ name: 'x', elemType: DT.FLOAT, shape: ['B', 4] }],
      outputs: [{ name: 'y', elemType: DT.FLOAT, shape: ['B', 4] }],
    }, { externalThreshold: 20, externalLocation: 'side.bin' });
    const code = `
import sys, onnx, json
from onnx import numpy_helper
m = onnx.load_from_string(sys.stdin.buffer.read())
g = m.graph
w = g.initializer[0]
print(json.dumps({
  "ir": m.ir_version, "opset": m.opset_import[0].version, "name": g.name,
  "node": [g.node[0].op_type, list(g.node[0].input), list(g.node[0].output), g.node[0].attribute[0].name, g.node[0].attribute[0].i],
  "w": [w.name, list(w.dims), w.data_type, w.data_location, {e.key: e.value for e in w.external_data}],
  "shape": numpy_helper.to_array(g.initializer[1]).tolist(),
  "in": [g.input[0].name, [d.dim_param or d.dim_value for d in g.input[0].type.tensor_type.shape.dim]],
}))`;
    const r = spawnSync(PY, ['-c', code], { input: Buffer.from(m.model), encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      ir: 8, opset: 17, name: 'g',
      node: ['Reshape', ['x', 'shape'], ['y'], 'allowzero', 0],
      w: ['w', [3, 2], 1, 1, { location: 'side.bin', offset: '0', length: '24' }],
      shape: [-1, 4],
      in: ['x', ['B', 4]],
    });
    expect(Array.from(new Float32Array(m.external!.data.buffer, 0, 6))).toEqual([1, -2.5, Math.fround(3e-8), 4, 5, 6]);
  });
});
