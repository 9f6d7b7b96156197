#!/usr/bin/env bash
# `POST /v1/refresh` throughput and latency of two licd builds side by side, in alternating
# rounds (noisy hosts drift; alternating spreads the drift over both). Each round starts a fresh
# daemon of one build on loopback, buys a License 1.0 license with that build's licctl, binds it
# to a machine (`/v1/activate`), and refreshes the bound token with wrk for SECONDS.
#
# Usage: scripts/bench-compare-refresh.sh BEFORE_DIR AFTER_DIR [SECONDS] [CONNECTIONS] [ROUNDS]
#   BEFORE_DIR, AFTER_DIR: directories each holding a release `licd` and `licctl`
#   CHECK_IN_DAYS=N (environment): the product has `check_in_days = N` in the catalog, so every
#   refresh is a check-in that mints a fresh token (and, since issue 32, records its digest: a
#   write); unset, a refresh hands back the seat's stored token and writes nothing.
# Needs wrk, curl, jq and python3. Everything stays on 127.0.0.1.
set -euo pipefail
before=${1:?usage: bench-compare-refresh.sh BEFORE_DIR AFTER_DIR [SECONDS] [CONNECTIONS] [ROUNDS]}
after=${2:?usage: bench-compare-refresh.sh BEFORE_DIR AFTER_DIR [SECONDS] [CONNECTIONS] [ROUNDS]}
secs=${3:-10}
conns=${4:-32}
rounds=${5:-5}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
fp='04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.|BOARD-A1|BFEBFBFF00090672'

run() { # run NAME DIR ROUND
  local name=$1 bin=$2 round=$3 dir="$work/$1-$3" port=$((20000 + RANDOM % 20000))
  mkdir -p "$dir"
  local catalog=()
  if [ -n "${CHECK_IN_DAYS:-}" ]; then
    printf '[[product]]\nid = "OFFI1"\ncheck_in_days = %s\n' "$CHECK_IN_DAYS" >"$dir/products.toml"
    catalog=(--products "$dir/products.toml")
  fi
  "$bin/licd" serve --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$((port + 1))" \
    --data-dir "$dir/data" --keys-dir "$dir/keys" "${catalog[@]}" 2>"$dir/licd.log" &
  pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    sleep 0.1
  done
  local unbound bound
  unbound=$("$bin/licctl" --json marketplace send getLicense \
    --url "http://127.0.0.1:$port/marketplace/callback" --access-key-file "$dir/data/access.key" \
    --param customerId=c1 --param businessId=b1 --param orderId=CS-BENCH-1 \
    --param productId=OFFI1 --param expireTime=20991231000000 | jq -r .response.license)
  bound=$(curl -sf "http://127.0.0.1:$port/v1/activate" -H 'content-type: application/json' \
    -d "{\"license\":\"$unbound\",\"fingerprint\":\"$fp\"}" | jq -r .token)
  cat >"$dir/refresh.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"token":"$bound"}'
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.2f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(99) / 1000, summary.errors.status, summary.requests))
end
LUA
  local rps p99 errs n
  read -r rps p99 errs n < <(wrk -t2 -c"$conns" -d"${secs}s" -s "$dir/refresh.lua" \
    "http://127.0.0.1:$port/v1/refresh" | awk '/^RESULT/ {print $2, $3, $4, $5}')
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  printf '%-6s round %s: %8.0f refreshes/s  p99 %6.2f ms  non-2xx %s of %s\n' \
    "$name" "$round" "$rps" "$p99" "$errs" "$n"
}

for round in $(seq "$rounds"); do
  run before "$before" "$round" | tee -a "$work/results"
  run after "$after" "$round" | tee -a "$work/results"
done
python3 - "$work/results" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"(\w+)\s+round \d+:\s+([\d.]+) refreshes/s\s+p99\s+([\d.]+) ms", line)
    if m:
        rows.setdefault(m[1], []).append((float(m[2]), float(m[3])))
med = {k: [statistics.median(c) for c in zip(*v)] for k, v in rows.items()}
b, a = med["before"], med["after"]
print(f"median before: {b[0]:.0f} refreshes/s, p99 {b[1]:.2f} ms")
print(f"median after:  {a[0]:.0f} refreshes/s, p99 {a[1]:.2f} ms")
print(f"after/before: throughput {a[0] / b[0]:.3f}x, p99 {a[1] / b[1]:.3f}x")
PY
