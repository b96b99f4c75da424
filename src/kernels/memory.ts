// Tensors (typed views with dtype and shape) and the arena Heap that allocates them in WASM memory.
import { PromptkilnError } from '../errors.js';

// What a tensor's elements are. 'f32': 4 bytes, f32 (or i32 ids, read through i32()). 'bf16' and
// 'f16': 2 bytes, raw bits read through u16() — bf16 weights the GEMMs widen on use, f16
// checkpoint data on its way to f32 or bf16 (Kernels.f16ToF32 / f16ToBf16).
export type DType = 'f32' | 'bf16' | 'f16';
export const DTYPE_BYTES: Record<DType, number> = { f32: 4, bf16: 2, f16: 2 };

// A range of elements inside the kernel module's memory. Cheap to create: sub-ranges (`at`) are
// how a row block of a bigger buffer is handed to a kernel.
export class Tensor {
  constructor(readonly heap: Heap, readonly ptr: number, readonly n: number, readonly dtype: DType = 'f32') {}
  // A fresh view each call: views made before memory.grow() are detached.
  f32(): Float32Array {
    this.expect32('f32()');
    return new Float32Array(this.heap.memory.buffer, this.ptr, this.n);
  }
  i32(): Int32Array {
    this.expect32('i32()');
    return new Int32Array(this.heap.memory.buffer, this.ptr, this.n);
  }
  // the raw bits of a bf16 / f16 tensor
  u16(): Uint16Array {
    if (this.dtype === 'f32') throw new PromptkilnError('SHAPE', 'u16(): this tensor holds 4-byte f32 elements, not 16-bit ones');
    return new Uint16Array(this.heap.memory.buffer, this.ptr, this.n);
  }
  at(offset: number, n: number): Tensor {
    if (offset < 0 || n < 0 || offset + n > this.n) {
      throw new PromptkilnError('SHAPE', `sub-tensor [${offset}, ${offset + n}) outside a tensor of ${this.n} elements`);
    }
    return new Tensor(this.heap, this.ptr + offset * DTYPE_BYTES[this.dtype], n, this.dtype);
  }
  set(data: ArrayLike<number>, offset = 0): this {
    if (offset + data.length > this.n) {
      throw new PromptkilnError('SHAPE', `writing ${data.length} values at ${offset} into a tensor of ${this.n}`);
    }
    this.f32().set(data, offset);
    return this;
  }
  setI32(data: ArrayLike<number>, offset = 0): this {
    if (offset + data.length > this.n) {
      throw new PromptkilnError('SHAPE', `writing ${data.length} ids at ${offset} into a tensor of ${this.n}`);
    }
    this.i32().set(data, offset);
    return this;
  }
  // raw 16-bit values (bf16 or f16 bits, e.g. straight from a safetensors file) into a 16-bit tensor
  setU16(data: ArrayLike<number>, offset = 0): this {
    if (offset + data.length > this.n) {
      throw new PromptkilnError('SHAPE', `writing ${data.length} values at ${offset} into a tensor of ${this.n}`);
    }
    this.u16().set(data, offset);
    return this;
  }
  free(): void {
    this.heap.free(this);
  }
  private expect32(what: string): void {
    if (this.dtype !== 'f32') throw new PromptkilnError('SHAPE', `${what}: this tensor holds ${this.dtype} elements (read them with u16())`);
  }
}

const ALIGN = 64; // cache line; also keeps every f32x4 load aligned
const PAGE = 65536;

// First-fit allocator with coalescing over the module's one memory. Weights live for a model's
// lifetime, workspaces for a (batch, length) shape, temporaries for one call: `mark`/`reset`
// releases everything allocated since the mark (scoped temporaries), `free` one block.
// Memory never shrinks (WebAssembly cannot), but freed ranges are reused.
export class Heap {
  private top: number;
  private readonly freeList: { start: number; size: number }[] = [];
  private readonly live = new Map<number, number>();
  private readonly order: number[] = [];
  private used = 0; // Σ live block sizes, kept current so alloc's peak update is O(1)
  private peakBytes = 0;

  constructor(readonly memory: WebAssembly.Memory, base: number, readonly maxBytes = 4 * 1024 ** 3 - PAGE) {
    this.top = Math.ceil(base / ALIGN) * ALIGN;
  }

