#!/usr/bin/env bash
# `make scale-heap`: one `make scale` run (SQLite) with controld under
# heaptrack, then what held the heap at its peak and how much it held over
# the run (joined, the burst, at rest). The profile is kept in
# target/scale-heap/ for heaptrack_gui or heaptrack_print. Installs heaptrack
# (Debian) when it is missing.
#
# heaptrack sees malloc through LD_PRELOAD, which the jemalloc linked into
# controld takes precedence over: the profiled controld is built on glibc's
# malloc (--features system-allocator). The live heap is the same whatever
# the allocator; what each allocator keeps resident is `make scale`'s.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v heaptrack >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "scale-heap: heaptrack is missing; install it with: sudo apt-get install -y heaptrack" >&2
    exit 1
  fi
  echo "==> scale-heap: installing heaptrack"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends heaptrack >/dev/null
fi

out=target/scale-heap
rm -rf "$out"
mkdir -p "$out"
cargo build --release -p lattice-controld --no-default-features --features system-allocator
cp target/release/lattice-controld "$out/lattice-controld"
# Put the usual build back for everything else.
cargo build --release -p lattice-controld
# heaptrack's own way, by hand: controld itself (not a wrapper shell) runs
# with the preload, so the harness's pid, memory figures and stop are its.
lib=$(dirname "$(command -v heaptrack)")/../lib/heaptrack
mkfifo "$out/pipe"
"$lib/libexec/heaptrack_interpret" <"$out/pipe" | gzip -1 >"$out/controld.gz" &
interpreter=$!
# The harness runs "WRAPPER <its controld> ARGS": run the glibc build instead.
cat >"$out/wrap" <<WRAP
#!/bin/sh
shift
exec env LD_PRELOAD=$lib/libheaptrack_preload.so DUMP_HEAPTRACK_OUTPUT=$PWD/$out/pipe $PWD/$out/lattice-controld "\$@"
WRAP
chmod +x "$out/wrap"
LATTICE_TEST_CONTROLD_WRAPPER="$PWD/$out/wrap" \
  target/release/lattice-scale "${NODES:-1000}" "${USERS:-100}" "${PER_USER:-100}" sqlite 1 >"$out/scale.log" 2>&1 \
  || { tail -n 20 "$out/scale.log" >&2; exit 1; }
wait "$interpreter"
rm -f "$out/pipe"
profile=$out/controld.gz
heaptrack_print -f "$profile" --print-peaks 1 --peak-limit 15 --print-allocators 0 \
  --print-temporary 0 --print-leaks 0 -s 0 \
  --print-massif "$out/massif.out" --massif-threshold 100 --massif-detailed-freq 1000000 \
  >"$out/peaks.txt" 2>&1
grep -E "^[0-9.]+[KMG]? peak memory|^  in |^[^ ].*::|peak heap|peak RSS|calls to allocation|total runtime" \
  "$out/peaks.txt" | grep -v "^  in " | head -n 40
# Heap in use over the run, one line per tenth of it (massif snapshots).
awk -F= '/^time=/{t=$2} /^mem_heap_B=/{n++; ts[n]=t; b[n]=$2}
  END{step=int(n/10); if(step<1)step=1;
      print "heap in use over the run (s, MiB):";
      for(i=1;i<=n;i+=step) printf "  %7.1f  %6.1f\n", ts[i], b[i]/1048576;
      printf "  %7.1f  %6.1f (last)\n", ts[n], b[n]/1048576}' "$out/massif.out"
echo "profile: $profile (heaptrack_print -f $profile)"
