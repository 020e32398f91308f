#!/usr/bin/env bash
# CPU seconds each server process group spent while a command ran (from
# /proc/<pid>/stat, utime + stime; these machines have no PMU, so `perf`
# cannot count). Groups: Confab's nodes and dispatcher, RabbitMQ, Postgres,
# Redis, ejabberd.
#
#   bench/cpu.sh COMMAND [ARGS...]
#
# Prints one line per group with CPU seconds, then the command's own
# output is left as it was (stdout). Processes that start or end during
# the command count only for the time they were seen at both ends.
set -euo pipefail

TICK=$(getconf CLK_TCK)

group_of() { # cmdline
  case "$1" in
    # The Erlang VMs first: ejabberd's node name contains "confab-bench".
    *beam.smp*ejabberd*) echo ejabberd ;;
    *beam.smp*rabbit*) echo rabbitmq ;;
    *confab-node*) echo confab-node ;;
    *confab-dispatcher*) echo confab-dispatcher ;;
    *confab-bench*) echo confab-bench ;;
    postgres*) echo postgres ;;
    *redis-server*) echo redis ;;
    *) echo "" ;;
  esac
}

snapshot() { # -> "pid group ticks" lines
  local dir pid cmd group stat
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    cmd=$(tr '\0' ' ' <"$dir/cmdline" 2>/dev/null) || continue
    group=$(group_of "$cmd")
    [ -n "$group" ] || continue
    stat=$(cat "$dir/stat" 2>/dev/null) || continue
    # Fields after the command name (which may hold spaces): utime is the
    # 12th, stime the 13th.
    stat=${stat##*) }
    read -r -a f <<<"$stat"
    echo "$pid $group $((f[11] + f[12]))"
  done
}

before=$(mktemp)
after=$(mktemp)
trap 'rm -f "$before" "$after"' EXIT
snapshot >"$before"
"$@"
snapshot >"$after"
join <(sort "$before") <(sort "$after") |
  awk -v tick="$TICK" '{ cpu[$2] += ($5 - $3) / tick } END { for (g in cpu) printf "cpu %-18s %8.2f s\n", g, cpu[g] }' |
  sort >&2
