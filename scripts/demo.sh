#!/usr/bin/env bash
# The main job, end to end on this machine: start lattice-controld, register a
# user with the real CLI (pinning the server certificate), and show the
# session. State lives in ./.lattice/demo; `scripts/demo.sh stop` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

root=$PWD/.lattice/demo
bin=$PWD/target/debug
listen=${LATTICE_DEMO_LISTEN:-127.0.0.1:7443}
export LATTICE_CONFIG_DIR=$root/cli LATTICE_TOKEN_STORE=${LATTICE_TOKEN_STORE:-file}

stop() {
  if [ -f "$root/controld.pid" ] && kill -0 "$(cat "$root/controld.pid")" 2>/dev/null; then
    kill -TERM "$(cat "$root/controld.pid")"
    echo "stopped lattice-controld"
  fi
  rm -f "$root/controld.pid"
}
if [ "${1:-}" = stop ]; then stop; exit 0; fi

mkdir -p "$root"
stop
echo "==> starting lattice-controld on $listen (data in $root/control, log in $root/controld.log)"
"$bin/lattice-controld" --data-dir "$root/control" --listen "$listen" >"$root/controld.log" 2>&1 &
echo $! >"$root/controld.pid"
for _ in $(seq 1 200); do
  [ -s "$root/control/controld.addr" ] && break
  kill -0 "$(cat "$root/controld.pid")" 2>/dev/null || { cat "$root/controld.log"; exit 1; }
  sleep 0.05
done
addr=$(cat "$root/control/controld.addr")
fp=$(cat "$root/control/ca-fingerprint")
echo "    listening on $addr, certificate fingerprint $fp"

email=demo@example.com
pwfile=$root/demo-password
if [ ! -s "$pwfile" ]; then
  (umask 077; head -c 18 /dev/urandom | base64 >"$pwfile")
fi
lattice() { "$bin/lattice" --server "https://$addr" "$@"; }

echo "==> lattice register --email $email   (password in $pwfile)"
if ! lattice register --email "$email" --password-stdin --trust-fingerprint "$fp" <"$pwfile" 2>"$root/register.err"; then
  if grep -q "already exists" "$root/register.err"; then
    echo "    already registered; signing in"
    lattice login --email "$email" --password-stdin <"$pwfile"
  else
    cat "$root/register.err" >&2; exit 1
  fi
fi
echo "==> lattice whoami"
lattice whoami
cat <<TXT

lattice-controld is still running (pid $(cat "$root/controld.pid")). Try it yourself:
  export LATTICE_CONFIG_DIR=$LATTICE_CONFIG_DIR LATTICE_TOKEN_STORE=$LATTICE_TOKEN_STORE
  $bin/lattice whoami
Stop it with: make demo-stop
TXT
