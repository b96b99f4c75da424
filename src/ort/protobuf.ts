// A minimal protobuf wire-format *writer*, hand-written for this project (no protobuf library):
// ONNX export only needs to emit a handful of message types, and the wire format is small —
// varints, 32/64-bit little-endian scalars, and length-delimited bytes. Nothing here reads.
//
// Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

const textEncoder = new TextEncoder();

// Appends to a growable byte buffer. Nested messages are encoded into their own writer first and
// then embedded as bytes: that costs a copy per nesting level, which is fine for graphs whose big
// payloads (weights) are written once as raw bytes at the leaves.
export class ProtoWriter {
  private buf: Uint8Array;
  private len = 0;

  constructor(initialCapacity = 256) {
    this.buf = new Uint8Array(initialCapacity);
  }

  get length(): number {
    return this.len;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  // Unsigned varint of a non-negative integer or a bigint (int64 fields: negative values are
  // written as their 64-bit two's complement, 10 bytes, as protobuf specifies for int64).
  rawVarint(v: number | bigint): void {
    let x = typeof v === 'bigint' ? v : BigInt(v);
    if (x < 0n) x = BigInt.asUintN(64, x);
    if (x < 0x80n) {
      this.reserve(1);
      this.buf[this.len++] = Number(x);
      return;
    }
    this.reserve(10);
    while (x >= 0x80n) {
      this.buf[this.len++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.len++] = Number(x);
  }

  private tag(field: number, wire: number): void {
    this.rawVarint((field << 3) | wire);
  }

  // int32 / int64 / uint64 / enum / bool fields
  varint(field: number, v: number | bigint | boolean): void {
    this.tag(field, WIRE_VARINT);
    this.rawVarint(typeof v === 'boolean' ? (v ? 1 : 0) : v);
  }

  float(field: number, v: number): void {
    this.tag(field, WIRE_FIXED32);
    this.reserve(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 4).setFloat32(0, v, true);
    this.len += 4;
  }

  double(field: number, v: number): void {
    this.tag(field, WIRE_FIXED64);
    this.reserve(8);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 8).setFloat64(0, v, true);
    this.len += 8;
  }

  fixed32(field: number, v: number): void {
    this.tag(field, WIRE_FIXED32);
    this.reserve(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 4).setUint32(0, v >>> 0, true);
    this.len += 4;
  }

  fixed64(field: number, v: bigint): void {
    this.tag(field, WIRE_FIXED64);
    this.reserve(8);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 8).setBigUint64(0, BigInt.asUintN(64, v), true);
    this.len += 8;
  }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.rawVarint(data.length);
    this.reserve(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
  }

  string(field: number, s: string): void {
    this.bytes(field, textEncoder.encode(s));
  }

  // An embedded message: `build` writes its fields into a fresh writer.
  message(field: number, build: (w: ProtoWriter) => void): void {
    const inner = new ProtoWriter();
    build(inner);
    this.bytes(field, inner.finish());
  }

  // Packed repeated varints (int64 dims, ints attributes): one length-delimited field.
  packedVarints(field: number, values: ArrayLike<number | bigint>): void {
    const inner = new ProtoWriter(values.length * 2 + 8);
    for (let i = 0; i < values.length; i++) inner.rawVarint(values[i]!);
    this.bytes(field, inner.finish());
  }

  // Packed repeated floats (fixed32 each).
  packedFloats(field: number, values: ArrayLike<number>): void {
    const data = new Uint8Array(values.length * 4);
    const dv = new DataView(data.buffer);
    for (let i = 0; i < values.length; i++) dv.setFloat32(i * 4, values[i]!, true);
    this.bytes(field, data);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}
