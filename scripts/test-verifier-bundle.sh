#!/usr/bin/env bash
# Tests the client-verifier release bundle the way an integrator uses it: outside the
# repository, with nothing but the unpacked tarball, pkg-config, CMake, a C/C++ compiler and
# Mono. Builds examples/minimal.c with pkg-config (shared and static) and with CMake
# find_package (shared and static), the C++ example on the header-only wrapper, and the C#
# example; runs each on licenses minted now (active, frozen, expired, another machine's) and
# checks the exit status per outcome; runs the C programs under valgrind; runs the C# example
# binding on the golden vectors; installs the Python wheel, the npm tarball and the Java jar from
# the bundle and reads the demo licenses with each.
#
# Usage: scripts/test-verifier-bundle.sh [TARBALL]   (default: build one with dist-verifier.sh)
# Installs what is missing with apt-get (gcc, g++, pkg-config, cmake, valgrind, mono).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
fail() { printf 'bundle: FAILED: %s\n' "$1" >&2; exit 1; }
step() { printf '\n== bundle: %s\n' "$1"; }
# shellcheck source=scripts/lib/bundle.sh
source scripts/lib/bundle.sh

install_missing gcc g++ pkg-config cmake valgrind mono-mcs mono-runtime openjdk-17-jdk-headless \
  libjna-java

tarball="${1:-}"
if [ -z "$tarball" ]; then
  step "building the bundle"
  tarball="$(bash scripts/dist-verifier.sh | tail -n 1)"
fi
[ -f "$tarball" ] || fail "no tarball at $tarball"

work="$(mktemp -d /tmp/cv-bundle.XXXXXX)"
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xzf "$tarball"
bundle="$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'client-verifier-*')"
[ -d "$bundle" ] || fail "the tarball holds no client-verifier-* directory"
echo "unpacked to $bundle"

step "checking the layout"
for f in include/client_verifier.h include/client_verifier.hpp lib/libclient_verifier.a \
         lib/libclient_verifier.so lib/pkgconfig/client_verifier.pc \
         lib/pkgconfig/client_verifier-static.pc lib/cmake/ClientVerifier/ClientVerifierConfig.cmake \
         lib/cmake/ClientVerifier/ClientVerifierConfigVersion.cmake csharp/ClientVerifier.cs \
         examples/minimal.c examples/minimal.cpp README.md LICENSE-MIT LICENSE-APACHE THIRD-PARTY.md; do
  [ -e "$bundle/$f" ] || fail "missing $f"
done
soname="$(readelf -d "$bundle/lib/libclient_verifier.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')"
[ -n "$soname" ] && [ -f "$bundle/lib/$soname" ] || fail "no versioned soname (got '$soname')"
echo "soname $soname"
if grep -q '\.debug_info' <<<"$(readelf -S "$bundle/lib/libclient_verifier.a" 2>/dev/null)"; then
  fail "the static archive still has debug info"
fi

step "licenses minted now, for the examples"
demo="$work/demo"
cargo run -q -p client-verifier --features sign --example demo_license -- "$demo" >/dev/null
# Everything below runs outside the repository, on the bundle alone.
cd "$work"


valgrind_run() {
  valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,possible "$@"
}

step "pkg-config: minimal.c, shared and static"
export PKG_CONFIG_PATH="$bundle/lib/pkgconfig"
cflags=(-std=c99 -Wall -Wextra -Werror)
# shellcheck disable=SC2046
gcc "${cflags[@]}" "$bundle/examples/minimal.c" $(pkg-config --cflags --libs client_verifier) \
  -Wl,-rpath,"$bundle/lib" -o minimal_shared
# shellcheck disable=SC2046
gcc "${cflags[@]}" "$bundle/examples/minimal.c" $(pkg-config --cflags --libs client_verifier-static) \
  -o minimal_static
# Whole output first, then grep: `ldd | grep -q` under pipefail fails whenever grep stops reading
# before ldd has written everything (SIGPIPE), which a loaded machine makes happen.
grep -qF "$bundle/lib/$soname" <<<"$(ldd minimal_shared)" || fail "minimal_shared does not load the bundle's $soname"
if grep -q client_verifier <<<"$(ldd minimal_static)"; then fail "minimal_static still loads a shared client_verifier"; fi
expect_outcomes "pkg-config shared" ./minimal_shared
expect_outcomes "pkg-config static" ./minimal_static
expect_outcomes "valgrind shared" valgrind_run ./minimal_shared
expect_outcomes "valgrind static" valgrind_run ./minimal_static

step "CMake find_package: minimal.c and minimal.cpp, shared and static"
mkdir -p app
cp "$bundle/examples/minimal.c" "$bundle/examples/minimal.cpp" app/
cat >app/CMakeLists.txt <<'CMAKE'
cmake_minimum_required(VERSION 3.11)
project(licensed_app C CXX)
find_package(ClientVerifier 0.1 REQUIRED)
add_executable(minimal_c minimal.c)
target_link_libraries(minimal_c PRIVATE ClientVerifier::client_verifier)
add_executable(minimal_cpp minimal.cpp)
set_target_properties(minimal_cpp PROPERTIES CXX_STANDARD 11 CXX_STANDARD_REQUIRED ON)
target_link_libraries(minimal_cpp PRIVATE ClientVerifier::client_verifier)
CMAKE
for kind in shared static; do
  use_static=OFF
  [ "$kind" = static ] && use_static=ON
  cmake -S app -B "build-$kind" -DCMAKE_PREFIX_PATH="$bundle" -DClientVerifier_USE_STATIC="$use_static" \
    -DCMAKE_C_FLAGS="-Wall -Werror" -DCMAKE_CXX_FLAGS="-Wall -Werror" >/dev/null
  cmake --build "build-$kind" -j 2 >/dev/null
  if [ "$kind" = shared ]; then
    grep -qF "$bundle/lib/$soname" <<<"$(ldd "build-$kind/minimal_c")" || fail "CMake shared build does not load $soname"
  elif grep -q client_verifier <<<"$(ldd "build-$kind/minimal_c")"; then
    fail "CMake static build still loads a shared client_verifier"
  fi
  expect_outcomes "cmake $kind C" "./build-$kind/minimal_c"
  expect_outcomes "cmake $kind C++" "./build-$kind/minimal_cpp"
