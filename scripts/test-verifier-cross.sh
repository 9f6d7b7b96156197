#!/usr/bin/env bash
# Tests a cross-built client-verifier bundle the way an integrator on that platform uses it,
# outside the repository, on this Linux machine: Windows x64 under Wine, Linux ARM64 under
# qemu-user. Builds the C golden-vector program (examples/c/verify_license.c) and
# examples/minimal.c against the bundle with the target's gcc, linked to the shared library
# (Windows: through lib/libclient_verifier.dll.a, the DLL beside the .exe) and to the static
# archive, and with CMake find_package (C); runs the golden cases, and minimal.c on licenses
# minted now (active 0, frozen 3, expired 4, another machine's 10). On Windows also runs the
# bundle's licctl.exe (fingerprint, verify) and checks client_verifier.lib is an import library
# of the DLL's exports.
#
# Usage: scripts/test-verifier-cross.sh TARGET [ARCHIVE]
#   TARGET: x86_64-pc-windows-gnu or aarch64-unknown-linux-gnu
#   ARCHIVE: the bundle (default: build it with dist-verifier.sh --target TARGET)
# Installs what is missing with apt-get (mingw-w64, wine, gcc-aarch64-linux-gnu, qemu-user).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
target="${1:?usage: test-verifier-cross.sh TARGET [ARCHIVE]}"
archive="${2:-}"
fail() { printf 'cross %s: FAILED: %s\n' "$target" "$1" >&2; exit 1; }
step() { printf '\n== cross %s: %s\n' "$target" "$1"; }
# shellcheck source=scripts/lib/bundle.sh
source scripts/lib/bundle.sh

case "$target" in
  x86_64-pc-windows-gnu)
    cc=x86_64-w64-mingw32-gcc; exe=.exe
    packages=(gcc-mingw-w64-x86-64 wine64 cmake python3) ;;
  aarch64-unknown-linux-gnu)
    cc=aarch64-linux-gnu-gcc; exe=
    packages=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user cmake python3) ;;
  *) fail "no cross test for $target" ;;
esac
install_missing "${packages[@]}"
grep -qx "$target" <<<"$(rustup target list --installed)" || rustup target add "$target"

if [ -z "$archive" ]; then
  step "building the bundle"
  archive="$(bash scripts/dist-verifier.sh --target "$target" | tail -n 1)"
fi
[ -f "$archive" ] || fail "no bundle at $archive"

work="$(mktemp -d /tmp/cv-cross.XXXXXX)"
trap 'rm -rf "$work"' EXIT
python3 - "$archive" "$work" <<'PY'
import sys, tarfile, zipfile
archive, dest = sys.argv[1:]
if archive.endswith(".zip"):
    zipfile.ZipFile(archive).extractall(dest)
else:
    tarfile.open(archive).extractall(dest)
PY
bundle="$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'client-verifier-*')"
[ -d "$bundle" ] || fail "the archive holds no client-verifier-* directory"
echo "unpacked to $bundle"

# Runs a program of the target: Wine (through the repository's runner, which supplies what Wine
# 8 lacks) or qemu-user with the cross C library.
run() {
  if [ -n "$exe" ]; then
    "$repo/scripts/wine/run.sh" "$@"
  else
    qemu-aarch64 -L /usr/aarch64-linux-gnu "$@"
  fi
}

step "licenses minted now, and the golden vectors as C"
demo="$work/demo"
cargo run -q -p client-verifier --features sign --example demo_license -- "$demo" >/dev/null
python3 "$repo/client-verifier/examples/c/golden_cases.py" \
  "$repo/client-verifier/tests/vectors/license-v1.json" "$work/golden_cases.h"
cp "$repo/client-verifier/examples/c/verify_license.c" "$work/"
cd "$work"

step "layout"
if [ -n "$exe" ]; then
  files=(bin/client_verifier.dll bin/licctl.exe lib/client_verifier.lib lib/libclient_verifier.dll.a
         lib/libclient_verifier.a)
else
  files=(lib/libclient_verifier.so lib/libclient_verifier.a lib/pkgconfig/client_verifier.pc)
