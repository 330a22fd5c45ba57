#!/usr/bin/env bash
# Starts (or reuses) a throwaway PostgreSQL server on loopback for the
# Postgres-backend tests and prints its admin URL. Idempotent: a second call
# finds the running server and prints the same URL. `stop` stops it.
#
#   LATTICE_TEST_PG_PORT  port (default 54329)
#   LATTICE_TEST_PG_DIR   cluster directory (default /tmp/lattice-test-pg-$PORT)
set -euo pipefail

port=${LATTICE_TEST_PG_PORT:-54329}
dir=${LATTICE_TEST_PG_DIR:-/tmp/lattice-test-pg-$port}
password=lattice-test-only
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "PostgreSQL server binaries not found; install them: apt-get install postgresql" >&2
  exit 1
fi

# initdb refuses to run as root: run the server as the postgres user then.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-}" = stop ]; then
  as_pg "$bin/pg_ctl" -D "$dir" -m fast stop >/dev/null 2>&1 || true
  exit 0
fi

if [ ! -f "$dir/PG_VERSION" ]; then
  rm -rf "$dir"
  mkdir -p "$dir"
  pwfile=$(mktemp)
  printf '%s\n' "$password" >"$pwfile"
  if [ "$(id -u)" = 0 ]; then chown postgres "$dir" "$pwfile"; fi
  as_pg "$bin/initdb" -D "$dir" -U postgres --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 >"$dir.initdb.log" 2>&1 \
    || { cat "$dir.initdb.log" >&2; rm -f "$pwfile"; exit 1; }
  rm -f "$pwfile"
fi

if ! as_pg "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
  as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" \
    start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
fi

echo "postgres://postgres:$password@127.0.0.1:$port/postgres"
