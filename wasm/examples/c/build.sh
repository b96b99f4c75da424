#!/usr/bin/env bash
# Builds the C host: wasm2c translates the portable kernel build to C, a generated glue file binds
# wasm/promptkiln.h's names to that translation, gcc compiles it with wabt's runtime.
#   wasm/examples/c/build.sh          build into wasm/examples/c/build/, then run it
#   wasm/examples/c/build.sh --no-run build only
# Needs: see ../translate.sh.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/build"
source "$here/../translate.sh"
translate_portable "$out"

inc=(-I "$rt" -I "$out" -I "$here" -I "$root/wasm")
# The glue is where promptkiln.h meets the module's real signatures: any implicit conversion there
# is a header/module mismatch, so it is an error.
"$CC" -std=c11 -O2 "${inc[@]}" -Wall -Wconversion -Werror -c "$out/glue.c" -o "$out/glue.o"
"$CC" -std=c11 -O2 "${inc[@]}" -Wall -Werror -c "$here/main.c" -o "$out/main.o"
# generated code: wasm2c's own output is not ours to lint
"$CC" -std=c11 -O2 "${inc[@]}" -w -c "$out/pk_module.c" -o "$out/pk_module.o"
# the runtime uses POSIX mmap/sigaction (guard pages for bounds checks), hidden by strict -std=c11
"$CC" -std=gnu11 -O2 "${inc[@]}" -w -c "$rt/wasm-rt-impl.c" -o "$out/wasm-rt-impl.o"
"$CC" -o "$out/promptkiln-c" "$out/main.o" "$out/glue.o" "$out/pk_module.o" "$out/wasm-rt-impl.o" -lm
echo "build.sh: built $out/promptkiln-c"

if [ "${1:-}" != "--no-run" ]; then
  "$out/promptkiln-c"
fi
