"""promptkiln from Python through ctypes: libpromptkiln.so (build.sh: the portable kernel build
translated to C by wasm2c) with every promptkiln_* function typed from wasm/promptkiln.h.

The host owns the memory layout, as in the C host: it writes f32 / int32 tensors into the
module's linear memory at byte offsets at or above heap_base(), passes the offsets to the
kernels and reads the results back. A trap (an offset past the end of memory, a kernel abort)
raises Trap instead of ending the process.

    pk = Promptkiln("build/libpromptkiln.so", "../../promptkiln.h")
    x = pk.put_f32([1, 2, 3, 4, 5, 6]); w = pk.put_f32([1, 0, -1, 2, 1, 0])
    y = pk.alloc(4)
    pk.matmul_fwd(y, x, w, 0, 2, 3, 2)     # y (2, 2) = x (2, 3) · w (2, 3)ᵀ
    pk.get_f32(y, 4)                       # [-2.0, 4.0, -2.0, 13.0]
"""
import ctypes
import re
import struct

C_TYPES = {"int32_t": ctypes.c_int32, "uint32_t": ctypes.c_uint32, "float": ctypes.c_float, "void": None}
PAGE = 65536
# wasm_rt_trap_t names (wasm-rt.h, wabt 1.0.32)
TRAPS = {1: "out of bounds", 2: "integer overflow", 3: "division by zero", 4: "invalid conversion",
         5: "unreachable (kernel abort)", 6: "call_indirect", 7: "uncaught exception", 8: "exhaustion"}


def parse_header(text):
    """(abi_version, {name: (ret, [param types])}) of promptkiln.h, read the way
    scripts/c-header.mjs reads it: one C prototype per export, named promptkiln_<export>."""
    code = re.sub(r"/\*[\s\S]*?\*/", " ", text)
    code = re.sub(r"//[^\n]*", " ", code)
    m = re.search(r"#define\s+PROMPTKILN_ABI_VERSION\s+(\d+)", code)
    flat = re.sub(r"\s+", " ", re.sub(r"#[^\n]*", " ", code))
    functions = {}
    for d in re.finditer(r"([A-Za-z_][\w ]*?)\s+promptkiln_(\w+)\s*\(([^)]*)\)\s*;", flat):
        ret = d.group(1).strip().split(" ")[-1]
        params = d.group(3).strip()
        types = [] if params in ("", "void") else [p.strip().split(" ")[0] for p in params.split(",")]
        functions[d.group(2)] = (ret, types)
    return (int(m.group(1)) if m else None), functions


class Trap(RuntimeError):
    pass


class Promptkiln:
    def __init__(self, library, header):
        with open(header, encoding="utf-8") as f:
            self.header_abi, self.functions = parse_header(f.read())
        self.lib = ctypes.CDLL(library)
        self.lib.pk_open.restype = ctypes.c_int32
        self.lib.pk_memory.restype = ctypes.c_void_p
        self.lib.pk_memory_size.restype = ctypes.c_uint64
        self.lib.pk_memory_grow.restype = ctypes.c_int64
        self.lib.pk_memory_grow.argtypes = [ctypes.c_uint32]
        self.last_trap = ctypes.c_int32.in_dll(self.lib, "promptkiln_last_trap")
        for name, (ret, types) in self.functions.items():
            fn = getattr(self.lib, "promptkiln_" + name)
            fn.restype = C_TYPES[ret]
            fn.argtypes = [C_TYPES[t] for t in types]
        abi = self.lib.pk_open()
        if abi != self.header_abi:
            raise RuntimeError(f"ABI mismatch: module {abi}, promptkiln.h {self.header_abi}")
        self.arena = self.heap_base()

    def __getattr__(self, name):
        """pk.matmul_fwd(...) calls promptkiln_matmul_fwd and raises Trap if the module trapped."""
        if name not in self.functions:
            raise AttributeError(f"promptkiln.h declares no promptkiln_{name}")
        fn = getattr(self.lib, "promptkiln_" + name)

        def call(*args):
            r = fn(*args)
            if self.last_trap.value:
                raise Trap(f"{name}: {TRAPS.get(self.last_trap.value, self.last_trap.value)}")
            return r

        return call

    # ---- memory: a bump arena above heap_base(), 16-byte aligned ----

    def alloc(self, n):
        """Reserves n floats (or int32s); returns the byte offset."""
        at = (self.arena + 15) & ~15
        end = at + 4 * n
        size = self.lib.pk_memory_size()
        if end > size and self.lib.pk_memory_grow((end - size + PAGE - 1) // PAGE) < 0:
            raise MemoryError(f"wasm memory cannot grow to {end} bytes")
        self.arena = end
        return at

    def _write(self, at, data):
        ctypes.memmove(self.lib.pk_memory() + at, data, len(data))

    def put_f32(self, values):
        at = self.alloc(len(values))
        self._write(at, struct.pack(f"<{len(values)}f", *values))
        return at

    def put_i32(self, values):
        at = self.alloc(len(values))
        self._write(at, struct.pack(f"<{len(values)}i", *values))
        return at

    def get_f32(self, at, n):
        return list(struct.unpack(f"<{n}f", ctypes.string_at(self.lib.pk_memory() + at, 4 * n)))
