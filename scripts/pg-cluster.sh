#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests and benchmarks: no system service, no root login.
#
#   scripts/pg-cluster.sh start DIR [PORT]   initdb in DIR, start it, create database licd_test;
#                                            prints the URL for LICD_TEST_DATABASE_URL
#   scripts/pg-cluster.sh stop DIR           stop it (fast shutdown)
#   scripts/pg-cluster.sh restart DIR        stop and start again (the tests' "PostgreSQL restart")
#
# Uses Debian's server binaries (/usr/lib/postgresql/<version>/bin; `apt-get install postgresql`).
# initdb refuses to run as root, so as root the cluster belongs to the `postgres` user the
# package creates. fsync and synchronous_commit stay on: the durability numbers mean something.
set -euo pipefail

action=${1:?usage: pg-cluster.sh start|stop|restart DIR [PORT]}
dir=${2:?usage: pg-cluster.sh start|stop|restart DIR [PORT]}
port=${3:-55432}

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "pg-cluster: no PostgreSQL server binaries (apt-get install postgresql)" >&2
  exit 2
fi

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
      as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
      cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 256MB
fsync = on
synchronous_commit = on
logging_collector = off
CONF
    fi
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
    if ! as_owner "$bin/psql" -h "$dir" -p "$port" -U postgres -Atqc "SELECT 1 FROM pg_database WHERE datname = 'licd_test'" postgres | grep -q 1; then
      as_owner "$bin/psql" -h "$dir" -p "$port" -U postgres -qc "CREATE DATABASE licd_test" postgres
    fi
    echo "postgres://postgres@127.0.0.1:$port/licd_test"
    ;;
  stop)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  restart)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 restart -l "$dir/server.log" >/dev/null
    ;;
  *)
    echo "pg-cluster: unknown action $action" >&2
    exit 2
    ;;
esac
