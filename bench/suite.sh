#!/usr/bin/env bash
# The figures of BENCHMARKS.md: every scenario REPEAT times against the bench
# cluster (`bench/run-local.sh start` first), JSON into OUT_DIR, then the
# report (medians, Confab ÷ ejabberd, and the SVG).
#
#   bench/suite.sh [OUT_DIR]      default docs/bench
#
# Each round runs Confab's `direct` three ways (as fast as a window of 64
# messages in flight across all senders allows, the same with 8, and at
# 1,000 msg/s), then ejabberd (`xmpp`, bench/peers/ejabberd.sh) the same
# three ways under the same labels, then the other scenarios: Confab and
# its peer are measured side by side, round after round, on the same box.
# If ejabberd cannot be started, its runs are skipped (and said so).
#
# Confab's runs carry the message waterfall (`--stages`). ejabberd runs twice
# per round: as people run it, and with its message archive on (mod_mam,
# EJABBERD_MAM=1, labelled "… +mam"), the durable work Confab does. After
# the rounds, an open-loop rate sweep (SWEEP rates, labels "sweep <rate>/s")
# of both gives the highest rate each holds with p99 < 50 ms.
#
# Each round also measures the floor of Confab's path with no Confab code in
# it (`broker`, labels "floor …"): a quorum queue, a commit and a Redis read
# in the relay, a transient queue, at w8's 8 in flight and at 1,000 msg/s —
# what the w8 and 1,000/s targets are "within 1 ms of".
#
# Settings (environment): REPEAT=3, DURATION=20 (seconds of traffic per run),
# PAIRS=100 (direct and xmpp pairs: 200 users), EJABBERD=1 (0: no ejabberd
# runs), CONNECTIONS=15000 (idle connections; needs `ulimit -n` above it
# here and for the node), LABEL_SUFFIX= (appended to every label, e.g.
# " patched"), SWEEP="500 1000 2000 4000 8000" (msg/s; empty: no sweep),
# MAM=1 (0: no archived ejabberd runs). The connections runs restart the
# bench cluster (same settings: export BENCH_BIN and the like before
# running this).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$CONFAB_ROOT"

OUT=${1:-docs/bench}
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-20}
PAIRS=${PAIRS:-100}
CONNECTIONS=${CONNECTIONS:-15000}
SUFFIX=${LABEL_SUFFIX:-}
SWEEP=${SWEEP-500 1000 2000 4000 8000}
MAM=${MAM:-1}
BENCH=target/release/confab-bench
NODE1=http://127.0.0.1:19001
NODE2=http://127.0.0.1:19002
PIDS=$(bench/run-local.sh pids)
[ -n "$PIDS" ] || { echo "the bench cluster is not running: bench/run-local.sh start" >&2; exit 1; }
mkdir -p "$OUT"
# The floor runs' relay writes to the bench cluster's database (a table of
# each run's own, dropped after it) and reads its Redis.
FLOOR_STORES=(--database-url "$PG_URL_BASE/${BENCH_DATABASE:-confab_bench}${BENCH_PG_QUERY-$PG_URL_QUERY}"
  --redis-url "redis://127.0.0.1:6379")
FLOOR=(broker --queue-type quorum --second-queue transient "${FLOOR_STORES[@]}" --publishers 8)

run() { # name args...
  local name=$1
  shift
  echo "## $name" >&2
  "$BENCH" -q --json "$OUT/$name.json" "$@"
}

# The peer: ejabberd with the users of the xmpp runs. Stopped after the
# rounds if this script started it.
XMPP=""
EJABBERD_STARTED=""
if [ "${EJABBERD:-1}" != 0 ]; then
  # Read whole, not piped into `grep -q`: grep's early exit killed the
  # status command with SIGPIPE, which `pipefail` took for "not running",
  # and the suite then stopped an ejabberd it had not started.
  peer_status=$(bench/peers/ejabberd.sh status 2>/dev/null || true)
  [[ $peer_status == *running* ]] || EJABBERD_STARTED=1
  if bench/peers/ejabberd.sh start && bench/peers/ejabberd.sh users $((PAIRS * 2)); then
    XMPP=1
  else
    echo "ejabberd could not be started: the xmpp runs (Confab ÷ ejabberd) are skipped" >&2
  fi
fi

# The three settings Confab and ejabberd are compared at, under the same
# labels. FIRST (an option, or empty) goes to the w64 run only.
three() { # name-prefix scenario FIRST scenario-args...
  local prefix=$1 scenario=$2 first=$3
  shift 3
  run "$prefix-w64-$i" "$scenario" "$@" ${first:+"$first"} --pairs "$PAIRS" --window 64 \
    --duration "$DURATION" --label "w64$SUFFIX"
  run "$prefix-w8-$i" "$scenario" "$@" --pairs "$PAIRS" --window 8 \
    --duration "$DURATION" --label "w8$SUFFIX"
  run "$prefix-1000-$i" "$scenario" "$@" --pairs "$PAIRS" --rate 1000 \
    --duration "$DURATION" --label "1000/s$SUFFIX"
}

# ejabberd restarted with (1) or without (0) its message archive.
ejabberd_archive() {
  bench/peers/ejabberd.sh stop >/dev/null 2>&1 || true
  EJABBERD_MAM=$1 bench/peers/ejabberd.sh start >/dev/null
}

for i in $(seq "$REPEAT"); do
  # Confab (the broker's ceiling is measured just before its w64 run), then
  # ejabberd, at the same three settings, then ejabberd archiving.
  three direct direct --compare-broker --url "$NODE1" --url "$NODE2" --stages
  if [ -n "$XMPP" ]; then
    three xmpp xmpp ""
    if [ "$MAM" = 1 ]; then
      ejabberd_archive 1
      SUFFIX="$SUFFIX +mam" three xmpp-mam xmpp ""
      ejabberd_archive 0
    fi
  else
    echo "## xmpp-*-$i skipped (no ejabberd)" >&2
  fi
  run "broker-1000-$i" broker --rate 1000 --duration "$DURATION" --label "1000/s$SUFFIX"
  run "floor-w8-$i" "${FLOOR[@]}" --in-flight 1 --duration "$DURATION" --label "floor w8$SUFFIX"
  run "floor-1000-$i" "${FLOOR[@]}" --in-flight 64 --rate 1000 --duration "$DURATION" \
    --label "floor 1000/s$SUFFIX"
  run "group-$i" group --url "$NODE1" --url "$NODE2" --members 1000 --offline 0 --senders 4 \
    --in-flight 4 --duration "$DURATION" --label "1000 online$SUFFIX"
  run "offline-$i" offline --url "$NODE1" --url "$NODE2" --messages 10000 --verify --label "10000$SUFFIX"
done
# The sweep: each rate for Confab, then for ejabberd, interleaved.
for rate in $SWEEP; do
  run "sweep-direct-$rate" direct --url "$NODE1" --url "$NODE2" --pairs "$PAIRS" --rate "$rate" \
    --duration "$DURATION" --label "sweep $rate/s$SUFFIX"
  if [ -n "$XMPP" ]; then
    run "sweep-xmpp-$rate" xmpp --pairs "$PAIRS" --rate "$rate" --duration "$DURATION" \
      --label "sweep $rate/s$SUFFIX"
  fi
done
if [ -n "$EJABBERD_STARTED" ] && [ -n "$XMPP" ]; then
  bench/peers/ejabberd.sh stop
fi
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
