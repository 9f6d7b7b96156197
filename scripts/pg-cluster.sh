#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests and benchmarks: no system service, no root login.
#
#   scripts/pg-cluster.sh start DIR [PORT]   initdb in DIR, start it, create database licd_test;
#                                            prints the URL for LICD_TEST_DATABASE_URL. Without a
#                                            PORT, the first free one from 25432 up.
#   scripts/pg-cluster.sh stop DIR           stop it (fast shutdown)
#   scripts/pg-cluster.sh restart DIR        stop and start again (the tests' "PostgreSQL restart")
#
# Uses Debian's server binaries (/usr/lib/postgresql/<version>/bin; `apt-get install postgresql`).
# initdb refuses to run as root, so as root the cluster belongs to the `postgres` user the
# package creates. fsync and synchronous_commit stay on: the durability numbers mean something.
#
# Ports stay below the kernel's ephemeral range (32768 and up on Linux): a port in it can be taken
# at any moment as the local end of some outgoing connection, and a server restarted mid-test
# would then fail to listen again.
set -euo pipefail

action=${1:?usage: pg-cluster.sh start|stop|restart DIR [PORT]}
dir=${2:?usage: pg-cluster.sh start|stop|restart DIR [PORT]}
port=${3:-}

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "pg-cluster: no PostgreSQL server binaries (apt-get install postgresql)" >&2
  exit 2
fi

# Whether 127.0.0.1:PORT can be bound now, the way the server binds it (SO_REUSEADDR).
port_free() {
  python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
}

# The first port from $1 up that is free, within a hundred.
free_port() {
  local p=$1
  while ! port_free "$p"; do
    p=$((p + 1))
    if [ "$p" -ge $(($1 + 100)) ]; then
      echo "pg-cluster: no free port in $1-$((p - 1))" >&2
      exit 1
    fi
  done
  echo "$p"
}

# The server's own words when it would not start: pg_ctl only says "Examine the log output".
explain_failure() {
  echo "pg-cluster: the server in $dir did not start; the end of $dir/server.log:" >&2
  tail -n 30 "$dir/server.log" >&2 || true
  df -h "$dir" >&2 || true
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "$action" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      if [ -z "$port" ]; then
        auto_port=1
        port=$(free_port 25432)
      elif ! port_free "$port"; then
        echo "pg-cluster: port $port is taken; give another or none" >&2
        exit 1
      fi
      as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
      cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 256MB
huge_pages = off
fsync = on
synchronous_commit = on
logging_collector = off
CONF
    fi
    port=$(sed -n "s/^port = \([0-9]*\)$/\1/p" "$dir/data/postgresql.conf" | tail -n1)
    if ! as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null; then
      explain_failure
      # One more try: on a port of its own choosing (another process may have bound it since
      # the check), after whatever else was starting or stopping has had a moment.
      if [ -n "${auto_port:-}" ]; then
        port=$(free_port $((port + 1)))
        sed -i "s/^port = [0-9]*$/port = $port/" "$dir/data/postgresql.conf"
      fi
      sleep 2
      echo "pg-cluster: starting again on port $port" >&2
      if ! as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null; then
        explain_failure
        exit 1
      fi
    fi
    if ! grep -q 1 <<<"$(as_owner "$bin/psql" -h "$dir" -p "$port" -U postgres -Atqc "SELECT 1 FROM pg_database WHERE datname = 'licd_test'" postgres)"; then
      as_owner "$bin/psql" -h "$dir" -p "$port" -U postgres -qc "CREATE DATABASE licd_test" postgres
    fi
    echo "postgres://postgres@127.0.0.1:$port/licd_test"
    ;;
  stop)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  restart)
    if ! as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 restart -l "$dir/server.log" >/dev/null; then
      explain_failure
      exit 1
    fi
    ;;
  *)
    echo "pg-cluster: unknown action $action" >&2
    exit 2
    ;;
esac
