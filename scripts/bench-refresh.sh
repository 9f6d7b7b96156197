#!/usr/bin/env bash
# /v1/refresh throughput for License 2.0 code tokens next to License 1.0 tokens, alternating
# rounds against one daemon (issue 16's target: code / 1.0 >= 0.9). The code's daily check is
# warm (the activation just asked the marketplace), as it is for every refresh but the first of
# a day. Needs wrk, curl, jq and python3.
#
# Usage: scripts/bench-refresh.sh [SECONDS_PER_ROUND] [CONNECTIONS] [ROUNDS]
# Everything stays on 127.0.0.1. The marketplace is a stub that answers the code APIs with
# success (this measures licd, not the marketplace); tests/license2.rs covers the protocol.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-32}
rounds=${3:-3}
cargo build --release --quiet --bin licd --bin licctl
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

mport=$((20000 + RANDOM % 10000))
cat >"$work/stub.py" <<'PY'
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        info = {"status": "ALIVE", "expire_time": "20991231000000", "amount": 4,
                "product_id": "OFFI2000", "order_id": "CS-BENCH"}
        if self.path.endswith("/license/activate"):
            body = {"license_code_info": json.dumps(info)}
        elif self.path.endswith("/license/heartbeat"):
            body = info
        else:
            body = None
        out = json.dumps({"error_code": "92020000", "error_msg": "success", "data": body}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$work/stub.py" "$mport" &
pids+=($!)
for _ in $(seq 100); do
  curl -sf -X POST "http://127.0.0.1:$mport/" -d '{}' >/dev/null && break
  sleep 0.1
done

port=$((30000 + RANDOM % 10000))
printf 'bench-sk' >"$work/sk" && chmod 600 "$work/sk"
./target/release/licd serve --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$((port + 1))" \
  --data-dir "$work/data" --keys-dir "$work/keys" \
  --marketplace-api "http://127.0.0.1:$mport" --marketplace-ak BENCHAK \
  --marketplace-sk-file "$work/sk" 2>"$work/licd.log" &
pids+=($!)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.1
done

fp='04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.|BOARD-A1|BFEBFBFF00090672'
classic=$(./target/release/licctl --json marketplace send getLicense \
  --url "http://127.0.0.1:$port/marketplace/callback" --access-key-file "$work/data/access.key" \
  --param customerId=c1 --param businessId=b1 --param orderId=CS-BENCH-1 \
  --param productId=OFFI1 --param expireTime=20991231000000 | jq -r .response.license)
bound=$(curl -sf "http://127.0.0.1:$port/v1/activate" -H 'content-type: application/json' \
  -d "{\"license\":\"$classic\",\"fingerprint\":\"$fp\"}" | jq -r .token)
code=$(curl -sf "http://127.0.0.1:$port/v1/codes/activate" -H 'content-type: application/json' \
  -d "{\"code\":\"BENCH-CODE-1\",\"fingerprint\":\"$fp\"}" | jq -r .token)

round() { # round NAME TOKEN -> "requests/s p99_ms"
  cat >"$work/$1.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"token":"$2"}'
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.2f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(99) / 1000, summary.errors.status, summary.requests))
end
LUA
  wrk -t2 -c"$conns" -d"${secs}s" -s "$work/$1.lua" "http://127.0.0.1:$port/v1/refresh" |
    awk '/^RESULT/ {print $2, $3, $4, $5}'
}

declare -a c1 c2
for r in $(seq "$rounds"); do
  read -r rps p99 errs n < <(round classic "$bound")
  echo "1.0  round $r: $rps refreshes/s  p99 $p99 ms  non-2xx $errs of $n"
  c1+=("$rps $p99")
  read -r rps p99 errs n < <(round code "$code")
  echo "code round $r: $rps refreshes/s  p99 $p99 ms  non-2xx $errs of $n"
  c2+=("$rps $p99")
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
m1=$(printf '%s\n' "${c1[@]}" | awk '{print $1}' | median)
m2=$(printf '%s\n' "${c2[@]}" | awk '{print $1}' | median)
p1=$(printf '%s\n' "${c1[@]}" | awk '{print $2}' | median)
p2=$(printf '%s\n' "${c2[@]}" | awk '{print $2}' | median)
echo "median 1.0:  $m1 refreshes/s, p99 $p1 ms"
echo "median code: $m2 refreshes/s, p99 $p2 ms"
echo "code / 1.0: throughput $(awk -v a="$m2" -v b="$m1" 'BEGIN {printf "%.3f", a / b}')x, p99 $(awk -v a="$p2" -v b="$p1" 'BEGIN {printf "%.3f", a / b}')x"
