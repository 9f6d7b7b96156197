#!/usr/bin/env bash
# cargo audit against the RustSec advisory snapshot beside the project (../shared/advisory-db),
# without network: the snapshot is copied into a throwaway git repository, as cargo-audit wants.
# Installs cargo-audit first if it is missing. Usage: scripts/audit.sh [ADVISORY_DB_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-../shared/advisory-db}
if [ ! -d "$src/crates" ]; then
  echo "audit: no advisory database at $src (expected the RustSec snapshot)" >&2
  exit 2
fi
if ! cargo audit --version >/dev/null 2>&1; then
  cargo install --locked --quiet cargo-audit
fi
db=$(mktemp -d)
trap 'rm -rf "$db"' EXIT
cp -r "$src"/. "$db"/
chmod -R u+w "$db"
git -C "$db" init --quiet
git -C "$db" add -A
git -C "$db" -c user.name=ci -c user.email=ci@localhost commit --quiet -m snapshot
cargo audit --db "$db" --no-fetch --stale
