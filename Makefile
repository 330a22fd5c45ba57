# Lattice — the two commands a newcomer runs are `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: prereqs prereqs-demo build images test unit lint fmt bench scale scale-heap chaos man demo demo-stop postgres postgres-stop clean

## prereqs: install what a fresh machine lacks for the tests (Debian packages; as root), or say the command to run
prereqs:
	@scripts/prereqs.sh test

## prereqs-demo: the same for the demo and the images only (no test server, no browser)
prereqs-demo:
	@scripts/prereqs.sh demo

## build: debug binaries (lattice, lattice-controld, lattice-agentd)
build:
	$(CARGO) build --workspace --bins

## images: build lattice-local/{postgres,s3,web} from Debian packages (no registry needed; cached by tag)
images: prereqs-demo
	images/build.sh

## test: every test (unit + end-to-end) against real TLS, SQLite, a throwaway Postgres and Docker
test: prereqs build images
	@url=$$(scripts/test-postgres.sh) || exit 1; \
	  LATTICE_TEST_POSTGRES_URL="$$url" $(CARGO) test --workspace --all-targets; rc=$$?; \
	  echo "make test: the test Postgres still runs on 127.0.0.1:$${LATTICE_TEST_PG_PORT:-54329} (reused by the next run); stop it with: make postgres-stop"; \
	  exit $$rc

## bench: relay (beside a plain floor and rathole), deploy, logs and footprint against their baselines (release build), written to docs/BENCHMARKS.md
# (the workspace's bins include the harnesses: one build, one set of features)
bench: images
	scripts/bench-peers.sh
	$(CARGO) build --release --workspace --bins
	target/release/lattice-bench

## scale: 1,000 hollow nodes and 10,000 workloads on one controld, three runs on SQLite and three on Postgres, written to docs/BENCHMARKS.md
scale:
	$(CARGO) build --release --workspace --bins
	target/release/lattice-scale 1000 100 100 sqlite
	LATTICE_TEST_POSTGRES_URL=$$(scripts/test-postgres.sh) target/release/lattice-scale 1000 100 100 postgres

## scale-heap: one SQLite scale run with controld under heaptrack: what holds its heap at the peak and over the run
scale-heap:
	$(CARGO) build --release --workspace --bins
	scripts/scale-heap.sh

## chaos: churn on real Docker under 100 kills, outages and a lost node; checks every invariant, writes docs/RELIABILITY.md (≤ 10 min)
# (release binaries, as users run them: its timings are theirs)
chaos: prereqs images
	$(CARGO) build --release --workspace --bins
	target/release/lattice-chaos

## man: man pages for lattice and every subcommand, into target/man
man: build
	target/debug/lattice man target/man

## unit: in-module tests only (no servers)
unit:
	$(CARGO) test --workspace --lib --bins

## lint: formatting and clippy, as CI checks them
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## postgres: start (or reuse) the throwaway Postgres and print its URL
postgres:
	@scripts/test-postgres.sh

## postgres-stop: stop the throwaway Postgres that make test and make scale start
postgres-stop:
	@scripts/test-postgres.sh stop

## demo: start controld + agentd, register; Postgres + psql, S3 + aws, a web image + curl + logs, stop
demo: prereqs-demo build images
	scripts/demo.sh

demo-stop:
	scripts/demo.sh stop

clean:
	$(CARGO) clean
	scripts/test-postgres.sh stop
