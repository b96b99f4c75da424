// Strict safetensors reader and an F32 writer.
//
// Layout: u64 LE header length N, N bytes of UTF-8 JSON, then the data section. The JSON maps
// tensor names to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the data
// section) plus an optional "__metadata__" string map. We accept F32/F16/BF16/F64: a whole file in
// memory is widened (or narrowed, for F64) to Float32Array; a file read in ranges
// (readSafetensorsLayout, for files of any size) only gives where each tensor's bytes are, and
// weight-ref.ts converts them straight into the kernel heap as f32 or bf16.
// Nothing in a file is trusted: each length and offset is checked before it is used, so a
// corrupt file ends in a PromptkilnError('CHECKPOINT') naming the file and the tensor.

import { PromptkilnError } from '../errors.js';
import type { ByteSource } from './byte-source.js';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64';

export interface SafetensorsTensor {
  dtype: SafetensorsDtype; // as stored in the file
  shape: number[];
  data: Float32Array; // widened to f32, row-major
}

export interface SafetensorsFile {
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

// A header larger than this is not a model header; refusing it keeps a corrupt length from
// making us decode hundreds of megabytes of "JSON".
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export const DTYPE_BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

function bad(file: string, msg: string, details?: Record<string, unknown>): PromptkilnError {
  return new PromptkilnError('CHECKPOINT', `${file}: ${msg}`, { file, ...details });
}

// f16 bits → f32 value (subnormals, inf and NaN included).
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

let halfTable: Float32Array | null = null;
function halfLookup(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) halfTable[i] = halfToFloat(i);
  }
  return halfTable;
}

// Decode `count` elements of `dtype` starting at absolute byte `start` of `bytes`.
export function decodeTensor(bytes: Uint8Array, start: number, count: number, dtype: SafetensorsDtype): Float32Array {
  const abs = bytes.byteOffset + start;
  if (dtype === 'F32') {
    // aligned: a view on the file's buffer (no copy; the runtime copies weights into WASM once)
    if (abs % 4 === 0) return new Float32Array(bytes.buffer, abs, count);
    const dv = new DataView(bytes.buffer, abs, count * 4);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = dv.getFloat32(i * 4, true);
    return out;
  }
  const out = new Float32Array(count);
  const dv = new DataView(bytes.buffer, abs, count * DTYPE_BYTES[dtype]);
  if (dtype === 'F16') {
    const t = halfLookup();
    for (let i = 0; i < count; i++) out[i] = t[dv.getUint16(i * 2, true)];
  } else if (dtype === 'BF16') {
    // bf16 is the top half of an f32: shift it back into place (a typed view when aligned: 10x a DataView)
    const u = new Uint32Array(out.buffer);
    if (abs % 2 === 0) {
      const h = new Uint16Array(bytes.buffer, abs, count);
      for (let i = 0; i < count; i++) u[i] = h[i] << 16;
    } else for (let i = 0; i < count; i++) u[i] = dv.getUint16(i * 2, true) << 16;
  } else {
    for (let i = 0; i < count; i++) out[i] = dv.getFloat64(i * 8, true);
  }
  return out;
}

interface Entry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

