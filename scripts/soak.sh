#!/usr/bin/env bash
# Soak: `licd serve` (release) on loopback under a steady, mixed rate of signed marketplace
# callbacks for SECONDS (default 300). Samples the daemon's VmRSS every 10 s and the latency of
# every minute of load, then says whether memory stayed flat and p99 did not drift.
#
#   scripts/soak.sh [SECONDS]        RATE=200 CONCURRENCY=16 INTERVAL=60 to change the load
#
# The load is `licctl marketplace load --rate RATE --mix`, one run per INTERVAL seconds: 6 of 8
# calls issue new licenses, 1 repeats an earlier order, 1 renews an earlier license. Latency
# is measured from each call's send, so a stalled daemon shows as fewer calls in an interval
# as well as higher latency. Alongside, a client refreshes its device-bound license
# (`POST /v1/refresh`) up to REFRESH_RATE times a second (default 20; one curl process per call,
# so the achieved rate is printed) with curl; those latencies are
# reported separately. Results go to BENCHMARKS.md by hand, with the machine.
set -euo pipefail

SECONDS_TOTAL=${1:-300}
RATE=${RATE:-200}
CONCURRENCY=${CONCURRENCY:-16}
INTERVAL=${INTERVAL:-60}
REFRESH_RATE=${REFRESH_RATE:-20}
PORT=${PORT:-$((20000 + RANDOM % 20000))}
cd "$(dirname "$0")/.."

cargo build --release --bin licd --bin licctl >&2
LICD=target/release/licd
LICCTL=target/release/licctl

WORK=$(mktemp -d)
cleanup() {
    [[ -n ${SAMPLER:-} ]] && kill "$SAMPLER" 2>/dev/null || true
    [[ -n ${REFRESHER:-} ]] && kill "$REFRESHER" 2>/dev/null || true
    [[ -n ${PID:-} ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

head -c 24 /dev/urandom | base64 >"$WORK/access.key"
"$LICD" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --keys-dir "$WORK/keys" \
    --access-key-file "$WORK/access.key" --issuer soak-isv 2>"$WORK/licd.log" &
PID=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
    sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || { cat "$WORK/licd.log" >&2; exit 1; }

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$PID/status"; }
START=$(date +%s)
(
    while kill -0 "$PID" 2>/dev/null; do
        echo "$(($(date +%s) - START)) $(rss_kb)"
        sleep 10
    done
) >"$WORK/rss" &
SAMPLER=$!

# A License 1.0 license bound to a device through the client API, then refreshed steadily.
BASE="http://127.0.0.1:$PORT"
license=$("$LICCTL" --json marketplace send getLicense --url "$BASE/marketplace/callback" \
    --access-key-file "$WORK/access.key" --param orderId=SOAK-CLIENT --param customerId=soak \
    --param businessId=soak-client --param productId=SOAK | jq -r .response.license)
bound=$(jq -n --arg l "$license" '{license: $l, fingerprint: "02:42:AC:11:00:02|SOAKDISK|SOAKBOARD|SOAKCPU"}' |
    curl -sf -X POST -H 'content-type: application/json' --data-binary @- "$BASE/v1/activate" | jq -r .token)
[[ $bound == v4.public.* ]] || { echo "soak: activation failed" >&2; exit 1; }
jq -n --arg t "$bound" '{token: $t}' >"$WORK/refresh.json"
(
    while kill -0 "$PID" 2>/dev/null; do
        curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -X POST \
            -H 'content-type: application/json' --data-binary @"$WORK/refresh.json" "$BASE/v1/refresh"
        sleep "$(awk -v r="$REFRESH_RATE" 'BEGIN {print 1 / r}')"
    done
) >"$WORK/refreshes" &
REFRESHER=$!

echo "soak: ${SECONDS_TOTAL}s at ${RATE} calls/s (mixed) and ${REFRESH_RATE} refreshes/s, concurrency ${CONCURRENCY}, pid ${PID}" >&2
URL="http://127.0.0.1:$PORT/marketplace/callback"
: >"$WORK/intervals"
FAILED=0
for ((t = 0; t < SECONDS_TOTAL; t += INTERVAL)); do
    n=$((RATE * (SECONDS_TOTAL - t < INTERVAL ? SECONDS_TOTAL - t : INTERVAL)))
    out=$("$LICCTL" --json marketplace load --url "$URL" --access-key-file "$WORK/access.key" \
        --requests "$n" --concurrency "$CONCURRENCY" --rate "$RATE" --mix) || FAILED=1
    echo "$out" >>"$WORK/intervals"
    echo "$out" | jq -c --arg t "$t" '{minute_from_s: ($t|tonumber), calls: .requests,
        per_s: (.throughput_per_s|floor), p50_ms: .latency_ms.p50, p99_ms: .latency_ms.p99,
        max_ms: .latency_ms.max, codes: .result_codes}' >&2
done
sleep 1
kill "$SAMPLER" "$REFRESHER" 2>/dev/null || true
SAMPLER=
REFRESHER=
sort -k2 -n "$WORK/refreshes" | awk '
    {n++; t[n] = $2 * 1000; if ($1 != 200) bad++}
    END {
      if (n == 0) { print "refresh: no calls"; exit }
      p99 = int(n * 0.99) + 1
      if (p99 > n) p99 = n
      printf "refresh: %d calls, %d not 200, p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
        n, bad + 0, t[int(n * 0.5) + 1], t[p99], t[n]
    }' >&2
if awk '$1 != 200 {bad = 1} END {exit !bad}' "$WORK/refreshes"; then FAILED=1; fi

echo "VmRSS (s, kB):" >&2
cat "$WORK/rss" >&2
jq -rs '
  map(.latency_ms.p99) as $p |
  "p99 per interval (ms): \($p | map(. * 100 | round / 100) | join(", "))",
  "p99 drift: last/first = \(($p[-1] / $p[0]) * 100 | round / 100)x" ' "$WORK/intervals"
awk '{n++; rss[n] = $2; if ($2 > max) max = $2}
     END {
       # The page cache (32 MiB by default) fills during the first minutes, so the resident
       # set rises at first; flat means that over the second half it grew less than 10%.
       half = rss[int((n + 1) / 2)]
       printf "VmRSS kB: first %d, half-way %d, last %d, max %d\n", rss[1], half, rss[n], max
       printf "memory: %s (second half: %+.1f%%)\n", (max <= half * 1.10) ? "flat" : "GREW", 100 * (max - half) / half
     }' "$WORK/rss"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (on $(nproc) CPUs; other work skews p99)"
jq -rs 'map(.latency_ms.p99) as $p | if ($p[-1] <= 2 * $p[0]) then "p99: no drift" else "p99: DRIFTED" end' "$WORK/intervals"
exit "$FAILED"
