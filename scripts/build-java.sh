#!/usr/bin/env bash
# Builds the Java binding of client-verifier: target/dist/client-verifier-java-<version>.jar,
# the package `clientverifier` (Java 11+) with this platform's libclient_verifier inside, where
# JNA finds it (linux-x86-64/, linux-aarch64/). The application puts the jar and JNA's jar on
# its classpath.
#
# Usage: scripts/build-java.sh [--test]
#   --test  also runs every golden case (client-verifier/tests/vectors) and the binding's own
#           checks through the jar, and the example, with this machine's java.
#
# Needs: javac and jar (Java 11 or later; CI uses Debian's OpenJDK 17) and JNA 5 (Debian's
# libjna-java: /usr/share/java/jna.jar, or JNA_JAR=path). Plain javac and jar: Maven Central is
# not reachable from CI. Why JNA and not JNI: client-verifier/bindings/java/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

run_tests=0
case "${1:-}" in
  "") ;;
  --test) run_tests=1 ;;
  -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
  *) echo "build-java: unknown argument $1 (try --help)" >&2; exit 2 ;;
esac

jna="${JNA_JAR:-/usr/share/java/jna.jar}"
if [ ! -r "$jna" ]; then
  echo "build-java: no JNA jar at $jna (Debian: apt-get install libjna-java, or set JNA_JAR)" >&2
  exit 2
fi
for tool in javac jar java; do
  command -v "$tool" >/dev/null || { echo "build-java: $tool not found (install a JDK 11+)" >&2; exit 2; }
done
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) prefix=linux-x86-64 ;;
  Linux-aarch64) prefix=linux-aarch64 ;;
  *) echo "build-java: no JNA resource folder known for $(uname -s)-$(uname -m)" >&2; exit 2 ;;
esac

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' client-verifier/Cargo.toml | head -n 1)"
target_dir="$(mkdir -p "${CARGO_TARGET_DIR:-target}" && cd "${CARGO_TARGET_DIR:-target}" && pwd)"
root="$PWD"
src=client-verifier/bindings/java
work="$target_dir/java"
jar_path="$target_dir/dist/client-verifier-java-$version.jar"

echo "== native library (C ABI with the lease client, release)"
cargo rustc -p client-verifier --lib --features ffi-lease --release --crate-type cdylib --quiet
lib="$target_dir/release/libclient_verifier.so"
[ -f "$lib" ] || { echo "build-java: cargo made no $lib" >&2; exit 1; }

echo "== classes (javac --release 11)"
rm -rf "$work"
mkdir -p "$work/classes/$prefix" "$work/test-src/clientverifier" "$work/test-classes" "$(dirname "$jar_path")"
javac --release 11 -Xlint:all -Werror -encoding UTF-8 -cp "$jna" -d "$work/classes" "$src"/src/clientverifier/*.java
cp "$lib" "$work/classes/$prefix/libclient_verifier.so"
strip --strip-debug "$work/classes/$prefix/libclient_verifier.so"
mkdir -p "$work/classes/META-INF"
cp LICENSE-MIT LICENSE-APACHE "$src/README.md" "$work/classes/META-INF/"
rm -f "$jar_path"
jar --create --file "$jar_path" -C "$work/classes" .

if [ "$run_tests" = 1 ]; then
  echo "== golden cases and the binding's checks, through the jar"
  python3 client-verifier/examples/c/golden_cases.py --java \
    client-verifier/tests/vectors/license-v1.json "$work/test-src/clientverifier/GoldenCases.java"
  javac --release 11 -encoding UTF-8 -cp "$jar_path:$jna" -d "$work/test-classes" \
    "$src/test/clientverifier/Golden.java" "$work/test-src/clientverifier/GoldenCases.java"
  # A fresh directory as the working one: nothing but the jar and JNA on the path.
  (cd "$work" && java -cp "test-classes:$jar_path:$jna" clientverifier.Golden) 2>&1 \
    | tee "$work/golden.log" | grep -v '^ok ' || true
  grep -q ", 0 checks wrong$" "$work/golden.log" || { echo "build-java: golden cases failed" >&2; exit 1; }

  echo "== the example, as the README runs it"
  printf '%s\n' "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cases"][0]["token"])' client-verifier/tests/vectors/license-v1.json)" >"$work/license.txt"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["keys"]["current"]["public"])' \
    client-verifier/tests/vectors/license-v1.json >"$work/keys.txt"
  out="$(cd "$work" && java -cp "$jar_path:$jna" "$root/$src/examples/VerifyLicense.java" license.txt keys.txt state.txt)"
  echo "$out"
  # The golden token is bound to another machine: the example must say so, and save its state.
  case "$out" in *"not licensed (DeviceMismatch)"*) ;; *) echo "build-java: the example printed the wrong verdict" >&2; exit 1 ;; esac
  grep -q '^tg' "$work/state.txt" || { echo "build-java: the example saved no state" >&2; exit 1; }
fi
echo "$jar_path"
