#!/usr/bin/env bash
# Builds the client-verifier release bundle for C, C++ and C# integrators.
#
# Linux (this machine's target, or aarch64-unknown-linux-gnu with Debian's cross gcc):
#   target/dist/client-verifier-<version>-<target>.tar.gz
#     include/client_verifier.h, include/client_verifier.hpp
#     lib/libclient_verifier.so.<ABI> (soname), lib/libclient_verifier.so -> it
#     lib/libclient_verifier.a (debug info stripped)
#     lib/pkgconfig/client_verifier.pc, lib/pkgconfig/client_verifier-static.pc
#     lib/cmake/ClientVerifier/ClientVerifierConfig.cmake (+ ConfigVersion)
#     csharp/ClientVerifier.cs, csharp/Example.cs
#     examples/minimal.c, examples/minimal.cpp, README.md, LICENSE-*, THIRD-PARTY.md
#     python/client_verifier-<version>-cp39-abi3-<platform>.whl (scripts/build-python.sh),
#     node/client-verifier-node-<version>.tgz (scripts/build-node.sh),
#     java/client-verifier-java-<version>.jar (scripts/build-java.sh), each with its README
#     and example (this machine's target only; --no-bindings leaves them out)
#
# Windows (x86_64-pc-windows-gnu, with Debian's mingw-w64):
#   target/dist/client-verifier-<version>-x86_64-pc-windows-gnu.zip
#     include/, bin/client_verifier.dll, bin/licctl.exe
#     lib/client_verifier.lib (import library for MSVC), lib/libclient_verifier.dll.a (mingw),
#     lib/libclient_verifier.a (mingw static archive), lib/cmake/ClientVerifier/,
#     csharp/, examples/, README.md (Visual Studio, CMake, .NET, mingw), LICENSE-*, THIRD-PARTY.md
#
# Usage: scripts/dist-verifier.sh [--target TRIPLE] [--no-bindings]   (default: this machine's)
# The library is built with the `dist` profile (release, fat LTO, one codegen unit); licctl.exe
# with `release`. The path of the archive is the last line printed.
#
# Why not cargo-c: it would do the build, the soname and the .pc file, but installing it takes
# minutes of compiling on every CI machine, it has no CMake package config, and the bundle needs
# the C++ header, the C# binding and the examples beside the library anyway. This script follows
# its conventions (file names, relocatable .pc, soname from the ABI version).
set -euo pipefail
cd "$(dirname "$0")/.."

target=""
bindings=1
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target="$2"; shift 2 ;;
    --no-bindings) bindings=0; shift ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "dist-verifier: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
host="$(rustc -vV | sed -n 's/^host: //p')"
target="${target:-$host}"
case "$target" in
  *-pc-windows-gnu) kind=windows ;;
  *-linux-gnu) kind=linux ;;
  *) echo "dist-verifier: no bundle for $target (Linux *-linux-gnu and x86_64-pc-windows-gnu)" >&2
     exit 2 ;;
esac
arch="${target%%-*}"
# Debian's binutils for the target: strip, dlltool, objdump.
if [ "$kind" = windows ]; then
  tools="$arch-w64-mingw32-"
elif [ "$target" != "$host" ]; then
  tools="$arch-linux-gnu-"
else
  tools=""
fi
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
link_args=()
[ "$kind" = linux ] && link_args=(-C "link-arg=-Wl,-soname,$soname")
cargo rustc -p client-verifier --lib --features ffi --profile dist "${target_args[@]}" \
  --crate-type cdylib,staticlib --message-format=json-render-diagnostics \
  -- "${link_args[@]}" --print native-static-libs >"$log"
read -r shared static implib < <(python3 - "$log" <<'PY'
import json, sys
shared = static = implib = "-"
for line in open(sys.argv[1], encoding="utf-8"):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "client_verifier":
        for f in m["filenames"]:
            if f.endswith(".so") or f.endswith(".dll"):
                shared = f
            elif f.endswith(".dll.a"):
                implib = f
            elif f.endswith(".a"):
                static = f
print(shared, static, implib)
PY
)
[ -f "$shared" ] && [ -f "$static" ] || { echo "dist-verifier: build produced no library" >&2; exit 1; }
native="$(grep -o 'native-static-libs: [^"]*' "$log" | head -n1 | sed 's/^native-static-libs: //' || true)"
if [ -z "$native" ]; then
  if [ "$kind" = windows ]; then
    native="-lkernel32 -ladvapi32 -lbcrypt -liphlpapi -lntdll -luserenv -lws2_32 -lmsvcrt"
  else
    native="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
  fi
