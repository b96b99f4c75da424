// A checkpoint tensor not read yet: its bytes in a file (ByteSource) or an array already in
// memory, read in bounded chunks and converted straight into a kernel-heap tensor of f32 or bf16,
// so loading never holds a full-size JS copy of a file or of a large tensor.
import { PromptkilnError, throwIfAborted } from '../errors.js';
import { Tensor, type Kernels } from '../kernels/index.js';
import type { ByteSource } from './byte-source.js';
import { decodeTensor, DTYPE_BYTES, type SafetensorsDtype, type SafetensorsRange } from './safetensors.js';

// Elements per read: 16 MiB of f32 staging in the heap, 8 MiB reads of a bf16 file.
export const UPLOAD_CHUNK = 1 << 22;

type Origin =
  | { kind: 'file'; src: ByteSource; offset: number } // offset: byte of element 0
  | { kind: 'memory'; data: Float32Array }
  | { kind: 'mapped'; parent: WeightRef; fn: (a: Float32Array) => Float32Array }; // read whole, then transformed

export class WeightRef {
  private constructor(
    readonly name: string, // file and tensor, for messages
    readonly dtype: SafetensorsDtype, // as stored (F32 after a transform)
    readonly shape: number[],
    private readonly origin: Origin,
  ) {}

  static inFile(src: ByteSource, r: SafetensorsRange, tensor: string): WeightRef {
    return new WeightRef(`${src.name}: tensor "${tensor}"`, r.dtype, r.shape, { kind: 'file', src, offset: r.offset });
  }
  static inMemory(data: Float32Array, shape: number[], name: string): WeightRef {
    return new WeightRef(name, 'F32', shape, { kind: 'memory', data });
  }

  get count(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  // Elements [start, start + n) as a tensor of `shape` (Phi-3's fused qkv / gate_up rows).
  slice(start: number, shape: number[]): WeightRef {
    const n = shape.reduce((a, b) => a * b, 1);
    if (start < 0 || start + n > this.count) throw new PromptkilnError('SHAPE', `${this.name}: elements [${start}, ${start + n}) outside its ${this.count}`);
    const o = this.origin;
    if (o.kind === 'file') return new WeightRef(this.name, this.dtype, shape, { kind: 'file', src: o.src, offset: o.offset + start * DTYPE_BYTES[this.dtype] });
    if (o.kind === 'memory') return new WeightRef(this.name, 'F32', shape, { kind: 'memory', data: o.data.subarray(start, start + n) });
    return this.map((a) => a.subarray(start, start + n), shape);
  }

  // A tensor computed from this one's f32 values (GPT-2's Conv1D transposes, Gemma's 1 + w norms):
  // read whole, so only for tensors that are small or that their checkpoints keep small.
  map(fn: (a: Float32Array) => Float32Array, shape = this.shape): WeightRef {
    return new WeightRef(this.name, 'F32', shape, { kind: 'mapped', parent: this, fn });
  }

  // The raw bytes of elements [start, start + n).
  private async bytes(start: number, n: number): Promise<Uint8Array> {
    const o = this.origin;
    if (o.kind === 'file') return o.src.read(o.offset + start * DTYPE_BYTES[this.dtype], n * DTYPE_BYTES[this.dtype]);
    const a = o.kind === 'memory' ? o.data.subarray(start, start + n) : (await this.f32()).subarray(start, start + n);
    return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  }

  // The whole tensor widened to f32 (in a fresh array unless it already is one).
  async f32(): Promise<Float32Array> {
    const o = this.origin;
    if (o.kind === 'memory') return o.data;
    if (o.kind === 'mapped') return o.fn(await o.parent.f32());
    return decodeTensor(await this.bytes(0, this.count), 0, this.count, this.dtype);
  }

  // Writes every element into dst (f32 or bf16, `count` elements) through `staging`, an f32 heap
  // tensor of UPLOAD_CHUNK elements: bytes already in dst's encoding are copied as they are, others
  // go through the conversion kernels (bf16 → f32 exact; f32 → bf16 and f16 → bf16 rounded to
  // nearest even as PyTorch's .to(torch.bfloat16)).
  async upload(k: Kernels, dst: Tensor, staging: Tensor, signal?: AbortSignal): Promise<void> {
    if (dst.n !== this.count) throw new PromptkilnError('SHAPE', `${this.name}: ${this.count} values for a tensor of ${dst.n}`);
    if (dst.dtype === 'f16') throw new PromptkilnError('SHAPE', `${this.name}: weights are kept as f32 or bf16, not f16`);
    const whole = this.origin.kind === 'mapped' ? await this.f32() : null;
    const dtype: SafetensorsDtype = whole ? 'F32' : this.dtype;
    const heap = k.heap;
    const put = (at: number, bytes: Uint8Array) => new Uint8Array(heap.memory.buffer, at, bytes.byteLength).set(bytes);
    for (let s = 0; s < this.count; s += UPLOAD_CHUNK) {
      throwIfAborted(signal, 'loading weights');
      const n = Math.min(UPLOAD_CHUNK, this.count - s);
      const out = dst.at(s, n);
      if (dtype === 'F64') {
        const v = decodeTensor(await this.bytes(s, n), 0, n, 'F64');
        if (dst.dtype === 'f32') out.set(v);
        else k.f32ToBf16(out, staging.at(0, n).set(v));
        continue;
      }
      const bytes = whole ? new Uint8Array(whole.buffer, whole.byteOffset + s * 4, n * 4) : await this.bytes(s, n);
      if ((dtype === 'F32' && dst.dtype === 'f32') || (dtype === 'BF16' && dst.dtype === 'bf16')) {
        put(out.ptr, bytes);
        continue;
      }
      put(staging.ptr, bytes);
      if (dtype === 'F32') k.f32ToBf16(out, staging.at(0, n));
      else if (dtype === 'BF16') k.bf16ToF32(out, new Tensor(heap, staging.ptr, n, 'bf16'));
      else if (dst.dtype === 'f32') k.f16ToF32(out, new Tensor(heap, staging.ptr, n, 'f16'));
      else k.f16ToBf16(out, new Tensor(heap, staging.ptr, n, 'f16'));
    }
  }
}

// A checkpoint's in-memory tensors (llama2.c files, checkpoints built in code) as refs, so one
// upload path serves every source.
export function refsOf(tensors: Map<string, Float32Array>, source: string): Map<string, WeightRef> {
  return new Map([...tensors].map(([k, t]) => [k, WeightRef.inMemory(t, [t.length], `${source}: tensor "${k}"`)]));
}
