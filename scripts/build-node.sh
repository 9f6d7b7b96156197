#!/usr/bin/env bash
# Builds the Node.js/Electron binding of client-verifier and packs it:
# target/dist/client-verifier-node-<version>.tgz, which an application installs with
# `npm install PATH/TO/client-verifier-node-<version>.tgz`. npm builds no native code from a
# folder dependency, so the tarball carries the addon, built here for this platform
# (client-verifier.<platform>-<arch>.node; N-API, so one build serves Node 18+ and Electron).
#
# Usage: scripts/build-node.sh [--test]
#   --test  also installs the tarball into a new project outside the repository and runs the
#           binding's tests there (node --test: every golden case, and the API's own), and the
#           example.
set -euo pipefail
cd "$(dirname "$0")/.."

run_tests=0
case "${1:-}" in
  "") ;;
  --test) run_tests=1 ;;
  -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
  *) echo "build-node: unknown argument $1 (try --help)" >&2; exit 2 ;;
esac
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "build-node: $tool not found (install Node.js 18+)" >&2; exit 2; }
done

root="$PWD"
target_dir="$(mkdir -p "${CARGO_TARGET_DIR:-target}" && cd "${CARGO_TARGET_DIR:-target}" && pwd)"
src=client-verifier/bindings/node
version="$(node -p "require('./$src/package.json').version")"
addon="client-verifier.$(node -p 'process.platform + "-" + process.arch').node"
stage="$target_dir/node-package"

echo "== addon (release)"
cargo build -p client-verifier-node --release --quiet
rm -rf "$stage"
mkdir -p "$stage/examples" "$target_dir/dist"
cp "$target_dir/release/libclient_verifier_node.so" "$stage/$addon"
strip --strip-debug "$stage/$addon"
cp "$src/package.json" "$src/index.js" "$src/index.d.ts" "$src/README.md" LICENSE-MIT LICENSE-APACHE "$stage/"
cp "$src/examples/"*.js "$stage/examples/"

echo "== npm pack"
tarball="$(cd "$stage" && npm pack --silent --pack-destination "$target_dir/dist" | tail -n 1)"
mv "$target_dir/dist/$tarball" "$target_dir/dist/client-verifier-node-$version.tgz"
tgz="$target_dir/dist/client-verifier-node-$version.tgz"

if [ "$run_tests" = 1 ]; then
  echo "== tests, through the installed tarball"
  app="$(mktemp -d)"
  trap 'rm -rf "$app"' EXIT
  (cd "$app" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund "$tgz")
  CLIENT_VERIFIER_PACKAGE="$app/node_modules/client-verifier" \
    CLIENT_VERIFIER_VECTORS="$root/client-verifier/tests/vectors" \
    node --test "$root/$src/test/" 2>&1 | tee "$app/test.log" | grep -E '^# (tests|pass|fail)|^not ok' || true
  grep -q '^# fail 0$' "$app/test.log" || { echo "build-node: tests failed" >&2; exit 1; }
  grep -q '^# pass [1-9]' "$app/test.log" || { echo "build-node: no test ran" >&2; exit 1; }

  echo "== the example, from the installed package"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["cases"][0]["token"]); print(d["keys"]["current"]["public"], file=open(sys.argv[2], "w"))' \
    "$root/client-verifier/tests/vectors/license-v1.json" "$app/keys.txt" >"$app/license.txt"
  out="$(cd "$app" && node node_modules/client-verifier/examples/verify-license.js license.txt keys.txt state.txt)"
  echo "$out"
  # The golden token is bound to another machine: the example must say so, and save its state.
  case "$out" in *"not licensed (DeviceMismatch)"*) ;; *) echo "build-node: the example printed the wrong verdict" >&2; exit 1 ;; esac
  grep -q '^tg' "$app/state.txt" || { echo "build-node: the example saved no state" >&2; exit 1; }
fi
echo "$tgz"
