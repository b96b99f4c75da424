#!/usr/bin/env bash
# Builds the C host: wasm2c translates the portable kernel build to C, a generated glue file binds
# wasm/promptkiln.h's names to that translation, gcc compiles it with wabt's runtime.
#   wasm/examples/c/build.sh          build into wasm/examples/c/build/, then run it
#   wasm/examples/c/build.sh --no-run build only
# Needs: wasm2c (Debian package wabt; 1.0.32 cannot translate SIMD, hence the portable build),
# gcc (or $CC), node (for the glue generator), and wasm/promptkiln.portable.wasm (npm run build:wasm).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
out="$here/build"
wasm="$root/wasm/promptkiln.portable.wasm"
CC="${CC:-gcc}"

die() { echo "build.sh: $*" >&2; exit 1; }
command -v wasm2c >/dev/null || die "wasm2c not found: install wabt (apt-get install -y wabt)"
command -v "$CC" >/dev/null || die "C compiler '$CC' not found: install gcc"
[ -f "$wasm" ] || die "$wasm missing: run 'npm run build:wasm' first"

# wasm2c's runtime (wasm-rt-impl.c) ships as source beside its headers; Debian puts it in
# /usr/share/wabt/wasm2c. WASM2C_RUNTIME overrides the search.
rt=""
for d in "${WASM2C_RUNTIME:-}" /usr/share/wabt/wasm2c /usr/src/wasm2c /usr/local/share/wabt/wasm2c; do
  if [ -n "$d" ] && [ -f "$d/wasm-rt-impl.c" ]; then rt="$d"; break; fi
done
[ -n "$rt" ] || die "wasm-rt-impl.c not found (looked in /usr/share/wabt/wasm2c, /usr/src/wasm2c, /usr/local/share/wabt/wasm2c); set WASM2C_RUNTIME to the folder holding it"

mkdir -p "$out"
wasm2c "$wasm" -n promptkiln -o "$out/pk_module.c"
node "$root/scripts/gen-wasm2c-glue.mjs" "$root/wasm/promptkiln.h" pk_module.h promptkiln "$out/glue.c"

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
