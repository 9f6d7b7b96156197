#!/usr/bin/env bash
# Floating licenses at scale (issue 33's target): LICENSES floating licenses of 100 seats, LEASES
# leases taken over them (each a distinct program on a distinct machine), then renewals at
# concurrency C for SECONDS: renewals/s, p99 and licd's peak RSS. On the embedded store, then the
# same run on PostgreSQL (a throwaway cluster, fsync on) beside it. Not in CI: it takes minutes.
# Usage: scripts/bench-leases.sh [LEASES] [SECONDS] [CONCURRENCY] [LICENSES]
# PG=0 (environment) skips the PostgreSQL run. BIN=DIR (environment) runs the release `licd` and
# `licctl` in DIR (another build, for a side-by-side comparison) instead of building this tree's.
# Needs curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
leases=${1:-100000}
secs=${2:-30}
conns=${3:-32}
licenses=${4:-1000}
bin=${BIN:-./target/release}
[ -n "${BIN:-}" ] || cargo build --release --quiet --bin licd --bin licctl
dir=$(mktemp -d)
chmod 711 "$dir"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  [ -d "$dir/pg" ] && bash scripts/pg-cluster.sh stop "$dir/pg" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
printf 'ebf72724-bacc-414b-a86b-fda5bcc8153c' >"$dir/access.key"
chmod 600 "$dir/access.key"
"$bin/licd" keys generate --keys-dir "$dir/keys" >/dev/null
cat >"$dir/products.toml" <<'TOML'
[default]
name = "Floating"
model = "floating"
lease_secs = 3600
seats = 100
TOML

run() { # NAME PORT [licd serve flags…]
  local name=$1 port=$2
  shift 2
  "$bin/licd" serve --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$((port + 1))" \
    --data-dir "$dir/$name" --keys-dir "$dir/keys" --access-key-file "$dir/access.key" \
    --products "$dir/products.toml" "$@" 2>"$dir/$name.log" &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    sleep 0.1
  done
  "$bin/licctl" marketplace load --url "http://127.0.0.1:$port/marketplace/callback" \
    --access-key-file "$dir/access.key" --requests "$licenses" --concurrency 16 >/dev/null
  python3 - "$((port + 1))" "$dir/$name/admin.token" >"$dir/$name.tokens" <<'PY'
import json, sys, urllib.request
port, token = sys.argv[1], open(sys.argv[2]).read().strip()
def get(path):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/admin/v1{path}",
                                 headers={"Authorization": f"Bearer {token}"})
    return json.load(urllib.request.urlopen(req))
after = None
while True:
    page = get("/licenses?limit=500" + (f"&after={after}" if after else ""))
    for l in page["licenses"]:
        print(get(f"/licenses/{l['id']}/token")["token"])
    after = page["next"]
    if not after:
        break
PY
  echo "== $name: $(wc -l <"$dir/$name.tokens") licenses, $leases leases, renewals for ${secs}s at c=$conns"
  "$bin/licctl" leases load --url "http://127.0.0.1:$port" --licenses "$dir/$name.tokens" \
    --leases "$leases" --seconds "$secs" --concurrency "$conns"
  echo "licd peak RSS: $(awk '/VmHWM/ {printf "%.0f MB", $2/1024}' /proc/"$pid"/status)"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

run sled 31100
if [ "${PG:-1}" != 0 ]; then
  url=$(bash scripts/pg-cluster.sh start "$dir/pg")
  run pg 31200 --database-url "$url" --database-migrate
fi
