#!/usr/bin/env bash
# The OpenAPI document against the API it describes: schemathesis (from
# PyPI) generates requests from /api/openapi.json and sends them to a live
# node, and fails on any server error, any status, content type or body the
# document does not list. Run by scripts/test.sh; alone:
#
#   scripts/openapi-fuzz.sh            # uses target/debug binaries
#   OPENAPI_FUZZ_EXAMPLES=200 scripts/openapi-fuzz.sh
#
# The node runs against this machine's Postgres, Redis and RabbitMQ, with a
# database, key prefix and queue prefix of its own, removed at the end.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$CONFAB_ROOT"

SCHEMATHESIS_VERSION=4.32.5
EXAMPLES=${OPENAPI_FUZZ_EXAMPLES:-40}
BIN=${BIN:-$CONFAB_ROOT/target/debug}
VENV="$RUN_DIR/schemathesis-$SCHEMATHESIS_VERSION"

if [ ! -x "$VENV/bin/schemathesis" ]; then
  log "installing schemathesis $SCHEMATHESIS_VERSION (PyPI)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

run=fuzz$$
DB=confab_$run
PREFIX=confab-$run
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
WORK=$(mktemp -d)
node_pid=""

cleanup() {
  [ -n "$node_pid" ] && kill "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null
  psql "$PG_URL_BASE/postgres" -qc "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1 || true
  redis-cli -h 127.0.0.1 --scan --pattern "$PREFIX:*" | xargs -r -n 500 redis-cli -h 127.0.0.1 del >/dev/null || true
  rabbitmqctl list_queues -q name 2>/dev/null | grep "^$PREFIX\." | xargs -r -n 1 rabbitmqctl -q delete_queue >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

psql "$PG_URL_BASE/postgres" -qc "CREATE DATABASE \"$DB\"" >/dev/null
export DATABASE_URL="$PG_URL_BASE/$DB"
"$BIN/migrate" up >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log" >&2; die "migration failed"; }

# Limits lifted: the fuzzer sends far more than a person (they have tests
# of their own); everything else is a default node.
REDIS_KEY_PREFIX="$PREFIX:" AMQP_PREFIX="$PREFIX." \
  JWT_SECRET=$(head -c 48 /dev/urandom | base64 -w0) \
  LISTEN_ADDR=127.0.0.1:$PORT NODE_ID=1 RUST_LOG=${RUST_LOG:-warn} \
  REST_RATE_PER_USER=1000000 REST_BURST_PER_USER=1000000 \
  REGISTER_PER_ADDRESS=1000000 LOGIN_PER_ADDRESS=1000000 \
  "$BIN/confab-node" >"$WORK/node.log" 2>&1 &
node_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/livez" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$PORT/livez" >/dev/null || { cat "$WORK/node.log" >&2; die "the node did not start"; }

# One account whose token authenticates every generated request.
token=$(curl -fsS -X POST "http://127.0.0.1:$PORT/api/auth/register" \
  -H 'Content-Type: application/json' \
  -d '{"username":"fuzzer","password":"fuzzer-password"}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')

log "schemathesis: $EXAMPLES examples per operation against 127.0.0.1:$PORT"
# Log-out and account deletion would end the fuzzer's own session (every
# later request a documented 401); they are left out, and tested in
# system/tests/it/sessions.rs.
status=0
"$VENV/bin/schemathesis" run "http://127.0.0.1:$PORT/api/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --header "Authorization: Bearer $token" \
  --exclude-path /api/auth/logout --exclude-path /api/auth/logout-all \
  --exclude-by 'method == "DELETE" and path == "/api/me"' \
  --max-examples "$EXAMPLES" --seed "${OPENAPI_FUZZ_SEED:-20261129}" \
  --generation-database none --no-color \
  --report junit --report-dir "$RUN_DIR/schemathesis-report" || status=$?
if [ "$status" -ne 0 ]; then
  log "node log (last 40 lines):"
  tail -n 40 "$WORK/node.log" >&2
  die "schemathesis found responses the OpenAPI document does not describe"
fi
log "schemathesis: clean"
