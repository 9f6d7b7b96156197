#!/usr/bin/env bash
# Webhook delivery throughput and memory: N events (getLicense callbacks from `licctl marketplace
# load`) are made first, then licd restarts with one endpoint, a local receiver that checks every
# signature, and `licctl webhooks replay --after 0` sends them all. Prints the events per second
# from the replay until the endpoint's cursor reaches the log's head, licd's resident memory
# before and its peak during the delivery, and what the receiver counted.
#
# Usage: scripts/bench-webhooks.sh BIN_DIR [EVENTS]
#   BIN_DIR: a directory holding a release `licd` and `licctl`. Needs python3 and curl.
# Not part of CI (100,000 events take about a minute); results go to BENCHMARKS.md.
set -euo pipefail
bin=${1:?usage: bench-webhooks.sh BIN_DIR [EVENTS]}
events=${2:-100000}
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))
rport=$((port + 2))
admin="http://127.0.0.1:$((port + 1))"

serve() { # serve FLAGS...
  "$bin/licd" serve --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$((port + 1))" \
    --data-dir "$work/data" --keys-dir "$work/keys" "$@" 2>>"$work/licd.log" &
  licd=$!
  pids+=("$licd")
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return
    sleep 0.1
  done
  echo "licd did not start" >&2; tail "$work/licd.log" >&2; exit 1
}

# The receiver: HTTP/1.1 with keep-alive, checks each signature and counts.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/secret"
chmod 600 "$work/secret"
python3 - "$rport" "$work/secret" "$work/received" <<'PY' &
import hashlib, hmac, sys, http.server
port, secret_file, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
secret = open(secret_file, "rb").read().strip()
count = bad = 0
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        global count, bad
        body = self.rfile.read(int(self.headers["Content-Length"]))
        parts = dict(p.split("=", 1) for p in self.headers["Licd-Signature"].split(","))
        mac = hmac.new(secret, parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
        if hmac.compare_digest(mac, parts["v1"]):
            count += 1
        else:
            bad += 1
        if count % 1000 == 0 or bad:
            open(out, "w").write(f"{count} {bad}\n")
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
pids+=($!)

serve
"$bin/licctl" --json marketplace load --url "http://127.0.0.1:$port/marketplace/callback" \
  --access-key-file "$work/data/access.key" --requests "$events" --concurrency 32 >"$work/load.json"
kill "$licd"; wait "$licd" 2>/dev/null || true

cat >"$work/webhooks.toml" <<EOF
[[webhook]]
name = "bench"
url = "http://127.0.0.1:$rport/hook"
secret_file = "secret"
events = ["*"]
EOF
serve --webhooks "$work/webhooks.toml"
licctl=("$bin/licctl" --admin-url "$admin" --admin-token-file "$work/data/admin.token")
until "${licctl[@]}" --json webhooks list | grep -q '"state":"ok"'; do sleep 0.2; done
rss_before=$(awk '/VmRSS/ {print $2}' "/proc/$licd/status")
start=$(date +%s.%N)
"${licctl[@]}" webhooks replay bench --after 0 >/dev/null
while true; do
  behind=$("${licctl[@]}" --json webhooks list | python3 -c 'import json,sys; print(json.load(sys.stdin)["endpoints"][0]["behind"])')
  [ "$behind" = 0 ] && break
  sleep 0.2
done
end=$(date +%s.%N)
peak=$(awk '/VmHWM/ {print $2}' "/proc/$licd/status")
sleep 0.5
read -r received bad <"$work/received" || true
python3 - "$events" "$start" "$end" "$rss_before" "$peak" "${received:-0}" "${bad:-0}" <<'PY'
import sys
n, start, end, before, peak, received, bad = sys.argv[1:]
secs = float(end) - float(start)
print(f"{n} events delivered in {secs:.1f} s: {int(n) / secs:.0f} events/s; "
      f"licd RSS {int(before) / 1024:.0f} MiB before, peak {int(peak) / 1024:.0f} MiB; "
      f"receiver verified {received} (counted per 1000), bad signatures {bad}")
PY
