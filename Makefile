# Lattice — the two commands a newcomer runs are `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: build test unit e2e lint fmt demo demo-stop postgres clean

## build: debug binaries (lattice, lattice-controld, lattice-agentd)
build:
	$(CARGO) build --workspace --bins

## test: every test (unit + end-to-end) against real TLS, SQLite and a throwaway Postgres
test: build
	@url=$$(scripts/test-postgres.sh) && \
	  LATTICE_TEST_POSTGRES_URL="$$url" $(CARGO) test --workspace --all-targets

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

## demo: start controld, register a user, show who we are
demo: build
	scripts/demo.sh

demo-stop:
	scripts/demo.sh stop

clean:
	$(CARGO) clean
	scripts/test-postgres.sh stop