fi
# CMake wants the libraries as a list of names.
native_cmake="$(echo "$native" | tr ' ' '\n' | sed -n 's/^-l//p' | paste -sd ';')"

if [ "$kind" = windows ]; then
  echo "== building licctl.exe"
  cargo build --release --bin licctl "${target_args[@]}" --message-format=json-render-diagnostics >"$log"
  licctl="$(python3 - "$log" <<'PY'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "licctl" and m.get("executable"):
        print(m["executable"])
PY
)"
  [ -f "$licctl" ] || { echo "dist-verifier: no licctl.exe" >&2; exit 1; }
fi

echo "== assembling $out"
rm -rf "$out" "$out.tar.gz" "$out.zip"
mkdir -p "$out/include" "$out/lib/cmake/ClientVerifier" "$out/csharp" "$out/examples"
cp "$crate/include/client_verifier.h" "$crate/include/client_verifier.hpp" "$out/include/"
cp "$static" "$out/lib/libclient_verifier.a"
chmod 0644 "$out/lib/libclient_verifier.a"
# The Rust standard library's objects carry debug info; mingw's strip refuses some members of a
# Windows archive (objects with no sections), which are left as they are there.
[ "$kind" = windows ] || "${tools}strip" --strip-debug "$out/lib/libclient_verifier.a"
if [ "$kind" = windows ]; then
  mkdir -p "$out/bin"
  cp "$shared" "$out/bin/client_verifier.dll"
  "${tools}strip" --strip-unneeded "$out/bin/client_verifier.dll"
  cp "$implib" "$out/lib/libclient_verifier.dll.a"
  # The import library MSVC links: the DLL's own export table as a .def, through dlltool.
  {
    echo "LIBRARY client_verifier.dll"
    echo "EXPORTS"
    "${tools}objdump" -p "$out/bin/client_verifier.dll" \
      | awk '/\[Ordinal\/Name Pointer\] Table/ {t=1; next} t && NF==0 {t=0} t {print "    " $NF}'
  } >"$out/lib/client_verifier.def"
  grep -q '^    cv_abi_version$' "$out/lib/client_verifier.def" \
    || { echo "dist-verifier: the DLL exports no cv_abi_version" >&2; exit 1; }
  "${tools}dlltool" -m i386:x86-64 -d "$out/lib/client_verifier.def" -D client_verifier.dll \
    -l "$out/lib/client_verifier.lib"
  cp "$licctl" "$out/bin/licctl.exe"
  "${tools}strip" --strip-unneeded "$out/bin/licctl.exe"
else
  mkdir -p "$out/lib/pkgconfig"
  cp "$shared" "$out/lib/$soname"
  ln -s "$soname" "$out/lib/libclient_verifier.so"
  chmod 0755 "$out/lib/$soname"
  "${tools}strip" --strip-unneeded "$out/lib/$soname"
fi
pointer_size=8
fill() {
  sed -e "s|@VERSION@|$version|g" -e "s|@ABI@|$abi|g" -e "s|@SONAME@|$soname|g" \
      -e "s|@SHARED_REAL@|$soname|g" -e "s|@NATIVE_LIBS@|$native|g" \
      -e "s|@NATIVE_LIBS_CMAKE@|$native_cmake|g" -e "s|@POINTER_SIZE@|$pointer_size|g" \
      -e "s|@TARGET@|$target|g" "$1" >"$2"
}
if [ "$kind" = windows ]; then
  fill "$crate/dist/ClientVerifierConfig-windows.cmake.in" \
    "$out/lib/cmake/ClientVerifier/ClientVerifierConfig.cmake"
  fill "$crate/dist/README-windows.md" "$out/README.md"
else
  fill "$crate/dist/client_verifier.pc.in" "$out/lib/pkgconfig/client_verifier.pc"
  fill "$crate/dist/client_verifier-static.pc.in" "$out/lib/pkgconfig/client_verifier-static.pc"
  fill "$crate/dist/ClientVerifierConfig.cmake.in" "$out/lib/cmake/ClientVerifier/ClientVerifierConfig.cmake"
  fill "$crate/dist/README.md" "$out/README.md"
