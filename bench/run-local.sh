#!/usr/bin/env bash
# A Confab cluster for benchmarks, from the release binaries, beside (never
# on) the cluster `scripts/confab up` runs: its own ports, database, Redis
# key prefix, queue prefix and JWT secret, so both can run at once.
#
#   bench/run-local.sh start    build (release), migrate, start a dispatcher and the nodes
#   bench/run-local.sh status   what runs, and whether each piece is healthy
#   bench/run-local.sh pids     the nodes' pids, for `confab-bench connections --node-pid`
#   bench/run-local.sh stop     stop what `start` started (and only that)
#   bench/run-local.sh clean    stop, then drop the database, the queues and the Redis keys
#
# Postgres, Redis and RabbitMQ must already run (`scripts/confab up` starts
# them, as does the test suite); this script never starts or stops them.
#
# Settings (environment):
#   BENCH_NODES=2               nodes, on 127.0.0.1:19001, :19002, …
#   BENCH_DISPATCHER=127.0.0.1:19100   dispatcher health and metrics
#   BENCH_DATABASE=confab_bench
#   BENCH_PREFIX=confab-bench   Redis key and queue prefix (another for another database)
#   BENCH_PG_QUERY=$PG_URL_QUERY appended to the database URL (scripts/lib.sh: `?sslmode=disable` on loopback)
#   BENCH_NOFILE=262144         open files allowed to each process (capped by `ulimit -Hn`)
#   BENCH_BIN=target/release    where the binaries are; set it to compare another build (no build then)
#   RUST_LOG=warn               log filter of the processes
# Any other setting of the nodes and dispatcher (README, "Configuration")
# passes through, e.g. `WS_PING_SECS=5 bench/run-local.sh start`.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$CONFAB_ROOT"

NODES=${BENCH_NODES:-2}
DISPATCHER_ADDR=${BENCH_DISPATCHER:-127.0.0.1:19100}
DATABASE=${BENCH_DATABASE:-confab_bench}
NOFILE=${BENCH_NOFILE:-262144}
# Redis keys and queues; a cluster of another build on its own database
# needs its own too: client-id records and social-cache entries are keyed
# by user id, and two databases hand out the same ids.
PREFIX=${BENCH_PREFIX:-confab-bench}
STATE="$RUN_DIR/bench"
BIN=${BENCH_BIN:-$CONFAB_ROOT/target/release}

node_addr() { echo "127.0.0.1:$((19000 + $1))"; }
running() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

start_one() { # name command...
  local name=$1
  shift
  if running "$name"; then
    log "$name already runs (pid $(cat "$STATE/$name.pid"))"
    return
  fi
  nohup "$@" >>"$STATE/$name.log" 2>&1 &
  echo $! >"$STATE/$name.pid"
}

wait_healthy() { # name url
  local i
  for ((i = 0; i < 150; i++)); do
    curl -fsS "$2" >/dev/null 2>&1 && return 0
    running "$1" || { tail -n 20 "$STATE/$1.log" >&2; die "$1 exited"; }
    sleep 0.2
  done
  die "$1 did not become healthy at $2"
}

