#!/usr/bin/env bash
# The whole test suite, as CI runs it: ensures the services, then formatting,
# lints and every test of the workspace against the real Postgres, Redis and
# RabbitMQ of this machine.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$CONFAB_ROOT"

ensure_services

if ! cargo nextest --version >/dev/null 2>&1; then
  log "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

# Each integration test makes its own database; drop those of earlier runs.
drop_test_databases() {
  psql "$PG_URL_BASE/postgres" -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'confab\_test\_%'" |
    while read -r db; do
      [ -n "$db" ] && psql "$PG_URL_BASE/postgres" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null
    done
}
drop_test_databases
trap drop_test_databases EXIT

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
log "cargo nextest"
cargo nextest run --workspace --locked --no-fail-fast
