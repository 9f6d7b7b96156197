#!/usr/bin/env bash
# Backup and restore timings at N licenses: fill a release daemon with `licctl marketplace load`,
# take `licd backup` idle and under a 32-way callback load (the daemon logs the whole snapshot's
# time and how long writes were held: `backup taken … took_ms=… writes_held_ms=…`), compare
# with the same load without a backup, then restore.
# Usage: scripts/bench-backup.sh [LICENSES]. Everything stays on 127.0.0.1 in a temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
cargo build --release --quiet --bin licd --bin licctl
bin=$PWD/target/release
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
cd "$dir"
port=$((20000 + RANDOM % 20000))
aport=$((port + 1))
"$bin/licd" serve --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$aport" \
  --data-dir data --keys-dir keys 2>licd.log &
pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.1
done
load() {
  "$bin/licctl" marketplace load --url "http://127.0.0.1:$port/marketplace/callback" \
    --access-key-file data/access.key --requests "$1" --concurrency 32
}
backup() {
  "$bin/licd" backup --to "$1" --admin-url "http://127.0.0.1:$aport" \
    --admin-token-file data/admin.token
}
echo "== fill: $n licenses"
load "$n" | grep -E 'throughput|p99'
echo "on disk: $(du -sh data/db | cut -f1)"
echo "== backup, idle"
backup idle.backup
echo "== backup during a 20,000-call load"
load 20000 >load.txt &
lpid=$!
sleep 2
backup busy.backup
wait "$lpid"
grep -E 'throughput|p99|max' load.txt
grep 'backup taken' licd.log | sed 's/.*backup taken/backup taken/'
echo "== the same load without a backup"
load 20000 | grep -E 'throughput|p99|max'
kill -TERM "$pid"
wait "$pid" || true
echo "== restore"
"$bin/licd" restore --from idle.backup --data-dir restored/data
