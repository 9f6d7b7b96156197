#!/usr/bin/env bash
# Builds the Python binding of client-verifier as a wheel: target/dist/client_verifier-<version>-
# cp39-abi3-<platform>.whl (PyO3 + maturin; one wheel for every CPython from 3.9).
#
# Usage: scripts/build-python.sh [--test]
#   --test  first installs the package the way its README says, `pip install
#           ./client-verifier/bindings/python`, into a new virtualenv, and runs the binding's
#           tests there (pytest: every golden case, and the API's own) and the example.
#
# Needs python3 (3.9+) with venv and pip; pip fetches maturin (the build backend) and pytest
# from PyPI. PYTHON=path picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."

run_tests=0
case "${1:-}" in
  "") ;;
  --test) run_tests=1 ;;
  -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
  *) echo "build-python: unknown argument $1 (try --help)" >&2; exit 2 ;;
esac
python="${PYTHON:-python3}"
command -v "$python" >/dev/null || { echo "build-python: $python not found" >&2; exit 2; }

root="$PWD"
target_dir="$(mkdir -p "${CARGO_TARGET_DIR:-target}" && cd "${CARGO_TARGET_DIR:-target}" && pwd)"
src=client-verifier/bindings/python
pip_quiet=(--quiet --disable-pip-version-check --no-input)

if [ "$run_tests" = 1 ]; then
  echo "== pip install ./$src (as the README says), in a new virtualenv"
  venv="$(mktemp -d)"
  trap 'rm -rf "$venv"' EXIT
  "$python" -m venv "$venv"
  "$venv/bin/pip" install "${pip_quiet[@]}" pytest
  "$venv/bin/pip" install "${pip_quiet[@]}" "./$src"
  # From outside the source tree, so the installed package is the one imported.
  (cd "$venv" && "$venv/bin/python" -c 'import client_verifier, sys; print("installed", client_verifier.__file__)')

  echo "== pytest: the golden cases and the API"
  (cd "$venv" && CLIENT_VERIFIER_VECTORS="$root/client-verifier/tests/vectors" \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider "$root/$src/tests") 2>&1 | tail -n 5

  echo "== the example"
  "$venv/bin/python" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["cases"][0]["token"], file=open(sys.argv[2], "w")); print(d["keys"]["current"]["public"], file=open(sys.argv[3], "w"))' \
    "$root/client-verifier/tests/vectors/license-v1.json" "$venv/license.txt" "$venv/keys.txt"
  out="$(cd "$venv" && "$venv/bin/python" "$root/$src/examples/verify_license.py" license.txt keys.txt state.txt)"
  echo "$out"
  # The golden token is bound to another machine: the example must say so, and save its state.
  case "$out" in *"not licensed (DeviceMismatch)"*) ;; *) echo "build-python: the example printed the wrong verdict" >&2; exit 1 ;; esac
  grep -q '^tg' "$venv/state.txt" || { echo "build-python: the example saved no state" >&2; exit 1; }
fi

echo "== wheel"
mkdir -p "$target_dir/dist"
rm -f "$target_dir"/dist/client_verifier-*.whl
"$python" -m pip wheel "${pip_quiet[@]}" --no-deps -w "$target_dir/dist" "./$src"
ls "$target_dir"/dist/client_verifier-*.whl | tail -n 1
