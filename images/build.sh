#!/usr/bin/env bash
# Builds the images tests and the demo need, with no container registry:
#
#   lattice-local/base:bookworm   Debian from debootstrap (the machine's own apt mirror), imported
#   lattice-local/postgres:latest PostgreSQL from Debian packages; the postgres image's contract
#                                 (POSTGRES_USER/PASSWORD/DB, /var/lib/postgresql/data, pg_isready)
#   lattice-local/s3:latest       s3s-fs (crates.io; the s3s S3 stack RustFS is built on), honouring
#                                 the rustfs/rustfs contract (RUSTFS_ACCESS_KEY/SECRET_KEY, :9000, /data)
#   lattice-local/web:latest      busybox httpd on :80; given a command, runs it instead
#
# Cached by tag: an image that exists is not rebuilt (FORCE=1 rebuilds).
set -euo pipefail
cd "$(dirname "$0")"

images=(postgres s3 web)
base=lattice-local/base:bookworm
have() { [ "${FORCE:-0}" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }

missing=()
for n in "${images[@]}"; do have "lattice-local/$n:latest" || missing+=("$n"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "images: lattice-local/{${images[*]}} present"
  exit 0
fi

if ! docker info >/dev/null 2>&1; then
  echo "images: Docker is not running (or /var/run/docker.sock is not readable)" >&2
  exit 1
fi

# The Debian mirror this machine already uses (deb822 or one-line format).
mirror() {
  local m
  m=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | grep -v security | awk '{print $2}' | head -n 1)
  [ -n "$m" ] || m=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | grep -v security | awk '{print $2}' | head -n 1)
  echo "${m:-http://deb.debian.org/debian}"
}

build_base() {
  command -v debootstrap >/dev/null || { echo "images: needs debootstrap: run scripts/prereqs.sh (as root) or apt-get install debootstrap" >&2; exit 1; }
  local suite rootfs m
  suite=bookworm
  m=$(mirror)
  rootfs=$(mktemp -d /tmp/lattice-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' RETURN
  echo "images: debootstrap $suite from $m"
  debootstrap --variant=minbase --include=ca-certificates,tini,busybox,procps,util-linux \
    "$suite" "$rootfs" "$m" >/tmp/lattice-debootstrap.log 2>&1 \
    || { tail -n 30 /tmp/lattice-debootstrap.log >&2; exit 1; }
  # Install services without starting them or creating a default cluster.
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod +x "$rootfs/usr/sbin/policy-rc.d"
  mkdir -p "$rootfs/etc/postgresql-common"
  echo "create_main_cluster = false" >"$rootfs/etc/postgresql-common/createcluster.conf"
  chroot "$rootfs" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends postgresql >/tmp/lattice-chroot-apt.log 2>&1 \
    || { tail -n 30 /tmp/lattice-chroot-apt.log >&2; exit 1; }
  chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs/usr/sbin/policy-rc.d"
  echo "images: importing $base"
  tar -C "$rootfs" -c . | docker import --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/sh"]' - "$base" >/dev/null
}

# s3s-fs built once on this machine (same Debian release as the image).
build_s3s_fs() {
  local root=${LATTICE_IMAGE_CACHE:-$HOME/.cache/lattice-images}/s3s-fs-0.14.1
  if [ ! -x "$root/bin/s3s-fs" ]; then
    echo "images: building s3s-fs 0.14.1 from crates.io"
    cargo install --quiet --locked s3s-fs --version 0.14.1 --features binary --root "$root" >&2
  fi
  cp "$root/bin/s3s-fs" s3/s3s-fs
}

have "$base" || build_base
# Docker's client warns on every build when it has no buildx (Debian's
# docker.io has none): said once here, the build's own output shown only
# when it fails.
docker buildx version >/dev/null 2>&1 ||
  echo "images: no docker buildx here; using Docker's legacy builder (the images need nothing newer)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for n in "${missing[@]}"; do
  [ "$n" = s3 ] && build_s3s_fs
  echo "images: building lattice-local/$n:latest"
  if ! docker build -q -t "lattice-local/$n:latest" "$n" >"$log" 2>&1; then
    cat "$log" >&2
    echo "images: building lattice-local/$n:latest failed (above)" >&2
    exit 1
  fi
done
rm -f s3/s3s-fs
echo "images: ready"
