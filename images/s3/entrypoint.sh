#!/bin/sh
set -eu
: "${RUSTFS_ACCESS_KEY:?RUSTFS_ACCESS_KEY must be set}"
: "${RUSTFS_SECRET_KEY:?RUSTFS_SECRET_KEY must be set}"
mkdir -p /data
export RUST_LOG=${RUST_LOG:-info}
exec s3s-fs --host 0.0.0.0 --port 9000 \
  --access-key "$RUSTFS_ACCESS_KEY" --secret-key "$RUSTFS_SECRET_KEY" /data
