#!/usr/bin/env bash
# The main job, end to end on this machine: start lattice-controld and
# lattice-agentd, register a user with the real CLI (pinning the server
# certificate), join the node, deploy Postgres and connect with psql, deploy
# S3 and copy a file through its public endpoint with the aws CLI, deploy a
# custom web image, curl it and show its logs, stop it and show `stopped`.
# Each step says what it runs; the first that fails stops the demo with its
# reason. State lives in ./.lattice/demo. `scripts/demo.sh stop` removes the
# demo workloads and stops both daemons.
set -euo pipefail
cd "$(dirname "$0")/.."

root=${LATTICE_DEMO_ROOT:-$PWD/.lattice/demo}
bin=$PWD/target/debug
listen=${LATTICE_DEMO_LISTEN:-127.0.0.1:7443}
edge_ports=${LATTICE_DEMO_EDGE_PORTS:-20000-20999}
# No registry is reachable here: the catalogue points at the images that
# `make images` built. Elsewhere, leave these unset to get postgres:16 etc.
pg_image=${LATTICE_DEMO_POSTGRES_IMAGE:-lattice-local/postgres:latest}
s3_image=${LATTICE_DEMO_S3_IMAGE:-lattice-local/s3:latest}
web_image=${LATTICE_DEMO_WEB_IMAGE:-lattice-local/web:latest}
export LATTICE_CONFIG_DIR=$root/cli LATTICE_TOKEN_STORE=${LATTICE_TOKEN_STORE:-file}

running() { [ -f "$root/$1.pid" ] && kill -0 "$(cat "$root/$1.pid")" 2>/dev/null; }
stop_daemon() {
  if running "$1"; then kill -TERM "$(cat "$root/$1.pid")"; echo "stopped $1"; fi
  rm -f "$root/$1.pid"
}
lattice() { "$bin/lattice" "$@"; }

# Every step announces itself; a failing one stops the demo and says which.
current="starting"
# A workload the demo made on an earlier run may be stopped: start it
# (a no-op for a running one).
running_or_start() { lattice start "$1" --wait >/dev/null; }
step() { current=$1; echo; echo "==> $1"; }
trap 'echo >&2; echo "demo stopped: \"$current\" failed (daemon logs: $root/controld.log, $root/agentd.log)" >&2' ERR

if [ "${1:-}" = stop ]; then
  if running controld && running agentd; then
    for w in demo-db demo-media demo-web; do
      lattice rm "$w" --purge --yes --wait >/dev/null 2>&1 && echo "removed $w and its data" || true
    done
  fi
  stop_daemon agentd
  stop_daemon controld
  exit 0
fi

mkdir -p "$root"
stop_daemon agentd
stop_daemon controld

step "start lattice-controld on $listen (log: $root/controld.log)"
rm -f "$root/control/controld.addr"
"$bin/lattice-controld" --data-dir "$root/control" --listen "$listen" --edge-ports "$edge_ports" \
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
step "lattice register --email $email   (password kept in $pwfile)"
if ! lattice register --email "$email" --password-stdin --trust-fingerprint "$fp" <"$pwfile" 2>"$root/register.err"; then
  if grep -q "already exists" "$root/register.err"; then
    lattice login --email "$email" --password-stdin --trust-fingerprint "$fp" <"$pwfile"
  else
    cat "$root/register.err" >&2; exit 1
  fi
fi

step "start lattice-agentd; it joins with a one-time token (log: $root/agentd.log)"
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
if ! lattice nodes -o json 2>/dev/null | grep -q '"status": "ready"'; then
  lattice nodes
  echo "the node did not become ready in 20s; see $root/agentd.log" >&2
  false
fi
lattice nodes

step "lattice deploy postgres demo-db --wait"
if lattice status demo-db >/dev/null 2>&1; then running_or_start demo-db; else lattice deploy postgres demo-db --wait; fi
step "lattice access demo-db"
lattice access demo-db
step "psql \"\$(lattice access demo-db --format url)\""
url=$(lattice access demo-db --format url)
psql "$url" -v ON_ERROR_STOP=1 -q \
  -c "create table if not exists visits(at timestamptz default now())" \
  -c "insert into visits default values"
psql "$url" -tA -c "select 'connected to ' || current_database() || ' as ' || current_user || '; visits so far: ' || count(*) from visits"

step "lattice deploy s3 demo-media --wait"
if lattice status demo-media >/dev/null 2>&1; then running_or_start demo-media; else lattice deploy s3 demo-media --wait; fi
step "aws s3 cp / ls through the public endpoint (credentials from lattice access --format env)"
(
  eval "$(lattice access demo-media --format env)"
  export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
  s3() { aws --endpoint-url "$AWS_ENDPOINT_URL" s3 "$@"; }
  echo "    endpoint: $AWS_ENDPOINT_URL"
  s3 ls s3://demo >/dev/null 2>&1 || s3 mb s3://demo
  echo "hello from the Lattice demo, $(date -u +%FT%TZ)" >"$root/hello.txt"
  s3 cp --no-progress "$root/hello.txt" s3://demo/hello.txt
  s3 ls s3://demo/
)

step "lattice deploy custom demo-web --image $web_image --port 80 --wait"
if lattice status demo-web >/dev/null 2>&1; then running_or_start demo-web; else lattice deploy custom demo-web --image "$web_image" --port 80 --wait; fi
web_url=$(lattice access demo-web --format endpoint)
step "curl $web_url"
curl -fsS --max-time 10 "$web_url"
step "lattice logs demo-web --tail 5"
lattice logs demo-web --tail 5
step "lattice stop demo-web --wait, then lattice ls"
lattice stop demo-web --wait
lattice ls
current="finishing"

cat <<TXT

The web console: https://$addr/
  log in as $email with the password in $pwfile (the certificate is controld's own:
  compare its fingerprint with $fp)

Both daemons are still running. Try next:
  export LATTICE_CONFIG_DIR=$LATTICE_CONFIG_DIR LATTICE_TOKEN_STORE=$LATTICE_TOKEN_STORE
  alias lattice=$bin/lattice
  lattice start demo-web --wait              # and curl it again
  lattice exec -it demo-db -- psql -U u_demo_db demo_db   # a shell inside (any command)
  lattice backup demo-db demo-db.backup      # pg_dump, streamed and checksummed
  lattice restore demo-db demo-db.backup     # back from the file
  lattice logs -f demo-db                    # follow (Ctrl-C to stop)
  lattice nodes                              # the node, its load and Docker's health
  lattice-controld backup control.tar.gz --data-dir $root/control   # the control plane itself
Stop everything (and remove the demo workloads) with: make demo-stop
TXT