start() {
  mkdir -p "$STATE"
  pg_isready -q -h 127.0.0.1 || die "Postgres is not running (scripts/confab up starts it)"
  redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || die "Redis is not running"
  port_open 5672 || die "RabbitMQ is not running"
  if [ -z "${BENCH_BIN:-}" ]; then
    log "building (release)"
    cargo build --release -q -p confab-node -p confab-dispatcher -p confab-migrations -p confab-bench
  fi
  ensure_database "$DATABASE"
  # A fresh secret per start: tokens of an earlier bench cluster stop working.
  (umask 077 && head -c 48 /dev/urandom | base64 -w0 >"$STATE/jwt-secret")
  export DATABASE_URL="$PG_URL_BASE/$DATABASE${BENCH_PG_QUERY-$PG_URL_QUERY}"
  export REDIS_KEY_PREFIX="$PREFIX:" AMQP_PREFIX="$PREFIX."
  export JWT_SECRET RUST_LOG=${RUST_LOG:-warn}
  JWT_SECRET=$(cat "$STATE/jwt-secret")
  # The bench sends far above a person's pace, and opens many connections
  # per user: lift the abuse limits (nothing else differs from a default node).
  export WS_SEND_RATE=${WS_SEND_RATE:-1000000} WS_SEND_BURST=${WS_SEND_BURST:-1000000}
  # Thousands of bench users sign up and log in from this one address.
  export REGISTER_PER_ADDRESS=${REGISTER_PER_ADDRESS:-1000000} LOGIN_PER_ADDRESS=${LOGIN_PER_ADDRESS:-1000000}
  export WS_MAX_CONNECTIONS_PER_USER=${WS_MAX_CONNECTIONS_PER_USER:-64}
  log "migrating $DATABASE"
  "$BIN/migrate" up >>"$STATE/migrate.log" 2>&1 || { tail -n 20 "$STATE/migrate.log" >&2; die "migration failed"; }
  # For the processes started below; capped by the hard limit, which only a
  # privileged user can raise.
  local hard
  hard=$(ulimit -Hn)
  if [ "$hard" != unlimited ] && [ "$hard" -lt "$NOFILE" ]; then
    log "open files: $NOFILE wanted, the hard limit is $hard: using $hard"
    NOFILE=$hard
  fi
  ulimit -Sn "$NOFILE"
  HEALTH_ADDR=$DISPATCHER_ADDR start_one dispatcher "$BIN/confab-dispatcher"
  local n
  for ((n = 1; n <= NODES; n++)); do
    LISTEN_ADDR=$(node_addr "$n") NODE_ID=$n start_one "node$n" "$BIN/confab-node"
  done
  wait_healthy dispatcher "http://$DISPATCHER_ADDR/health"
  local urls=()
  for ((n = 1; n <= NODES; n++)); do
    wait_healthy "node$n" "http://$(node_addr "$n")/health"
    urls+=("--url http://$(node_addr "$n")")
  done
  log "bench cluster up: ${urls[*]}"
  log "node pids: $(pids)"
}

pids() {
  local n out=()
  for ((n = 1; n <= NODES; n++)); do
    running "node$n" && out+=("$(cat "$STATE/node$n.pid")")
  done
  echo "${out[*]}"
}

status() {
  local name n url
  for name in dispatcher $(for ((n = 1; n <= NODES; n++)); do echo "node$n"; done); do
    if running "$name"; then echo "$name: running (pid $(cat "$STATE/$name.pid"))"; else echo "$name: stopped"; fi
  done
  for url in "http://$DISPATCHER_ADDR/health" $(for ((n = 1; n <= NODES; n++)); do echo "http://$(node_addr "$n")/health"; done); do
    echo "$url: $(curl -s -o /dev/null -w '%{http_code}' "$url" 2>/dev/null || true)"
  done
}

stop_one() { # name
  running "$1" || { rm -f "$STATE/$1.pid"; return 0; }
  local pid i
  pid=$(cat "$STATE/$1.pid")
  log "stopping $1 (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$STATE/$1.pid"
}

stop() {
  local pidfile
  for pidfile in "$STATE"/node*.pid; do
    [ -e "$pidfile" ] && stop_one "$(basename "$pidfile" .pid)"
  done
  stop_one dispatcher
}

clean() {
  stop
  log "dropping $DATABASE, the $PREFIX.* queues and the $PREFIX:* keys"
  psql "$PG_URL_BASE/postgres" -qc "DROP DATABASE IF EXISTS \"$DATABASE\" WITH (FORCE)" >/dev/null
  local queue
  for queue in $(rabbitmqctl -q list_queues name 2>/dev/null | grep "^$PREFIX\." || true); do
    rabbitmqctl -q delete_queue "$queue" >/dev/null || true
  done
  redis-cli -h 127.0.0.1 --scan --pattern "$PREFIX:*" | xargs -r -n 1000 redis-cli -h 127.0.0.1 del >/dev/null
}

case "${1:-}" in
  start) start ;;
  status) status ;;
  pids) pids ;;
  stop) stop ;;
  clean) clean ;;
  *)
    sed -n '2,10p' "$0" >&2
    exit 2
    ;;
esac
