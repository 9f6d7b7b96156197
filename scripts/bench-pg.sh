#!/usr/bin/env bash
# Durable issues/s and latency at concurrency C: sled, PostgreSQL with one node, PostgreSQL with
# two nodes, and pgbench's simple-update write transaction on the same cluster, back to back.
# Usage: scripts/bench-pg.sh [REQUESTS] [CONCURRENCY]
# BASELINE_DIR (environment): a directory holding another build's release `licd` and `licctl`;
# its one-node PostgreSQL run follows this build's, on a fresh database of the same cluster.
# TLS=1 (environment): one more one-node run, over TLS (sslmode=verify-full) to the same cluster.
# Starts its own throwaway cluster (scripts/pg-cluster.sh; fsync and synchronous_commit on) in a
# temp dir, on a free port from 25432 up; everything is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-20000}
concurrency=${2:-32}
cargo build --release --quiet --bin licd --bin licctl
dir=$(mktemp -d)
chmod 711 "$dir" # the cluster inside belongs to the postgres user when run as root
pgdir="$dir/pg"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  bash scripts/pg-cluster.sh stop "$pgdir" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
base=$(bash scripts/pg-cluster.sh start "$pgdir")
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
psql_() { psql -q "$base" -c "$1"; }
printf 'ebf72724-bacc-414b-a86b-fda5bcc8153c' >"$dir/access.key"
chmod 600 "$dir/access.key"
./target/release/licd keys generate --keys-dir "$dir/keys" >/dev/null

# start NAME PORT [licd serve flags…]: a node on 127.0.0.1:PORT, waited for until ready.
bindir=./target/release
start() {
  local name=$1 port=$2
  shift 2
  "$bindir/licd" serve --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$((port + 1))" \
    --data-dir "$dir/$name" --keys-dir "$dir/keys" --access-key-file "$dir/access.key" "$@" \
    2>"$dir/$name.log" &
  pids+=($!)
  for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return 0
    sleep 0.1
  done
  cat "$dir/$name.log" >&2
  exit 1
}
load() { # PORT REQUESTS CONCURRENCY
  "$bindir/licctl" marketplace load --url "http://127.0.0.1:$1/marketplace/callback" \
    --access-key-file "$dir/access.key" --requests "$2" --concurrency "$3"
}
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pids=()
}

echo "== sled (embedded), one node"
start sled 31000
load 31000 "$requests" "$concurrency"
stop_all

echo "== PostgreSQL, one node"
psql_ "CREATE DATABASE bench1"
url1="${base%/*}/bench1"
start pg1 31010 --database-url "$url1" --database-migrate
load 31010 "$requests" "$concurrency"
stop_all

if [ -n "${BASELINE_DIR:-}" ]; then
  echo "== PostgreSQL, one node, baseline build ($BASELINE_DIR)"
  psql_ "CREATE DATABASE bench1b"
  bindir=$BASELINE_DIR
  start pg1b 31040 --database-url "${base%/*}/bench1b" --database-migrate
  load 31040 "$requests" "$concurrency"
  stop_all
  bindir=./target/release
fi

if [ -n "${TLS:-}" ]; then
  echo "== PostgreSQL over TLS (sslmode=verify-full, ECDSA P-256), one node"
  # A CA, and a certificate for localhost it signed, in the server's data directory.
  quiet() { "$@" >/dev/null 2>&1; }
  quiet openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=licd bench CA" -keyout "$dir/ca.key" -out "$dir/ca.pem"
  quiet openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$pgdir/data/bench.key" -out "$dir/server.csr"
  printf 'subjectAltName=DNS:localhost\n' >"$dir/san.ext"
  quiet openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 2 -extfile "$dir/san.ext" -out "$pgdir/data/bench.crt"
  chmod 600 "$pgdir/data/bench.key"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$pgdir/data/bench.key" "$pgdir/data/bench.crt"; fi
  psql_ "ALTER SYSTEM SET ssl_cert_file = 'bench.crt'"
  psql_ "ALTER SYSTEM SET ssl_key_file = 'bench.key'"
  psql_ "ALTER SYSTEM SET ssl = on"
  psql_ "SELECT pg_reload_conf()" >/dev/null
  sleep 1
  psql_ "CREATE DATABASE bench1t"
  tls_base=${base/@127.0.0.1:/@localhost:}
  start pg1t 31050 --database-url "${tls_base%/*}/bench1t?sslmode=verify-full&sslrootcert=$dir/ca.pem" \
    --database-migrate
  load 31050 "$requests" "$concurrency"
  echo "licd sessions over TLS: $(psql -Atq "$base" -c "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE ssl AND application_name = 'licd'")"
  stop_all
  # Off again: the runs below (pgbench's sslmode=prefer among them) stay in plain text.
  psql_ "ALTER SYSTEM RESET ssl"
  psql_ "SELECT pg_reload_conf()" >/dev/null
  sleep 1
fi

echo "== PostgreSQL, two nodes (two load generators, each half the calls at half the concurrency)"
psql_ "CREATE DATABASE bench2"
url2="${base%/*}/bench2"
start pg2a 31020 --database-url "$url2" --database-migrate
start pg2b 31030 --database-url "$url2"
load 31020 $((requests / 2)) $((concurrency / 2)) >"$dir/a.out" &
la=$!
load 31030 $((requests / 2)) $((concurrency / 2)) >"$dir/b.out" &
lb=$!
wait "$la" "$lb"
echo "-- node a"; cat "$dir/a.out"
echo "-- node b"; cat "$dir/b.out"
echo "licenses in the database: $(psql -Atq "$url2" -c 'SELECT count(*) FROM licenses')"
stop_all

echo "== pgbench simple-update (a write transaction: 3 updates/inserts, one sync commit), c=$concurrency, 20 s"
psql_ "CREATE DATABASE pgb"
"$bin/pgbench" -q -i -s 10 "${base%/*}/pgb" >/dev/null 2>&1
"$bin/pgbench" -b simple-update -c "$concurrency" -j 2 -T 20 "${base%/*}/pgb" 2>/dev/null | grep -E "tps|latency"
