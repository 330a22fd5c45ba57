#!/usr/bin/env bash
# The main job, end to end on this machine: start lattice-controld and
# lattice-agentd, register a user with the real CLI (pinning the server
# certificate), join the node, deploy a Postgres and connect to it with psql.
# State lives in ./.lattice/demo. `scripts/demo.sh stop` removes the demo
# database and stops both daemons.
set -euo pipefail
cd "$(dirname "$0")/.."

root=$PWD/.lattice/demo
bin=$PWD/target/debug
listen=${LATTICE_DEMO_LISTEN:-127.0.0.1:7443}
# No registry is reachable here: the catalogue points at the images that
# `make images` built. Elsewhere, leave these unset to get postgres:16 etc.
pg_image=${LATTICE_DEMO_POSTGRES_IMAGE:-lattice-local/postgres:latest}
s3_image=${LATTICE_DEMO_S3_IMAGE:-lattice-local/s3:latest}
export LATTICE_CONFIG_DIR=$root/cli LATTICE_TOKEN_STORE=${LATTICE_TOKEN_STORE:-file}

running() { [ -f "$root/$1.pid" ] && kill -0 "$(cat "$root/$1.pid")" 2>/dev/null; }
stop_daemon() {
  if running "$1"; then kill -TERM "$(cat "$root/$1.pid")"; echo "stopped $1"; fi
  rm -f "$root/$1.pid"
}
lattice() { "$bin/lattice" "$@"; }

if [ "${1:-}" = stop ]; then
  if running controld && running agentd; then
    lattice rm demo-db --purge --yes --wait >/dev/null 2>&1 && echo "removed demo-db and its data" || true
  fi
  stop_daemon agentd
  stop_daemon controld
  exit 0
fi

mkdir -p "$root"
stop_daemon agentd
stop_daemon controld

echo "==> starting lattice-controld on $listen (log: $root/controld.log)"
rm -f "$root/control/controld.addr"
"$bin/lattice-controld" --data-dir "$root/control" --listen "$listen" \
  --postgres-image "$pg_image" --s3-image "$s3_image" >"$root/controld.log" 2>&1 &
echo $! >"$root/controld.pid"
for _ in $(seq 1 200); do
  [ -s "$root/control/controld.addr" ] && break
  running controld || { cat "$root/controld.log"; exit 1; }
  sleep 0.05
done
addr=$(cat "$root/control/controld.addr")
fp=$(cat "$root/control/ca-fingerprint")
export LATTICE_SERVER=https://$addr
echo "    listening on $addr, certificate fingerprint $fp"

email=demo@example.com
pwfile=$root/demo-password
[ -s "$pwfile" ] || (umask 077; head -c 18 /dev/urandom | base64 >"$pwfile")
echo "==> lattice register --email $email   (password kept in $pwfile)"
if ! lattice register --email "$email" --password-stdin --trust-fingerprint "$fp" <"$pwfile" 2>"$root/register.err"; then
  if grep -q "already exists" "$root/register.err"; then
    lattice login --email "$email" --password-stdin --trust-fingerprint "$fp" <"$pwfile"
  else
    cat "$root/register.err" >&2; exit 1
  fi
fi

echo "==> lattice-agentd joins with a one-time token (log: $root/agentd.log)"
token_args=()
if [ ! -s "$root/agent/node.json" ]; then
  token_args=(--join-token "$(lattice nodes join-token 2>/dev/null)")
fi
"$bin/lattice-agentd" --control "https://$addr" --data-dir "$root/agent" "${token_args[@]}" >"$root/agentd.log" 2>&1 &
echo $! >"$root/agentd.pid"
for _ in $(seq 1 200); do
  lattice nodes -o json 2>/dev/null | grep -q '"status": "ready"' && break
  running agentd || { cat "$root/agentd.log"; exit 1; }
  sleep 0.1
done
lattice nodes

echo "==> lattice deploy postgres demo-db --wait"
lattice status demo-db >/dev/null 2>&1 || lattice deploy postgres demo-db --wait
lattice start demo-db --wait >/dev/null
echo "==> lattice access demo-db"
lattice access demo-db
echo "==> psql \"\$(lattice access demo-db --format url)\""
url=$(lattice access demo-db --format url)
psql "$url" -v ON_ERROR_STOP=1 -q \
  -c "create table if not exists visits(at timestamptz default now())" \
  -c "insert into visits default values"
psql "$url" -tA -c "select 'connected to ' || current_database() || ' as ' || current_user || '; visits so far: ' || count(*) from visits"

cat <<TXT

The web console: https://$addr/
  log in as $email with the password in $pwfile (the certificate is controld's own:
  compare its fingerprint with $fp)

Both daemons are still running. Try it yourself:
  export LATTICE_CONFIG_DIR=$LATTICE_CONFIG_DIR LATTICE_TOKEN_STORE=$LATTICE_TOKEN_STORE
  $bin/lattice ls
  $bin/lattice logs demo-db --tail 5
Stop everything (and remove demo-db) with: make demo-stop
TXT
