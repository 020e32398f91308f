#!/usr/bin/env bash
# The whole test suite, as CI runs it: ensures the services, then formatting,
# lints and every test of the workspace against the real Postgres, Redis and
# RabbitMQ of this machine.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$CONFAB_ROOT"

ensure_services
ensure_nginx
ensure_docker_compose

if ! cargo nextest --version >/dev/null 2>&1; then
  log "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

# Each integration test makes its own database, Redis prefix and queues and
# removes them when it ends; this catches what a killed run left behind.
remove_test_leftovers() {
  psql "$PG_URL_BASE/postgres" -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'confab\_test\_%'" |
    while read -r db; do
      [ -n "$db" ] && psql "$PG_URL_BASE/postgres" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null
    done
  redis-cli -h 127.0.0.1 --scan --pattern 'confab-test-*' | xargs -r -n 500 redis-cli -h 127.0.0.1 del >/dev/null
}
remove_test_leftovers
trap remove_test_leftovers EXIT

log "docker-compose config (default services, and the cluster profile)"
docker-compose -f docker-compose.yml config -q
docker-compose -f docker-compose.yml --profile cluster config -q

# Prometheus's configuration and alert rules (promtool: check, and a unit
# test per alert) and the Grafana dashboard, against the code's metrics.
log "observability (promtool: config, rules, alert tests; dashboard)"
scripts/observability-check.sh

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The Redis tests run against this machine's Redis and against a Redis
# Cluster of the suite's own (3 masters, 3 replicas on 7100-7105), which
# must answer: keys used together must share a slot there.
TEST_REDIS_CLUSTER="$RUN_DIR/test-redis-cluster"
log "Redis Cluster for the tests (127.0.0.1:7100-7105)"
scripts/redis-cluster.sh start "$TEST_REDIS_CLUSTER" 7100
CONFAB_TEST_REDIS_CLUSTER=$(scripts/redis-cluster.sh seeds 7100)
export CONFAB_TEST_REDIS_CLUSTER
log "cargo nextest"
cargo nextest run --workspace --locked --no-fail-fast
scripts/redis-cluster.sh stop "$TEST_REDIS_CLUSTER"
unset CONFAB_TEST_REDIS_CLUSTER

# The OpenAPI document against a live node: schemathesis (PyPI) fails on
# any server error or any answer the document does not describe.
log "OpenAPI fuzzing (schemathesis)"
cargo build --workspace --bins --locked -q
scripts/openapi-fuzz.sh

# The JavaScript SDK (clients/js): unit tests, the AsyncAPI document
# (@asyncapi/parser, ajv) and the SDK against the local cluster, which the
# script starts and stops (dev profile: the binaries just built).
log "JavaScript SDK and AsyncAPI (node --test)"
CONFAB_PROFILE=dev scripts/sdk-test.sh

# The fault-injection harness: a real cluster (release processes, behind
# nginx) under load, one fault at a time. It restarts and pauses this
# machine's Postgres, Redis and RabbitMQ and puts them back; it runs alone,
# after the tests, for that reason.
log "fault-injection harness (release)"
cargo build --release --workspace --bins --locked -q
target/release/confab-faults --bin target/release

# The same harness on clustered engines of its own, beside this machine's
# (scripts/rabbitmq-cluster.sh: 3 RabbitMQ members on 5683-5685;
# scripts/redis-cluster.sh: 3 masters and 3 replicas on 7200-7205): a
# member killed, one stopped, a Redis master killed, a member's link cut.
log "fault-injection harness on the clustered engines (release)"
target/release/confab-faults --bin target/release --topology cluster

# The web client in a real browser, over https and wss, against the local
# cluster (ports 8080, 8443, 9001, 9002, 9100), which the script starts and
# stops.
log "web client end to end (headless Chromium)"
CONFAB_PROFILE=dev scripts/web-e2e.sh
