#!/usr/bin/env bash
# How long `licctl keys revoke` takes: a rooted licd with LICENSES licenses from the load
# generator, whose signing key the root then revokes; times the re-signing of every license
# (each written once) and a second run, which only reads (nothing left to re-sign).
#
# Usage: scripts/bench-resign.sh BIN_DIR [LICENSES]
#   BIN_DIR: a directory holding a release `licd` and `licctl`
# Needs curl and python3. Everything stays on 127.0.0.1.
set -euo pipefail
bin=${1:?usage: bench-resign.sh BIN_DIR [LICENSES]}
licenses=${2:-20000}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))
keys="$work/keys"

start() {
  "$bin/licd" serve --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$((port + 1))" \
    --data-dir "$work/data" --keys-dir "$keys" 2>>"$work/licd.log" &
  pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return
    sleep 0.1
  done
  echo "licd did not start" >&2; cat "$work/licd.log" >&2; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)[$1][\"$2\"])"; }
certify() { # certify PUBLIC KID
  "$bin/licctl" root certify --dir "$work/root" --key "$1" --max-exp 9999-01-01 \
    --out "$work/$2.cert" >/dev/null
  "$bin/licd" keys certify "$2" "$work/$2.cert" --keys-dir "$keys" >/dev/null
}

"$bin/licctl" root init --dir "$work/root" >/dev/null
"$bin/licd" keys generate --keys-dir "$keys" >/dev/null 2>&1
listed=$("$bin/licd" --json keys list --keys-dir "$keys")
old_kid=$(field 0 kid <<<"$listed")
certify "$(field 0 public <<<"$listed")" "$old_kid"
"$bin/licd" keys trust-root "$work/root/root.json" --keys-dir "$keys" >/dev/null

start
"$bin/licctl" --json marketplace load --url "http://127.0.0.1:$port/marketplace/callback" \
  --access-key-file "$work/data/access.key" --requests "$licenses" --concurrency 32 >"$work/load.json"
stop

added=$("$bin/licd" --json keys add --keys-dir "$keys" 2>/dev/null)
certify "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["public"])' <<<"$added")" \
  "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["kid"])' <<<"$added")"
"$bin/licctl" root revoke-key --dir "$work/root" --kid "$old_kid" --list-floor 0 \
  --out "$work/revoked.json" >/dev/null
"$bin/licd" keys revocations "$work/revoked.json" --keys-dir "$keys" >/dev/null

start
admin=(--admin-url "http://127.0.0.1:$((port + 1))" --admin-token-file "$work/data/admin.token")
for run in first again; do
  t0=$(date +%s.%N)
  out=$("$bin/licctl" "${admin[@]}" --json keys revoke "$old_kid" --reason "bench")
  t1=$(date +%s.%N)
  python3 - "$run" "$t0" "$t1" "$out" <<'PY'
import json, sys
run, t0, t1, out = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), json.loads(sys.argv[4])
secs = t1 - t0
print(f"{run:5}: {secs:7.2f} s for {out['scanned']} licenses ({out['scanned'] / secs:8.0f}/s read), "
      f"{out['licenses']} re-signed")
PY
done
stop