done
expect_outcomes "valgrind cmake C" valgrind_run ./build-static/minimal_c
expect_outcomes "valgrind cmake C++" valgrind_run ./build-shared/minimal_cpp

step "C#: ClientVerifier.cs under Mono, on the golden vectors and the demo licenses"
# The example exactly as the bundle's README builds it, in csharp/ with nothing added.
readme_cmd="$(grep -o 'mcs -out:Example.exe [^`]*' "$bundle/README.md")"
[ -n "$readme_cmd" ] || fail "the bundle README names no mcs command"
(cd "$bundle/csharp" && $readme_cmd && mv Example.exe "$work/Example.exe") \
  || fail "the README's C# command does not build from the bundle: $readme_cmd"
mkdir -p cs
python3 "$repo/client-verifier/examples/c/golden_cases.py" --csharp \
  "$repo/client-verifier/tests/vectors/license-v1.json" cs/GoldenCases.cs
mcs -warnaserror -out:cs/Golden.exe "$bundle/csharp/ClientVerifier.cs" \
  "$repo/client-verifier/tests/csharp/Golden.cs" cs/GoldenCases.cs
export LD_LIBRARY_PATH="$bundle/lib"
mono cs/Golden.exe | tail -n 1
mono cs/Golden.exe >/dev/null || fail "the C# binding got a golden verdict wrong"
expect_outcomes "C# (Mono)" mono "$work/Example.exe" check

step "Python, Node.js and Java: the bundle's wheel, tarball and jar on the demo licenses"
for f in python/README.md python/verify_license.py node/README.md node/verify-license.js \
         java/README.md java/VerifyLicense.java; do
  [ -e "$bundle/$f" ] || fail "missing $f"
done
wheel="$(ls "$bundle"/python/client_verifier-*-cp39-abi3-*.whl)" || fail "no abi3 wheel in python/"
tgz="$(ls "$bundle"/node/client-verifier-node-*.tgz)" || fail "no npm tarball in node/"
jar="$(ls "$bundle"/java/client-verifier-java-*.jar)" || fail "no jar in java/"
# What each prints for each demo license: active, frozen and expired verify (the status says
# which); the license bound to another machine does not. Nothing from the repository is used.
want="active frozen expired DeviceMismatch"
python3 -m venv py
py/bin/pip install --quiet --disable-pip-version-check "$wheel"
got="$(for t in active frozen expired other-machine; do
  py/bin/python -c 'import sys, client_verifier as cv
v = cv.Verifier(open(sys.argv[1]).read().split(), "licd", "OFFI454488918838374", binding_optional=True)
try: print(v.verify(open(sys.argv[2]).read().strip()).status)
except cv.ClientVerifierError as e: print(e.name)' "$demo/keys.txt" "$demo/$t.token"; done | xargs)"
[ "$got" = "$want" ] || fail "Python printed '$got', not '$want'"
echo "Python: $got"
mkdir -p nodeapp && (cd nodeapp && npm init -y >/dev/null && npm install --silent --no-audit --no-fund "$tgz")
got="$(for t in active frozen expired other-machine; do
  (cd nodeapp && node -e 'const fs = require("fs"), cv = require("client-verifier");
const v = new cv.Verifier({ publicKeys: fs.readFileSync(process.argv[1], "utf8").split(/\s+/).filter(Boolean),
  issuer: "licd", product: "OFFI454488918838374", bindingOptional: true });
try { console.log(v.verify(fs.readFileSync(process.argv[2], "utf8").trim()).status); } catch (e) { console.log(e.code); }' \
    "$demo/keys.txt" "$demo/$t.token"); done | xargs)"
[ "$got" = "$want" ] || fail "Node printed '$got', not '$want'"
echo "Node.js: $got"
cat >Status.java <<'JAVA'
import clientverifier.*;
import java.nio.file.*;
public class Status {
    public static void main(String[] a) throws Exception {
        String[] keys = Files.readString(Path.of(a[0])).strip().split("\\s+");
        try (Verifier v = new Verifier(keys, "licd", "OFFI454488918838374", Verifier.BINDING_OPTIONAL, 0)) {
            System.out.println(v.verify(Files.readString(Path.of(a[1])).strip(), null,
                    java.time.Instant.now().getEpochSecond()).getStatus().wireName());
        } catch (ClientVerifierException e) {
            System.out.println(e.getName());
        }
    }
}
JAVA
got="$(for t in active frozen expired other-machine; do
  java -cp "$jar:${JNA_JAR:-/usr/share/java/jna.jar}" Status.java "$demo/keys.txt" "$demo/$t.token"; done | xargs)"
[ "$got" = "$want" ] || fail "Java printed '$got', not '$want'"
echo "Java: $got"

step "ok: the bundle builds and runs with pkg-config, CMake (shared, static), C++, C# (Mono), Python, Node.js and Java; valgrind clean"
