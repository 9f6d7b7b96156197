#!/usr/bin/env bash
# Builds the client-verifier release bundle for C, C++ and C# integrators:
#
#   target/dist/client-verifier-<version>-<target>.tar.gz
#     include/client_verifier.h, include/client_verifier.hpp
#     lib/libclient_verifier.so.<ABI> (soname), lib/libclient_verifier.so -> it
#     lib/libclient_verifier.a (debug info stripped)
#     lib/pkgconfig/client_verifier.pc, lib/pkgconfig/client_verifier-static.pc
#     lib/cmake/ClientVerifier/ClientVerifierConfig.cmake (+ ConfigVersion)
#     csharp/ClientVerifier.cs, csharp/Example.cs
#     examples/minimal.c, examples/minimal.cpp, README.md, LICENSE-*, THIRD-PARTY.md
#
# Usage: scripts/dist-verifier.sh [--target TRIPLE]   (default: this machine's)
# The library is built with the `dist` profile (release, fat LTO, one codegen unit). The path
# of the tarball is the last line printed.
#
# Why not cargo-c: it would do the build, the soname and the .pc file, but installing it takes
# minutes of compiling on every CI machine, it has no CMake package config, and the bundle needs
# the C++ header, the C# binding and the examples beside the library anyway. This script follows
# its conventions (file names, relocatable .pc, soname from the ABI version).
set -euo pipefail
cd "$(dirname "$0")/.."

target=""
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "dist-verifier: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
host="$(rustc -vV | sed -n 's/^host: //p')"
target="${target:-$host}"
crate=client-verifier
version="$(cargo metadata --no-deps --format-version 1 \
  | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="client-verifier"))')"
abi="$(sed -n 's/^#define CV_ABI_VERSION \([0-9]*\)$/\1/p' "$crate/include/client_verifier.h")"
[ -n "$abi" ] || { echo "dist-verifier: no CV_ABI_VERSION in the header" >&2; exit 1; }
soname="libclient_verifier.so.$abi"
name="client-verifier-$version-$target"
out="target/dist/$name"

echo "== building $name (ABI $abi)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
target_args=()
[ "$target" = "$host" ] || target_args=(--target "$target")
cargo rustc -p client-verifier --lib --features ffi --profile dist "${target_args[@]}" \
  --crate-type cdylib,staticlib --message-format=json-render-diagnostics \
  -- -C "link-arg=-Wl,-soname,$soname" --print native-static-libs >"$log"
read -r shared static < <(python3 - "$log" <<'PY'
import json, sys
shared = static = "-"
for line in open(sys.argv[1], encoding="utf-8"):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "client_verifier":
        for f in m["filenames"]:
            if f.endswith(".so"):
                shared = f
            elif f.endswith(".a"):
                static = f
print(shared, static)
PY
)
[ -f "$shared" ] && [ -f "$static" ] || { echo "dist-verifier: build produced no library" >&2; exit 1; }
native="$(grep -o 'native-static-libs: [^"]*' "$log" | head -n1 | sed 's/^native-static-libs: //' || true)"
native="${native:--lgcc_s -lutil -lrt -lpthread -lm -ldl -lc}"
# CMake wants the libraries as a list of names.
native_cmake="$(echo "$native" | tr ' ' '\n' | sed -n 's/^-l//p' | paste -sd ';')"

echo "== assembling $out"
rm -rf "$out" "$out.tar.gz"
mkdir -p "$out/include" "$out/lib/pkgconfig" "$out/lib/cmake/ClientVerifier" "$out/csharp" "$out/examples"
cp "$crate/include/client_verifier.h" "$crate/include/client_verifier.hpp" "$out/include/"
cp "$shared" "$out/lib/$soname"
ln -s "$soname" "$out/lib/libclient_verifier.so"
cp "$static" "$out/lib/libclient_verifier.a"
chmod 0644 "$out/lib/libclient_verifier.a" && chmod 0755 "$out/lib/$soname"
strip --strip-unneeded "$out/lib/$soname"
strip --strip-debug "$out/lib/libclient_verifier.a"
pointer_size="$(python3 -c 'import struct; print(struct.calcsize("P"))')"
fill() {
  sed -e "s|@VERSION@|$version|g" -e "s|@ABI@|$abi|g" -e "s|@SONAME@|$soname|g" \
      -e "s|@SHARED_REAL@|$soname|g" -e "s|@NATIVE_LIBS@|$native|g" \
      -e "s|@NATIVE_LIBS_CMAKE@|$native_cmake|g" -e "s|@POINTER_SIZE@|$pointer_size|g" "$1" >"$2"
}
fill "$crate/dist/client_verifier.pc.in" "$out/lib/pkgconfig/client_verifier.pc"
fill "$crate/dist/client_verifier-static.pc.in" "$out/lib/pkgconfig/client_verifier-static.pc"
fill "$crate/dist/ClientVerifierConfig.cmake.in" "$out/lib/cmake/ClientVerifier/ClientVerifierConfig.cmake"
fill "$crate/dist/ClientVerifierConfigVersion.cmake.in" \
  "$out/lib/cmake/ClientVerifier/ClientVerifierConfigVersion.cmake"
cp "$crate/bindings/csharp/ClientVerifier.cs" "$crate/bindings/csharp/Example.cs" "$out/csharp/"
cp "$crate/examples/c/minimal.c" "$crate/examples/cpp/minimal.cpp" "$out/examples/"
fill "$crate/dist/README.md" "$out/README.md"
cp LICENSE-MIT LICENSE-APACHE "$out/"
{
  echo "# Third-party code in libclient_verifier"
  echo
  echo "The library links these crates (and the Rust standard library, MIT OR Apache-2.0)."
  echo "Each is used under the licence shown; see crates.io for their texts."
  echo
  echo "| crate | version | licence |"
  echo "|---|---|---|"
  cargo tree -p client-verifier --features ffi -e normal --prefix none --format '{p}|{l}' \
    "${target_args[@]}" | sort -u | grep -v '^client-verifier ' \
    | sed -E 's/^([^ ]+) v([^ |]+)[^|]*\|(.*)$/| \1 | \2 | \3 |/'
} >"$out/THIRD-PARTY.md"

tar -C "target/dist" -czf "$out.tar.gz" "$name"
printf '== sizes\n'
printf '%10s  %s\n' "$(stat -c %s "$out/lib/libclient_verifier.a")" "lib/libclient_verifier.a" \
  "$(stat -c %s "$out/lib/$soname")" "lib/$soname" "$(stat -c %s "$out.tar.gz")" "$name.tar.gz"
echo "$PWD/$out.tar.gz"
