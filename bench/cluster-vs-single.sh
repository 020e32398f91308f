#!/usr/bin/env bash
# The price of replication (issue 27): the same benchmarks on the single
# topology (this machine's RabbitMQ and Redis) and on the clustered one (a
# 3-member RabbitMQ cluster and a Redis Cluster of 3 masters and 3
# replicas, all on this same machine: scripts/rabbitmq-cluster.sh and
# scripts/redis-cluster.sh, as `scripts/confab up --cluster` runs them, but
# their own, in .run/bench-engines/: RabbitMQ confab-b1..3 on 5693-5695,
# Redis on 7300-7305), interleaved round by round, so that the machine's
# drift lands on both alike. Each round and topology gets a fresh bench
# cluster (bench/run-local.sh: two nodes, one dispatcher, one input shard)
# with its own database and prefix; the JSON of every run goes to OUT.
#
#   bench/cluster-vs-single.sh [ROUNDS]     (default 2; OUT=docs/bench/cluster)
#
# The release binaries must be built (cargo build --release --workspace).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$CONFAB_ROOT"

ROUNDS=${1:-2}
OUT=${OUT:-docs/bench/cluster}
B=target/release/confab-bench
U=(--url http://127.0.0.1:19001 --url http://127.0.0.1:19002)
RABBIT_DIR="$RUN_DIR/bench-engines/rabbitmq"
REDIS_DIR="$RUN_DIR/bench-engines/redis"
REDIS_PORT=7300

[ -x "$B" ] || die "build first: cargo build --release --workspace"
mkdir -p "$OUT"
RABBITMQ_CLUSTER_NAME=confab-b RABBITMQ_CLUSTER_PORT=5693 RABBITMQ_CLUSTER_DIST_PORT=25693 \
  scripts/rabbitmq-cluster.sh start "$RABBIT_DIR"
scripts/redis-cluster.sh start "$REDIS_DIR" "$REDIS_PORT"
CLUSTER_AMQP=$(scripts/rabbitmq-cluster.sh urls "$RABBIT_DIR")
CLUSTER_REDIS=$(scripts/redis-cluster.sh seeds "$REDIS_PORT")

one_round() { # topology round
  local topology=$1 round=$2
  local settings=(BENCH_BIN=target/release BENCH_DATABASE="confab_bench_$topology"
    BENCH_PREFIX="confab-bench-$topology-$round")
  if [ "$topology" = cluster ]; then
    settings+=(AMQP_URL="$CLUSTER_AMQP" REDIS_CLUSTER_NODES="$CLUSTER_REDIS")
  fi
  env "${settings[@]}" bench/run-local.sh clean >/dev/null 2>&1 || true
  env "${settings[@]}" bench/run-local.sh start
  log "$topology, round $round: direct, window 64"
  "$B" -q --json "$OUT/$topology-w64-$round.json" direct "${U[@]}" \
    --pairs 100 --window 64 --duration 10 --stages --label "$topology w64"
  log "$topology, round $round: direct, window 8"
  "$B" -q --json "$OUT/$topology-w8-$round.json" direct "${U[@]}" \
    --pairs 100 --window 8 --duration 10 --stages --label "$topology w8"
  log "$topology, round $round: group, 1,000 members"
  "$B" -q --json "$OUT/$topology-group-$round.json" group "${U[@]}" \
    --members 1000 --offline 0 --senders 4 --duration 10 --label "$topology group 1000"
  env "${settings[@]}" bench/run-local.sh clean
}

for ((round = 1; round <= ROUNDS; round++)); do
  one_round single "$round"
  one_round cluster "$round"
done
scripts/rabbitmq-cluster.sh stop "$RABBIT_DIR"
scripts/redis-cluster.sh stop "$REDIS_DIR"
log "done: JSON in $OUT"
