#!/usr/bin/env bash
# Throughput and latency of two licd builds side by side, in alternating rounds on this machine
# (noisy hosts drift; alternating spreads the drift over both). Each round starts a fresh daemon
# of one build on loopback, drives it with that build's `licctl marketplace load`, and stops it.
#
# Usage: scripts/bench-compare.sh BEFORE_DIR AFTER_DIR [REQUESTS] [CONCURRENCY] [ROUNDS]
#   BEFORE_DIR, AFTER_DIR: directories each holding a release `licd` and `licctl`
#   e.g.  git worktree add /tmp/old REV && (cd /tmp/old && cargo build --release) ...
# Prints one line per round and the medians; everything stays on 127.0.0.1.
# BEFORE_FLAGS / AFTER_FLAGS (environment) add `licd serve` flags to one side, e.g. the same
# binary in both directories with AFTER_FLAGS="--products catalog.toml".
set -euo pipefail
before=${1:?usage: bench-compare.sh BEFORE_DIR AFTER_DIR [REQUESTS] [CONCURRENCY] [ROUNDS]}
after=${2:?usage: bench-compare.sh BEFORE_DIR AFTER_DIR [REQUESTS] [CONCURRENCY] [ROUNDS]}
requests=${3:-20000}
concurrency=${4:-32}
rounds=${5:-3}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

run() { # run NAME DIR ROUND FLAGS
  local name=$1 bin=$2 round=$3 flags=$4 dir="$work/$1-$3" port=$((20000 + RANDOM % 20000))
  mkdir -p "$dir"
  # shellcheck disable=SC2086 # FLAGS is a list of words on purpose
  "$bin/licd" serve --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$((port + 1))" \
    --data-dir "$dir/data" --keys-dir "$dir/keys" $flags 2>"$dir/licd.log" &
  pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    sleep 0.1
  done
  "$bin/licctl" --json marketplace load --url "http://127.0.0.1:$port/marketplace/callback" \
    --access-key-file "$dir/data/access.key" --requests "$requests" --concurrency "$concurrency" \
    >"$dir/load.json"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  python3 - "$name" "$round" "$dir/load.json" <<'PY'
import json, sys
name, rnd, path = sys.argv[1:]
r = json.load(open(path))
lat = r["latency_ms"]
ok = r["result_codes"].get("000000", 0)
print(f"{name:6} round {rnd}: {r['throughput_per_s']:8.0f} calls/s  p50 {lat['p50']:6.2f} ms  "
      f"p99 {lat['p99']:6.2f} ms  ok {ok}/{r['requests']}", flush=True)
PY
}

for round in $(seq "$rounds"); do
  run before "$before" "$round" "${BEFORE_FLAGS:-}" | tee -a "$work/results"
  run after "$after" "$round" "${AFTER_FLAGS:-}" | tee -a "$work/results"
done
python3 - "$work/results" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"(\w+)\s+round \d+:\s+([\d.]+) calls/s\s+p50\s+([\d.]+) ms\s+p99\s+([\d.]+) ms", line)
    if m:
        rows.setdefault(m[1], []).append((float(m[2]), float(m[3]), float(m[4])))
med = {k: [statistics.median(c) for c in zip(*v)] for k, v in rows.items()}
b, a = med["before"], med["after"]
print(f"median before: {b[0]:.0f} calls/s, p50 {b[1]:.2f} ms, p99 {b[2]:.2f} ms")
print(f"median after:  {a[0]:.0f} calls/s, p50 {a[1]:.2f} ms, p99 {a[2]:.2f} ms")
print(f"after/before: throughput {a[0] / b[0]:.3f}x, p99 {a[2] / b[2]:.3f}x")
PY
