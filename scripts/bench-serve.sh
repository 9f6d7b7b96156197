#!/usr/bin/env bash
# Durable issues per second through the daemon next to the in-process limit of the same work,
# back to back on this machine. Usage: scripts/bench-serve.sh [REQUESTS] [CONCURRENCY]
# Everything stays on 127.0.0.1; the daemon and its data live in a temp dir removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-20000}
concurrency=${2:-32}
cargo build --release --quiet --bin licd --bin licctl
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT

echo "== in-process limit (HMAC check, parse, signing, atomic commit, flushed write)"
cargo bench --quiet --bench issue_limit -- "$requests"

echo "== through licd serve (HTTP on loopback), licctl marketplace load"
port=$((20000 + RANDOM % 20000))
./target/release/licd serve --listen "127.0.0.1:$port" \
  --data-dir "$dir/data" --keys-dir "$dir/keys" 2>"$dir/licd.log" &
pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.1
done
./target/release/licctl marketplace load --url "http://127.0.0.1:$port/marketplace/callback" \
  --access-key-file "$dir/data/access.key" --requests "$requests" --concurrency "$concurrency"
echo "licd VmRSS: $(grep VmRSS /proc/$pid/status | awk '{print $2, $3}')"
