#!/usr/bin/env bash
# The figures of BENCHMARKS.md: every scenario REPEAT times against the bench
# cluster (`bench/run-local.sh start` first), JSON into OUT_DIR, then the
# report (medians and the SVG).
#
#   bench/suite.sh [OUT_DIR]      default docs/bench
#
# Settings (environment): REPEAT=3, DURATION=20 (seconds of traffic per run),
# CONNECTIONS=15000 (idle connections; needs `ulimit -n` above it here and
# for the node), LABEL_SUFFIX= (appended to every label, e.g. " patched").
# The connections runs restart the bench cluster (same settings: export
# BENCH_BIN and the like before running this).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-docs/bench}
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-20}
CONNECTIONS=${CONNECTIONS:-15000}
SUFFIX=${LABEL_SUFFIX:-}
BENCH=target/release/confab-bench
NODE1=http://127.0.0.1:19001
NODE2=http://127.0.0.1:19002
PIDS=$(bench/run-local.sh pids)
[ -n "$PIDS" ] || { echo "the bench cluster is not running: bench/run-local.sh start" >&2; exit 1; }
mkdir -p "$OUT"

run() { # name args...
  local name=$1
  shift
  echo "## $name" >&2
  "$BENCH" -q --json "$OUT/$name.json" "$@"
}

for i in $(seq "$REPEAT"); do
  # Confab at full speed, with the broker's ceiling measured just before it.
  run "direct-max-$i" direct --url "$NODE1" --url "$NODE2" --pairs 50 --in-flight 8 \
    --duration "$DURATION" --compare-broker --label "max$SUFFIX"
  # Both at 1,000 messages/s, for latency.
  run "direct-1000-$i" direct --url "$NODE1" --url "$NODE2" --pairs 50 --rate 1000 \
    --duration "$DURATION" --label "1000/s$SUFFIX"
  run "broker-1000-$i" broker --rate 1000 --duration "$DURATION" --label "1000/s$SUFFIX"
  run "group-$i" group --url "$NODE1" --url "$NODE2" --members 1000 --offline 0 --senders 4 \
    --in-flight 4 --duration "$DURATION" --label "1000 online$SUFFIX"
  run "offline-$i" offline --url "$NODE1" --url "$NODE2" --messages 10000 --verify --label "10000$SUFFIX"
done
for i in $(seq "$REPEAT"); do
  # A fresh node each time (memory freed by earlier connections would be
  # reused and hide the cost), and users registered on node 2, so that node
  # 1's growth is the connections' alone.
  bench/run-local.sh stop >/dev/null
  bench/run-local.sh start >/dev/null
  read -r PID1 _ <<<"$(bench/run-local.sh pids)"
  run "connections-$i" connections --url "$NODE1" --rest-url "$NODE2" --count "$CONNECTIONS" \
    --sources 4 --hold 30 --node-pid "$PID1" --label "$CONNECTIONS$SUFFIX"
done
"$BENCH" report "$OUT" --output "$OUT/confab-bench.svg" --title "Confab on one 2-core machine (shared), medians of $REPEAT runs"