fi
for f in include/client_verifier.h lib/cmake/ClientVerifier/ClientVerifierConfig.cmake \
         csharp/ClientVerifier.cs examples/minimal.c README.md THIRD-PARTY.md "${files[@]}"; do
  [ -e "$bundle/$f" ] || fail "missing $f"
done
if [ -n "$exe" ]; then
  # The MSVC import library must name every exported cv_* function and the DLL.
  exported="$(x86_64-w64-mingw32-objdump -p "$bundle/bin/client_verifier.dll" \
    | awk '/\[Ordinal\/Name Pointer\] Table/ {t=1; next} t && NF==0 {t=0} t {print $NF}' | sort)"
  imported="$(x86_64-w64-mingw32-nm "$bundle/lib/client_verifier.lib" | awk '$2=="T" {print $3}' \
    | grep -v '^__' | sort -u)"
  [ "$exported" = "$imported" ] || fail "client_verifier.lib does not match the DLL's exports"
  # Whole output first, then grep: `cmd | grep -q` under pipefail fails when grep stops early.
  grep -qx client_verifier.dll <<<"$(strings "$bundle/lib/client_verifier.lib")" \
    || fail "client_verifier.lib does not name client_verifier.dll"
  echo "client_verifier.lib: $(echo "$imported" | wc -l) functions of client_verifier.dll"

  # Linked as Visual Studio links: an MSVC-ABI program through lld-link (link.exe's command
  # line), against client_verifier.lib, then run with the DLL beside it.
  grep -qx x86_64-pc-windows-msvc <<<"$(rustup target list --installed)" \
    || rustup target add x86_64-pc-windows-msvc
  lld="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/rust-lld"
  mkdir -p "$work/msvc"
  rustc --edition 2024 --target x86_64-pc-windows-msvc -C panic=abort -C opt-level=2 \
    -C linker="$lld" -C linker-flavor=lld-link -L "$bundle/lib" -L /usr/x86_64-w64-mingw32/lib \
    -C link-arg=/NODEFAULTLIB -C link-arg=/ENTRY:mainCRTStartup -C link-arg=/SUBSYSTEM:CONSOLE \
    -C link-arg=/OPT:REF "$repo/scripts/wine/msvc_consumer.rs" -o "$work/msvc/consumer.exe" \
    || fail "lld-link cannot link client_verifier.lib"
  cp "$bundle/bin/client_verifier.dll" "$work/msvc/"
  abi="$(sed -n 's/^#define CV_ABI_VERSION \([0-9]*\)$/\1/p' "$bundle/include/client_verifier.h")"
  set +e
  (cd "$work/msvc" && run ./consumer.exe)
  got=$?
  set -e
  [ "$got" = "$((40 + abi))" ] || fail "the MSVC-linked program exited $got, want $((40 + abi))"
  echo "an MSVC-ABI program linked by lld-link against client_verifier.lib calls the DLL: ABI $abi"
fi


step "the golden cases and minimal.c, shared and static"
cflags=(-std=c99 -Wall -Wextra -Werror -I"$bundle/include" -I"$work")
native="$(sed -n 's/^Libs.private: //p' "$bundle/lib/pkgconfig/client_verifier-static.pc" 2>/dev/null || true)"
if [ -n "$exe" ]; then
  native="$(grep -o 'libclient_verifier.a -l[^`]*' "$bundle/README.md" | head -n1 | sed 's/^libclient_verifier.a //; s/ -o app.exe.*$//')"
  [ -n "$native" ] || fail "the README names no system libraries for the static archive"
  shared_link=(-L"$bundle/lib" -lclient_verifier)
  cp "$bundle/bin/client_verifier.dll" "$work/"
else
  shared_link=(-L"$bundle/lib" -lclient_verifier -Wl,-rpath,"$bundle/lib")
