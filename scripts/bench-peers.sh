#!/usr/bin/env bash
# What `make bench` measures Lattice against, besides Docker itself: a C
# compiler for the sender/sink every relay path shares (gcc, static glibc),
# openssl for the peer's certificate, and rathole (crates.io, TLS through
# native-tls) as the relay peer. Checks before it installs: a second run
# costs nothing. rathole is built into target/bench-peers (cargo install
# --root), so nothing lands outside the clone but Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v gcc >/dev/null 2>&1 || need+=(gcc)
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
pkg-config --exists openssl 2>/dev/null || need+=(libssl-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "bench: missing ${need[*]}; install them with: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "==> bench: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

root=target/bench-peers
if [ ! -x "$root/bin/rathole" ]; then
  # No --locked: rathole 0.5's locked `time` does not build on this Rust.
  echo "==> bench: cargo install rathole 0.5 (once, into $root)"
  cargo install --quiet --root "$root" --version '^0.5' rathole
fi