// The header length field (first 8 bytes), checked against the file size.
function headerLength(first8: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8) throw bad(file, `file is ${fileSize} bytes, shorter than the 8-byte header length`);
  const dv = new DataView(first8.buffer, first8.byteOffset, 8);
  const n = dv.getUint32(4, true) * 2 ** 32 + dv.getUint32(0, true);
  if (n > MAX_HEADER_BYTES) throw bad(file, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`, { field: 'header_length' });
  if (n > fileSize - 8) {
    throw bad(file, `header length ${n} runs past the end of the file (${fileSize - 8} bytes after the length)`, { field: 'header_length' });
  }
  if (n < 2) throw bad(file, `header length ${n} is too short for a JSON object`, { field: 'header_length' });
  return n;
}

function parseHeader(bytes: Uint8Array, file: string): { entries: Entry[]; metadata: Record<string, string>; dataStart: number } {
  const n = headerLength(bytes, bytes.byteLength, file);
  return parseHeaderJson(bytes.subarray(8, 8 + n), bytes.byteLength, file);
}

// The JSON header (`json`, the n bytes after the length) of a file of `fileSize` bytes: every
// tensor's range is checked against the data section that size leaves, so a truncated file is
// refused here, before anything is allocated for it.
function parseHeaderJson(jsonBytes: Uint8Array, fileSize: number, file: string): { entries: Entry[]; metadata: Record<string, string>; dataStart: number } {
  const n = jsonBytes.byteLength;
  let json: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(jsonBytes);
    json = JSON.parse(text);
  } catch (e) {
    throw bad(file, `header is not valid UTF-8 JSON (${(e as Error).message})`, { field: 'header' });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad(file, 'header JSON is not an object', { field: 'header' });
  const dataStart = 8 + n;
  const dataLen = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(file, '__metadata__ is not an object', { field: '__metadata__' });
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== 'string') throw bad(file, `__metadata__.${k} is not a string`, { field: `__metadata__.${k}` });
        metadata[k] = s;
      }
      continue;
    }
    if (typeof v !== 'object' || v === null) throw bad(file, `tensor "${name}" entry is not an object`, { tensor: name });
    const { dtype, shape, data_offsets: off } = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) {
      throw bad(file, `tensor "${name}" has dtype ${JSON.stringify(dtype)}; expected one of F32, F16, BF16, F64`, { tensor: name, field: 'dtype' });
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(file, `tensor "${name}" shape ${JSON.stringify(shape)} is not a list of non-negative integers`, { tensor: name, field: 'shape' });
    }
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[1] < off[0]) {
      throw bad(file, `tensor "${name}" data_offsets ${JSON.stringify(off)} is not [begin, end] with 0 ≤ begin ≤ end`, { tensor: name, field: 'data_offsets' });
    }
    const [begin, end] = off as [number, number];
    if (end > dataLen) {
      throw bad(file, `tensor "${name}" data_offsets [${begin}, ${end}] run past the data section (${dataLen} bytes): the file is truncated or its header is wrong`, { tensor: name, field: 'data_offsets' });
    }
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const want = count * DTYPE_BYTES[dtype as SafetensorsDtype];
    if (want !== end - begin) {
      throw bad(file, `tensor "${name}": ${dtype} × shape [${shape.join(', ')}] is ${want} bytes but data_offsets span ${end - begin}`, {
        tensor: name,
        field: 'data_offsets',
        expected: want,
        found: end - begin,
      });
    }
    entries.push({ name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end });
  }
  // No two tensors may share bytes (zero-length tensors own nothing).
  const sorted = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].begin < sorted[i - 1].end) {
      throw bad(file, `tensors "${sorted[i - 1].name}" [${sorted[i - 1].begin}, ${sorted[i - 1].end}] and "${sorted[i].name}" [${sorted[i].begin}, ${sorted[i].end}] overlap`, {
        field: 'data_offsets',
      });
    }
  }
  return { entries, metadata, dataStart };
}

// Parse a whole .safetensors file. `file` is only used in error messages.
export function parseSafetensors(bytes: Uint8Array, file = 'model.safetensors'): SafetensorsFile {
  const { entries, metadata, dataStart } = parseHeader(bytes, file);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of entries) {
    const count = e.shape.reduce((a, b) => a * b, 1);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: decodeTensor(bytes, dataStart + e.begin, count, e.dtype) });
  }
  return { tensors, metadata };
}

// One tensor of a file read in ranges: `offset` is its absolute first byte in the file.
export interface SafetensorsRange {
  dtype: SafetensorsDtype;
  shape: number[];
  offset: number;
  bytes: number;
}

// The header of a file read in ranges (8 bytes, then the JSON): where each tensor's bytes are,
// checked against the file's size, so a truncated file (past 2 GiB or not) is refused before
// anything is read or allocated for its tensors.
export async function readSafetensorsLayout(src: ByteSource): Promise<{ tensors: Map<string, SafetensorsRange>; metadata: Record<string, string> }> {
  if (src.size < 8) throw bad(src.name, `file is ${src.size} bytes, shorter than the 8-byte header length`);
  const n = headerLength(await src.read(0, 8), src.size, src.name);
  const { entries, metadata, dataStart } = parseHeaderJson(await src.read(8, n), src.size, src.name);
  return { tensors: new Map(entries.map((e) => [e.name, { dtype: e.dtype, shape: e.shape, offset: dataStart + e.begin, bytes: e.end - e.begin }])), metadata };
}

// Only the header: names, dtypes, shapes (for listing or checking a file without decoding it).
export function readSafetensorsHeader(bytes: Uint8Array, file = 'model.safetensors'): { tensors: Map<string, { dtype: SafetensorsDtype; shape: number[] }>; metadata: Record<string, string> } {
  const { entries, metadata } = parseHeader(bytes, file);
  return { tensors: new Map(entries.map((e) => [e.name, { dtype: e.dtype, shape: e.shape }])), metadata };
}

// Write F32 tensors as safetensors (the layout PEFT reads). Tensors are stored in the order given;
// the header is padded with spaces to a multiple of 8 so the data section stays aligned.
export function writeSafetensors(tensors: Record<string, { shape: number[]; data: Float32Array }>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '__metadata__') throw new PromptkilnError('ARGUMENT', 'writeSafetensors: "__metadata__" is reserved and cannot be a tensor name');
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || count !== t.data.length) {
      throw new PromptkilnError('SHAPE', `writeSafetensors: tensor "${name}" shape [${t.shape.join(', ')}] holds ${count} values but its data has ${t.data.length}`, {
        tensor: name,
      });
    }
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + count * 4] };
    offset += count * 4;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, json.length, true);
  dv.setUint32(4, 0, true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of Object.values(tensors)) {
    // copy through a byte view: the source may be any Float32Array view (little-endian hosts only, like WASM)
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

// model.safetensors.index.json → tensor name → shard file name.
export function parseSafetensorsIndex(text: string, file = 'model.safetensors.index.json'): Map<string, string> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw bad(file, `not valid JSON (${(e as Error).message})`);
  }
  const wm = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) throw bad(file, 'missing the "weight_map" object', { field: 'weight_map' });
  const out = new Map<string, string>();
  for (const [name, shard] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard.includes('..') || shard.startsWith('/')) {
      throw bad(file, `weight_map["${name}"] = ${JSON.stringify(shard)} is not a shard file name`, { field: `weight_map.${name}` });
    }
    out.set(name, shard);
  }
  return out;
}
