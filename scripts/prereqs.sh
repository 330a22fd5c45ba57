#!/usr/bin/env bash
# Checks for everything `make demo`, `make test` and CI need besides Rust and
# Docker, and installs what is missing from Debian's packages when run as
# root; otherwise prints the one command that installs it. Checks before it
# installs, so a second run costs nothing.
#
#   scripts/prereqs.sh [demo|test]          check, install if root
#   scripts/prereqs.sh --check [demo|test]  check only (exit 1 and say what is missing)
#
# `demo` is what `make demo` and `make images` need; `test` (the default)
# adds what only the tests use: a Postgres server, network namespaces, a
# pseudo-terminal and a browser.
set -euo pipefail

set_=test check=
for a in "$@"; do
  case $a in
    --check) check=1 ;;
    demo | test) set_=$a ;;
    *) echo "usage: scripts/prereqs.sh [--check] [demo|test]" >&2; exit 2 ;;
  esac
done

need=()
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)                # demo + tests: a real client
command -v aws >/dev/null 2>&1 || need+=(awscli)                            # S3 through the edge
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)               # images/ (no registry)
command -v sha256sum >/dev/null 2>&1 || need+=(coreutils)
command -v curl >/dev/null 2>&1 || need+=(curl)                             # demo: the custom web workload
command -v docker >/dev/null 2>&1 || need+=(docker.io)
if [ "$set_" = test ]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql) # test Postgres server
  command -v ip >/dev/null 2>&1 || need+=(iproute2)                         # "another computer" (netns)
  command -v script >/dev/null 2>&1 || need+=(bsdutils)                     # the pseudo-terminal test
  command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-liberation)  # the console's browser tests
  command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)        # WebDriver for them
fi

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ -n "$check" ] || [ "$(id -u)" != 0 ]; then
  echo "missing: ${need[*]}" >&2
  echo "install them with:  sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "==> installing: ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
