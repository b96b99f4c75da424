// A tiny helper for writing ONNX graphs as code: each op call appends a node and returns the
// name of its (first) output, so the exporter reads like the forward pass it encodes.

import { DT, floatTensor, int64Tensor, type AttrValue, type GraphDef, type NodeDef, type TensorDef, type ValueInfoDef } from './onnx.js';

export class GraphBuilder {
  readonly nodes: NodeDef[] = [];
  readonly initializers: TensorDef[] = [];
  readonly inputs: ValueInfoDef[] = [];
  readonly outputs: ValueInfoDef[] = [];
  private counter = 0;
  private readonly constCache = new Map<string, string>();

  private fresh(hint: string): string {
    return `${hint}_${this.counter++}`;
  }

  op(opType: string, inputs: readonly string[], attrs?: Record<string, AttrValue>, outName?: string): string {
    const out = outName ?? this.fresh(opType);
    this.nodes.push({ opType, inputs, outputs: [out], name: `n${this.nodes.length}_${opType}`, attrs });
    return out;
  }

  // Weights and tables: a named initializer.
  weight(name: string, dims: readonly number[], data: Float32Array): string {
    this.initializers.push(floatTensor(name, dims, data));
    return name;
  }

  // Small constants are shared by value so a 5-layer graph does not carry 5 copies of [0, 0, -1].
  i64(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const key = `i64:${dims.join('x')}:${values.join(',')}`;
    let name = this.constCache.get(key);
    if (!name) {
      name = this.fresh('const_i64');
      this.initializers.push(int64Tensor(name, dims, values));
      this.constCache.set(key, name);
    }
    return name;
  }

  f32(value: number): string {
    const key = `f32:${value}`;
    let name = this.constCache.get(key);
    if (!name) {
      name = this.fresh('const_f32');
      this.initializers.push(floatTensor(name, [], new Float32Array([value])));
      this.constCache.set(key, name);
    }
    return name;
  }

  input(name: string, elemType: ValueInfoDef['elemType'], shape: readonly (number | string)[]): string {
    this.inputs.push({ name, elemType, shape });
    return name;
  }

  output(name: string, elemType: ValueInfoDef['elemType'], shape: readonly (number | string)[]): void {
    this.outputs.push({ name, elemType, shape });
  }

  // ---- ops used by the exporter (opset 17 signatures) ----
  add(a: string, b: string): string { return this.op('Add', [a, b]); }
  sub(a: string, b: string): string { return this.op('Sub', [a, b]); }
  mul(a: string, b: string): string { return this.op('Mul', [a, b]); }
  div(a: string, b: string): string { return this.op('Div', [a, b]); }
  matmul(a: string, b: string): string { return this.op('MatMul', [a, b]); }
  reshape(x: string, shape: readonly number[]): string { return this.op('Reshape', [x, this.i64(shape)]); }
  transpose(x: string, perm: readonly number[]): string { return this.op('Transpose', [x], { perm: { ints: perm } }); }
  // Slice along one axis, [start, end)
  slice(x: string, axis: number, start: number, end: number): string {
    return this.op('Slice', [x, this.i64([start]), this.i64([end]), this.i64([axis])]);
  }
  concat(xs: readonly string[], axis: number): string { return this.op('Concat', xs, { axis: { i: axis } }); }
  unsqueeze(x: string, axes: readonly number[]): string { return this.op('Unsqueeze', [x, this.i64(axes)]); }
  gather(data: string, idx: string, axis = 0): string { return this.op('Gather', [data, idx], { axis: { i: axis } }); }
  cast(x: string, to: number): string { return this.op('Cast', [x], { to: { i: to } }); }
  shapeOf(x: string, start: number, end: number): string { return this.op('Shape', [x], { start: { i: start }, end: { i: end } }); }

  build(name: string): GraphDef {
    return { name, nodes: this.nodes, initializers: this.initializers, inputs: this.inputs, outputs: this.outputs };
  }
}

export { DT };