  get usedBytes(): number {
    return this.used;
  }
  get peak(): number {
    return this.peakBytes;
  }
  get capacity(): number {
    return this.memory.buffer.byteLength;
  }

  // n elements of dtype (4 bytes each for f32, 2 for bf16/f16). Scoped allocations are released by
  // reset(mark); long-lived buffers that outlive a scope (workspaces, weights, caches) pass scoped = false.
  alloc(n: number, what = 'tensor', scoped = true, dtype: DType = 'f32'): Tensor {
    if (!Number.isInteger(n) || n < 0) throw new PromptkilnError('SHAPE', `cannot allocate ${n} elements for ${what}`);
    const bytes = Math.max(ALIGN, Math.ceil((n * DTYPE_BYTES[dtype]) / ALIGN) * ALIGN);
    let ptr = -1;
    for (let i = 0; i < this.freeList.length; i++) {
      const f = this.freeList[i];
      if (f.size >= bytes) {
        ptr = f.start;
        if (f.size === bytes) this.freeList.splice(i, 1);
        else { f.start += bytes; f.size -= bytes; }
        break;
      }
    }
    if (ptr < 0) {
      ptr = this.top;
      this.ensure(ptr + bytes, what);
      this.top = ptr + bytes;
    }
    this.live.set(ptr, bytes);
    if (scoped) this.order.push(ptr);
    this.used += bytes;
    if (this.used > this.peakBytes) this.peakBytes = this.used;
    return new Tensor(this, ptr, n, dtype);
  }

  allocFrom(data: ArrayLike<number>, what = 'tensor'): Tensor {
    return this.alloc(data.length, what).set(data);
  }
  allocI32(data: ArrayLike<number>, what = 'ids'): Tensor {
    return this.alloc(data.length, what).setI32(data);
  }

  free(t: Tensor | number): void {
    const ptr = typeof t === 'number' ? t : t.ptr;
    const bytes = this.live.get(ptr);
    if (bytes === undefined) return; // already freed (dispose is idempotent)
    this.live.delete(ptr);
    this.used -= bytes;
    const k = this.order.lastIndexOf(ptr);
    if (k >= 0) this.order.splice(k, 1);
    if (ptr + bytes === this.top) {
      this.top = ptr;
      // fold a free block that now touches the top
      const last = this.freeList[this.freeList.length - 1];
      if (last && last.start + last.size === this.top) {
        this.top = last.start;
        this.freeList.pop();
      }
      return;
    }
    // insert sorted, then coalesce with neighbours
    let i = 0;
    while (i < this.freeList.length && this.freeList[i].start < ptr) i++;
    this.freeList.splice(i, 0, { start: ptr, size: bytes });
    const next = this.freeList[i + 1];
    if (next && ptr + bytes === next.start) {
      this.freeList[i].size += next.size;
      this.freeList.splice(i + 1, 1);
    }
    const prev = this.freeList[i - 1];
    if (prev && prev.start + prev.size === ptr) {
      prev.size += this.freeList[i].size;
      this.freeList.splice(i, 1);
    }
  }

  // Every scoped allocation made after mark() is released by reset(mark).
  mark(): number {
    return this.order.length;
  }
  // The scoped allocations made since mark() become long-lived: freed one by one, not by a reset
  // (activations a forward makes inside others' scopes and a later backward still reads).
  persist(mark: number): void {
    this.order.length = Math.min(this.order.length, mark);
  }
  reset(mark: number): void {
    while (this.order.length > mark) this.free(this.order[this.order.length - 1]);
  }
  scope<T>(fn: () => T): T {
    const m = this.mark();
    try {
      return fn();
    } finally {
      this.reset(m);
    }
  }

  private ensure(end: number, what: string): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    if (end > this.maxBytes) {
      throw new PromptkilnError('OOM',
        `out of memory allocating ${what}: needs ${end - this.top} bytes, ${this.maxBytes - this.top} available under the ${this.maxBytes}-byte cap`,
        { requested: end - this.top, available: this.maxBytes - this.top });
    }
    const pages = Math.ceil((end - have) / PAGE);
    try {
      this.memory.grow(pages);
    } catch (e) {
      throw new PromptkilnError('OOM',
        `out of memory allocating ${what}: WebAssembly memory could not grow by ${pages * PAGE} bytes (now ${have})`,
        { requested: end - this.top, available: have - this.top }, { cause: e });
    }
  }
}
