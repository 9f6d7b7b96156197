#!/usr/bin/env bash
# Builds client-verifier as a C library (shared and static), checks every cv_* function in the
# header is exported, compiles the C and C++ examples and the C test driver against it, runs
# them, and runs them again under valgrind (leaks and invalid accesses fail the run).
#
# Runnable from anywhere (paths are resolved from this file). Exit status non-zero on any failure.
# Environment: CV_PROFILE=release builds an optimised library (default: the dev profile, which
# reuses what `cargo test` built and keeps symbols for valgrind).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
crate="$(cd "$here/../.." && pwd)"
root="$(cd "$crate/.." && pwd)"
cd "$root"

profile="${CV_PROFILE:-dev}"
step() { printf '\n== ffi: %s\n' "$1"; }
fail() { printf 'ffi: FAILED: %s\n' "$1" >&2; exit 1; }

# A fresh Debian box should have these; install only what is missing.
need=()
command -v gcc >/dev/null || need+=(gcc)
command -v g++ >/dev/null || need+=(g++)
command -v valgrind >/dev/null || need+=(valgrind)
command -v python3 >/dev/null || need+=(python3)
command -v nm >/dev/null || need+=(binutils)
if [ "${#need[@]}" -gt 0 ]; then
  step "installing ${need[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}"
fi

step "building libclient_verifier (cdylib + staticlib, profile $profile)"
# `cargo rustc --crate-type` builds the C libraries on demand, so ordinary workspace builds
# never link them. The JSON messages name the files wherever the target directory is.
build_log="$(mktemp)"
trap 'rm -f "$build_log"' EXIT
cargo rustc -p client-verifier --lib --features ffi --profile "$profile" \
  --crate-type cdylib,staticlib --message-format=json-render-diagnostics \
  -- --print native-static-libs >"$build_log"
read -r shared static < <(python3 - "$build_log" <<'PY'
import json, sys
shared = static = ""
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
print(shared or "-", static or "-")
PY
)
# rustc prints the system libraries a static Rust library needs; ask it rather than guess.
native_libs="$(grep -o 'native-static-libs: [^"]*' "$build_log" | head -n1 | sed 's/^native-static-libs: //' || true)"
[ -n "$native_libs" ] || native_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"

step "checking the build is complete"
header="$crate/include/client_verifier.h"
for f in "$shared" "$static" "$header"; do
  [ -f "$f" ] || fail "missing $f"
done
echo "shared: $shared"
echo "static: $static"
exported="$(nm -D --defined-only "$shared" | awk '{print $3}' | grep '^cv_' | sort)"
# What a C program sees without CV_LEASE_CLIENT (the lease client is feature `ffi-lease`,
# checked by run-lease.sh).
declared="$(gcc -E -P -x c "$header" | grep -oE '\bcv_[a-z_0-9]+\(' | tr -d '(' | sort -u)"
missing="$(comm -23 <(echo "$declared") <(echo "$exported"))"
[ -z "$missing" ] || fail "declared in the header but not exported: $missing"
undeclared="$(comm -13 <(echo "$declared") <(echo "$exported"))"
[ -z "$undeclared" ] || fail "exported but not in the header (regenerate it): $undeclared"
echo "$(echo "$declared" | wc -l) cv_* functions declared and exported"

step "compiling examples and test driver"
out="$(dirname "$shared")/cv-ffi"
mkdir -p "$out"
python3 "$here/golden_cases.py" "$crate/tests/vectors/license-v1.json" "$out/golden_cases.h"
cflags=(-g -O1 -Wall -Wextra -Werror -I"$crate/include" -I"$out")
libdir="$(dirname "$shared")"
# The C example and the test driver link the static library (a self-contained binary); the C++
# example and a second build of the driver link the shared one.
# shellcheck disable=SC2086  # native_libs is a list of flags
gcc -std=c99 "${cflags[@]}" "$here/verify_license.c" "$static" $native_libs -o "$out/verify_license_c"
# shellcheck disable=SC2086
gcc -std=c99 "${cflags[@]}" -Wno-overlength-strings "$here/ffi_test.c" "$static" $native_libs \
  -o "$out/ffi_test_static"
gcc -std=c99 "${cflags[@]}" "$here/ffi_test.c" -L"$libdir" -lclient_verifier \
  -Wl,-rpath,"$libdir" -o "$out/ffi_test_shared"
g++ -std=c++11 "${cflags[@]}" "$here/verify_license.cpp" -L"$libdir" -lclient_verifier \
  -Wl,-rpath,"$libdir" -o "$out/verify_license_cpp"
# Make sure the shared builds really use the library just built.
loaded="$(ldd "$out/verify_license_cpp")"
grep -qF "$libdir/libclient_verifier.so" <<<"$loaded" \
  || fail "verify_license_cpp does not load $libdir/libclient_verifier.so"

programs=(verify_license_c verify_license_cpp ffi_test_static ffi_test_shared)

step "running"
for p in "${programs[@]}"; do
  echo "-- $p"
  "$out/$p" || fail "$p exited with $?"
done

step "running under valgrind"
for p in "${programs[@]}"; do
  echo "-- valgrind $p"
  valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,possible \
    --track-origins=yes "$out/$p" >/dev/null || fail "valgrind reports errors in $p"
done

step "ok: C and C++ examples and the C test driver pass, valgrind clean"
