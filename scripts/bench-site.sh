#!/usr/bin/env bash
# A site server at scale (issue 34's target): one floating license of LEASES seats allotted
# whole to a `licd site serve`, LEASES leases taken there (each a distinct program on a distinct
# machine), then renewals at concurrency C for SECONDS: renewals/s, p99 and the site server's
# peak RSS. Not in CI: it takes a minute or two.
# Usage: scripts/bench-site.sh [LEASES] [SECONDS] [CONCURRENCY]
# BIN=DIR (environment) runs the release `licd` and `licctl` in DIR instead of building this
# tree's. Needs curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
leases=${1:-10000}
secs=${2:-30}
conns=${3:-32}
bin=${BIN:-./target/release}
[ -n "${BIN:-}" ] || cargo build --release --quiet --bin licd --bin licctl
dir=$(mktemp -d)
chmod 711 "$dir"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
printf 'ebf72724-bacc-414b-a86b-fda5bcc8153c' >"$dir/access.key"
chmod 600 "$dir/access.key"
"$bin/licd" keys generate --keys-dir "$dir/keys" >/dev/null
cat >"$dir/products.toml" <<TOML
[default]
name = "Floating"
model = "floating"
lease_secs = 3600
seats = $leases
TOML

# The ISV's licd: one license of LEASES seats.
"$bin/licd" serve --listen 127.0.0.1:31300 --admin-listen 127.0.0.1:31301 \
  --data-dir "$dir/isv" --keys-dir "$dir/keys" --access-key-file "$dir/access.key" \
  --products "$dir/products.toml" 2>"$dir/isv.log" &
pids+=("$!")
for _ in $(seq 200); do
  curl -sf http://127.0.0.1:31300/readyz >/dev/null && break
  sleep 0.1
done
"$bin/licctl" marketplace load --url http://127.0.0.1:31300/marketplace/callback \
  --access-key-file "$dir/access.key" --requests 1 --concurrency 1 >/dev/null
python3 - "$dir/isv/admin.token" >"$dir/license.tokens" <<'PY'
import json, sys, urllib.request
token = open(sys.argv[1]).read().strip()
def get(path):
    req = urllib.request.Request(f"http://127.0.0.1:31301/admin/v1{path}",
                                 headers={"Authorization": f"Bearer {token}"})
    return json.load(urllib.request.urlopen(req))
for l in get("/licenses?limit=10")["licenses"]:
    print(get(f"/licenses/{l['id']}/token")["token"])
PY

# The plant: request, allotment, site server.
request=$("$bin/licd" site init --license "$(head -1 "$dir/license.tokens")" --dir "$dir/site" --site-id bench)
"$bin/licctl" --admin-url http://127.0.0.1:31301 --admin-token-file "$dir/isv/admin.token" \
  site allot "$request" >"$dir/allotment.txt"
"$bin/licd" site serve --dir "$dir/site" --allotment "$dir/allotment.txt" --site-id bench \
  --listen 127.0.0.1:31310 2>"$dir/site.log" &
site=$!
pids+=("$site")
for _ in $(seq 200); do
  curl -sf http://127.0.0.1:31310/readyz >/dev/null && break
  sleep 0.1
done
echo "== site server: 1 license of $leases seats, $leases leases, renewals for ${secs}s at c=$conns"
"$bin/licctl" leases load --url http://127.0.0.1:31310 --licenses "$dir/license.tokens" \
  --leases "$leases" --seconds "$secs" --concurrency "$conns"
echo "site server peak RSS: $(awk '/VmHWM/ {printf "%.0f MB", $2/1024}' /proc/"$site"/status)"
