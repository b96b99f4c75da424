#!/usr/bin/env bash
# Builds the Python host's shared library: wasm2c translates the portable kernel build to C, the
# glue (generated with --catch-traps) binds wasm/promptkiln.h's names to it, and gcc links it with
# wabt's runtime and library.c into libpromptkiln.so, which promptkiln_ctypes.py loads.
#   wasm/examples/python/build.sh [out dir]   default: wasm/examples/python/build/
# Needs: see ../translate.sh.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/build}"
source "$here/../translate.sh"
translate_portable "$out" --catch-traps

inc=(-I "$rt" -I "$out" -I "$here/../c" -I "$root/wasm")
# Inside a host process that owns its signal handlers (Python), explicit bounds checks instead of
# the runtime's SIGSEGV guard pages; every trap goes to the glue's promptkiln_on_trap.
defs=(-DWASM_RT_MEMCHECK_SIGNAL_HANDLER=0 -DWASM_RT_TRAP_HANDLER=promptkiln_on_trap)
cflags=(-O2 -fPIC "${inc[@]}" "${defs[@]}")
"$CC" -std=c11 "${cflags[@]}" -Wall -Wconversion -Werror -c "$out/glue.c" -o "$out/glue.o"
"$CC" -std=c11 "${cflags[@]}" -Wall -Werror -c "$here/library.c" -o "$out/library.o"
# generated code: wasm2c's own output is not ours to lint
"$CC" -std=c11 "${cflags[@]}" -w -c "$out/pk_module.c" -o "$out/pk_module.o"
# promptkiln_on_trap is declared for the runtime through a forced include
printf '#include "wasm-rt.h"\nvoid promptkiln_on_trap(wasm_rt_trap_t code);\n' > "$out/on_trap.h"
"$CC" -std=gnu11 "${cflags[@]}" -include "$out/on_trap.h" -w -c "$rt/wasm-rt-impl.c" -o "$out/wasm-rt-impl.o"
"$CC" -shared -o "$out/libpromptkiln.so" "$out/library.o" "$out/glue.o" "$out/pk_module.o" "$out/wasm-rt-impl.o" -lm
echo "build.sh: built $out/libpromptkiln.so"