fi
fill "$crate/dist/ClientVerifierConfigVersion.cmake.in" \
  "$out/lib/cmake/ClientVerifier/ClientVerifierConfigVersion.cmake"
cp "$crate/bindings/csharp/ClientVerifier.cs" "$crate/bindings/csharp/Example.cs" "$out/csharp/"
cp "$crate/examples/c/minimal.c" "$crate/examples/cpp/minimal.cpp" "$out/examples/"
cp LICENSE-MIT LICENSE-APACHE "$out/"
{
  echo "# Third-party code in this bundle"
  echo
  echo "The library links these crates (and the Rust standard library, MIT OR Apache-2.0)."
  [ "$kind" = windows ] && echo "licctl.exe links more: see licd's Cargo.lock."
  echo "Each is used under the licence shown; see crates.io for their texts."
  echo
  echo "| crate | version | licence |"
  echo "|---|---|---|"
  cargo tree -p client-verifier --features ffi -e normal --prefix none --format '{p}|{l}' \
    "${target_args[@]}" | sort -u | grep -v '^client-verifier ' \
    | sed -E 's/^([^ ]+) v([^ |]+)[^|]*\|(.*)$/| \1 | \2 | \3 |/'
} >"$out/THIRD-PARTY.md"

# The Python, Node.js and Java bindings, built for this machine: their native code is built
# for the platform it runs on (a wheel, an addon and a library inside the jar).
if [ "$bindings" = 1 ] && [ "$target" = "$host" ]; then
  echo "== language bindings (Python wheel, npm tarball, Java jar)"
  mkdir -p "$out/python" "$out/node" "$out/java"
  cp "$(bash scripts/build-python.sh | tail -n 1)" "$out/python/"
  cp "$crate/bindings/python/README.md" "$crate/bindings/python/examples/verify_license.py" "$out/python/"
  cp "$(bash scripts/build-node.sh | tail -n 1)" "$out/node/"
  cp "$crate/bindings/node/README.md" "$crate/bindings/node/examples/verify-license.js" "$out/node/"
  cp "$(bash scripts/build-java.sh | tail -n 1)" "$out/java/"
  cp "$crate/bindings/java/README.md" "$crate/bindings/java/examples/VerifyLicense.java" "$out/java/"
  {
    echo
    echo "## The language bindings"
    echo
    echo "The Python module and the Node.js addon link these crates besides the library's. The"
    echo "Java jar holds the library itself and needs JNA (Apache-2.0 OR LGPL-2.1) beside it."
    echo
    echo "| crate | version | licence |"
    echo "|---|---|---|"
    for p in client-verifier-python client-verifier-node; do
      cargo tree -p "$p" -e normal --prefix none --format '{p}|{l}'
    done | sort -u | grep -v '^client-verifier' \
      | sed -E 's/^([^ ]+) v([^ |]+)[^|]*\|(.*)$/| \1 | \2 | \3 |/'
  } >>"$out/THIRD-PARTY.md"
fi

if [ "$kind" = windows ]; then
  archive="$out.zip"
  python3 - "target/dist" "$name" "$archive" <<'PY'
import os, sys, zipfile
base, name, archive = sys.argv[1:]
with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
    for root, dirs, files in os.walk(os.path.join(base, name)):
        dirs.sort()
        for f in sorted(files):
            path = os.path.join(root, f)
            z.write(path, os.path.relpath(path, base))
PY
  printf '== sizes\n'
  for f in bin/client_verifier.dll bin/licctl.exe lib/libclient_verifier.a lib/client_verifier.lib; do
    printf '%10s  %s\n' "$(stat -c %s "$out/$f")" "$f"
  done
else
  archive="$out.tar.gz"
  tar -C "target/dist" -czf "$archive" "$name"
  printf '== sizes\n'
  printf '%10s  %s\n' "$(stat -c %s "$out/lib/libclient_verifier.a")" "lib/libclient_verifier.a" \
    "$(stat -c %s "$out/lib/$soname")" "lib/$soname"
fi
printf '%10s  %s\n' "$(stat -c %s "$archive")" "$(basename "$archive")"
echo "$PWD/$archive"
