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
#
# CONFAB_PIDS="pid …": only these count as Confab's nodes and dispatcher
# (default: the bench cluster's, from .run/bench/*.pid, when it runs;
# otherwise every confab-node and confab-dispatcher on the machine, a local
# cluster's included). A snapshot is one `ps` and a builtin read of each
# counted process's stat: no fork per /proc entry (it took ~2.4 s under
# load, and its own CPU showed up in the figures).
set -euo pipefail

TICK=$(getconf CLK_TCK)

group_of() { # cmdline -> $group (a variable, not output: no subshell per process)
  case "$1" in
    # The Erlang VMs first: ejabberd's node name contains "confab-bench".
    *beam.smp*ejabberd*) group=ejabberd ;;
    *beam.smp*rabbit*) group=rabbitmq ;;
    *confab-node*) group=confab-node ;;
    *confab-dispatcher*) group=confab-dispatcher ;;
    *confab-bench*) group=confab-bench ;;
    postgres*) group=postgres ;;
    *redis-server*) group=redis ;;
    *) group="" ;;
  esac
}

if [ -z "${CONFAB_PIDS:-}" ]; then
  bench_state="$(cd "$(dirname "$0")/.." && pwd)/.run/bench"
  for pidfile in "$bench_state"/*.pid; do
    [ -e "$pidfile" ] && CONFAB_PIDS="${CONFAB_PIDS:-} $(cat "$pidfile")"
  done
fi

counted() { # pid group -> whether to count it
  case "$2" in
    confab-node | confab-dispatcher) [ -z "${CONFAB_PIDS:-}" ] || [[ " $CONFAB_PIDS " == *" $1 "* ]] ;;
    *) true ;;
  esac
}

snapshot() { # -> "pid group ticks" lines
  local pid args group stat
  while read -r pid args; do
    group_of "$args"
    [ -n "$group" ] && counted "$pid" "$group" || continue
    read -r stat <"/proc/$pid/stat" 2>/dev/null || continue
    # Fields after the command name (which may hold spaces): utime is the
    # 12th, stime the 13th.
    stat=${stat##*) }
    read -r -a f <<<"$stat"
    echo "$pid $group $((f[11] + f[12]))"
  done < <(ps -eo pid=,args=)
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
