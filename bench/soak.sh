#!/usr/bin/env bash
# A soak: steady traffic for a long time while every server process's
# memory (PSS: resident, shared pages divided among their sharers) is
# sampled; the verdict is whether each stayed flat.
# Not part of CI (it takes ten minutes and the machine).
#
#   bench/soak.sh                       # 600 s at 1,000 msg/s, 50 pairs
#   SOAK_SECONDS=120 SOAK_RATE=500 bench/soak.sh
#
# It starts the release benchmark cluster (bench/run-local.sh) and stops it
# after. Output in docs/bench/soak/ (SOAK_OUT): memory.tsv (every sample),
# bench.txt (the bench's own report) and summary.txt: per process, the memory
# one minute in (after warm-up) and at the end, the change, and FLAT when
# it is within ±10 %.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$CONFAB_ROOT"

SECONDS_=${SOAK_SECONDS:-600}
RATE=${SOAK_RATE:-1000}
EVERY=${SOAK_SAMPLE_SECS:-10}
OUT=${SOAK_OUT:-docs/bench/soak}
mkdir -p "$OUT"

group_of() { # cmdline -> group
  case "$1" in
    *beam.smp*rabbit*) echo rabbitmq ;;
    *confab-node*) echo confab-node ;;
    *confab-dispatcher*) echo confab-dispatcher ;;
    postgres*) echo postgres ;;
    *redis-server*) echo redis ;;
    *) echo "" ;;
  esac
}

# Every EVERY seconds: "seconds group pid pss_kib" per process; one line per
# Postgres backend (summed in the summary: backends come and go). PSS, not
# RSS: Postgres' processes share its buffers, which RSS would count in each.
sample() {
  local start=$SECONDS dir pid cmd group pss
  while :; do
    for dir in /proc/[0-9]*; do
      pid=${dir#/proc/}
      cmd=$(tr '\0' ' ' 2>/dev/null <"$dir/cmdline") || continue
      group=$(group_of "$cmd")
      [ -n "$group" ] || continue
      pss=$(awk '/^Pss:/ {print $2}' "$dir/smaps_rollup" 2>/dev/null) || continue
      [ -n "$pss" ] && printf '%s\t%s\t%s\t%s\n' "$((SECONDS - start))" "$group" "$pid" "$pss"
    done
    sleep "$EVERY"
  done
}

bench/run-local.sh start
trap 'kill "$sampler" 2>/dev/null || true; bench/run-local.sh stop' EXIT
printf 'seconds\tgroup\tpid\tpss_kib\n' >"$OUT/memory.tsv"
sample >>"$OUT/memory.tsv" &
sampler=$!
log "soak: ${SECONDS_} s at ${RATE} msg/s"
target/release/confab-bench direct --url http://127.0.0.1:19001 --url http://127.0.0.1:19002 \
  --pairs 50 --duration "$SECONDS_" --rate "$RATE" >"$OUT/bench.txt"
kill "$sampler"

# Per process (Postgres summed over its processes): memory at the first sample
# past 60 s, and at the last.
python3 - "$OUT/memory.tsv" >"$OUT/summary.txt" <<'PY'
import collections, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
by = collections.defaultdict(lambda: collections.defaultdict(int))
for t, group, pid, rss in rows:
    key = group if group == "postgres" else f"{group} {pid}"
    by[key][int(t)] += int(rss)
print(f"{'process':<26} {'at 60 s MiB':>12} {'at end MiB':>11} {'change':>8}  verdict")
flat = True
for key in sorted(by):
    series = sorted(by[key].items())
    first = next(((t, v) for t, v in series if t >= 60), None)
    if first is None:
        continue
    last = series[-1]
    change = (last[1] - first[1]) / first[1] * 100
    ok = abs(change) <= 10
    flat &= ok
    print(f"{key:<26} {first[1]/1024:>12.1f} {last[1]/1024:>11.1f} {change:>+7.1f}%  {'FLAT' if ok else 'GREW' if change > 0 else 'SHRANK'}")
print("all flat (±10 %)" if flat else "NOT all flat")
PY
cat "$OUT/summary.txt"
