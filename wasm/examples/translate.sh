# Sourced by the wasm2c hosts' build scripts (c/build.sh, python/build.sh): checks the tools,
# finds wasm2c's runtime sources, translates the portable build to C and generates the glue that
# binds wasm/promptkiln.h's names to the translation.
#   translate_portable <out dir> [glue generator options]
# Sets: rt (the runtime's folder), root (the repository), wasm (the module translated).
# Needs: wasm2c (Debian package wabt; 1.0.32 cannot translate SIMD, hence the portable build),
# gcc (or $CC), node (for the glue generator), and wasm/promptkiln.portable.wasm (npm run build:wasm).

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
wasm="$root/wasm/promptkiln.portable.wasm"
CC="${CC:-gcc}"

die() { echo "build.sh: $*" >&2; exit 1; }

translate_portable() {
  local out="$1"; shift
  command -v wasm2c >/dev/null || die "wasm2c not found: install wabt (apt-get install -y wabt)"
  command -v "$CC" >/dev/null || die "C compiler '$CC' not found: install gcc"
  [ -f "$wasm" ] || die "$wasm missing: run 'npm run build:wasm' first"
  # wasm2c's runtime (wasm-rt-impl.c) ships as source beside its headers; Debian puts it in
  # /usr/share/wabt/wasm2c. WASM2C_RUNTIME overrides the search.
  rt=""
  local d
  for d in "${WASM2C_RUNTIME:-}" /usr/share/wabt/wasm2c /usr/src/wasm2c /usr/local/share/wabt/wasm2c; do
    if [ -n "$d" ] && [ -f "$d/wasm-rt-impl.c" ]; then rt="$d"; break; fi
  done
  [ -n "$rt" ] || die "wasm-rt-impl.c not found (looked in /usr/share/wabt/wasm2c, /usr/src/wasm2c, /usr/local/share/wabt/wasm2c); set WASM2C_RUNTIME to the folder holding it"
  mkdir -p "$out"
  wasm2c "$wasm" -n promptkiln -o "$out/pk_module.c"
  node "$root/scripts/gen-wasm2c-glue.mjs" "$root/wasm/promptkiln.h" pk_module.h promptkiln "$out/glue.c" "$@"
}