fi
for prog in verify_license minimal; do
  src="$work/verify_license.c"
  [ "$prog" = minimal ] && src="$bundle/examples/minimal.c"
  extra=()
  [ "$prog" = verify_license ] && extra=(-Wno-overlength-strings)
  "$cc" "${cflags[@]}" "${extra[@]}" "$src" "${shared_link[@]}" -o "$work/${prog}_shared$exe"
  # shellcheck disable=SC2086 # a list of -l flags
  "$cc" "${cflags[@]}" "${extra[@]}" "$src" "$bundle/lib/libclient_verifier.a" $native \
    -o "$work/${prog}_static$exe"
done
for kind in shared static; do
  run "$work/verify_license_$kind$exe" >"$work/golden.txt" 2>&1 \
    || { cat "$work/golden.txt"; fail "golden cases ($kind)"; }
  echo "  golden ($kind): $(tail -n 1 "$work/golden.txt" | tr -d '\r')"
  expect_outcomes "minimal $kind" run "$work/minimal_$kind$exe"
done
if [ -z "$exe" ]; then
  needed="$(aarch64-linux-gnu-readelf -d "$work/minimal_shared")"
  grep -q 'NEEDED.*libclient_verifier.so' <<<"$needed" || fail "minimal_shared does not load the bundle's library"
  if grep -q 'NEEDED.*libclient_verifier' <<<"$(aarch64-linux-gnu-readelf -d "$work/minimal_static")"; then
    fail "minimal_static still loads a shared client_verifier"
  fi
fi
if [ -n "$exe" ]; then
  # Without the DLL beside it, the shared build must not start (it really uses the DLL).
  mkdir -p "$work/alone" && cp "$work/minimal_shared.exe" "$work/alone/"
  # (From its own directory: Windows also looks in the working directory for a DLL.)
  if (cd "$work/alone" && run ./minimal_shared.exe "$demo/keys.txt" "$demo/active.token" s \
       >/dev/null 2>&1); then
    fail "minimal_shared.exe ran without client_verifier.dll"
  fi
fi

step "CMake find_package (C)"
mkdir -p "$work/app"
cp "$bundle/examples/minimal.c" "$work/app/"
{
  echo 'cmake_minimum_required(VERSION 3.11)'
  echo 'project(licensed_app C)'
  echo 'find_package(ClientVerifier 0.1 REQUIRED)'
  echo 'add_executable(minimal_c minimal.c)'
  echo 'target_link_libraries(minimal_c PRIVATE ClientVerifier::client_verifier)'
  [ -n "$exe" ] && echo 'clientverifier_copy_dll(minimal_c)'
} >"$work/app/CMakeLists.txt"
if [ -n "$exe" ]; then
  system=(-DCMAKE_SYSTEM_NAME=Windows -DCMAKE_SYSTEM_PROCESSOR=AMD64)
else
  system=(-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64)
fi
cmake -S "$work/app" -B "$work/app-build" "${system[@]}" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_PREFIX_PATH="$bundle" -DCMAKE_FIND_ROOT_PATH="$bundle" \
  -DCMAKE_C_FLAGS="-Wall -Werror" >/dev/null
cmake --build "$work/app-build" >/dev/null
expect_outcomes "cmake" run "$work/app-build/minimal_c$exe"

if [ -n "$exe" ]; then
  step "licctl.exe"
  run "$bundle/bin/licctl.exe" --version | tr -d '\r'
  fp="$(run "$bundle/bin/licctl.exe" fingerprint | tr -d '\r')"
  echo "  fingerprint under Wine: $fp"
  [[ "$fp" == *"|"*"|"*"|"* ]] || fail "licctl.exe fingerprint printed no fingerprint"
  key="$(grep -m1 '^k4.public' "$demo/keys.txt")"
  run "$bundle/bin/licctl.exe" verify "$(cat "$demo/active.token")" --public-key "$key" \
    --product OFFI454488918838374 --issuer licd >"$work/verify.txt" \
    || { cat "$work/verify.txt"; fail "licctl.exe verify refused the active demo license"; }
  grep -q 'active until' "$work/verify.txt" || fail "licctl.exe verify: $(cat "$work/verify.txt")"
  echo "  verify: $(head -n 1 "$work/verify.txt" | tr -d '\r')"
fi

step "ok"
