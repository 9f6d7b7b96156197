#!/usr/bin/env bash
# Memory, disk and restart time at 1,000,000 licenses: the figures of BENCHMARKS.md's "1,000,000
# licenses" section. Takes about 6 minutes and 2.5 GB of disk; not for CI.
#
#   scripts/bench-1m.sh [LICENSES] [MORE]     defaults 1000000 and 30000
#
# 1. `licd serve` (release, default cache) issues LICENSES licenses driven by `licctl marketplace
#    load` at concurrency 32; VmRSS is sampled every 10 s (peak reported).
# 2. SIGTERM, restart on the same data: seconds until /readyz answers, and VmRSS then.
# 3. MORE further issues on the restarted daemon, and VmRSS after them.
# 4. The web console at that size: sign in, then each page timed 20 times with curl (median and
#    slowest): the dashboard, a search by order id, the first page of all licenses, a page of a
#    rare status (the bounded scan's worst case), one license (looked up by its id).
# 5. SIGKILL and restart: the seconds until /readyz include counting the dashboard's counters
#    again from the records (a clean stop saves them; a crash does not).
set -euo pipefail
LICENSES=${1:-1000000}
MORE=${2:-30000}
PORT=${PORT:-$((20000 + RANDOM % 20000))}
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin licd --bin licctl
LICD=target/release/licd
LICCTL=target/release/licctl
WORK=$(mktemp -d)
trap 'kill "${SAMPLER:-}" "${PID:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
head -c 24 /dev/urandom | base64 >"$WORK/access.key"
chmod 600 "$WORK/access.key"   # licd refuses a secret others can read
URL="http://127.0.0.1:$PORT/marketplace/callback"

start() {
    "$LICD" serve --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$((PORT + 1))" --data-dir "$WORK/data" --keys-dir "$WORK/keys" \
        --access-key-file "$WORK/access.key" --issuer bench-isv 2>>"$WORK/licd.log" &
    PID=$!
    local t0
    t0=$(date +%s.%N)
    until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do
        kill -0 "$PID" 2>/dev/null || { echo "licd exited:" >&2; tail -n 3 "$WORK/licd.log" >&2; exit 1; }
        sleep 0.05
    done
    READY_S=$(echo "$(date +%s.%N) - $t0" | bc)
}
rss_mb() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$PID/status"; }
load() {
    "$LICCTL" --json marketplace load --url "$URL" --access-key-file "$WORK/access.key" \
        --requests "$1" --concurrency 32 |
        jq -c '{calls: .requests, per_s: (.throughput_per_s|floor), p50_ms: .latency_ms.p50,
                p99_ms: .latency_ms.p99, codes: .result_codes}'
}
stop() {
    kill -TERM "$PID"
    wait "$PID" || true
}

start
(while kill -0 "$PID" 2>/dev/null; do rss_mb; echo; sleep 10; done) >"$WORK/rss" &
SAMPLER=$!
echo "== $LICENSES issues"
load "$LICENSES"
kill "$SAMPLER" 2>/dev/null || true
echo "VmRSS now $(rss_mb) MB, peak $(sort -n "$WORK/rss" | tail -1) MB; disk $(du -sh "$WORK/data" | cut -f1)"
stop

echo "== restart on $LICENSES licenses"
start
echo "ready in ${READY_S} s at $(rss_mb) MB"
echo "== $MORE more issues"
load "$MORE"
echo "VmRSS after: $(rss_mb) MB"

echo "== the console at $((LICENSES + MORE)) licenses"
ADMIN="http://127.0.0.1:$((PORT + 1))"
JAR="$WORK/cookies"
LOGIN_CSRF=$(curl -sf -c "$JAR" "$ADMIN/console/login" | sed -n 's/.*name="csrf_login" value="\([0-9a-f]*\)".*/\1/p')
curl -sf -b "$JAR" -c "$JAR" -o /dev/null "$ADMIN/console/login" \
    --data-urlencode "name=bench" --data-urlencode "token=$(cat "$WORK/data/admin.token")" \
    --data-urlencode "csrf_login=$LOGIN_CSRF"
ORDER=$(curl -sf -b "$JAR" "$ADMIN/console/licenses" | sed -n 's/.*href="\/console\/licenses\/\([^"]*\)".*/\1/p' | head -n 1)
for page in "/console/" "/console/licenses?q=$ORDER" "/console/licenses" \
            "/console/licenses?status=released" "/console/licenses/$ORDER"; do
    for _ in $(seq 20); do
        curl -sf -b "$JAR" -o /dev/null -w '%{time_total}\n' "$ADMIN$page"
    done | sort -n | awk -v p="$page" '{t[NR]=$1} END {printf "%-40s median %.1f ms, slowest %.1f ms\n", p, t[int((NR+1)/2)]*1000, t[NR]*1000}'
done

echo "== SIGKILL, restart: counters counted again"
kill -KILL "$PID"
wait "$PID" 2>/dev/null || true
start
echo "ready in ${READY_S} s at $(rss_mb) MB"
stop
